"""The composition root: everything the views and workers use, built once per process from the settings.

`container()` builds it on first use (no import-time work); tests and benchmarks build their own with
`Container(settings, stores=..., ...)` and install it with `use(...)`. Parts not given are built from the
settings on first use, on one boto3 client per AWS service.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from chalicelib.adapters.carriers.registry import LOCAL, CarrierRegistry
from chalicelib.domain.accounts import carrier_credentials
from chalicelib.domain.errors import CarrierNotConfigured
from chalicelib.domain.models import Account, OutboundSms, SmsResult
from chalicelib.domain.ports import (
    Clock,
    DeliveryQueue,
    EventPublisher,
    Mailer,
    SecretStore,
    SendQueue,
    SmsProvider,
    Stores,
    WebhookSender,
)
from chalicelib.domain.sending import SendDeps
from chalicelib.settings import Settings, get_settings

#: A warm send function reads an account once a minute, not once a batch: settings changes reach the send
#: path within this many seconds.
ACCOUNT_MAX_AGE = 60.0


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class AwsClients:
    """One client per AWS service, built on first use, with explicit timeouts and standard retries.

    Built from one botocore session (boto3's core, which boto3.client calls too): boto3 itself, its resource layer
    and s3transfer, which boto3 imports as it loads, are never used, and importing them took ~30 ms of every cold start.
    The session reads botocore's models through a ServiceLoader (adapters/service_models.py), ~20 ms quicker to start.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[str, Any] = {}
        self._session: Any = None

    @property
    def built(self) -> tuple[str, ...]:
        """The services a client was built for, in order (a cold start's cost, counted by tests)."""
        return tuple(self._clients)

    def get(self, service: str) -> Any:
        if service not in self._clients:
            # Imported on first use: botocore is the largest part of a cold start.
            from botocore.config import Config
            from botocore.session import Session

            settings = self._settings
            config = Config(
                connect_timeout=settings.aws_connect_timeout,
                read_timeout=settings.aws_read_timeout,
                retries={"mode": "standard", "total_max_attempts": settings.aws_max_attempts},
                # S3 signs presigned POSTs (import uploads) with SigV4: botocore's default for them is SigV2.
                **({"signature_version": "s3v4"} if service == "s3" else {}),
            )
            if self._session is None:
                from chalicelib.adapters.service_models import use_service_loader

                self._session = Session()
                use_service_loader(self._session)
            self._clients[service] = self._session.create_client(
                service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url, config=config
            )
        return self._clients[service]


class UnconfiguredProvider:
    """Stands in for a provider the account has no credentials for: every text fails, visibly."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self._reason = reason

    def send(self, message: OutboundSms) -> SmsResult:
        return SmsResult(status="failed", error_code="provider_not_configured", detail=self._reason)


class Container:
    """The service's parts. Give any of them to use it instead of the one the settings would build."""

    def __init__(
        self,
        settings: Settings,
        *,
        stores: Stores | None = None,
        secrets: SecretStore | None = None,
        queue: SendQueue | None = None,
        mailer: Mailer | None = None,
        carriers: CarrierRegistry | None = None,
        clock: Clock | None = None,
        clients: AwsClients | None = None,
    ) -> None:
        self.settings = settings
        self.clients = clients or AwsClients(settings)
        self.clock: Clock = clock or SystemClock()
        given = {"stores": stores, "secrets": secrets, "queue": queue, "mailer": mailer, "carriers": carriers}
        # cached_property reads the instance's __dict__ first: what was given is simply what it finds.
        self.__dict__.update({name: part for name, part in given.items() if part is not None})
        #: Accounts the send function read, with when (monotonic seconds): reread each minute.
        self._accounts: dict[str, tuple[Account, float]] = {}

    @cached_property
    def stores(self) -> Stores:
        from chalicelib.adapters.dynamodb import dynamodb_stores
        from chalicelib.adapters.metered import MeteredNumberStore, MeteredOutboundLog
        from chalicelib.adapters.s3_import_files import S3ImportFiles

        stores = dynamodb_stores(self.clients.get("dynamodb"), self.settings.table_name)
        # What was stored is counted (CloudWatch metrics) by decorators around the stores that write it.
        return replace(
            stores,
            numbers=MeteredNumberStore(stores.numbers),
            outbound=MeteredOutboundLog(stores.outbound),
            # Its S3 client is built when an import first needs it.
            import_files=S3ImportFiles(lambda: self.clients.get("s3"), self.settings.import_bucket),
        )

    @cached_property
    def secrets(self) -> SecretStore:
        from chalicelib.adapters.ssm_secrets import SsmSecretStore

        return SsmSecretStore(self.clients.get("ssm"), self.settings.secrets_prefix, self.settings.secrets_max_age)

    @cached_property
    def queue(self) -> SendQueue:
        from chalicelib.adapters.sqs_queue import SqsSendQueue

        if not self.settings.send_queue_url:
            raise RuntimeError("OPTOUT_SEND_QUEUE_URL is not set: the service needs its send queue")
        return SqsSendQueue(self.clients.get("sqs"), self.settings.send_queue_url)

    @cached_property
    def mailer(self) -> Mailer:
        from chalicelib.adapters.ses_mailer import SesMailer

        return SesMailer(self.clients.get("sesv2"), configuration_set=self.settings.ses_configuration_set)

    @cached_property
    def carriers(self) -> CarrierRegistry:
        from chalicelib.adapters.carriers.registry import carriers
        from chalicelib.adapters.local_sms import LocalSmsProvider

        return CarrierRegistry(
            carriers(
                client=self.clients.get,
                api_urls={"twilio": self.settings.twilio_api_url},
                sms_configuration_set=self.settings.sms_configuration_set,
                http_timeout=self.settings.carrier_http_timeout,
            ),
            local=LocalSmsProvider(),
        )

    @cached_property
    def event_publisher(self) -> EventPublisher:
        """The change events' bus (OPTOUT_EVENT_BUS_NAME); none configured: events go to endpoints only."""
        from chalicelib.adapters.eventbridge import EventBridgePublisher, NoEventBus

        if not self.settings.event_bus_name:
            return NoEventBus()
        return EventBridgePublisher(self.clients.get("events"), self.settings.event_bus_name)

    @cached_property
    def delivery_queue(self) -> DeliveryQueue:
        """Where change-event deliveries wait: the send queue."""
        from chalicelib.adapters.sqs_deliveries import SqsDeliveryQueue

        if not self.settings.send_queue_url:
            raise RuntimeError("OPTOUT_SEND_QUEUE_URL is not set: the service needs its send queue")
        return SqsDeliveryQueue(self.clients.get("sqs"), self.settings.send_queue_url)

    @cached_property
    def webhook_sender(self) -> WebhookSender:
        """Posts change events to the accounts' endpoints."""
        from chalicelib.adapters.webhook_sender import UrllibWebhookSender

        return UrllibWebhookSender(
            self.settings.event_webhook_timeout, allow_loopback=self.settings.allow_loopback_endpoints
        )

    @cached_property
    def send_deps(self) -> SendDeps:
        return SendDeps(stores=self.stores, provider_for=self.provider_for, now=self.clock.now, queue=self.queue)

    def operator_token(self) -> str | None:
        """The operator token: from the settings locally, from the secret store in AWS."""
        return self.settings.operator_token or self.secrets.get(self.settings.operator_token_secret)

    def provider_for(self, account: Account, carrier: str | None = None) -> SmsProvider:
        """The SmsProvider for the account's texts: through `carrier`, else the account's `sms_provider`.

        An account on `local` (the recorder of `make run`) sends nothing anywhere, replies included.
        """
        name = account.sms_provider if account.sms_provider == LOCAL else carrier
        name = name or account.sms_provider or next(iter(account.carriers), None)
        if name is None:
            return UnconfiguredProvider("none", "the account names no sms_provider and has no carrier credentials")
        credentials = carrier_credentials(account, name, self.secrets) or {}
        try:
            return self.carriers.provider(name, credentials)
        except CarrierNotConfigured as error:
            return UnconfiguredProvider(name, error.message)

    def account(self, account_id: str) -> Account | None:
        """The account, read at most once a minute (the send path's cache)."""
        cached = self._accounts.get(account_id)
        if cached is not None and time.monotonic() - cached[1] < ACCOUNT_MAX_AGE:
            return cached[0]
        account = self.stores.accounts.get_account(account_id)
        if account is not None:
            self._accounts[account_id] = (account, time.monotonic())
        return account


_current: Container | None = None


def container() -> Container:
    """The process's container, built from the environment's settings on first use."""
    global _current
    if _current is None:
        _current = Container(get_settings())
    return _current


def use(replacement: Container | None) -> None:
    """Install `replacement` as the process's container (tests, benchmarks); None: build afresh on next use."""
    global _current
    _current = replacement
