"""The composition root: the only place that builds boto3 clients and adapters, lazily."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from chalicelib.domain.ports import Clock, SecretStore, SuppressionStore
from chalicelib.settings import Settings, get_settings


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Dependencies:
    """Everything a view or worker needs; tests swap parts with `override`."""

    settings: Settings
    store: SuppressionStore
    secrets: SecretStore
    clock: Clock


def _client(service: str, settings: Settings) -> Any:
    import boto3  # imported on first use: boto3 is the largest part of a cold start

    return boto3.client(service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)


_current: Dependencies | None = None


def dependencies() -> Dependencies:
    """The adapters, built on first use and kept for the life of the function."""
    global _current
    if _current is None:
        from chalicelib.adapters.dynamodb_store import DynamoDBSuppressionStore
        from chalicelib.adapters.ssm_secrets import SsmSecretStore

        settings = get_settings()
        _current = Dependencies(
            settings=settings,
            store=DynamoDBSuppressionStore(_client("dynamodb", settings), settings.table_name),
            secrets=SsmSecretStore(_client("ssm", settings), settings.secrets_prefix, settings.secrets_max_age),
            clock=SystemClock(),
        )
    return _current


def override(deps: Dependencies | None) -> None:
    """Use `deps` instead of the real adapters (tests, benchmarks); None goes back to the real ones."""
    global _current
    _current = deps
    operator_token.cache_clear()


@cache
def operator_token() -> str | None:
    """The operator token: from the environment locally, from an SSM SecureString in AWS."""
    settings = dependencies().settings
    if settings.operator_token:
        return settings.operator_token
    if settings.operator_token_parameter:
        response = _client("ssm", settings).get_parameter(Name=settings.operator_token_parameter, WithDecryption=True)
        return str(response["Parameter"]["Value"])
    return None
