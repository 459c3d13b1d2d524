"""Examples the contract tests share: events, inbound messages, send requests, and a commit as the use cases do it."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain import policy
from chalicelib.domain.models import (
    Action,
    Event,
    EventRecord,
    InboundMessage,
    Intent,
    LoggedInbound,
    NotificationJob,
    NumberState,
    OutboundRecord,
    SendRequest,
    SendStatus,
    Source,
)
from chalicelib.domain.ports import Stores

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ACCOUNT = "acme"
PHONE = "+14155550123"


def opt_out(phone: str, event_id: str, at: datetime = T0, scope: str = "all") -> Event:
    return Event(
        event_id=event_id,
        account_id=ACCOUNT,
        phone=phone,
        action=Action.OPT_OUT,
        scopes=(scope,),
        source=Source.KEYWORD,
        occurred_at=at,
        received_at=at,
        actor=event_id,
        message="STOP",
    )


def opt_in(phone: str, event_id: str, at: datetime) -> Event:
    """The contact texts START: their own opt-outs are lifted."""
    return Event(
        event_id=event_id,
        account_id=ACCOUNT,
        phone=phone,
        action=Action.OPT_IN,
        scopes=("all",),
        source=Source.KEYWORD,
        occurred_at=at,
        received_at=at,
        actor=phone,
        message="START",
    )


def commit(stores: Stores, event: Event, inbound: LoggedInbound | None = None, with_job: bool = False) -> NumberState:
    """Load, apply and commit `event` as the use cases do; with its email job when `with_job`."""
    state, _ = stores.numbers.load(event.account_id, event.phone, event.event_id)
    new_state, record = policy.apply(state, event)
    stores.numbers.commit(new_state, record, inbound, job_of(record) if with_job else None)
    return new_state


def job_of(record: EventRecord) -> NotificationJob:
    """The email job stored with an event."""
    event = record.event
    return NotificationJob(
        job_id=f"opt_out:{event.event_id}",
        event_id=event.event_id,
        account_id=event.account_id,
        phone=event.phone,
        topic="opt_out",
        source=event.source,
        scopes=event.scopes,
        occurred_at=event.occurred_at,
        message=event.message,
    )


def inbound(message_id: str, at: datetime = T0, body: str = "hi") -> LoggedInbound:
    return LoggedInbound(
        message=InboundMessage(
            carrier="twilio",
            message_id=message_id,
            account_id=ACCOUNT,
            from_phone=PHONE,
            to_phone="+14155550100",
            body=body,
            occurred_at=at,
            received_at=at,
        ),
        intent=Intent.NONE,
        reason="no keyword",
    )


def send_request(
    request_id: str = "req-1",
    to: str = PHONE,
    campaign_id: str | None = "spring",
    user_email: str | None = None,
    contact_email: str | None = None,
) -> SendRequest:
    return SendRequest(
        request_id=request_id,
        account_id=ACCOUNT,
        to=to,
        sender="+14155550100",
        body="Spring sale!",
        campaign_id=campaign_id,
        user_email=user_email,
        contact_email=contact_email,
    )


def outcome(request: SendRequest, status: SendStatus, reason: str | None = None, at: datetime = T0) -> OutboundRecord:
    return OutboundRecord(request=request, status=status, reason=reason, updated_at=at)
