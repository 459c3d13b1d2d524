"""OutboundLog: the same cases on the fake and on DynamoDB."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, T0, outcome, send_request


def test_a_request_is_claimed_once(stores: Stores) -> None:
    request = send_request()
    assert stores.outbound.claim(request, T0) == "claimed"
    assert stores.outbound.get(ACCOUNT, request.request_id) == outcome(request, "sending")
    assert stores.outbound.claim(request, T0 + timedelta(seconds=1)) == "duplicate"
    assert stores.outbound.claim(send_request("req-2"), T0) == "claimed"


def test_a_released_request_may_be_claimed_again(stores: Stores) -> None:
    # Given a claimed request handed back for a retry
    request = send_request()
    stores.outbound.claim(request, T0)
    retrying = outcome(request, "retrying", "provider_retry", at=T0 + timedelta(seconds=1))
    stores.outbound.release(retrying.model_copy(update={"error_code": "429", "detail": "Too Many Requests"}))
    assert stores.outbound.get(ACCOUNT, request.request_id) == retrying.model_copy(
        update={"error_code": "429", "detail": "Too Many Requests"}
    )
    # When a redelivery claims it, then it is claimed, once
    assert stores.outbound.claim(request, T0 + timedelta(seconds=2)) == "claimed"
    assert stores.outbound.claim(request, T0 + timedelta(seconds=3)) == "duplicate"


def test_releasing_a_finished_request_changes_nothing(stores: Stores) -> None:
    request = send_request()
    stores.outbound.claim(request, T0)
    stores.outbound.finish(outcome(request, "sent"), fresh=False)
    stores.outbound.release(outcome(request, "retrying", "provider_retry", at=T0 + timedelta(seconds=1)))
    assert stores.outbound.get(ACCOUNT, request.request_id) == outcome(request, "sent")
    assert stores.outbound.claim(request, T0) == "duplicate"


def test_a_fresh_finish_records_a_request_never_claimed(stores: Stores) -> None:
    skipped = outcome(send_request(), "skipped", "suppressed")
    assert stores.outbound.finish(skipped, fresh=True)
    assert stores.outbound.get(ACCOUNT, "req-1") == skipped
    assert stores.outbound.claim(send_request(), T0) == "duplicate"


def test_a_fresh_finish_is_refused_while_the_request_is_claimed(stores: Stores) -> None:
    request = send_request()
    stores.outbound.claim(request, T0)
    assert not stores.outbound.finish(outcome(request, "skipped", "suppressed"), fresh=True)
    assert stores.outbound.get(ACCOUNT, request.request_id) == outcome(request, "sending")


def test_a_finish_after_a_claim_records_the_outcome(stores: Stores) -> None:
    request = send_request()
    stores.outbound.claim(request, T0)
    sent = outcome(request, "sent", at=T0 + timedelta(seconds=1)).model_copy(
        update={"provider": "twilio", "provider_message_id": "SM123"}
    )
    assert stores.outbound.finish(sent, fresh=False)
    assert stores.outbound.get(ACCOUNT, request.request_id) == sent


def test_a_finish_without_a_claim_is_refused(stores: Stores) -> None:
    assert not stores.outbound.finish(outcome(send_request(), "sent"), fresh=False)
    assert stores.outbound.get(ACCOUNT, "req-1") is None


def test_an_outcome_is_recorded_only_once(stores: Stores) -> None:
    # Given a request claimed and finished as sent
    request = send_request()
    stores.outbound.claim(request, T0)
    assert stores.outbound.finish(outcome(request, "sent"), fresh=False)
    # When another outcome is recorded for it, either way
    again = stores.outbound.finish(outcome(request, "failed", "provider_error"), fresh=False)
    fresh = stores.outbound.finish(outcome(request, "skipped", "suppressed"), fresh=True)
    # Then both are refused and the first outcome stays
    assert not again and not fresh
    assert stores.outbound.get(ACCOUNT, request.request_id) == outcome(request, "sent")


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
    stores.outbound.claim(send_request(), T0)
    assert stores.outbound.get(ACCOUNT, "req-2") is None
    assert stores.outbound.get("other", "req-1") is None
