"""The composition root built on in-memory fakes, for tests and benchmarks that go through views or workers."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib import wiring
from chalicelib.adapters.carriers.registry import CarrierRegistry, carriers
from chalicelib.domain.change_events import ChangeEventJob
from chalicelib.domain.errors import StoreUnavailable
from chalicelib.domain.imports import ImportTask
from chalicelib.domain.models import Email, NotificationJob, SendRequest
from chalicelib.settings import Settings
from tests.fakes import (
    FixedClock,
    InMemorySecretStore,
    RecordingDeliveryQueue,
    RecordingEventPublisher,
    ScriptedWebhookSender,
    in_memory_stores,
)


class RecordingQueue:
    """A SendQueue that keeps what it was given; `fail` makes every call refuse, as SQS does when down."""

    def __init__(self, fail: bool = False) -> None:
        self.requests: list[SendRequest] = []
        self.jobs: list[NotificationJob] = []
        #: Change-event jobs (kept apart: `jobs` are the email jobs tests look at).
        self.change_jobs: list[ChangeEventJob] = []
        self.delays: list[tuple[str, int]] = []
        self.imports: list[ImportTask] = []
        self.fail = fail

    def enqueue(self, requests):
        if self.fail:
            return {request.request_id: "SQS did not answer" for request in requests}
        self.requests.extend(requests)
        return {}

    def enqueue_jobs(self, jobs: Sequence[NotificationJob | ChangeEventJob]) -> dict[str, str]:
        if self.fail:
            return {job.job_id: "SQS did not answer" for job in jobs}
        for job in jobs:
            if isinstance(job, ChangeEventJob):
                self.change_jobs.append(job)
            else:
                self.jobs.append(job)
        return {}

    def enqueue_import(self, task: ImportTask) -> None:
        if self.fail:
            raise StoreUnavailable("SQS did not answer")
        self.imports.append(task)

    def delay(self, receipt_handle: str, seconds: int) -> None:
        self.delays.append((receipt_handle, seconds))


class RecordingMailer:
    """A Mailer that keeps every email; set `error` to make it raise instead."""

    def __init__(self) -> None:
        self.sent: list[Email] = []
        self.error: Exception | None = None

    def send(self, email: Email) -> str:
        if self.error is not None:
            raise self.error
        self.sent.append(email)
        return f"ses-{len(self.sent)}"


def registry(local=None, settings: Settings | None = None, *, sns_fetch=None) -> CarrierRegistry:
    """The real carriers, and `local` (e.g. a RecordingSmsProvider) as the provider accounts name `local`.

    `sns_fetch` (url -> bytes): where `aws` reads SNS signing certificates instead of SNS's host (a test's stand-in).
    """
    settings = settings or Settings()

    def no_aws_client(service: str):
        raise AssertionError(f"this test builds no AWS client ({service})")

    every = carriers(
        client=no_aws_client,
        api_urls={"twilio": settings.twilio_api_url},
        sms_configuration_set=None,
        http_timeout=settings.carrier_http_timeout,
    )
    if sns_fetch is not None:

        def aws():  # imported when first used, as the registry does
            from chalicelib.adapters.carriers.aws import AwsCarrier

            return AwsCarrier(sms_client=lambda: no_aws_client("pinpoint-sms-voice-v2"), fetch=sns_fetch)

        every = {**every, "aws": aws}
    return CarrierRegistry(every, local=local)


def fake_container(settings: Settings | None = None, *, provider=None, **parts) -> wiring.Container:
    """A Container on in-memory fakes (any part may be given instead), installed as the process's container.

    `provider`: the SmsProvider of accounts whose `sms_provider` is `local`.
    """
    if provider is not None:
        parts.setdefault("carriers", registry(provider, settings))
    defaults = {
        "stores": in_memory_stores(),
        "secrets": InMemorySecretStore(),
        "queue": RecordingQueue(),
        "mailer": RecordingMailer(),
        "clock": FixedClock(),
    }
    built = wiring.Container(settings or Settings(), **(defaults | parts))
    # The change events' parts (the Container builds them from the settings otherwise): fakes, kept by the container.
    built.__dict__.update(
        event_publisher=RecordingEventPublisher(),
        delivery_queue=RecordingDeliveryQueue(),
        webhook_sender=ScriptedWebhookSender(),
    )
    wiring.use(built)
    return built
