"""The interfaces the use cases need from the outside world; adapters implement them.

The stores follow the data: each port owns one kind of item, and `Stores` hands the use cases all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel

from chalicelib.domain.change_events import (
    ChangeEvent,
    ChangeEventJob,
    Delivery,
    DeliveryJob,
    EventEndpoint,
    ReceiverAnswer,
)
from chalicelib.domain.models import (
    Account,
    Contact,
    DeliveryReport,
    Email,
    EventRecord,
    InboundMessage,
    Intent,
    LoggedInbound,
    NotificationJob,
    NumberState,
    OutboundRecord,
    OutboundSms,
    SendRequest,
    SendStatus,
    SmsResult,
    Source,
)
from chalicelib.domain.webhooks import WebhookAnswer, WebhookRequest

if TYPE_CHECKING:  # imports.py (a use case) uses these ports at run time
    from chalicelib.domain.groups import Group, GroupKind
    from chalicelib.domain.imports import ImportJob, ImportTask, RejectedRow, UploadForm


class AccountStore(Protocol):
    """Accounts' settings and token hashes."""

    def get_account(self, account_id: str) -> Account | None: ...

    def put_account(self, account: Account) -> None: ...


class NumberStore(Protocol):
    """The one owner of a number's state item: its suppressions, per-scope clock, version and contact details."""

    def load(self, account_id: str, phone: str, event_id: str | None = None) -> tuple[NumberState, bool]:
        """The number's state, and whether `event_id` is already in its history: one round trip."""
        ...

    def load_many(self, account_id: str, phones: Sequence[str]) -> dict[str, NumberState]:
        """The state of each number; one round trip per 100 distinct numbers."""
        ...

    def commit(
        self,
        state: NumberState,
        record: EventRecord,
        inbound: LoggedInbound | None = None,
        job: NotificationJob | None = None,
        change_job: ChangeEventJob | None = None,
    ) -> None:
        """Write the new state and append `record` to the number's history atomically, with what it adds to the
        opt-out report's counters (`reports.tally`: an applied change counts once, with its event).

        Conditional on the state still being at `state.version` (else ConcurrentUpdate) and on the
        event not being recorded yet (else DuplicateEvent). `inbound`, when given, goes into the inbound
        log in the same write; `job` (the email job) and `change_job` (the change events), when given, into the
        outbox, on the event's item.
        """
        ...

    def claim_recipient(
        self, request: SendRequest, expected_version: int, now: datetime, *, forget: Iterable[str] = ()
    ) -> bool:
        """The send gate's last step: True when the recipient is still at `expected_version` and the request was
        not claimed before (it is not in the number's `recent_sends`, as loaded from now on).

        The same conditional write remembers who texted the number last and the contact's email
        (`contact`), and for a campaign's text the campaign and when (`NumberState.last_campaign`, read
        with the state). Forgets the claims of the requests in
        `forget`. False when an event changed the number since it was read, or the request is claimed already.
        """
        ...

    def release_recipient(self, request: SendRequest) -> None:
        """Forget the request's claim: it goes back to the queue unsent, and a redelivery may claim it."""
        ...

    def contact(self, account_id: str, phone: str) -> Contact:
        """Who last texted the number, and the contact's email, as `claim_recipient` recorded them."""
        ...

    def list_suppressed(self, account_id: str, cursor: str | None, limit: int) -> tuple[list[NumberState], str | None]:
        """Numbers with at least one active suppression, by phone, a page at a time."""
        ...


class History(Protocol):
    """Each number's events, kept forever (written by `NumberStore.commit`)."""

    def get_event(self, account_id: str, phone: str, event_id: str) -> EventRecord | None:
        """One event of the number's history."""
        ...

    def history(self, account_id: str, phone: str) -> list[EventRecord]:
        """The number's events, newest first (by carrier time, then received time)."""
        ...


