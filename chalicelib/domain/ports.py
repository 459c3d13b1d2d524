"""The interfaces the use cases need from the outside world; adapters implement them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from chalicelib.domain.models import (
    Account,
    Claim,
    Contact,
    Email,
    EventRecord,
    LoggedInbound,
    NotificationJob,
    NumberState,
    OutboundRecord,
    OutboundSms,
    SendRequest,
    SmsResult,
)


class SuppressionStore(Protocol):
    """Accounts, number state, history and the inbound log."""

    def get_account(self, account_id: str) -> Account | None: ...

    def put_account(self, account: Account) -> None: ...

    def load(self, account_id: str, phone: str, event_id: str | None = None) -> tuple[NumberState, bool]:
        """The number's state, and whether `event_id` is already in its history: one round trip."""
        ...

    def get_event(self, account_id: str, phone: str, event_id: str) -> EventRecord | None:
        """One event of the number's history."""
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
    ) -> None:
        """Write the new state and append `record` atomically.

        Conditional on the state still being at `state.version` (else ConcurrentUpdate) and on the
        event not being recorded yet (else DuplicateEvent). `inbound`, when given, is logged in the
        same transaction; `job`, when given, is kept with the event as pending (the outbox).
        """
        ...

    def pending_jobs(self, limit: int) -> list[NotificationJob]:
        """Outbox jobs not yet queued, oldest first."""
        ...

    def job_queued(self, job: NotificationJob) -> None:
        """The outbox job is on the queue: it is no longer pending."""
        ...

    def contact(self, account_id: str, phone: str) -> Contact:
        """Who last texted the number, and the contact's email, as the send path recorded them."""
        ...

    def history(self, account_id: str, phone: str) -> list[EventRecord]:
        """The number's events, newest first (by carrier time, then received time)."""
        ...

    def list_suppressed(self, account_id: str, cursor: str | None, limit: int) -> tuple[list[NumberState], str | None]:
        """Numbers with at least one active suppression, by phone, a page at a time."""
        ...

    def log_inbound(self, inbound: LoggedInbound) -> bool:
        """Add a message to the inbound log; False when it was already there."""
        ...

    def get_inbound(self, account_id: str, message_id: str) -> LoggedInbound | None: ...

    def list_inbound(
        self, account_id: str, cursor: str | None, limit: int, *, needs_review: bool = False
    ) -> tuple[list[LoggedInbound], str | None]:
        """The inbound log (or only the messages awaiting review), newest first, a page at a time."""
        ...

    def resolve_review(self, inbound: LoggedInbound) -> None:
        """Store the message with its review, taking it out of the review queue."""
        ...


class SecretStore(Protocol):
    """Carrier credentials, kept out of the table (SSM SecureString in AWS)."""

    def get(self, name: str) -> str | None: ...

    def put(self, name: str, value: str) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class SmsProvider(Protocol):
    """Sends one text through a carrier (Twilio, AWS End User Messaging SMS, or the local recorder)."""

    name: str

    def send(self, message: OutboundSms) -> SmsResult:
        """Send, mapping the provider's answer to an SmsResult; never raises for a provider error."""
        ...


class EmailLog(Protocol):
    """One line per email job and recipient: what makes an alert go out once, and shows that it did."""

    def claim_email(self, job_id: str, account_id: str, recipient: str, now: datetime) -> bool:
        """Mark the email as being sent; False when it was sent already."""
        ...

    def email_done(self, job_id: str, account_id: str, recipient: str, status: str, detail: str | None) -> None:
        """Record how it went: `sent` (with the message id), `retrying` or `failed` (with why)."""
        ...


class OutboundLog(EmailLog, Protocol):
    """Every send request's outcome, idempotent per request id, with per-campaign counts (and alert emails)."""

    def claim(self, request: SendRequest, expected_version: int, now: datetime) -> Claim:
        """Mark the request as being sent, if its recipient is still at `expected_version`.

        `duplicate`: the request was handled before; `stale`: the recipient's state changed.
        """
        ...

    def finish(self, record: OutboundRecord, *, fresh: bool) -> bool:
        """Record the final outcome, once.

        `fresh`: the request was never claimed (a skip); False when it was already recorded.
        """
        ...

    def count(self, account_id: str, campaign_id: str, counts: dict[str, int]) -> None:
        """Add outcomes (`sent`, `skipped:<reason>`, ...) to the campaign's counters."""
        ...

    def release(self, request: SendRequest, now: datetime) -> None:
        """Give a claimed request back for a later retry."""
        ...

    def get(self, account_id: str, request_id: str) -> OutboundRecord | None: ...

    def campaign_counts(self, account_id: str, campaign_id: str) -> dict[str, int]:
        """`sent`, `skipped:<reason>`, `failed:<reason>` counts of the campaign."""
        ...


class SendQueue(Protocol):
    """Where producers' send requests wait for the send function."""

    def enqueue(self, requests: Sequence[SendRequest]) -> dict[str, str]:
        """Queue the requests; returns request id -> reason for each one that was not queued."""
        ...

    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Back off before a record is delivered again."""
        ...

    def enqueue_job(self, job: NotificationJob) -> None:
        """Queue an email job; raises StoreUnavailable when the queue did not take it."""
        ...


class Mailer(Protocol):
    """Sends email (SES v2 in AWS and on the embedded endpoint)."""

    def send(self, email: Email) -> str:
        """Send it; returns the provider's message id.

        Raises MailRetry for throttling and service errors (try again later) and MailRejected for
        an email that can never be sent as it is (bad address, unverified sender).
        """
        ...
