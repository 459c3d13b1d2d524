"""Small in-memory fakes of our own ports, for unit tests and benchmarks: each port's contract by example.

`in_memory_stores()` wires the store fakes together as the DynamoDB ones share a table: the number
store's commit writes into the history, inbound log and outbox it was given. tests/integration/contract/
runs the same cases on these fakes and on the DynamoDB adapters.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from chalicelib.domain import reports
from chalicelib.domain.change_events import (
    ChangeEvent,
    ChangeEventJob,
    Delivery,
    DeliveryJob,
    EventEndpoint,
    ReceiverAnswer,
    change_event_id_floor,
)
from chalicelib.domain.errors import ConcurrentUpdate, DuplicateEvent, InvalidRequest, StoreUnavailable
from chalicelib.domain.groups import Group, GroupKind, indexed_by, matches, search_word
from chalicelib.domain.imports import ImportFileMissing, ImportJob, RejectedRow, UploadForm
from chalicelib.domain.models import (
    Account,
    CampaignText,
    Contact,
    EventRecord,
    InboundMessage,
    LoggedInbound,
    NotificationJob,
    NumberState,
    OutboundRecord,
    OutboundSms,
    SendRequest,
    SmsResult,
)
from chalicelib.domain.ports import InboundFilter, OutboxJob, Stores


class InMemoryAccountStore:
    """Accounts by id. `calls` counts get_account and put_account, as round trips."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.calls: Counter[str] = Counter()

    def get_account(self, account_id: str) -> Account | None:
        self.calls["get_account"] += 1
        return self.accounts.get(account_id)

    def put_account(self, account: Account) -> None:
        self.calls["put_account"] += 1
        self.accounts[account.account_id] = account


class InMemoryHistory:
    """Events by (account, phone), then by event id; InMemoryNumberStore.commit adds to them."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, EventRecord]] = {}

    def get_event(self, account_id: str, phone: str, event_id: str) -> EventRecord | None:
        return self.events.get((account_id, phone), {}).get(event_id)

    def history(self, account_id: str, phone: str) -> list[EventRecord]:
        records = self.events.get((account_id, phone), {}).values()
        return sorted(records, key=lambda r: (r.event.occurred_at, r.event.received_at, r.sequence), reverse=True)


class InMemoryInboundLog:
    """Messages by (account, message id). `calls` counts log_inbound, as round trips."""

    def __init__(self) -> None:
        self.messages: dict[tuple[str, str], LoggedInbound] = {}
        self.calls: Counter[str] = Counter()

    def log_inbound(self, inbound: LoggedInbound) -> bool:
        self.calls["log_inbound"] += 1
        key = (inbound.message.account_id, inbound.message.message_id)
        if key in self.messages:
            return False
        self.messages[key] = inbound
        return True

    def get_inbound(self, account_id: str, message_id: str) -> LoggedInbound | None:
        return self.messages.get((account_id, message_id))

    def list_inbound(
        self,
        account_id: str,
        cursor: str | None,
        limit: int,
        *,
        needs_review: bool = False,
        search: InboundFilter | None = None,
    ) -> tuple[list[LoggedInbound], str | None]:
        search = search or InboundFilter()
        review = "pending" if needs_review else search.review
        logged = [m for (acct, _), m in self.messages.items() if acct == account_id and _kept(m, search, review)]
        logged.sort(key=_received, reverse=True)
        # One listing per index partition the DynamoDB store reads: the number's activity, the review queue, the log.
        if search.phone is not None:
            listing = ("log", f"{account_id}#{search.phone}")
        else:
            listing = ("review" if review == "pending" else "log", account_id)
        return _page(listing, logged, cursor, limit, key=_received)

    def resolve_review(self, inbound: LoggedInbound) -> None:
        self.messages[(inbound.message.account_id, inbound.message.message_id)] = inbound


def _kept(m: LoggedInbound, search: InboundFilter, review: str | None) -> bool:
    state = None if not m.needs_review else ("pending" if m.review is None else "resolved")
    return (
        (review is None or state == review)
        and (search.phone is None or m.message.from_phone == search.phone)
        and (search.intent is None or m.intent == search.intent)
        and (search.since is None or m.message.received_at >= search.since)
        and (search.until is None or m.message.received_at < search.until)
    )


def _received(m: LoggedInbound) -> str:
    return f"{m.message.received_at.isoformat()}#{m.message.message_id}"


class InMemoryOutbox:
    """Pending jobs by event (account, phone, event id), each with its event's `<received at>#<event id>` to order
    them by: an event's email job, then its change job."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str, str], tuple[str, list[OutboxJob]]] = {}

    def pending_jobs(self, limit: int) -> list[OutboxJob]:
        listed = sorted(self.jobs.values(), key=lambda entry: entry[0])[:limit]
        return [job for _, jobs in listed for job in jobs]

    def job_queued(self, job: OutboxJob) -> None:
        if job.event_id is not None:
            self.jobs.pop((job.account_id, job.phone, job.event_id), None)