@dataclass(frozen=True)
class InboundFilter:
    """What a search of the inbound log keeps: every condition given must hold (None: any)."""

    #: The contact's number (E.164).
    phone: str | None = None
    #: Received at or after this time.
    since: datetime | None = None
    #: Received before this time.
    until: datetime | None = None
    intent: Intent | None = None
    #: `pending`: flagged and awaiting an admin's review; `resolved`: flagged and reviewed.
    review: Literal["pending", "resolved"] | None = None


class InboundLog(Protocol):
    """Every message contacts sent, with what the service made of it, and the review queue."""

    def log_inbound(self, inbound: LoggedInbound) -> bool:
        """Add a message to the inbound log; False when it was already there."""
        ...

    def get_inbound(self, account_id: str, message_id: str) -> LoggedInbound | None: ...

    def list_inbound(
        self,
        account_id: str,
        cursor: str | None,
        limit: int,
        *,
        needs_review: bool = False,
        search: InboundFilter | None = None,
    ) -> tuple[list[LoggedInbound], str | None]:
        """The inbound log (or only the messages awaiting review), newest first, a page at a time.

        With `search`, only the messages it keeps: a page may hold fewer than `limit` (even none) when the store
        stopped at its read budget; the cursor says where to go on (None: nothing more matches).
        """
        ...

    def resolve_review(self, inbound: LoggedInbound) -> None:
        """Store the message with its review, taking it out of the review queue."""
        ...


class MessageParts(Protocol):
    """The parts of long messages a carrier delivered in pieces, kept until every part has come."""

    def add_part(self, message: InboundMessage) -> list[InboundMessage]:
        """Keep one part (again is harmless); every part of its message, in order, once all have come, else []."""
        ...


#: What the outbox holds: an event's email job, its change events.
OutboxJob = NotificationJob | ChangeEventJob


class Outbox(Protocol):
    """Jobs stored with their event (by `NumberStore.commit`) and not yet on the queue: an event's email job and its
    change events, listed together until both are queued."""

    def pending_jobs(self, limit: int) -> list[OutboxJob]:
        """The jobs of up to `limit` events not yet queued, oldest first (an event's email job before its changes).

        A store spread over partitions may share the limit out among them rather than take the oldest `limit` of all;
        every pending job still comes in some sweep."""
        ...

    def job_queued(self, job: OutboxJob) -> None:
        """Every job of `job`'s event is on the queue: the event leaves the outbox."""
        ...


#: The outcomes the outbound log is searched by: every status a record has.
SendOutcome = SendStatus


class OutboundLog(Protocol):
    """Every send request's outcome, recorded once per request id, with per-campaign counts."""

    def finish(self, record: OutboundRecord) -> bool:
        """Record the outcome, once: False when an outcome was already recorded (a `retrying` record is replaced)."""
        ...

    def release(self, record: OutboundRecord) -> None:
        """Record a request given back for a later retry: `record` is `retrying`, with why (reason, code, detail)."""
        ...

    def count(self, account_id: str, campaign_id: str, counts: dict[str, int]) -> None:
        """Add outcomes (`sent`, `skipped:<reason>`, ...) to the campaign's counters."""
        ...

    def get(self, account_id: str, request_id: str) -> OutboundRecord | None: ...

    def get_many(self, account_id: str, request_ids: Sequence[str]) -> dict[str, OutboundRecord]:
        """The records of those requests that have one, by request id; one round trip per 100 requests."""
        ...

    def campaign_counts(self, account_id: str, campaign_id: str) -> dict[str, int]:
        """`sent`, `skipped:<reason>`, `failed:<reason>` counts of the campaign."""
        ...

    def campaign_log(
        self,
        account_id: str,
        campaign_id: str,
        outcome: SendOutcome | None,
        reason: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[OutboundRecord], str | None]:
        """The campaign's records whose outcome is known, of `outcome` (None: any) and `reason` (None: any), by
        outcome, reason, then request id, a page at a time (InvalidRequest for a cursor of another listing)."""
        ...


#: One entry of a number's activity: a text sent to it, a reply it sent, or a change of its suppressions.
ActivityEntry = OutboundRecord | LoggedInbound | EventRecord


