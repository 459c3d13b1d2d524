"""Small in-memory fakes of our own ports, for unit tests and benchmarks."""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from chalicelib.domain.errors import ConcurrentUpdate, DuplicateEvent, InvalidRequest
from chalicelib.domain.models import (
    Account,
    Claim,
    Contact,
    EventRecord,
    LoggedInbound,
    NotificationJob,
    NumberState,
    OutboundRecord,
    OutboundSms,
    SendRequest,
    SmsResult,
)


class InMemorySuppressionStore:
    """The SuppressionStore contract, in dictionaries. Counts calls so tests can check round trips."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.states: dict[tuple[str, str], NumberState] = {}
        self.events: dict[tuple[str, str], dict[str, EventRecord]] = {}
        self.inbound: dict[tuple[str, str], LoggedInbound] = {}
        self.outbox: dict[str, NotificationJob] = {}
        #: What the send path remembers per number (InMemoryOutboundLog writes it on claim).
        self.contacts: dict[tuple[str, str], Contact] = {}
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def get_account(self, account_id: str) -> Account | None:
        self._count("get_account")
        return self.accounts.get(account_id)

    def put_account(self, account: Account) -> None:
        self._count("put_account")
        self.accounts[account.account_id] = account

    def load(self, account_id: str, phone: str, event_id: str | None = None) -> tuple[NumberState, bool]:
        self._count("load")
        state = self.states.get((account_id, phone)) or NumberState(account_id=account_id, phone=phone)
        seen = event_id is not None and event_id in self.events.get((account_id, phone), {})
        return state, seen

    def get_event(self, account_id: str, phone: str, event_id: str) -> EventRecord | None:
        return self.events.get((account_id, phone), {}).get(event_id)

    def load_many(self, account_id: str, phones: Sequence[str]) -> dict[str, NumberState]:
        self._count("load_many")
        return {
            phone: self.states.get((account_id, phone)) or NumberState(account_id=account_id, phone=phone)
            for phone in phones
        }

    def commit(
        self,
        state: NumberState,
        record: EventRecord,
        inbound: LoggedInbound | None = None,
        job: NotificationJob | None = None,
    ) -> None:
        self._count("commit")
        key = (state.account_id, state.phone)
        current = self.states.get(key)
        if (current.version if current else 0) != state.version:
            raise ConcurrentUpdate(state.phone)
        events = self.events.setdefault(key, {})
        if record.event.event_id in events:
            raise DuplicateEvent(record.event.event_id)
        self.states[key] = state.model_copy(update={"version": state.version + 1})
        events[record.event.event_id] = record
        if inbound is not None:
            self.inbound[(inbound.message.account_id, inbound.message.message_id)] = inbound
        if job is not None:
            self.outbox[job.job_id] = job

    def pending_jobs(self, limit: int) -> list[NotificationJob]:
        return list(self.outbox.values())[:limit]

    def job_queued(self, job: NotificationJob) -> None:
        self.outbox.pop(job.job_id, None)

    def contact(self, account_id: str, phone: str) -> Contact:
        return self.contacts.get((account_id, phone), Contact())

    def history(self, account_id: str, phone: str) -> list[EventRecord]:
        records = list(self.events.get((account_id, phone), {}).values())
        return sorted(records, key=lambda r: (r.event.occurred_at, r.event.received_at, r.sequence), reverse=True)

    def list_suppressed(self, account_id: str, cursor: str | None, limit: int) -> tuple[list[NumberState], str | None]:
        states = sorted(
            (s for (acct, _), s in self.states.items() if acct == account_id and s.suppressed), key=lambda s: s.phone
        )
        return _page(states, cursor, limit, key=lambda s: s.phone)

    def log_inbound(self, inbound: LoggedInbound) -> bool:
        self._count("log_inbound")
        key = (inbound.message.account_id, inbound.message.message_id)
        if key in self.inbound:
            return False
        self.inbound[key] = inbound
        return True

    def get_inbound(self, account_id: str, message_id: str) -> LoggedInbound | None:
        return self.inbound.get((account_id, message_id))

    def resolve_review(self, inbound: LoggedInbound) -> None:
        self.inbound[(inbound.message.account_id, inbound.message.message_id)] = inbound

    def list_inbound(
        self, account_id: str, cursor: str | None, limit: int, *, needs_review: bool = False
    ) -> tuple[list[LoggedInbound], str | None]:
        logged = sorted(
            (
                m
                for (acct, _), m in self.inbound.items()
                if acct == account_id and (not needs_review or (m.needs_review and m.review is None))
            ),
            key=lambda m: (m.message.received_at.isoformat(), m.message.message_id),
            reverse=True,
        )
        return _page(logged, cursor, limit, key=lambda m: f"{m.message.received_at.isoformat()}#{m.message.message_id}")


def _page(items: list, cursor: str | None, limit: int, key) -> tuple[list, str | None]:
    """Cursors are opaque and URL-safe, as the real store's are."""
    start = 0
    if cursor:
        keys = [_opaque(key(item)) for item in items]
        if cursor not in keys:
            raise InvalidRequest("the cursor is not one this service returned", cursor=cursor)
        start = keys.index(cursor) + 1
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, (_opaque(key(page[-1])) if more and page else None)


