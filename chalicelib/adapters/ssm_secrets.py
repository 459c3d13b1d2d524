"""SecretStore on SSM Parameter Store SecureStrings, read through Powertools Parameters (cached)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import StoreUnavailable


class SsmSecretStore:
    """Secrets named `<prefix>/<name>`; a warm function re-reads them after `max_age` seconds."""

    def __init__(self, client: Any, prefix: str, max_age: int) -> None:
        self._client = client
        self._provider = SSMProvider(boto3_client=client)
        self._prefix = prefix.rstrip("/")
        self._max_age = max_age

    def get(self, name: str) -> str | None:
        """The secret's value, or None when it was never set."""
        try:
            value = self._provider.get(f"{self._prefix}/{name}", max_age=self._max_age, decrypt=True)
        except GetParameterError as error:
            cause = error.__context__  # Powertools wraps the SDK error without "from"
            if isinstance(cause, ClientError) and cause.response["Error"]["Code"] == "ParameterNotFound":
                return None
            raise StoreUnavailable(f"could not read secret {name}: {error}") from error
        return str(value) if value is not None else None

    def put(self, name: str, value: str) -> None:
        """Store the secret encrypted (SecureString), replacing any earlier value."""
        try:
            self._client.put_parameter(Name=f"{self._prefix}/{name}", Value=value, Type="SecureString", Overwrite=True)
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(f"could not store secret {name}: {error}") from error
        self._provider.clear_cache()  # type: ignore[no-untyped-call]
