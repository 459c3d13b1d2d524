"""OutboundLog: the same cases on the fake and on DynamoDB."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, T0, outcome, send_request


def test_an_outcome_is_recorded_once(stores: Stores) -> None:
    # Given a request recorded as sent
    request = send_request()
    sent = outcome(request, "sent").model_copy(update={"provider": "twilio", "provider_message_id": "SM123"})
    assert stores.outbound.finish(sent)
    assert stores.outbound.get(ACCOUNT, request.request_id) == sent
    # When another outcome is recorded for it
    assert not stores.outbound.finish(outcome(request, "skipped", "suppressed"))
    # Then it is refused and the first outcome stays; another request is its own
    assert stores.outbound.get(ACCOUNT, request.request_id) == sent
    assert stores.outbound.finish(outcome(send_request("req-2"), "skipped", "suppressed"))


def test_a_request_handed_back_for_a_retry_takes_its_outcome_later(stores: Stores) -> None:
    # Given a request handed back for a retry, with why
    request = send_request()
    retrying = outcome(request, "retrying", "provider_retry").model_copy(
        update={"error_code": "429", "detail": "Too Many Requests"}
    )
    stores.outbound.release(retrying)
    assert stores.outbound.get(ACCOUNT, request.request_id) == retrying
    # When a redelivery records its outcome, then that is recorded, once
    assert stores.outbound.finish(outcome(request, "sent", at=T0 + timedelta(seconds=2)))
    assert not stores.outbound.finish(outcome(request, "failed", "provider_error", at=T0 + timedelta(seconds=3)))
    assert stores.outbound.get(ACCOUNT, request.request_id) == outcome(request, "sent", at=T0 + timedelta(seconds=2))


def test_handing_back_a_request_with_an_outcome_changes_nothing(stores: Stores) -> None:
    request = send_request()
    stores.outbound.finish(outcome(request, "sent"))
    stores.outbound.release(outcome(request, "retrying", "provider_retry", at=T0 + timedelta(seconds=1)))
    assert stores.outbound.get(ACCOUNT, request.request_id) == outcome(request, "sent")


def test_get_many_reads_the_records_of_the_requests_that_have_one(stores: Stores) -> None:
    # Given two requests recorded (one of them handed back for a retry) and 150 never seen
    stores.outbound.finish(outcome(send_request("req-1"), "sent"))
    stores.outbound.release(outcome(send_request("req-2"), "retrying", "provider_retry"))
    unseen = [f"new-{n}" for n in range(150)]
    # When they are read together (more than one round trip's worth), then only the two are there, as recorded
    records = stores.outbound.get_many(ACCOUNT, ["req-1", *unseen, "req-2", "req-1"])
    assert records == {
        "req-1": outcome(send_request("req-1"), "sent"),
        "req-2": outcome(send_request("req-2"), "retrying", "provider_retry"),
    }
    assert stores.outbound.get_many("other", ["req-1"]) == {}
    assert stores.outbound.get_many(ACCOUNT, []) == {}


def test_campaign_counts_add_up(stores: Stores) -> None:
    stores.outbound.count(ACCOUNT, "spring", {"sent": 2, "skipped:suppressed": 1})
    stores.outbound.count(ACCOUNT, "spring", {"sent": 3, "failed:unreachable": 1})
    stores.outbound.count(ACCOUNT, "autumn", {"sent": 1})
    stores.outbound.count(ACCOUNT, "spring", {})
    assert stores.outbound.campaign_counts(ACCOUNT, "spring") == {
        "sent": 5,
        "skipped:suppressed": 1,
        "failed:unreachable": 1,
    }
    assert stores.outbound.campaign_counts(ACCOUNT, "winter") == {}
    assert stores.outbound.campaign_counts("other", "spring") == {}


def test_get_is_none_for_a_request_never_seen(stores: Stores) -> None:
    stores.outbound.finish(outcome(send_request(), "sent"))
    assert stores.outbound.get(ACCOUNT, "req-2") is None
    assert stores.outbound.get("other", "req-1") is None