class InMemoryReportCounters:
    """Counters by (account, day), added to by InMemoryNumberStore.commit with each applied change (unsharded: the
    shards of a day are summed when read anyway). `calls` counts daily_counts, as round trips."""

    def __init__(self) -> None:
        self.days: dict[tuple[str, date], Counter[str]] = {}
        self.calls: Counter[str] = Counter()

    def add(self, tally: reports.Tally) -> None:
        self.days.setdefault((tally.account_id, tally.day), Counter()).update(tally.counters)

    def daily_counts(self, account_id: str, first: date, last: date) -> dict[date, dict[str, int]]:
        self.calls["daily_counts"] += 1
        return {
            day: dict(counts)
            for (acct, day), counts in self.days.items()
            if acct == account_id and first <= day <= last
        }


class InMemoryNumberStore:
    """States and contacts by (account, phone); commit writes into the history, inbound log, outbox and report
    counters given.

    `calls` counts load, load_many and commit, as round trips.
    """

    def __init__(
        self,
        history: InMemoryHistory,
        inbound: InMemoryInboundLog,
        outbox: InMemoryOutbox,
        reports: InMemoryReportCounters | None = None,
    ) -> None:
        self.history = history
        self.inbound = inbound
        self.outbox = outbox
        self.reports = reports
        self.states: dict[tuple[str, str], NumberState] = {}
        self.contacts: dict[tuple[str, str], Contact] = {}
        self.calls: Counter[str] = Counter()

    def load(self, account_id: str, phone: str, event_id: str | None = None) -> tuple[NumberState, bool]:
        self.calls["load"] += 1
        seen = event_id is not None and self.history.get_event(account_id, phone, event_id) is not None
        return self._state(account_id, phone), seen

    def load_many(self, account_id: str, phones: Sequence[str]) -> dict[str, NumberState]:
        self.calls["load_many"] += 1
        return {phone: self._state(account_id, phone) for phone in phones}

    def commit(
        self,
        state: NumberState,
        record: EventRecord,
        inbound: LoggedInbound | None = None,
        job: NotificationJob | None = None,
        change_job: ChangeEventJob | None = None,
    ) -> None:
        self.calls["commit"] += 1
        event = record.event
        if self._state(state.account_id, state.phone).version != state.version:
            raise ConcurrentUpdate(state.phone)
        if self.history.get_event(event.account_id, event.phone, event.event_id) is not None:
            raise DuplicateEvent(event.event_id)
        # The send path's last campaign and claims are not the event's to write: the ones stored now stay.
        stored = self._state(state.account_id, state.phone)
        self.states[(state.account_id, state.phone)] = state.model_copy(
            update={
                "version": state.version + 1,
                "last_campaign": stored.last_campaign,
                "recent_sends": stored.recent_sends,
            }
        )
        self.history.events.setdefault((event.account_id, event.phone), {})[event.event_id] = record
        counted = reports.tally(state, record)
        if counted is not None and self.reports is not None:
            self.reports.add(counted)
        if inbound is not None:
            self.inbound.messages[(inbound.message.account_id, inbound.message.message_id)] = inbound
        jobs: list[OutboxJob] = [queued for queued in (job, change_job) if queued is not None]
        if jobs:
            order = f"{event.received_at.isoformat()}#{event.event_id}"
            self.outbox.jobs[(event.account_id, event.phone, event.event_id)] = (order, jobs)

    def claim_recipient(
        self, request: SendRequest, expected_version: int, now: datetime, *, forget: Iterable[str] = ()
    ) -> bool:
        state = self._state(request.account_id, request.to)
        if state.version != expected_version or request.request_id in state.recent_sends:
            return False
        before = self.contact(request.account_id, request.to)
        self.contacts[(request.account_id, request.to)] = Contact(
            last_user_email=request.user_email or before.last_user_email,
            contact_email=request.contact_email or before.contact_email,
        )
        recent = {r: at for r, at in state.recent_sends.items() if r not in forget}
        recent[request.request_id] = int(now.timestamp())
        update: dict[str, object] = {"recent_sends": recent}
        if request.campaign_id:
            update["last_campaign"] = CampaignText(campaign_id=request.campaign_id, sent_at=now)
        self.states[(request.account_id, request.to)] = state.model_copy(update=update)
        return True

    def release_recipient(self, request: SendRequest) -> None:
        state = self._state(request.account_id, request.to)
        recent = {r: at for r, at in state.recent_sends.items() if r != request.request_id}
        self.states[(request.account_id, request.to)] = state.model_copy(update={"recent_sends": recent})

    def contact(self, account_id: str, phone: str) -> Contact:
        return self.contacts.get((account_id, phone), Contact())

    def list_suppressed(self, account_id: str, cursor: str | None, limit: int) -> tuple[list[NumberState], str | None]:
        states = sorted(
            (s for (acct, _), s in self.states.items() if acct == account_id and s.suppressed), key=lambda s: s.phone
        )
        return _page(("suppressed", account_id), states, cursor, limit, key=lambda s: s.phone)

    def _state(self, account_id: str, phone: str) -> NumberState:
        return self.states.get((account_id, phone)) or NumberState(account_id=account_id, phone=phone)


