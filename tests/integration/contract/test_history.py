"""History: the same cases on the fake and on DynamoDB (events are written by NumberStore.commit)."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, PHONE, T0, commit, opt_out


def test_history_is_newest_first_by_carrier_time(stores: Stores) -> None:
    commit(stores, opt_out(PHONE, "e-late", at=T0 + timedelta(minutes=5), scope="group:a"))
    commit(stores, opt_out(PHONE, "e-early", at=T0, scope="group:b"))
    assert [r.event.event_id for r in stores.history.history(ACCOUNT, PHONE)] == ["e-late", "e-early"]


def test_one_event_is_read_back_by_its_id(stores: Stores) -> None:
    commit(stores, opt_out(PHONE, "twilio:SM8"))
    assert stores.history.get_event(ACCOUNT, PHONE, "twilio:SM8").event.event_id == "twilio:SM8"
    assert stores.history.get_event(ACCOUNT, PHONE, "twilio:nope") is None
    assert stores.history.get_event(ACCOUNT, "+14155550124", "twilio:SM8") is None


def test_a_number_without_events_has_an_empty_history(stores: Stores) -> None:
    commit(stores, opt_out(PHONE, "twilio:SM1"))
    assert stores.history.history(ACCOUNT, "+14155550124") == []
    assert stores.history.history("other", PHONE) == []