def _opaque(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


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


class InMemoryOutboundLog:
    """The OutboundLog contract beside an InMemorySuppressionStore (whose state versions it checks)."""

    def __init__(self, store: InMemorySuppressionStore) -> None:
        self.store = store
        self.records: dict[tuple[str, str], OutboundRecord] = {}
        self.counts: dict[tuple[str, str], dict[str, int]] = {}
        self.emails: dict[tuple[str, str, str], tuple[str, str | None]] = {}

    def claim(self, request: SendRequest, expected_version: int, now: datetime) -> Claim:
        key = (request.account_id, request.request_id)
        existing = self.records.get(key)
        if existing is not None and existing.status != "retrying":
            return "duplicate"
        state = self.store.states.get((request.account_id, request.to))
        if (state.version if state else 0) != expected_version:
            self.records[key] = OutboundRecord(request=request, status="retrying", updated_at=now)
            return "stale"
        contact = Contact(last_user_email=request.user_email, contact_email=request.contact_email)
        self.store.contacts[(request.account_id, request.to)] = contact
        self.records[key] = OutboundRecord(request=request, status="sending", updated_at=now)
        return "claimed"

    def finish(self, record: OutboundRecord, *, fresh: bool) -> bool:
        request = record.request
        key = (request.account_id, request.request_id)
        existing = self.records.get(key)
        if fresh and existing is not None and existing.status != "retrying":
            return False
        if not fresh and (existing is None or existing.status != "sending"):
            return False
        self.records[key] = record
        return True

    def count(self, account_id: str, campaign_id: str, counts: dict[str, int]) -> None:
        totals = self.counts.setdefault((account_id, campaign_id), {})
        for name, n in counts.items():
            totals[name] = totals.get(name, 0) + n

    def claim_email(self, job_id: str, account_id: str, recipient: str, now: datetime) -> bool:
        key = (account_id, job_id, recipient.lower())
        if self.emails.get(key, ("failed",))[0] not in ("retrying", "failed"):
            return False
        self.emails[key] = ("sending", None)
        return True

    def email_done(self, job_id: str, account_id: str, recipient: str, status: str, detail: str | None) -> None:
        self.emails[(account_id, job_id, recipient.lower())] = (status, detail)

    def release(self, request: SendRequest, now: datetime) -> None:
        key = (request.account_id, request.request_id)
        if self.records.get(key) is not None and self.records[key].status == "sending":
            self.records[key] = OutboundRecord(request=request, status="retrying", updated_at=now)

    def get(self, account_id: str, request_id: str) -> OutboundRecord | None:
        return self.records.get((account_id, request_id))

    def campaign_counts(self, account_id: str, campaign_id: str) -> dict[str, int]:
        return dict(self.counts.get((account_id, campaign_id), {}))


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
