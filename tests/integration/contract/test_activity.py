"""ActivityLog: a number's texts, replies and changes in one timeline; the same cases on the fake and on DynamoDB."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import EventRecord, LoggedInbound, OutboundRecord
from chalicelib.domain.ports import ActivityEntry, Stores
from tests.integration.contract.examples import ACCOUNT, PHONE, T0, commit, inbound, opt_out, outcome, send_request

OTHER = "+14155550999"


def _described(entry: ActivityEntry) -> str:
    if isinstance(entry, OutboundRecord):
        return f"sent {entry.request.request_id} {entry.status}"
    if isinstance(entry, LoggedInbound):
        return f"reply {entry.message.message_id}"
    assert isinstance(entry, EventRecord)
    return f"change {entry.event.event_id}"


def _timeline(stores: Stores, phone: str, limit: int) -> list[list[str]]:
    assert stores.activity is not None
    pages, cursor = [], None
    while True:
        entries, cursor = stores.activity.activity(ACCOUNT, phone, cursor, limit)
        pages.append([_described(entry) for entry in entries])
        if cursor is None:
            return pages


def test_a_numbers_texts_replies_and_changes_are_one_timeline_newest_first(stores: Stores) -> None:
    # Given a text sent to the number, a reply from it, a STOP that opted it out, then a text skipped for it,
    # and another number's text (a text still being sent has no record yet)
    first = send_request("spring:1")
    stores.outbound.finish(outcome(first, "sent", at=T0 + timedelta(minutes=1)))
    stores.inbound.log_inbound(inbound("SM1", T0 + timedelta(minutes=2), body="who is this?"))
    stop = opt_out(PHONE, "twilio:SM2", T0 + timedelta(minutes=3))
    commit(stores, stop, inbound=inbound("SM2", T0 + timedelta(minutes=3), body="STOP"))
    stores.outbound.finish(outcome(send_request("spring:2"), "skipped", "suppressed", at=T0 + timedelta(minutes=4)))
    other = send_request("spring:4", to=OTHER)
    stores.outbound.finish(outcome(other, "skipped", "suppressed", at=T0 + timedelta(minutes=6)))
    # When the number's activity is read two entries a page
    pages = _timeline(stores, PHONE, 2)
    # Then it is every entry of that number, newest first, each once
    assert sum(pages, []) == [
        "sent spring:2 skipped",
        "reply SM2",
        "change twilio:SM2",
        "reply SM1",
        "sent spring:1 sent",
    ]
    assert all(len(page) <= 2 for page in pages)
    assert _timeline(stores, OTHER, 10) == [["sent spring:4 skipped"]]
    assert _timeline(stores, "+14155550000", 10) == [[]]


def test_an_entry_carries_its_whole_record(stores: Stores) -> None:
    request = send_request("spring:1")
    skipped = outcome(request, "skipped", "suppressed")
    stores.outbound.finish(skipped)
    reply = inbound("SM1", T0 + timedelta(seconds=1))
    stores.inbound.log_inbound(reply)
    assert stores.activity is not None
    assert stores.activity.activity(ACCOUNT, PHONE, None, 10) == ([reply, skipped], None)


def test_a_cursor_of_another_numbers_activity_is_refused(stores: Stores) -> None:
    for n in range(2):
        stores.inbound.log_inbound(inbound(f"SM{n}", T0 + timedelta(seconds=n)))
    assert stores.activity is not None
    _, cursor = stores.activity.activity(ACCOUNT, PHONE, None, 1)
    assert cursor is not None
    with pytest.raises(InvalidRequest):
        stores.activity.activity(ACCOUNT, OTHER, cursor, 1)
