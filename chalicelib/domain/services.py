"""Use cases: what happens when a contact texts, a carrier reports, or an admin acts.

Each takes the ports it needs; none knows about HTTP, Chalice or boto3.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.domain import alerts, change_events, detector, policy, replies, reports
from chalicelib.domain.errors import ConcurrentUpdate, DuplicateEvent, InvalidPhone, MessageNotFound, StoreUnavailable
from chalicelib.domain.models import (
    ALL,
    Account,
    Action,
    DeliveryReport,
    Event,
    EventRecord,
    InboundMessage,
    Intent,
    LoggedInbound,
    NumberState,
    Review,
    SendRequest,
    Source,
    Suppression,
    sender_scope,
)
from chalicelib.domain.phone import to_e164
from chalicelib.domain.ports import SendQueue, Stores

#: How often a lost optimistic race is retried before giving up with a 5xx.
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Recorded:
    """What recording an event did: the state after it, and its history record (None: duplicate)."""

    state: NumberState
    record: EventRecord | None

    @property
    def duplicate(self) -> bool:
        return self.record is None


def record_event(
    stores: Stores,
    queue: SendQueue,
    event: Event,
    *,
    inbound: LoggedInbound | None = None,
    check: Callable[[NumberState], object] | None = None,
) -> Recorded:
    """Apply `event` to its number once, atomically with its history (DESIGN rules 5 and 11).

    `check` runs on the freshly loaded state before anything is written (an admin lift uses it to
    refuse the contact's own opt-outs). Events that change nothing and are not worth keeping
    (an ordinary reply) are not written; `inbound`, if any, is still logged. An opt-out or opt-in
    stores its email job with it, and the job is queued on `queue` once the event is stored.
    """
    for _ in range(MAX_ATTEMPTS):
        state, seen = stores.numbers.load(event.account_id, event.phone, event.event_id)
        if seen:
            return Recorded(state, None)
        if check is not None:
            check(state)
        new_state, record = policy.apply(state, event)
        if not policy.worth_recording(record):
            if inbound is not None:
                stores.inbound.log_inbound(inbound)
            return Recorded(state, record)
        job = alerts.job_for(record)
        change_job = change_events.job_for(record, new_state)
        try:
            stores.numbers.commit(new_state, record, inbound, job, change_job)
        except ConcurrentUpdate:
            continue
        except DuplicateEvent:
            return Recorded(state, None)
        jobs = [queued for queued in (job, change_job) if queued is not None]
        if jobs:
            # Stored first, queued second; jobs the queue refused stay in the outbox.
            alerts.dispatch(stores.outbox, queue, *jobs)
        return Recorded(new_state.model_copy(update={"version": state.version + 1}), record)
    raise StoreUnavailable("the number is changing too fast to record this event; retry", phone=event.phone)


# --- contacts and carriers -------------------------------------------------------------------


@dataclass(frozen=True)
class InboundResult:
    intent: Intent
    reply: str | None
    duplicate: bool
    record: EventRecord | None = None
    reason: str = ""


def receive_inbound(
    stores: Stores, queue: SendQueue, account: Account, message: InboundMessage, *, reply_in_answer: bool = True
) -> InboundResult:
    """A contact texted one of the account's numbers: log it, act on it, say what to reply.

    Keywords (rule 6) and opt-outs in other words (rule 7) above the account's threshold act at
    once; a likely opt-out below it is flagged for review in the inbound log. The opt-out is
    stored before this returns, so the caller acknowledges only what is stored.

    `reply_in_answer`: the carrier's webhook answer carries the reply (a TwiML answer, say), and the answer to a
    redelivery carries it again (the first answer never reached the carrier). Otherwise the reply goes through the
    send path, back through the carrier it came from, and is queued before this returns; a redelivery queues it
    again under the same request id, which the send path sends once.
    """
    whole = _whole_message(stores, message)
    if whole is None:
        return InboundResult(
            intent=Intent.NONE, reply=None, duplicate=False, reason="one part of a long message: waiting for the rest"
        )
    message = whole
    detection = detector.detect(message.body, account.keywords)
    intent, needs_review = _decide(detection, account)
    reason = detection.reason
    if detection.keyword == "YES" and not _has_keyword_opt_out(stores, account, message.from_phone):
        # YES lifts only an existing keyword opt-out; to anyone else it is an ordinary reply (rule 6).
        intent, reason = Intent.NONE, "YES without a keyword opt-out to lift: an ordinary reply"
    event = _inbound_event(account, message, intent, detection)
    logged = LoggedInbound(
        message=message, intent=intent, reason=reason, confidence=detection.confidence, needs_review=needs_review
    )
    recorded = record_event(stores, queue, event, inbound=logged)
    record = recorded.record
    if recorded.duplicate:
        # The same reply as the first time. A carrier whose answer carries it (TwiML) sends a message again only when
        # our first answer did not reach it, so that reply never went out; through the send path it is queued again
        # under the same request id, which is sent once.
        record = stores.history.get_event(event.account_id, event.phone, event.event_id)
    elif intent is Intent.NONE:
        # Anything but a keyword or an opt-out goes to the user who last texted the number.
        alerts.dispatch(stores.outbox, queue, alerts.reply_job(message))
    state = recorded.state if not recorded.duplicate else stores.numbers.load(account.account_id, message.from_phone)[0]
    text = _reply(account, message, intent, record, detection, still_blocked=bool(state.blocking(message.to_phone)))
    if text and record is not None and not reply_in_answer:
        _queue_reply(queue, replies.reply(record, message.to_phone, text, provider=message.carrier))
    return InboundResult(
        intent=intent,
        reply=text if reply_in_answer else None,
        duplicate=recorded.duplicate,
        record=record,
        reason=reason,
    )


def _whole_message(stores: Stores, message: InboundMessage) -> InboundMessage | None:
    """The message itself; for one part of a long message, the whole message once every part has come, else None.

    Joined in part order, it takes the first part's message id, so whichever part completes it, and however
    often, it is the same event.
    """
    if message.part is None:
        return message
    parts = stores.parts.add_part(message)
    if not parts:
        return None
    return parts[0].model_copy(
        update={"body": "".join(part.body for part in parts), "part": None, "received_at": message.received_at}
    )


def _queue_reply(queue: SendQueue, request: SendRequest) -> None:
    refused = queue.enqueue([request])
    if refused:
        raise StoreUnavailable(f"could not queue the reply {request.request_id}: {refused[request.request_id]}")


def _decide(detection: detector.Detection, account: Account) -> tuple[Intent, bool]:
    """The intent to act on, and whether an admin should review the message."""
    settings = account.detector
    if detection.confidence >= settings.opt_out_threshold:
        return detection.intent, False
    if detection.intent is Intent.OPT_OUT and detection.confidence >= settings.review_threshold:
        return Intent.NONE, True
    return Intent.NONE, False


def _has_keyword_opt_out(stores: Stores, account: Account, phone: str) -> bool:
    state, _ = stores.numbers.load(account.account_id, phone)
    return any(s.source is Source.KEYWORD for s in state.suppressions.values())


def _inbound_event(account: Account, message: InboundMessage, intent: Intent, detection: detector.Detection) -> Event:
    reply = Event(
        event_id=f"{message.carrier}:{message.message_id}",
        account_id=account.account_id,
        phone=message.from_phone,
        action=Action.REPLY,
        occurred_at=message.occurred_at,
        received_at=message.received_at,
        actor=f"{message.carrier}:{message.message_id}",
        message=message.body,
        sender=message.to_phone,
    )
    if intent is Intent.OPT_OUT:
        scope = ALL if detection.is_stop_all or account.opt_out_scope == "all" else sender_scope(message.to_phone)
        if detection.by_keyword:
            return reply.model_copy(
                update={
                    "action": Action.OPT_OUT,
                    "scopes": (scope,),
                    "source": Source.KEYWORD,
                    "keyword": detection.keyword,
                }
            )
        # The detector's reason goes into history, so an admin can see why (rule 7).
        return reply.model_copy(
            update={
                "action": Action.OPT_OUT,
                "scopes": (scope,),
                "source": Source.NATURAL_LANGUAGE,
                "notes": detection.reason,
                "keyword": detection.keyword or reports.reason_class(detection.reason),
            }
        )
    if intent is Intent.OPT_IN:
        only = (Source.KEYWORD,) if detection.keyword == "YES" else None
        scopes = policy.opt_in_scopes(message.to_phone)
        return reply.model_copy(
            update={"action": Action.OPT_IN, "scopes": scopes, "only_sources": only, "keyword": detection.keyword}
        )
    return reply


def _reply(
    account: Account,
    message: InboundMessage,
    intent: Intent,
    record: EventRecord | None,
    detection: detector.Detection,
    *,
    still_blocked: bool,
) -> str | None:
    """The text to answer the contact with (DESIGN rule 9), in the language they wrote in, or None.

    The language is the keyword's or the request's (BAJA and "no me envíen más mensajes" are Spanish, ARRÊT is
    French), or the one the account gave its own keyword; the account's text in it, else the built-in one, else
    the English text (`Replies.text`). HELP and INFO are English keywords, so help is in English unless the
    account has a help keyword of its own in another language (AYUDA listed under `replies.languages.es.keywords`).
    """
    if message.carrier_confirms:
        return None
    if record is not None and record.outcome == "superseded":
        return None
    texts = account.replies
    language = detector.reply_language(detection, texts)
    if intent is Intent.OPT_OUT:
        return texts.text("opt_out", language)
    if intent is Intent.OPT_IN:
        # An admin's suppression outlives the contact's START: say so rather than "resubscribed".
        return texts.text("opt_in_blocked" if still_blocked else "opt_in", language)
    if intent is Intent.HELP:
        return texts.text("help", language)
    return None


def receive_delivery_report(
    stores: Stores, queue: SendQueue, account: Account, report: DeliveryReport, source: Source | None
) -> Recorded | None:
    """A carrier reported on a message we sent; `source` is what its error code means, if anything.

    `carrier` (the contact opted out at the carrier) follows the account's opt-out scope;
    `bounce` (unreachable, unknown, landline) blocks every sender.
    """
    if source is None:
        return None
    if source is Source.CARRIER and account.opt_out_scope == "sender" and report.from_phone:
        scope = sender_scope(report.from_phone)
    else:
        scope = ALL
    event = Event(
        event_id=f"{report.carrier}:{report.message_id}:{report.status}:{report.error_code}",
        account_id=account.account_id,
        phone=report.to_phone,
        action=Action.OPT_OUT,
        scopes=(scope,),
        source=source,
        occurred_at=report.occurred_at,
        received_at=report.received_at,
        actor=f"{report.carrier}:{report.message_id}",
        notes=f"{report.carrier} status {report.status}, error {report.error_code}",
        sender=report.from_phone,
    )
    return record_event(stores, queue, event)


# --- admins ----------------------------------------------------------------------------------


def _admin_event(account: Account, phone: str, now: datetime, actor: str, **fields: object) -> Event:
    return Event(
        event_id=f"admin:{uuid.uuid4()}",
        account_id=account.account_id,
        phone=phone,
        occurred_at=now,
        received_at=now,
        actor=actor,
        **fields,  # type: ignore[arg-type]
    )


def opt_out_manually(
    stores: Stores,
    queue: SendQueue,
    account: Account,
    phone: str,
    scope: str,
    notes: str | None,
    actor: str,
    now: datetime,
) -> Suppression:
    """An admin opts a number out; returns the suppression now active in that scope."""
    event = _admin_event(
        account, phone, now, actor, action=Action.OPT_OUT, scopes=(scope,), source=Source.MANUAL, notes=notes
    )
    recorded = record_event(stores, queue, event)
    return recorded.state.suppressions[scope]


def lift(
    stores: Stores,
    queue: SendQueue,
    account: Account,
    phone: str,
    scope: str,
    notes: str | None,
    actor: str,
    now: datetime,
) -> NumberState:
    """An admin lifts a manual, import or bounce suppression; the contact's own is refused (409)."""
    event = _admin_event(account, phone, now, actor, action=Action.LIFT, scopes=(scope,), notes=notes)
    return record_event(stores, queue, event, check=lambda state: policy.check_lift(state, scope)).state


def _inbound_message(stores: Stores, account: Account, message_id: str) -> LoggedInbound:
    logged = stores.inbound.get_inbound(account.account_id, message_id)
    if logged is None:
        raise MessageNotFound(f"no inbound message {message_id}", message_id=message_id)
    return logged


def _resolve_review(
    stores: Stores, logged: LoggedInbound, resolution: str, actor: str, notes: str | None, now: datetime
) -> None:
    if logged.needs_review and logged.review is None:
        review = Review(resolution=resolution, actor=actor, at=now, notes=notes)  # type: ignore[arg-type]
        stores.inbound.resolve_review(logged.model_copy(update={"review": review}))


def unsubscribe_from_message(
    stores: Stores,
    queue: SendQueue,
    account: Account,
    message_id: str,
    notes: str | None,
    actor: str,
    now: datetime,
) -> NumberState:
    """An admin reads an inbound message as a request to stop: the contact's own opt-out.

    Source `natural_language` (the contact asked, in their words), so only the contact can lift
    it; the scope follows the account's opt-out scope. It resolves the message's review, if it
    awaited one. Calling it twice changes nothing more.
    """
    logged = _inbound_message(stores, account, message_id)
    message = logged.message
    scope = ALL if account.opt_out_scope == "all" else sender_scope(message.to_phone)
    event = Event(
        event_id=f"unsubscribe:{message.carrier}:{message.message_id}",
        account_id=account.account_id,
        phone=message.from_phone,
        action=Action.OPT_OUT,
        scopes=(scope,),
        source=Source.NATURAL_LANGUAGE,
        occurred_at=message.occurred_at,
        received_at=now,
        actor=actor,
        # The detector's reason only when it had flagged the message: for a plain reply it would say "no opt-out".
        notes=notes
        or (f"flagged for review: {logged.reason}" if logged.needs_review else "unsubscribed from this message"),
        message=message.body,
        keyword=reports.reason_class(logged.reason) if logged.needs_review and logged.reason else None,
        sender=message.to_phone,
    )
    state = record_event(stores, queue, event).state
    _resolve_review(stores, logged, "unsubscribed", actor, notes, now)
    return state


def dismiss_review(
    stores: Stores,
    queue: SendQueue,
    account: Account,
    message_id: str,
    notes: str | None,
    actor: str,
    now: datetime,
) -> LoggedInbound:
    """An admin decides a flagged message is not an opt-out; the decision and note go into history."""
    logged = _inbound_message(stores, account, message_id)
    message = logged.message
    event = Event(
        event_id=f"dismiss:{message.carrier}:{message.message_id}",
        account_id=account.account_id,
        phone=message.from_phone,
        action=Action.NOTE,
        occurred_at=now,
        received_at=now,
        actor=actor,
        notes=f"review dismissed: {notes}" if notes else "review dismissed",
        message=message.body,
    )
    record_event(stores, queue, event)
    _resolve_review(stores, logged, "dismissed", actor, notes, now)
    return _inbound_message(stores, account, message_id)


@dataclass(frozen=True)
class Verdict:
    input: str
    phone: str | None = None
    sendable: bool | None = None
    blocked_by: list[Suppression] = field(default_factory=list)
    error: str | None = None


def check_numbers(
    stores: Stores, account: Account, raw_phones: Sequence[str], sender: str | None, groups: Sequence[str]
) -> list[Verdict]:
    """May a message from `sender` in `groups` go to each number? A verdict per input, in order."""
    normalised: list[tuple[str, str | None, str | None]] = []
    for raw in raw_phones:
        try:
            normalised.append((raw, to_e164(raw, account.default_region), None))
        except InvalidPhone as error:
            normalised.append((raw, None, error.message))
    states = stores.numbers.load_many(account.account_id, [phone for _, phone, _ in normalised if phone])
    verdicts = []
    for raw, phone, problem in normalised:
        if phone is None:
            verdicts.append(Verdict(input=raw, error=problem))
            continue
        blocking = states[phone].blocking(sender, tuple(groups))
        verdicts.append(Verdict(input=raw, phone=phone, sendable=not blocking, blocked_by=blocking))
    return verdicts
