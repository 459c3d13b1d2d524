"""Replies to a contact's text that go through the send path (for carriers whose webhook answer cannot carry one).

Each reply's request id comes from the event it answers, so a redelivered webhook queues it again harmlessly:
the outbound log sends a request id once.
"""

from __future__ import annotations

import hashlib

from chalicelib.domain.models import Action, EventRecord, SendRequest

#: A request id is at most 128 characters (SendRequest's pattern).
_MAX_REQUEST_ID = 128


def confirmation_id(event_id: str) -> str:
    """The request id of the confirmation of an opt-out event: the only request the send path lets reach the number
    it suppressed, and only once (a request id is sent once)."""
    return _request_id("confirm", event_id)


def _request_id(kind: str, event_id: str) -> str:
    """`<kind>:<event id>`, or for an event id too long for that, `<kind>:sha256:<its hash>` (never a cut-off id
    that two events could share)."""
    request_id = f"{kind}:{event_id}"
    if len(request_id) <= _MAX_REQUEST_ID:
        return request_id
    return f"{kind}:sha256:{hashlib.sha256(event_id.encode()).hexdigest()}"


def confirmation(record: EventRecord, sender: str, body: str, provider: str | None = None) -> SendRequest:
    """The confirmation text of an opt-out: the one text that may reach a suppressed number (DESIGN rule 9)."""
    event = record.event
    return SendRequest(
        request_id=confirmation_id(event.event_id),
        account_id=event.account_id,
        to=event.phone,
        sender=sender,
        body=body,
        provider=provider,
        confirms_event=event.event_id,
    )


def reply(record: EventRecord, sender: str, body: str, provider: str | None = None) -> SendRequest:
    """The reply to an inbound text: a confirmation for an opt-out, an ordinary text otherwise (HELP, opt-in)."""
    if record.event.action is Action.OPT_OUT:
        return confirmation(record, sender, body, provider)
    event = record.event
    return SendRequest(
        request_id=_request_id("reply", event.event_id),
        account_id=event.account_id,
        to=event.phone,
        sender=sender,
        body=body,
        provider=provider,
    )