class InMemoryOutboundLog:
    """Records by (account, request id) and counters by (account, campaign)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], OutboundRecord] = {}
        self.counts: dict[tuple[str, str], Counter[str]] = {}
        self.calls: Counter[str] = Counter()

    def finish(self, record: OutboundRecord) -> bool:
        if self._status(record.request) not in (None, "retrying"):
            return False
        self.records[(record.request.account_id, record.request.request_id)] = record
        return True

    def release(self, record: OutboundRecord) -> None:
        self.finish(record)

    def count(self, account_id: str, campaign_id: str, counts: dict[str, int]) -> None:
        self.counts.setdefault((account_id, campaign_id), Counter()).update(counts)

    def get(self, account_id: str, request_id: str) -> OutboundRecord | None:
        return self.records.get((account_id, request_id))

    def get_many(self, account_id: str, request_ids: Sequence[str]) -> dict[str, OutboundRecord]:
        self.calls["get_many"] += 1
        return {r: self.records[(account_id, r)] for r in request_ids if (account_id, r) in self.records}

    def campaign_counts(self, account_id: str, campaign_id: str) -> dict[str, int]:
        return dict(self.counts.get((account_id, campaign_id), {}))

    def campaign_log(
        self, account_id: str, campaign_id: str, outcome: str | None, reason: str | None, cursor: str | None, limit: int
    ) -> tuple[list[OutboundRecord], str | None]:
        found = sorted(
            (
                record
                for (acct, _), record in self.records.items()
                if acct == account_id
                and record.request.campaign_id == campaign_id
                and outcome in (None, record.status)
                and (outcome is None or reason in (None, record.reason))
            ),
            key=_outcome_key,
        )
        listing = ("campaign", f"{account_id}#{campaign_id}#{outcome or ''}#{(reason or '') if outcome else ''}")
        return _page(listing, found, cursor, limit, key=_outcome_key)

    def _status(self, request: SendRequest) -> str | None:
        record = self.records.get((request.account_id, request.request_id))
        return record.status if record else None


def _outcome_key(record: OutboundRecord) -> str:
    """The campaign log's order: outcome, reason, request id."""
    return f"{record.status}#{record.reason or ''}#{record.request.request_id}"