class ActivityLog(Protocol):
    """A number's timeline: texts sent to it (with their outcome), replies it sent, and its history events."""

    def activity(
        self, account_id: str, phone: str, cursor: str | None, limit: int
    ) -> tuple[list[ActivityEntry], str | None]:
        """Newest first (texts by when their outcome was recorded, replies and events by when they were received), a
        page at a time (InvalidRequest for a cursor of another listing)."""
        ...


class EmailLog(Protocol):
    """One line per email job and recipient: what makes an alert go out once, and shows that it did."""

    def claim_email(self, job_id: str, account_id: str, recipient: str, now: datetime) -> bool:
        """Mark the email as being sent; False when it was sent already."""
        ...

    def email_done(self, job_id: str, account_id: str, recipient: str, status: str, detail: str | None) -> None:
        """Record how it went: `sent` (with the message id), `retrying` or `failed` (with why)."""
        ...


@dataclass(frozen=True)
class Stores:
    """Every store, for the use cases to take what they need from."""

    accounts: AccountStore
    numbers: NumberStore
    history: History
    inbound: InboundLog
    outbox: Outbox
    outbound: OutboundLog
    emails: EmailLog
    parts: MessageParts
    endpoints: EventEndpoints
    #: Bulk imports: their jobs, and their files (None where nothing imports: see `chalicelib/domain/imports.py`).
    imports: ImportJobStore | None = None
    import_files: ImportFiles | None = None
    #: Each number's timeline (None where nothing reads it).
    activity: ActivityLog | None = None
    #: The opt-out report's counters (written by `NumberStore.commit`; see `chalicelib/domain/reports.py`).
    reports: ReportCounters | None = None
    #: Named groups (None where nothing reads them: see `chalicelib/domain/groups.py`).
    groups: Groups | None = None


class ReportCounters(Protocol):
    """The opt-out report's counters, per account and UTC day: `NumberStore.commit` adds an applied event's
    `reports.tally` to them in the event's own write; this port reads them."""

    def daily_counts(self, account_id: str, first: date, last: date) -> dict[date, dict[str, int]]:
        """Every counter (`reports.counter_name`) of each day from `first` to `last`, both included, that has any;
        one read of the range (a query, paged), however many days it covers."""
        ...


class SecretStore(Protocol):
    """Carrier credentials and the operator token, kept out of the table (SSM SecureString in AWS)."""

    def get(self, name: str) -> str | None: ...

    def put(self, name: str, value: str) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class SmsProvider(Protocol):
    """Sends one text through a carrier (or the local recorder)."""

    name: str

    def send(self, message: OutboundSms) -> SmsResult:
        """Send, mapping the provider's answer to an SmsResult; never raises for a provider error."""
        ...


class SendQueue(Protocol):
    """Where producers' send requests wait for the send function."""

    def enqueue(self, requests: Sequence[SendRequest]) -> dict[str, str]:
        """Queue the requests; returns request id -> reason for each one that was not queued."""
        ...

    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Back off before a record is delivered again."""
        ...

    def enqueue_jobs(self, jobs: Sequence[NotificationJob | ChangeEventJob]) -> dict[str, str]:
        """Queue jobs (one event's email and change-event jobs, or many events' together); returns job id -> why it
        was not queued, for each job the queue did not take (a job may go twice: its consumer handles it once)."""
        ...

    def enqueue_import(self, task: ImportTask) -> None:
        """Queue an import's next chunk; raises StoreUnavailable when the queue did not take it."""
        ...


class Mailer(Protocol):
    """Sends email (SES v2 in AWS and on the embedded endpoint)."""

    def send(self, email: Email) -> str:
        """Send it; returns the provider's message id.

        Raises MailRetry for throttling and service errors (try again later) and MailRejected for
        an email that can never be sent as it is (bad address, unverified sender).
        """
        ...


#: A carrier's credentials for one account: its settings and its secrets, by the names its form gives them.
Credentials = Mapping[str, str]


