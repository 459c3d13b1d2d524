"""The composition root: the only place that builds boto3 clients and adapters, lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from chalicelib.domain.errors import StoreUnavailable
from chalicelib.domain.models import Account, OutboundSms, SmsResult
from chalicelib.domain.ports import Clock, Mailer, SecretStore, SendQueue, SmsProvider, SuppressionStore
from chalicelib.domain.sending import SendDeps
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
    #: Accounts the send function read, with when (monotonic seconds): it rereads them each minute.
    accounts: dict[str, tuple[Account, float]] = field(default_factory=dict)


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
    global _current, _send_deps, _queue, _mailer
    _current = deps
    _send_deps = _queue = _mailer = None
    operator_token.cache_clear()
    _cached_client.cache_clear()


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


class _UnconfiguredProvider:
    """Stands in for a provider the account has no credentials for: every text fails, visibly."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self._reason = reason

    def send(self, message: OutboundSms) -> SmsResult:
        return SmsResult(status="failed", error_code="provider_not_configured", detail=self._reason)


_local_sms: SmsProvider | None = None


def sms_provider(account: Account) -> SmsProvider:
    """The account's SMS provider, with its credentials from the secret store."""
    global _local_sms
    deps = dependencies()
    if account.sms_provider == "local":
        from chalicelib.adapters.local_sms import LocalSmsProvider

        if _local_sms is None:
            _local_sms = LocalSmsProvider()
        return _local_sms
    if account.sms_provider == "aws":
        from chalicelib.adapters.carriers.aws_sms import AwsSmsProvider

        return AwsSmsProvider(
            _cached_client("pinpoint-sms-voice-v2"), configuration_set=deps.settings.sms_configuration_set
        )
    from chalicelib.adapters.carriers.twilio_sms import TwilioSmsProvider
    from chalicelib.domain.accounts import twilio_auth_token_secret

    auth_token = deps.secrets.get(twilio_auth_token_secret(account.account_id))
    account_sid = account.carriers.twilio.account_sid
    if not auth_token or not account_sid:
        return _UnconfiguredProvider("twilio", "the account has no Twilio account SID and auth token")
    return TwilioSmsProvider(account_sid, auth_token, base_url=deps.settings.twilio_api_url)


@cache
def _cached_client(service: str) -> Any:
    return _client(service, dependencies().settings)


_send_deps: SendDeps | None = None


def send_dependencies() -> SendDeps:
    """What the send path needs; the outbound log shares the store's table."""
    global _send_deps
    if _send_deps is None:
        from chalicelib.adapters.dynamodb_outbound import DynamoDBOutboundLog

        deps = dependencies()
        _send_deps = SendDeps(
            store=deps.store,
            outbound=DynamoDBOutboundLog(_cached_client("dynamodb"), deps.settings.table_name),
            provider_for=sms_provider,
            now=deps.clock.now,
            alerts=alerts_queue(),
        )
    return _send_deps


def override_send(send_deps: SendDeps | None, queue: SendQueue | None = None) -> None:
    """Use `send_deps` and `queue` for the send path (tests, benchmarks); None goes back to the real ones."""
    global _send_deps, _queue
    _send_deps, _queue = send_deps, queue


_queue: SendQueue | None = None


def alerts_queue() -> SendQueue | None:
    """Where email jobs go: the send queue, when there is one (tests without a queue send no email)."""
    if _queue is None and not dependencies().settings.send_queue_url:
        return None
    return send_queue()


def send_queue() -> SendQueue:
    """The SQS send queue (producers enqueue on it; the worker delays retries on it)."""
    global _queue
    if _queue is None:
        from chalicelib.adapters.sqs_queue import SqsSendQueue

        settings = dependencies().settings
        if not settings.send_queue_url:
            raise StoreUnavailable("OPTOUT_SEND_QUEUE_URL is not set")
        _queue = SqsSendQueue(_cached_client("sqs"), settings.send_queue_url)
    return _queue


_mailer: Mailer | None = None


def mailer() -> Mailer:
    """SES v2 for alert emails (the embedded SES locally)."""
    global _mailer
    if _mailer is None:
        from chalicelib.adapters.ses_mailer import SesMailer

        _mailer = SesMailer(_cached_client("sesv2"), configuration_set=dependencies().settings.ses_configuration_set)
    return _mailer


def override_mailer(replacement: Mailer | None) -> None:
    """Use `replacement` to send alert emails (tests, benchmarks); None goes back to SES."""
    global _mailer
    _mailer = replacement
