"""InboundLog.list_inbound with a search (number, date range, intent, review state): the same cases on the fake and
on DynamoDB."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.adapters.dynamodb import inbound as inbound_adapter
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import Intent, LoggedInbound, Review
from chalicelib.domain.ports import InboundFilter, Stores
from tests.integration.contract.examples import ACCOUNT, PHONE, T0, inbound

OTHER = "+14155550999"


def _message(n: int, phone: str = PHONE, intent: Intent = Intent.NONE, review: str | None = None) -> LoggedInbound:
    logged = inbound(f"SM{n:03d}", T0 + timedelta(hours=n))
    message = logged.message.model_copy(update={"from_phone": phone})
    update: dict = {"message": message, "intent": intent}
    if review is not None:
        update["needs_review"] = True
    if review == "resolved":
        update["review"] = Review(resolution="dismissed", actor="token:abc", at=T0)
    return logged.model_copy(update=update)


def _search(stores: Stores, limit: int = 2, needs_review: bool = False, **search) -> list[str]:
    """Every message the search finds, page after page (a page may be short), newest first."""
    found, cursor, pages = [], None, 0
    while True:
        page, cursor = stores.inbound.list_inbound(
            ACCOUNT, cursor, limit, needs_review=needs_review, search=InboundFilter(**search)
        )
        assert len(page) <= limit
        found += [m.message.message_id for m in page]
        pages += 1
        if cursor is None:
            return found
        assert pages < 50


@pytest.fixture
def log(stores: Stores) -> Stores:
    # Given a log of 10 messages, an hour apart: from two numbers, of each intent, some flagged for review
    messages = [
        _message(0),
        _message(1, intent=Intent.OPT_OUT),
        _message(2, OTHER),
        _message(3, review="pending"),
        _message(4, OTHER, intent=Intent.OPT_OUT),
        _message(5, review="resolved"),
        _message(6, intent=Intent.HELP),
        _message(7, OTHER, review="pending"),
        _message(8, intent=Intent.OPT_IN),
        _message(9, OTHER, review="resolved"),
    ]
    for message in messages:
        assert stores.inbound.log_inbound(message)
    return stores


def test_the_log_is_searched_by_number_newest_first(log: Stores) -> None:
    assert _search(log, phone=OTHER) == ["SM009", "SM007", "SM004", "SM002"]
    assert _search(log, phone="+14155550000") == []


def test_the_log_is_searched_by_intent(log: Stores) -> None:
    assert _search(log, intent=Intent.OPT_OUT) == ["SM004", "SM001"]
    assert _search(log, intent=Intent.OPT_OUT, phone=PHONE) == ["SM001"]
    assert _search(log, limit=1, intent=Intent.HELP) == ["SM006"]


def test_the_log_is_searched_by_review_state(log: Stores) -> None:
    assert _search(log, review="pending") == ["SM007", "SM003"]
    assert _search(log, review="resolved") == ["SM009", "SM005"]
    assert _search(log, review="pending", phone=PHONE) == ["SM003"]
    assert _search(log, needs_review=True, phone=OTHER) == ["SM007"]


def test_a_date_range_takes_from_its_start_up_to_its_end(log: Stores) -> None:
    # from is inclusive, until exclusive
    since, until = T0 + timedelta(hours=2), T0 + timedelta(hours=5)
    assert _search(log, since=since, until=until) == ["SM004", "SM003", "SM002"]
    assert _search(log, since=T0 + timedelta(hours=8)) == ["SM009", "SM008"]
    assert _search(log, until=T0 + timedelta(hours=1, seconds=1)) == ["SM001", "SM000"]
    assert _search(log, since=since, until=until, phone=OTHER) == ["SM004", "SM002"]
    assert _search(log, since=since, until=until, review="pending") == ["SM003"]
    assert _search(log, since=until, until=since) == []


def test_a_search_with_no_condition_is_the_whole_log(log: Stores) -> None:
    assert _search(log, limit=4) == [f"SM{n:03d}" for n in reversed(range(10))]


def test_a_cursor_of_a_numbers_search_is_refused_by_the_whole_log(log: Stores) -> None:
    _, cursor = log.inbound.list_inbound(ACCOUNT, None, 1, search=InboundFilter(phone=OTHER))
    assert cursor is not None
    with pytest.raises(InvalidRequest):
        log.inbound.list_inbound(ACCOUNT, cursor, 1)
    with pytest.raises(InvalidRequest):
        log.inbound.list_inbound(ACCOUNT, cursor, 1, search=InboundFilter(phone=PHONE))


def test_a_search_that_passes_over_many_messages_answers_short_pages_and_finds_them_all(
    log: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a store that passes over at most 3 messages per call (the fake has no budget: its pages are full)
    monkeypatch.setattr(inbound_adapter, "READ_BUDGET", 3)
    monkeypatch.setattr(inbound_adapter, "FILTERED_READ", 2)
    # When a search matches 2 of the 10 messages, then the pages may be short, and every match is found once
    assert _search(log, limit=5, intent=Intent.OPT_OUT) == ["SM004", "SM001"]
    page, cursor = log.inbound.list_inbound(ACCOUNT, None, 5, search=InboundFilter(intent=Intent.OPT_IN))
    assert [m.message.message_id for m in page] == ["SM008"]
    assert _search(log, limit=5, intent=Intent.OPT_IN) == ["SM008"]