class InMemoryActivityLog:
    """A number's timeline, read from the outbound log, inbound log and history fakes it is given."""

    def __init__(self, history: InMemoryHistory, inbound: InMemoryInboundLog, outbound: InMemoryOutboundLog) -> None:
        self.history = history
        self.inbound = inbound
        self.outbound = outbound

    def activity(self, account_id: str, phone: str, cursor: str | None, limit: int) -> tuple[list, str | None]:
        entries: list[tuple[str, object]] = [
            (_activity_key(r.updated_at, "sent", r.request.request_id), r)
            for (acct, _), r in self.outbound.records.items()
            if acct == account_id and r.request.to == phone
        ]
        entries += [
            (_activity_key(m.message.received_at, "reply", m.message.message_id), m)
            for (acct, _), m in self.inbound.messages.items()
            if acct == account_id and m.message.from_phone == phone
        ]
        entries += [
            (_activity_key(r.event.received_at, "change", r.event.event_id), r)
            for r in self.history.events.get((account_id, phone), {}).values()
        ]
        entries.sort(key=lambda entry: entry[0], reverse=True)
        found, after = _page(("activity", f"{account_id}#{phone}"), entries, cursor, limit, key=lambda entry: entry[0])
        return [entry for _, entry in found], after


def _activity_key(at: datetime, kind: str, entry_id: str) -> str:
    return f"{at.isoformat()}#{kind}#{entry_id}"


class InMemoryEmailLog:
    """(status, detail) by (account, job id, recipient in lower case)."""

    def __init__(self) -> None:
        self.emails: dict[tuple[str, str, str], tuple[str, str | None]] = {}

    def claim_email(self, job_id: str, account_id: str, recipient: str, now: datetime) -> bool:
        key = (account_id, job_id, recipient.lower())
        if key in self.emails and self.emails[key][0] not in ("retrying", "failed"):
            return False
        self.emails[key] = ("sending", None)
        return True

    def email_done(self, job_id: str, account_id: str, recipient: str, status: str, detail: str | None) -> None:
        self.emails[(account_id, job_id, recipient.lower())] = (status, detail)


class InMemoryMessageParts:
    """Parts by (account, carrier, sender, reference), then by part number."""

    def __init__(self) -> None:
        self.parts: dict[tuple[str, str, str, str], dict[int, InboundMessage]] = {}

    def add_part(self, message: InboundMessage) -> list[InboundMessage]:
        assert message.part is not None
        key = (message.account_id, message.carrier, message.from_phone, message.part.reference)
        parts = self.parts.setdefault(key, {})
        parts[message.part.number] = message
        if set(parts) != set(range(1, message.part.total + 1)):
            return []
        return [parts[number] for number in sorted(parts)]


