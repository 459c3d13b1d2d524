"""The send path (DESIGN rules 3 and 10): every text is checked against suppressions at send time.

The worker reads the state of a whole batch's recipients at once, and the outbound log's records of
the batch's requests; each text is then claimed in one conditional write on its recipient's state
item: the recipient must be unchanged since that read (so an opt-out stored in between is seen
before the provider is called) and the request not claimed before (so a request delivered twice
reaches the provider once). The outcome is then written to the outbound log, once: two writes a text.

A claim stays on the number (`NumberState.recent_sends`) for a day, and a later claim forgets it
after that: longer than any delivery of one queue message can outlive another (a message is received
at most `send_max_receives` times, minutes apart). A request delivered later than that, by a producer
sending it again, is found by its record in the outbound log, read with the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from chalicelib.domain import replies, services
from chalicelib.domain.models import (
    Account,
    Action,
    DeliveryReport,
    NumberState,
    OutboundRecord,
    OutboundSms,
    SendRequest,
    SendStatus,
    SmsResult,
    Source,
)
from chalicelib.domain.ports import SendQueue, SmsProvider, Stores

MAX_CLAIM_ATTEMPTS = 5
#: Seconds a claim is remembered on its number; an older one is forgotten by the next claim of that number.
CLAIM_MEMORY_SECONDS = 24 * 3600
#: Claims a number keeps at most (the newest): each is an attribute of the number's state item, which every claim and
#: every opt-out writes whole; a number texted thousands of times a day would otherwise outgrow the item (400 KB) and
#: the opt-out itself could not be stored. A request evicted early is still sent once: its outcome, read with the batch,
#: answers a later delivery.
MAX_CLAIMS_KEPT = 20
#: Claims one claim forgets at most: DynamoDB refuses an update expression over 4 KB.
MAX_FORGOTTEN_PER_CLAIM = 100


class RetryLater(Exception):
    """The provider could not take the text now (throttled, down): SQS redelivers it later."""


@dataclass(frozen=True)
class SendDeps:
    """What the send path needs; built by the composition root."""

    stores: Stores
    #: The SmsProvider for an account, through the named carrier (None: the account's `sms_provider`).
    provider_for: Callable[[Account, str | None], SmsProvider]
    now: Callable[[], datetime]
    #: Where email jobs go when a provider reports an opt-out.
    queue: SendQueue


@dataclass(frozen=True)
class Handled:
    """A send request's outcome, and whether this delivery of it recorded it (and so counts it)."""

    record: OutboundRecord
    first_time: bool


class _Unread:
    """`send` was not given the request's record: it reads it."""


UNREAD: Final = _Unread()


def send(
    deps: SendDeps,
    account: Account,
    request: SendRequest,
    state: NumberState,
    *,
    last_attempt: bool = False,
    recorded: OutboundRecord | None | _Unread = UNREAD,
) -> Handled:
    """Send one text unless its recipient is suppressed; record the outcome in the outbound log.

    `state` is the recipient's state as read for the batch, and `recorded` the request's record in the
    outbound log as read for the batch (None: it had none). Raises RetryLater when the provider asks to
    try again, with the request `retrying` in the log and why; on the `last_attempt` the queue allows,
    the text is `failed` instead (`provider_unavailable`), so it is counted, not dropped. Raises
    RetryLater too for a request another delivery has claimed and not yet recorded: it comes back once
    that one is done.
    """
    if isinstance(recorded, _Unread):
        recorded = deps.stores.outbound.get(request.account_id, request.request_id)
    if recorded is not None and recorded.status != "retrying":
        return Handled(recorded, first_time=False)  # handled before: that is what counts
    confirmation = request.confirms_event is not None
    if confirmation and not _confirms_an_opt_out(deps, request):
        record = OutboundRecord(request=request, status="skipped", reason="not_a_confirmation", updated_at=deps.now())
        return Handled(record, True) if deps.stores.outbound.finish(record) else _existing(deps, request)
    for _ in range(MAX_CLAIM_ATTEMPTS):
        if request.request_id in state.recent_sends:
            return _existing(deps, request, last_attempt)  # another delivery claimed it
        blocking = [] if confirmation else state.blocking(request.sender, request.groups)
        if blocking:
            record = OutboundRecord(
                request=request,
                status="skipped",
                reason="suppressed",
                blocked_by=tuple(blocking),
                updated_at=deps.now(),
            )
            if deps.stores.outbound.finish(record):
                return Handled(record, first_time=True)
            return _existing(deps, request)
        # The gate's last step, just before the provider: the recipient must still be as the batch read it,
        # and the request not claimed by another delivery.
        now = deps.now()
        if deps.stores.numbers.claim_recipient(request, state.version, now, forget=_forgotten(state, now)):
            return _send_claimed(deps, account, request, last_attempt)
        # An event changed the recipient since the batch read, or another delivery claimed the request: read
        # again, decide again.
        state, _ = deps.stores.numbers.load(request.account_id, request.to)
    deps.stores.outbound.release(_retrying(deps, request, "recipient_changed"))
    raise RetryLater(f"{request.to} kept changing while {request.request_id} was being sent")


