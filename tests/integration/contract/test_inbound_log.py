"""InboundLog: the same cases on the fake and on DynamoDB."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import Review
from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, T0, inbound


def test_inbound_log_is_newest_first_and_once_per_message(stores: Stores) -> None:
    log = stores.inbound
    assert log.log_inbound(inbound("SM1", T0))
    assert log.log_inbound(inbound("SM2", T0 + timedelta(seconds=1)))
    assert not log.log_inbound(inbound("SM1", T0))
    page, cursor = log.list_inbound(ACCOUNT, None, 1)
    assert [m.message.message_id for m in page] == ["SM2"]
    page, cursor = log.list_inbound(ACCOUNT, cursor, 5)
    assert [m.message.message_id for m in page] == ["SM1"] and cursor is None
    assert log.get_inbound(ACCOUNT, "SM1") == inbound("SM1", T0)
    assert log.get_inbound("other", "SM1") is None


def test_the_review_queue_holds_flagged_messages_until_resolved(stores: Stores) -> None:
    # Given a flagged message and an ordinary one
    log = stores.inbound
    flagged = inbound("SM1", T0, body="not interested").model_copy(update={"needs_review": True})
    log.log_inbound(flagged)
    log.log_inbound(inbound("SM2", T0 + timedelta(seconds=1)))
    page, _ = log.list_inbound(ACCOUNT, None, 10, needs_review=True)
    assert [m.message.message_id for m in page] == ["SM1"]
    # When an admin resolves the flagged one
    review = Review(resolution="dismissed", actor="token:abc", at=T0, notes="a question")
    log.resolve_review(flagged.model_copy(update={"review": review}))
    # Then it leaves the review queue, keeps its review, and stays in the log
    assert log.list_inbound(ACCOUNT, None, 10, needs_review=True) == ([], None)
    assert log.get_inbound(ACCOUNT, "SM1").review == review
    assert len(log.list_inbound(ACCOUNT, None, 10)[0]) == 2


def test_a_cursor_of_the_review_queue_is_refused_by_the_whole_log(stores: Stores) -> None:
    # Given two messages awaiting review, and the review queue's cursor after the first
    for n in range(2):
        stores.inbound.log_inbound(
            inbound(f"SM{n}", T0 + timedelta(seconds=n)).model_copy(update={"needs_review": True})
        )
    _, cursor = stores.inbound.list_inbound(ACCOUNT, None, 1, needs_review=True)
    assert cursor is not None
    # When it is given to the whole log, then it is refused
    with pytest.raises(InvalidRequest):
        stores.inbound.list_inbound(ACCOUNT, cursor, 1)