class InMemoryImportJobs:
    """Jobs by (account, import id), each with its version; rejected rows by (account, import id), then by line.

    `calls` counts every method, as round trips.
    """

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], ImportJob] = {}
        self.rejected: dict[tuple[str, str], dict[int, RejectedRow]] = {}
        self.calls: Counter[str] = Counter()

    def create_job(self, job: ImportJob) -> bool:
        self.calls["create_job"] += 1
        key = (job.account_id, job.import_id)
        if key in self.jobs:
            return False
        self.jobs[key] = job.model_copy(update={"version": 1})
        return True

    def get_job(self, account_id: str, import_id: str) -> ImportJob | None:
        self.calls["get_job"] += 1
        return self.jobs.get((account_id, import_id))

    def save_job(self, job: ImportJob, expected_version: int, rejected: Sequence[RejectedRow] = ()) -> bool:
        self.calls["save_job"] += 1
        key = (job.account_id, job.import_id)
        current = self.jobs.get(key)
        if current is None or current.version != expected_version:
            return False
        self.jobs[key] = job.model_copy(update={"version": expected_version + 1})
        self.rejected.setdefault(key, {}).update((row.line, row) for row in rejected)
        return True

    def rejected_rows(
        self, account_id: str, import_id: str, after_line: int, limit: int
    ) -> tuple[list[RejectedRow], int | None]:
        self.calls["rejected_rows"] += 1
        rows = self.rejected.get((account_id, import_id), {})
        after = [rows[line] for line in sorted(rows) if line > after_line]
        page = after[:limit]
        return page, (page[-1].line if len(after) > limit and page else None)


class InMemoryImportFiles:
    """Files by key. `upload_form` answers a form naming the key; `files[key] = data` stands for the POST to it."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.calls: Counter[str] = Counter()

    def put(self, key: str, data: bytes) -> None:
        self.calls["put"] += 1
        self.files[key] = bytes(data)

    def size(self, key: str) -> int | None:
        self.calls["size"] += 1
        return len(self.files[key]) if key in self.files else None

    def read(self, key: str, start: int, length: int) -> bytes:
        self.calls["read"] += 1
        if key not in self.files:
            raise ImportFileMissing(key)
        return self.files[key][start : start + max(0, length)]

    def upload_form(self, key: str, max_bytes: int, expires_in: int) -> UploadForm:
        self.calls["upload_form"] += 1
        policy = f"key={key};bytes=1-{max_bytes};expires_in={expires_in}"
        return UploadForm(url="https://imports.example.com/", fields={"key": key, "policy": policy})


def in_memory_stores() -> Stores:
    """Every store fake, the number store writing into the history, inbound log and outbox beside it."""
    history, inbound, outbox = InMemoryHistory(), InMemoryInboundLog(), InMemoryOutbox()
    outbound = InMemoryOutboundLog()
    counters = InMemoryReportCounters()
    return Stores(
        accounts=InMemoryAccountStore(),
        numbers=InMemoryNumberStore(history, inbound, outbox, counters),
        history=history,
        inbound=inbound,
        outbox=outbox,
        outbound=outbound,
        emails=InMemoryEmailLog(),
        parts=InMemoryMessageParts(),
        imports=InMemoryImportJobs(),
        import_files=InMemoryImportFiles(),
        endpoints=InMemoryEventEndpoints(),
        activity=InMemoryActivityLog(history, inbound, outbound),
        reports=counters,
        groups=InMemoryGroups(),
    )


#: Listings whose items come newest first (the inbound log, the review queue, a number's activity); the others
#: ascend.
_NEWEST_FIRST = frozenset({"log", "review", "activity"})


def _page(listing: tuple[str, str], items: list, cursor: str | None, limit: int, key) -> tuple[list, str | None]:
    """Cursors are opaque and URL-safe, valid only for their listing, and refused with InvalidRequest otherwise,
    as the real store's are. Like DynamoDB's ExclusiveStartKey, a cursor continues after its item's key even when
    that item has left the listing meanwhile."""
    start = 0
    if cursor:
        after = _cursor_key(listing, cursor)
        descending = listing[0] in _NEWEST_FIRST
        beyond = (i for i, item in enumerate(items) if (key(item) < after if descending else key(item) > after))
        start = next(beyond, len(items))
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, (_cursor(listing, key(page[-1])) if more and page else None)


def _cursor(listing: tuple[str, str], key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([*listing, key]).encode()).decode().rstrip("=")


def _cursor_key(listing: tuple[str, str], cursor: str) -> str:
    """The key of the item `cursor` was made after, when it was made for `listing`."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        decoded = None
    fits = isinstance(decoded, list) and len(decoded) == len(listing) + 1 and all(isinstance(p, str) for p in decoded)
    if not fits or tuple(decoded[:-1]) != listing:
        raise InvalidRequest("the cursor is not one this service returned", cursor=cursor)
    return decoded[-1]


