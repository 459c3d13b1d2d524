"""SecretStore on SSM Parameter Store SecureStrings, each read at most once per `max_age` seconds per process.

A plain cache over GetParameter rather than Powertools Parameters: its SSM provider imports boto3 (and, through
boto3, s3transfer) at import, ~30 ms of the cold start of every webhook that checks a signature; the service reads
single parameters by name and needs nothing else of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import StoreUnavailable


class SsmSecretStore:
    """Secrets named `<prefix>/<name>`; a warm function re-reads them after `max_age` seconds."""

    def __init__(
        self, client: Any, prefix: str, max_age: int, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._prefix = prefix.rstrip("/")
        self._max_age = max_age
        self._monotonic = monotonic
        #: name -> (value, when it was read). A secret never set is not cached: once set, it is read at once.
        self._cache: dict[str, tuple[str, float]] = {}

    def get(self, name: str) -> str | None:
        """The secret's value, or None when it was never set."""
        cached = self._cache.get(name)
        if cached is not None and self._monotonic() - cached[1] < self._max_age:
            return cached[0]
        try:
            answer = self._client.get_parameter(Name=f"{self._prefix}/{name}", WithDecryption=True)
            value: str = answer["Parameter"]["Value"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ParameterNotFound":
                return None
            raise StoreUnavailable(f"could not read secret {name}: {error}") from error
        except BotoCoreError as error:
            raise StoreUnavailable(f"could not read secret {name}: {error}") from error
        self._cache[name] = (value, self._monotonic())
        return value

    def put(self, name: str, value: str) -> None:
        """Store the secret encrypted (SecureString), replacing any earlier value."""
        try:
            self._client.put_parameter(Name=f"{self._prefix}/{name}", Value=value, Type="SecureString", Overwrite=True)
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(f"could not store secret {name}: {error}") from error
        self._cache.pop(name, None)
