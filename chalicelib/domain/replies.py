"""Replies to a contact's text that go through the send path (for carriers whose webhook answer cannot carry one).

Each reply's request id comes from the event it answers, so a redelivered webhook queues it again harmlessly:
the outbound log sends a request id once.
"""

from __future__ import annotations

from chalicelib.domain.models import Action, EventRecord, SendRequest


def confirmation(record: EventRecord, sender: str, body: str, provider: str | None = None) -> SendRequest:
    """The confirmation text of an opt-out: the one text that may reach a suppressed number (DESIGN rule 9)."""
    event = record.event
    return SendRequest(
        request_id=f"confirm:{event.event_id}"[:128],
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
        request_id=f"reply:{event.event_id}"[:128],
        account_id=event.account_id,
        to=event.phone,
        sender=sender,
        body=body,
        provider=provider,
    )
