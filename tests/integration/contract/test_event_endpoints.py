"""EventEndpoints: the same cases on the fake and on DynamoDB (the endpoints item and the delivery log)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain import change_events, policy
from chalicelib.domain.change_events import ChangeEvent, Delivery, EventEndpoint
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import NumberState
from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, PHONE, T0, opt_out

ENDPOINT = "ep_0123456789abcdef01234567"


def endpoint(endpoint_id: str = ENDPOINT, url: str = "https://crm.example.com/hooks") -> EventEndpoint:
    return EventEndpoint(endpoint_id=endpoint_id, account_id=ACCOUNT, url=url, created_at=T0, created_by="operator")


def change(n: int, minutes: int = 0) -> ChangeEvent:
    """The change event of the n-th STOP, recorded `minutes` after T0."""
    event = opt_out(PHONE, f"twilio:SM{n}", at=T0 + timedelta(minutes=minutes))
    state, record = policy.apply(NumberState(account_id=ACCOUNT, phone=PHONE), event)
    job = change_events.job_for(record, state)
    assert job is not None
    return job.events[0]


def delivery(n: int, minutes: int = 0, endpoint_id: str = ENDPOINT) -> Delivery:
    return Delivery(account_id=ACCOUNT, endpoint_id=endpoint_id, event=change(n, minutes), scheduled_at=T0)


def test_endpoints_are_saved_conditionally_on_their_version(stores: Stores) -> None:
    store = stores.endpoints
    assert store.load_endpoints(ACCOUNT) == ([], 0)
    assert store.save_endpoints(ACCOUNT, [endpoint()], 0)
    assert not store.save_endpoints(ACCOUNT, [], 0)  # someone saved first
    assert store.load_endpoints(ACCOUNT) == ([endpoint()], 1)
    second = endpoint("ep_second", "https://other.example.com/")
    assert store.save_endpoints(ACCOUNT, [endpoint(), second], 1)
    assert not store.save_endpoints(ACCOUNT, [second], 1)
    assert store.load_endpoints(ACCOUNT) == ([endpoint(), second], 2)
    assert store.load_endpoints("other") == ([], 0)


def test_a_delivery_is_scheduled_once_and_then_updated(stores: Stores) -> None:
    store = stores.endpoints
    first = delivery(1)
    assert store.schedule_delivery(first) == first
    # Scheduling it again (a fan-out delivered twice) keeps what is stored
    attempted = first.model_copy(update={"status": "retrying", "attempts": 1, "last_status_code": 500})
    store.put_delivery(attempted)
    assert store.schedule_delivery(first.model_copy(update={"scheduled_at": T0 + timedelta(hours=1)})) == attempted
    assert store.get_delivery(ACCOUNT, ENDPOINT, first.event.id) == attempted
    assert store.get_delivery(ACCOUNT, "ep_other", first.event.id) is None
    assert store.get_delivery("other", ENDPOINT, first.event.id) is None


def test_the_log_is_newest_first_a_page_at_a_time(stores: Stores) -> None:
    store = stores.endpoints
    for n in range(5):
        store.schedule_delivery(delivery(n, minutes=n))
    store.schedule_delivery(delivery(9, endpoint_id="ep_other"))
    page, cursor = store.list_deliveries(ACCOUNT, ENDPOINT, None, 2)
    seen = [d.event.id for d in page]
    while cursor:
        page, cursor = store.list_deliveries(ACCOUNT, ENDPOINT, cursor, 2)
        seen += [d.event.id for d in page]
    assert seen == [change(n, minutes=n).id for n in reversed(range(5))]


def test_a_cursor_of_another_endpoints_log_or_a_made_up_one_is_refused(stores: Stores) -> None:
    store = stores.endpoints
    for n in range(3):
        store.schedule_delivery(delivery(n, minutes=n, endpoint_id="ep_other"))
    _, cursor = store.list_deliveries(ACCOUNT, "ep_other", None, 1)
    assert cursor is not None
    for bad in (cursor, "not-a-cursor", "eyJwayI6IDF9"):
        with pytest.raises(InvalidRequest):
            store.list_deliveries(ACCOUNT, ENDPOINT, bad, 1)


def test_deliveries_since_a_time_come_oldest_first_and_continue_after_an_id(stores: Stores) -> None:
    store = stores.endpoints
    for n in range(4):
        store.schedule_delivery(delivery(n, minutes=10 * n))
    since = T0 + timedelta(minutes=10)  # when the second one was recorded
    found = store.deliveries_since(ACCOUNT, ENDPOINT, since, 2)
    assert [d.event.id for d in found] == [change(1, 10).id, change(2, 20).id]
    rest = store.deliveries_since(ACCOUNT, ENDPOINT, since, 2, after=found[-1].event.id)
    assert [d.event.id for d in rest] == [change(3, 30).id]
    assert store.deliveries_since(ACCOUNT, ENDPOINT, T0 + timedelta(hours=1), 10) == []
    # An `after` older than `since` does not reach back before it
    assert len(store.deliveries_since(ACCOUNT, ENDPOINT, since, 10, after=change(0).id)) == 3