class InMemorySecretStore:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def put(self, name: str, value: str) -> None:
        self.values[name] = value


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float = 1) -> datetime:
        self.current += timedelta(seconds=seconds)
        return self.current


class RecordingSmsProvider:
    """An SmsProvider that answers from a script per number and records every call, with its time."""

    name = "recording"

    def __init__(self, answers: dict[str, SmsResult] | None = None, clock=None) -> None:
        self.answers = answers or {}
        self.sent: list[tuple[float, OutboundSms]] = []
        self._clock = clock or time.monotonic

    def send(self, message: OutboundSms) -> SmsResult:
        self.sent.append((self._clock(), message))
        return self.answers.get(message.to) or SmsResult(status="sent", provider_message_id=f"fake-{len(self.sent)}")


# --- change events (chalicelib/domain/change_events.py) ----------------------------------------------------------


class InMemoryEventEndpoints:
    """Endpoints and their version by account; delivery log entries by (account, endpoint), then change event id.

    `calls` counts every method, as round trips.
    """

    def __init__(self) -> None:
        self.endpoints: dict[str, tuple[list[EventEndpoint], int]] = {}
        self.deliveries: dict[tuple[str, str], dict[str, Delivery]] = {}
        self.calls: Counter[str] = Counter()

    def load_endpoints(self, account_id: str) -> tuple[list[EventEndpoint], int]:
        self.calls["load_endpoints"] += 1
        endpoints, version = self.endpoints.get(account_id, ([], 0))
        return list(endpoints), version

    def save_endpoints(self, account_id: str, endpoints: Sequence[EventEndpoint], expected_version: int) -> bool:
        self.calls["save_endpoints"] += 1
        if self.endpoints.get(account_id, ([], 0))[1] != expected_version:
            return False
        self.endpoints[account_id] = (list(endpoints), expected_version + 1)
        return True

    def schedule_delivery(self, delivery: Delivery) -> Delivery:
        self.calls["schedule_delivery"] += 1
        log = self.deliveries.setdefault((delivery.account_id, delivery.endpoint_id), {})
        return log.setdefault(delivery.event.id, delivery)

    def put_delivery(self, delivery: Delivery) -> None:
        self.calls["put_delivery"] += 1
        self.deliveries.setdefault((delivery.account_id, delivery.endpoint_id), {})[delivery.event.id] = delivery

    def get_delivery(self, account_id: str, endpoint_id: str, event_id: str) -> Delivery | None:
        self.calls["get_delivery"] += 1
        return self.deliveries.get((account_id, endpoint_id), {}).get(event_id)

    def list_deliveries(
        self, account_id: str, endpoint_id: str, cursor: str | None, limit: int
    ) -> tuple[list[Delivery], str | None]:
        self.calls["list_deliveries"] += 1
        listing = ("deliveries", f"{account_id}#{endpoint_id}")
        log = sorted(self.deliveries.get((account_id, endpoint_id), {}).items(), reverse=True)
        start = 0
        if cursor:
            after = _cursor_key(listing, cursor)
            start = next((i for i, (event_id, _) in enumerate(log) if event_id < after), len(log))
        page = log[start : start + limit]
        more = start + limit < len(log)
        return [delivery for _, delivery in page], (_cursor(listing, page[-1][0]) if more and page else None)

    def deliveries_since(
        self, account_id: str, endpoint_id: str, since: datetime, limit: int, *, after: str | None = None
    ) -> list[Delivery]:
        self.calls["deliveries_since"] += 1
        floor = change_event_id_floor(since)
        log = sorted(self.deliveries.get((account_id, endpoint_id), {}).items())
        return [d for event_id, d in log if event_id >= floor and (after is None or event_id > after)][:limit]