class Carrier(Protocol):
    """One carrier's wire formats: how it signs webhooks, what its payloads say, how it wants an answer.

    Adapters live under `chalicelib/adapters/carriers/`, one module each, listed in the registry.
    """

    #: The `{carrier}` of its webhook paths, and the key of its credentials in an account.
    name: str
    #: The account's credentials for this carrier, as PUT /v1/accounts/{id} takes them: a pydantic model whose
    #: SecretStr fields go to the secret store and whose other fields are kept in the account.
    credentials_form: type[BaseModel]
    #: True when the webhook's answer carries the reply (TwiML); otherwise replies go through the send path.
    replies_in_answer: bool

    def verify(self, request: WebhookRequest, credentials: Credentials) -> None:
        """Raise InvalidSignature unless the carrier signed this request for these credentials."""
        ...

    def read(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        """What a verified inbound-webhook request says: messages, reports, or something to answer directly."""
        ...

    def read_status(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        """What a verified status-callback request says."""
        ...

    def error_source(self, error_code: str | None) -> Source | None:
        """What a delivery error code means for the recipient: `carrier` opt-out, `bounce`, or nothing."""
        ...

    def answer(self, reply: str | None) -> WebhookAnswer:
        """The HTTP answer once everything the request said is stored; `reply` only when replies_in_answer."""
        ...

    def provider(self, credentials: Credentials) -> SmsProvider:
        """An SmsProvider sending through this carrier; CarrierNotConfigured when `credentials` lack something."""
        ...


class TopicCarrier(Carrier, Protocol):
    """A carrier that can also push its notices through a topic that invokes our function directly."""

    def notice_from_topic(
        self,
        message: str,
        *,
        message_id: str,
        timestamp: str,
        account_id: str,
        default_region: str,
        received_at: datetime,
    ) -> CarrierNotice:
        """What one topic message says (the invoke is authenticated by IAM: no signature to check)."""
        ...


@dataclass(frozen=True)
class CarrierNotice:
    """What one webhook request carried (some carriers batch, so lists)."""

    messages: tuple[InboundMessage, ...] = ()
    reports: tuple[DeliveryReport, ...] = ()
    #: An answer to give at once instead (a subscription confirmed, a test ping): nothing to store.
    answer: WebhookAnswer | None = None


class CarrierCatalog(Protocol):
    """The carriers the service knows, as the domain sees them: names, credential forms and providers."""

    def credentials_form(self, carrier: str) -> type[BaseModel] | None:
        """The credentials model of a carrier, or None when there is no such carrier."""
        ...

    def provider_names(self) -> frozenset[str]:
        """What `sms_provider` may name."""
        ...


# --- change events (chalicelib/domain/change_events.py) ------------------------------------------------------


class EventPublisher(Protocol):
    """The event bus every change event goes to (EventBridge in AWS and on the embedded endpoint)."""

    def publish(self, events: Sequence[ChangeEvent]) -> None:
        """Put the events on the bus; StoreUnavailable when it did not take every one (retry)."""
        ...


class EventEndpoints(Protocol):
    """An account's event endpoints (one item, changed conditionally on its version) and each endpoint's delivery
    log (one entry per change event sent to it)."""

    def load_endpoints(self, account_id: str) -> tuple[list[EventEndpoint], int]:
        """Every endpoint of the account (deleted ones too), oldest first, and the version to save them at (0: none
        yet)."""
        ...

    def save_endpoints(self, account_id: str, endpoints: Sequence[EventEndpoint], expected_version: int) -> bool:
        """Replace the account's endpoints; False (nothing written) when they changed since `expected_version`."""
        ...

    def schedule_delivery(self, delivery: Delivery) -> Delivery:
        """Add `delivery` to its endpoint's log unless that change event is there already; the entry now stored."""
        ...

    def put_delivery(self, delivery: Delivery) -> None:
        """Store the delivery's entry as it is now (after an attempt, a cancellation or a replay)."""
        ...

    def get_delivery(self, account_id: str, endpoint_id: str, event_id: str) -> Delivery | None:
        """The entry of change event `event_id` in the endpoint's log."""
        ...

    def list_deliveries(
        self, account_id: str, endpoint_id: str, cursor: str | None, limit: int
    ) -> tuple[list[Delivery], str | None]:
        """The endpoint's log, newest change event first, a page at a time (InvalidRequest for a foreign cursor)."""
        ...

    def deliveries_since(
        self, account_id: str, endpoint_id: str, since: datetime, limit: int, *, after: str | None = None
    ) -> list[Delivery]:
        """Up to `limit` entries of change events recorded at or after `since` (and after the change event id
        `after`, when given), oldest first."""
        ...


class DeliveryQueue(Protocol):
    """Where deliveries of change events wait (the send queue, beside send requests and email jobs)."""

    def enqueue_deliveries(self, jobs: Sequence[DeliveryJob]) -> None:
        """Queue the jobs; StoreUnavailable when the queue did not take them all."""
        ...


class WebhookSender(Protocol):
    """Posts one signed change event to an endpoint (HTTPS, no redirects followed, bounded in time)."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> ReceiverAnswer:
        """The receiver's answer; never raises for the receiver's failure (no answer is a ReceiverAnswer too)."""
        ...


class ImportJobStore(Protocol):
    """Bulk imports: one job per account and import id, with its progress and the rows it did not apply."""

    def create_job(self, job: ImportJob) -> bool:
        """Store a new job (at version 1); False when the account has a job with this import id already."""
        ...

    def get_job(self, account_id: str, import_id: str) -> ImportJob | None:
        """The job, strongly consistent, with its version."""
        ...

    def save_job(self, job: ImportJob, expected_version: int, rejected: Sequence[RejectedRow] = ()) -> bool:
        """Store `job` (its version becomes `expected_version + 1`) with more rejected rows, in one write; False, and
        nothing written, when the job is no longer at `expected_version`."""
        ...

    def rejected_rows(
        self, account_id: str, import_id: str, after_line: int, limit: int
    ) -> tuple[list[RejectedRow], int | None]:
        """Up to `limit` rejected rows after line `after_line`, by line; and the line to continue after (None: no
        more)."""
        ...


class ImportFiles(Protocol):
    """The files imports read: requests' bodies and uploads (S3 in AWS and on the embedded endpoint)."""

    def put(self, key: str, data: bytes) -> None:
        """Keep `data` under `key`; StoreUnavailable when it could not."""
        ...

    def size(self, key: str) -> int | None:
        """The file's size in bytes; None when there is no such file."""
        ...

    def read(self, key: str, start: int, length: int) -> bytes:
        """Up to `length` bytes of the file from byte `start`; ImportFileMissing when there is no such file."""
        ...

    def upload_form(self, key: str, max_bytes: int, expires_in: int) -> UploadForm:
        """A presigned POST that uploads one file of 1 to `max_bytes` bytes as `key`, valid `expires_in` seconds."""
        ...


class Groups(Protocol):
    """An account's named groups (group, event, organisation, employee, topic) by id, and an index of their names'
    words to search them by (`chalicelib/domain/groups.py`)."""

    def save_group(self, group: Group, previous: Group | None) -> bool:
        """Store `group` and its name's index in one write: new when `previous` is None (False when the id is taken),
        else replacing `previous` (False, nothing written, when the group is no longer at `previous.version`)."""
        ...

    def get_group(self, account_id: str, group_id: str) -> Group | None:
        """One group, strongly consistent, with its version."""
        ...

    def delete_group(self, group: Group) -> None:
        """Remove the group and its name's index."""
        ...

    def list_groups(
        self, account_id: str, kind: GroupKind | None, cursor: str | None, limit: int
    ) -> tuple[list[Group], str | None]:
        """The account's groups (of `kind`, when given) by id, a page at a time (InvalidRequest for a foreign
        cursor). A page may be short of `limit` with a cursor still to follow."""
        ...

    def search_groups(
        self, account_id: str, words: Sequence[str], kind: GroupKind | None, cursor: str | None, limit: int
    ) -> tuple[list[Group], str | None]:
        """The groups whose name has, for every query word, a word it begins (`groups.matches`), by index word then
        id, each once, a page at a time; read from the index of the longest query word, never from every group."""
        ...
