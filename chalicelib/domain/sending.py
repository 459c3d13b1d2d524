"""The send path (DESIGN rules 3 and 10): every text is checked against suppressions at send time.

The worker reads the state of a whole batch's recipients at once; each text is then claimed in a
write that is conditional on its recipient's state being unchanged since that read, so an opt-out
stored in between is seen before the provider is called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain import services
from chalicelib.domain.models import (
    Account,
    Action,
    DeliveryReport,
    EventRecord,
    NumberState,
    OutboundRecord,
    OutboundSms,
    SendRequest,
    SendStatus,
    Source,
)
from chalicelib.domain.ports import OutboundLog, SendQueue, SmsProvider, SuppressionStore

MAX_CLAIM_ATTEMPTS = 5


class RetryLater(Exception):
    """The provider could not take the text now (throttled, down): SQS redelivers it later."""


@dataclass(frozen=True)
class SendDeps:
    store: SuppressionStore
    outbound: OutboundLog
    provider_for: Callable[[Account], SmsProvider]
    now: Callable[[], datetime]
    #: Where email jobs go when a provider reports an opt-out (None: no emails).
    alerts: SendQueue | None = None


@dataclass(frozen=True)
class Handled:
    """A send request's outcome, and whether this delivery of it recorded it (and so counts it)."""

    record: OutboundRecord
    first_time: bool


def send(deps: SendDeps, account: Account, request: SendRequest, state: NumberState) -> Handled:
    """Send one text unless its recipient is suppressed; record the outcome in the outbound log.

    `state` is the recipient's state as read for the batch. Raises RetryLater when the provider
    asks to try again.
    """
    confirmation = request.confirms_event is not None
    if confirmation and not _confirms_an_opt_out(deps, request):
        record = OutboundRecord(request=request, status="skipped", reason="not_a_confirmation", updated_at=deps.now())
        return Handled(record, True) if deps.outbound.finish(record, fresh=True) else _existing(deps, request)
    for _ in range(MAX_CLAIM_ATTEMPTS):
        blocking = [] if confirmation else state.blocking(request.sender, request.groups)
        if blocking:
            record = OutboundRecord(
                request=request,
                status="skipped",
                reason="suppressed",
                blocked_by=tuple(blocking),
                updated_at=deps.now(),
            )
            if deps.outbound.finish(record, fresh=True):
                return Handled(record, first_time=True)
            return _existing(deps, request)
        claim = deps.outbound.claim(request, state.version, deps.now())
        if claim == "claimed":
            return Handled(_send_claimed(deps, account, request), first_time=True)
        if claim == "duplicate":
            return _existing(deps, request)
        # The recipient changed since the batch read: read it again and decide again.
        state, _ = deps.store.load(request.account_id, request.to)
    raise RetryLater(f"{request.to} kept changing while {request.request_id} was being sent")


def _confirms_an_opt_out(deps: SendDeps, request: SendRequest) -> bool:
    """A confirmation may reach a suppressed number only for that number's own, stored opt-out."""
    assert request.confirms_event is not None
    record = deps.store.get_event(request.account_id, request.to, request.confirms_event)
    return record is not None and record.event.action is Action.OPT_OUT and record.outcome == "applied"


def confirmation(record: EventRecord, sender: str, body: str) -> SendRequest:
    """The confirmation text of an opt-out, for carriers that cannot reply in the webhook's answer.

    Its request id is derived from the event, so an opt-out is confirmed once.
    """
    event = record.event
    return SendRequest(
        request_id=f"confirm:{event.event_id}"[:128],
        account_id=event.account_id,
        to=event.phone,
        sender=sender,
        body=body,
        confirms_event=event.event_id,
    )


def _existing(deps: SendDeps, request: SendRequest) -> Handled:
    """SQS delivered this request again: it was handled once, and that is what counts."""
    existing = deps.outbound.get(request.account_id, request.request_id)
    if existing is None:  # released for a retry between our claim and this read
        raise RetryLater(f"{request.request_id} is being retried")
    return Handled(existing, first_time=False)


def _send_claimed(deps: SendDeps, account: Account, request: SendRequest) -> OutboundRecord:
    provider = deps.provider_for(account)
    result = provider.send(
        OutboundSms(request_id=request.request_id, to=request.to, sender=request.sender, body=request.body)
    )
    if result.status == "retry":
        deps.outbound.release(request, deps.now())
        raise RetryLater(f"{provider.name} asked to retry {request.request_id}: {result.detail}")
    status: SendStatus
    reason: str | None
    if result.status in ("opted_out", "unreachable"):
        # The carrier knows something we did not: remember it so nothing more goes to this number.
        source = Source.CARRIER if result.status == "opted_out" else Source.BOUNCE
        report = DeliveryReport(
            carrier=provider.name,
            message_id=request.request_id,
            account_id=account.account_id,
            to_phone=request.to,
            from_phone=request.sender,
            status="send_refused",
            error_code=result.error_code,
            occurred_at=deps.now(),
            received_at=deps.now(),
        )
        services.receive_delivery_report(deps.store, account, report, source, deps.alerts)
        status, reason = ("skipped", "carrier_opted_out") if source is Source.CARRIER else ("failed", "unreachable")
    elif result.status == "sent":
        status, reason = "sent", None
    else:
        status, reason = "failed", "provider_error"
    record = OutboundRecord(
        request=request,
        status=status,
        reason=reason,
        provider=provider.name,
        provider_message_id=result.provider_message_id,
        error_code=result.error_code,
        detail=result.detail,
        updated_at=deps.now(),
    )
    deps.outbound.finish(record, fresh=False)
    return record