def _confirms_an_opt_out(deps: SendDeps, request: SendRequest) -> bool:
    """A confirmation may reach a suppressed number only for that number's own, stored opt-out, and only as the
    request the service made for it (its id comes from the event's, so one text per opt-out): a producer naming an
    opt-out in `confirms_event` of its own request gets its text skipped, not sent past the suppression."""
    assert request.confirms_event is not None
    if request.request_id != replies.confirmation_id(request.confirms_event):
        return False
    record = deps.stores.history.get_event(request.account_id, request.to, request.confirms_event)
    return record is not None and record.event.action is Action.OPT_OUT and record.outcome == "applied"


def _forgotten(state: NumberState, now: datetime) -> list[str]:
    """The claims a new claim of the number drops: those over a day old, and the oldest beyond the newest
    `MAX_CLAIMS_KEPT - 1` (the new one makes it `MAX_CLAIMS_KEPT`), at most `MAX_FORGOTTEN_PER_CLAIM` at once."""
    oldest = now.timestamp() - CLAIM_MEMORY_SECONDS
    by_age = sorted(state.recent_sends.items(), key=lambda claim: claim[1])
    beyond = max(0, len(by_age) - (MAX_CLAIMS_KEPT - 1))
    forget = [request_id for index, (request_id, at) in enumerate(by_age) if at < oldest or index < beyond]
    return forget[:MAX_FORGOTTEN_PER_CLAIM]


def _existing(deps: SendDeps, request: SendRequest, last_attempt: bool = False) -> Handled:
    """This request was delivered again: it was handled once, and that is what counts.

    RetryLater while its outcome is not recorded yet (another delivery is sending it, or was stopped
    before it recorded it): this delivery comes back later and finds the outcome then. On the queue's last
    attempt, a claimed request with no outcome is recorded `failed` (`outcome_unknown`: it reached the provider or
    not, the delivery that claimed it stopped before saying), so it is counted and shown, not dropped.
    """
    existing = deps.stores.outbound.get(request.account_id, request.request_id)
    if existing is not None and existing.status != "retrying":
        return Handled(existing, first_time=False)
    if last_attempt:
        record = OutboundRecord(request=request, status="failed", reason="outcome_unknown", updated_at=deps.now())
        if deps.stores.outbound.finish(record):
            return Handled(record, first_time=True)
        return _existing(deps, request)
    raise RetryLater(f"{request.request_id} is being sent by another delivery")


def _retrying(
    deps: SendDeps, request: SendRequest, reason: str, provider: str | None = None, result: SmsResult | None = None
) -> OutboundRecord:
    """The outbound log's record of a request handed back for a retry, with why."""
    return OutboundRecord(
        request=request,
        status="retrying",
        reason=reason,
        provider=provider,
        error_code=result.error_code if result else None,
        detail=result.detail if result else None,
        updated_at=deps.now(),
    )


def _send_claimed(deps: SendDeps, account: Account, request: SendRequest, last_attempt: bool) -> Handled:
    provider = deps.provider_for(account, request.provider)
    result = provider.send(
        OutboundSms(request_id=request.request_id, to=request.to, sender=request.sender, body=request.body)
    )
    if result.status == "retry" and not last_attempt:
        # Unsent: the claim is forgotten first, so that a redelivery may claim the request again.
        deps.stores.numbers.release_recipient(request)
        deps.stores.outbound.release(_retrying(deps, request, "provider_retry", provider.name, result))
        raise RetryLater(f"{provider.name} asked to retry {request.request_id}: {result.detail}")
    status: SendStatus
    reason: str | None
    if result.status == "retry":
        # The queue would dead-letter it next: record the failure, with why, where the campaign counts it.
        status, reason = "failed", "provider_unavailable"
    elif result.status in ("opted_out", "unreachable"):
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
        services.receive_delivery_report(deps.stores, deps.queue, account, report, source)
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
    if not deps.stores.outbound.finish(record):
        # Only a delivery of this request that read the recipient before an opt-in and recorded it `skipped`
        # after this one's read gets here: that outcome was recorded and counted first, and stays.
        return _existing(deps, request)
    return Handled(record, first_time=True)
