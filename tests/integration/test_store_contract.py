"""One contract for the SuppressionStore, run against the in-memory fake and DynamoDB over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.adapters.dynamodb_store import DynamoDBSuppressionStore
from chalicelib.domain import policy
from chalicelib.domain.errors import ConcurrentUpdate, DuplicateEvent, InvalidRequest
from chalicelib.domain.models import (
    Account,
    Action,
    Event,
    InboundMessage,
    Intent,
    LoggedInbound,
    NumberState,
    Review,
    Source,
)
from tests.fakes import InMemorySuppressionStore

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ACCOUNT = "acme"


@pytest.fixture(params=["fake", "dynamodb"])
def store(request):
    if request.param == "fake":
        return InMemorySuppressionStore()
    resources = request.getfixturevalue("clean_aws")
    client = boto3.client("dynamodb", endpoint_url=resources.endpoint_url, region_name="us-east-1")
    return DynamoDBSuppressionStore(client, resources.table_name)


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


def commit(store, event: Event, inbound: LoggedInbound | None = None) -> NumberState:
    state, _ = store.load(event.account_id, event.phone, event.event_id)
    new_state, record = policy.apply(state, event)
    store.commit(new_state, record, inbound)
    return new_state


def inbound(message_id: str, at: datetime = T0, body: str = "hi") -> LoggedInbound:
    return LoggedInbound(
        message=InboundMessage(
            carrier="twilio",
            message_id=message_id,
            account_id=ACCOUNT,
            from_phone="+14155550123",
            to_phone="+14155550100",
            body=body,
            occurred_at=at,
            received_at=at,
        ),
        intent=Intent.NONE,
        reason="no keyword",
    )


def test_an_unknown_number_is_empty_and_unseen(store) -> None:
    state, seen = store.load(ACCOUNT, "+14155550123", "twilio:SM1")
    assert state == NumberState(account_id=ACCOUNT, phone="+14155550123") and not seen


def test_commit_stores_the_state_and_the_event_and_the_event_is_seen(store) -> None:
    commit(store, opt_out("+14155550123", "twilio:SM1"))
    state, seen = store.load(ACCOUNT, "+14155550123", "twilio:SM1")
    assert seen and state.version == 1 and set(state.suppressions) == {"all"}
    assert [r.event.event_id for r in store.history(ACCOUNT, "+14155550123")] == ["twilio:SM1"]


def test_a_repeated_event_is_refused_as_duplicate(store) -> None:
    event = opt_out("+14155550123", "twilio:SM1")
    state, _ = store.load(ACCOUNT, event.phone)
    new_state, record = policy.apply(state, event)
    store.commit(new_state, record)
    newer, _ = store.load(ACCOUNT, event.phone)
    with pytest.raises(DuplicateEvent):
        store.commit(newer, record)


def test_a_stale_version_is_a_concurrent_update(store) -> None:
    first = opt_out("+14155550123", "twilio:SM1")
    second = opt_out("+14155550123", "twilio:SM2", scope="group:x")
    state, _ = store.load(ACCOUNT, first.phone)
    store.commit(*policy.apply(state, first))
    with pytest.raises(ConcurrentUpdate):
        store.commit(*policy.apply(state, second))
    assert len(store.history(ACCOUNT, first.phone)) == 1


def test_history_is_newest_first_by_carrier_time(store) -> None:
    commit(store, opt_out("+14155550123", "e-late", at=T0 + timedelta(minutes=5), scope="group:a"))
    commit(store, opt_out("+14155550123", "e-early", at=T0, scope="group:b"))
    assert [r.event.event_id for r in store.history(ACCOUNT, "+14155550123")] == ["e-late", "e-early"]


def test_load_many_reads_more_than_one_hundred_numbers(store) -> None:
    phones = [f"+1415555{n:04d}" for n in range(150)]
    for phone in phones[::10]:
        commit(store, opt_out(phone, f"e-{phone}"))
    states = store.load_many(ACCOUNT, phones + phones[:5])
    assert len(states) == 150
    assert sorted(p for p, s in states.items() if s.suppressed) == sorted(phones[::10])


def test_suppressed_numbers_are_listed_page_by_page_and_lifted_ones_drop_out(store) -> None:
    phones = [f"+1415555{n:04d}" for n in range(7)]
    for phone in phones:
        commit(store, opt_out(phone, f"e-{phone}"))
    lift = Event(
        event_id="lift-1",
        account_id=ACCOUNT,
        phone=phones[0],
        action=Action.LIFT,
        scopes=("all",),
        occurred_at=T0 + timedelta(minutes=1),
        received_at=T0 + timedelta(minutes=1),
        actor="admin",
    )
    # A keyword opt-out is not liftable by an admin: the lift changes nothing
    assert commit(store, lift).suppressed
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = store.list_suppressed(ACCOUNT, cursor, 3)
        seen.extend(state.phone for state in page)
        if cursor is None:
            break
    assert seen == sorted(phones)
    assert store.list_suppressed("other", None, 10) == ([], None)


def test_a_foreign_or_forged_cursor_is_refused(store) -> None:
    for n in range(3):
        commit(store, opt_out(f"+1415555{n:04d}", f"e-{n}"))
    with pytest.raises(InvalidRequest):
        store.list_suppressed(ACCOUNT, "not-a-cursor!", 2)


def test_inbound_log_is_newest_first_and_once_per_message(store) -> None:
    assert store.log_inbound(inbound("SM1", T0))
    assert store.log_inbound(inbound("SM2", T0 + timedelta(seconds=1)))
    assert not store.log_inbound(inbound("SM1", T0))
    page, cursor = store.list_inbound(ACCOUNT, None, 1)
    assert [m.message.message_id for m in page] == ["SM2"]
    page, cursor = store.list_inbound(ACCOUNT, cursor, 5)
    assert [m.message.message_id for m in page] == ["SM1"] and cursor is None
    assert store.get_inbound(ACCOUNT, "SM1") == inbound("SM1", T0)
    assert store.get_inbound("other", "SM1") is None


def test_commit_logs_the_inbound_message_in_the_same_write(store) -> None:
    commit(store, opt_out("+14155550123", "twilio:SM7"), inbound("SM7", body="STOP"))
    assert store.get_inbound(ACCOUNT, "SM7") is not None


def test_accounts_round_trip(store) -> None:
    account = Account(account_id=ACCOUNT, name="Acme", created_at=T0, updated_at=T0, token_hashes=("abc",))
    assert store.get_account(ACCOUNT) is None
    store.put_account(account)
    assert store.get_account(ACCOUNT) == account


def test_the_review_queue_holds_flagged_messages_until_resolved(store) -> None:
    flagged = inbound("SM1", T0, body="not interested").model_copy(update={"needs_review": True})
    store.log_inbound(flagged)
    store.log_inbound(inbound("SM2", T0 + timedelta(seconds=1)))
    page, _ = store.list_inbound(ACCOUNT, None, 10, needs_review=True)
    assert [m.message.message_id for m in page] == ["SM1"]
    review = Review(resolution="dismissed", actor="token:abc", at=T0, notes="a question")
    store.resolve_review(flagged.model_copy(update={"review": review}))
    assert store.list_inbound(ACCOUNT, None, 10, needs_review=True) == ([], None)
    assert store.get_inbound(ACCOUNT, "SM1").review == review
    assert len(store.list_inbound(ACCOUNT, None, 10)[0]) == 2


def test_one_event_is_read_back_by_its_id(store) -> None:
    commit(store, opt_out("+14155550123", "twilio:SM8"))
    assert store.get_event(ACCOUNT, "+14155550123", "twilio:SM8").event.event_id == "twilio:SM8"
    assert store.get_event(ACCOUNT, "+14155550123", "twilio:nope") is None
    assert store.get_event(ACCOUNT, "+14155550124", "twilio:SM8") is None