class RecordingEventPublisher:
    """An EventPublisher that keeps what it was given; `fail` makes it refuse, as a bus that is down."""

    def __init__(self) -> None:
        self.published: list[ChangeEvent] = []
        self.fail = False

    def publish(self, events: Sequence[ChangeEvent]) -> None:
        if self.fail:
            raise StoreUnavailable("the bus did not answer")
        self.published.extend(events)


class RecordingDeliveryQueue:
    """A DeliveryQueue that keeps the jobs; `fail` makes it refuse them."""

    def __init__(self) -> None:
        self.jobs: list[DeliveryJob] = []
        self.fail = False

    def enqueue_deliveries(self, jobs: Sequence[DeliveryJob]) -> None:
        if self.fail and jobs:
            raise StoreUnavailable("SQS did not answer")
        self.jobs.extend(jobs)


class ScriptedWebhookSender:
    """A WebhookSender that answers from a script (the last answer repeats) and records every post."""

    def __init__(self, *answers: ReceiverAnswer) -> None:
        self.answers = list(answers) or [ReceiverAnswer(status=200)]
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> ReceiverAnswer:
        self.posts.append((url, body, dict(headers)))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


# --- named groups (chalicelib/domain/groups.py) ----------------------------------------------------------------------


class InMemoryGroups:
    """Groups by (account, id). A search reads the name words' index as DynamoDB does (by word, then id; a group
    under the first word of its name with the query's longest word as prefix). `calls` counts every method."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str], Group] = {}
        self.calls: Counter[str] = Counter()

    def save_group(self, group: Group, previous: Group | None) -> bool:
        self.calls["save_group"] += 1
        stored = self.groups.get((group.account_id, group.id))
        if (stored is None) != (previous is None) or (stored and previous and stored.version != previous.version):
            return False
        version = 1 if previous is None else previous.version + 1
        self.groups[(group.account_id, group.id)] = group.model_copy(update={"version": version})
        return True

    def get_group(self, account_id: str, group_id: str) -> Group | None:
        self.calls["get_group"] += 1
        return self.groups.get((account_id, group_id))

    def delete_group(self, group: Group) -> None:
        self.calls["delete_group"] += 1
        self.groups.pop((group.account_id, group.id), None)

    def list_groups(
        self, account_id: str, kind: GroupKind | None, cursor: str | None, limit: int
    ) -> tuple[list[Group], str | None]:
        self.calls["list_groups"] += 1
        groups = sorted(
            (g for (acct, _), g in self.groups.items() if acct == account_id and (kind is None or g.kind == kind)),
            key=lambda g: g.id,
        )
        found, more = _page(("groups", account_id), groups, cursor, limit, key=lambda g: g.id)
        return [g.model_copy(update={"version": 0}) for g in found], more

    def search_groups(
        self, account_id: str, words: Sequence[str], kind: GroupKind | None, cursor: str | None, limit: int
    ) -> tuple[list[Group], str | None]:
        self.calls["search_groups"] += 1
        prefix = search_word(words)
        hits = []
        for (acct, _), group in self.groups.items():
            word = indexed_by(group, prefix)
            if acct == account_id and word is not None and matches(group, words, kind):
                hits.append((f"{word}#{group.id}", group.model_copy(update={"version": 0})))
        hits.sort(key=lambda hit: hit[0])
        found, more = _page(("group-search", f"{account_id}#{prefix}"), hits, cursor, limit, key=lambda hit: hit[0])
        return [group for _, group in found], more
