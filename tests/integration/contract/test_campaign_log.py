"""OutboundLog.campaign_log, the outbound log searched by campaign and outcome: the same cases on the fake and on
DynamoDB (where a campaign's entries are spread over 16 index partitions and merged)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.adapters.dynamodb.table import CAMPAIGN_SHARDS, campaign_shard
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, T0, outcome, send_request


def _record(stores: Stores, request_id: str, status: str, reason: str | None = None, campaign: str = "spring"):
    request = send_request(request_id, campaign_id=campaign)
    # A text being sent has no record yet: the log is written once, with its outcome (or `retrying`).
    if status == "retrying":
        stores.outbound.release(outcome(request, "retrying", reason, at=T0 + timedelta(seconds=1)))
    elif status != "sending":
        assert stores.outbound.finish(outcome(request, status, reason, at=T0 + timedelta(seconds=1)))
    return request_id


def _every_page(stores: Stores, campaign: str, status, reason, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        records, cursor = stores.outbound.campaign_log(ACCOUNT, campaign, status, reason, cursor, limit)
        pages.append([record.request.request_id for record in records])
        if cursor is None:
            return pages


def test_a_campaigns_texts_are_listed_by_outcome_and_reason_across_every_shard(stores: Stores) -> None:
    # Given 40 texts of one campaign (spread over the shards), each outcome, and texts of another campaign
    sent = [_record(stores, f"s{n:02d}", "sent") for n in range(20)]
    suppressed = [_record(stores, f"k{n:02d}", "skipped", "suppressed") for n in range(12)]
    opted_out = [_record(stores, f"o{n:02d}", "skipped", "carrier_opted_out") for n in range(3)]
    failed = [_record(stores, f"f{n:02d}", "failed", "unreachable") for n in range(3)]
    retrying = [_record(stores, "r00", "retrying", "provider_retry")]
    _record(stores, "in-flight", "sending")
    _record(stores, "other-1", "sent", campaign="autumn")
    assert len({campaign_shard(request_id) for request_id in sent}) > 1
    # When it is searched by outcome and reason, a few at a time
    # Then each page is in request id order within the outcome, nothing twice, nothing left out
    assert sum(_every_page(stores, "spring", "sent", None, 7), []) == sorted(sent)
    assert _every_page(stores, "spring", "skipped", "suppressed", 5) == [
        sorted(suppressed)[:5],
        sorted(suppressed)[5:10],
        sorted(suppressed)[10:],
    ]
    assert sum(_every_page(stores, "spring", "skipped", None, 4), []) == sorted(opted_out) + sorted(suppressed)
    assert _every_page(stores, "spring", "failed", "unreachable", 10) == [sorted(failed)]
    assert _every_page(stores, "spring", "retrying", None, 10) == [retrying]
    assert _every_page(stores, "spring", "skipped", "unreachable", 10) == [[]]
    # And `any` lists every outcome (a text still being sent is in none), by outcome, reason, request id
    everything = sum(_every_page(stores, "spring", None, None, 9), [])
    assert everything == sorted(failed) + retrying + sorted(sent) + sorted(opted_out) + sorted(suppressed)
    assert _every_page(stores, "autumn", "sent", None, 10) == [["other-1"]]
    assert _every_page(stores, "winter", None, None, 10) == [[]]


def test_the_campaign_log_keeps_each_texts_outcome_and_why(stores: Stores) -> None:
    request = send_request("k1")
    skipped = outcome(request, "skipped", "suppressed")
    stores.outbound.finish(skipped)
    assert stores.outbound.campaign_log(ACCOUNT, "spring", "skipped", "suppressed", None, 10) == ([skipped], None)


def test_a_text_handed_back_for_a_retry_moves_to_its_outcome_once_sent(stores: Stores) -> None:
    # Given a text handed back for a retry
    request = send_request("r1")
    stores.outbound.release(outcome(request, "retrying", "provider_retry", at=T0 + timedelta(seconds=1)))
    assert [r.status for r in stores.outbound.campaign_log(ACCOUNT, "spring", "retrying", None, None, 10)[0]] == [
        "retrying"
    ]
    # When it is sent at the next try
    assert stores.outbound.finish(outcome(request, "sent", at=T0 + timedelta(seconds=3)))
    # Then it is listed as sent, and no longer as retrying
    assert stores.outbound.campaign_log(ACCOUNT, "spring", "retrying", None, None, 10) == ([], None)
    sent, _ = stores.outbound.campaign_log(ACCOUNT, "spring", "sent", None, None, 10)
    assert [record.request.request_id for record in sent] == ["r1"]


def test_a_page_that_needs_more_than_one_shards_share_is_still_in_order(stores: Stores) -> None:
    # Given texts whose request ids all fall in one shard, and one in another
    crowded = [f"c{n:03d}" for n in range(400) if campaign_shard(f"c{n:03d}") == 0][:12]
    lone = next(f"z{n}" for n in range(100) if campaign_shard(f"z{n}") == 1)
    for request_id in [*crowded, lone]:
        _record(stores, request_id, "sent")
    # When a page of 10 is asked for, which is more than that shard's share of a page
    pages = _every_page(stores, "spring", "sent", None, 10)
    # Then the pages are the whole order, cut at 10
    order = sorted([*crowded, lone])
    assert pages == [order[:10], order[10:]]
    assert CAMPAIGN_SHARDS == 16


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (("spring", "sent", None), ("spring", "skipped", None)),
        (("spring", "skipped", "suppressed"), ("spring", "skipped", "carrier_opted_out")),
        (("spring", "sent", None), ("autumn", "sent", None)),
    ],
)
def test_a_cursor_of_another_search_is_refused(stores: Stores, first, then) -> None:
    for n in range(3):
        _record(stores, f"s{n}", "sent")
        _record(stores, f"k{n}", "skipped", "suppressed")
        _record(stores, f"a{n}", "sent", campaign="autumn")
    campaign, status, reason = first
    _, cursor = stores.outbound.campaign_log(ACCOUNT, campaign, status, reason, None, 1)
    assert cursor is not None
    campaign, status, reason = then
    with pytest.raises(InvalidRequest):
        stores.outbound.campaign_log(ACCOUNT, campaign, status, reason, cursor, 1)
    with pytest.raises(InvalidRequest):
        stores.outbound.campaign_log(ACCOUNT, "spring", "sent", None, "bm90LWEtY3Vyc29y", 1)
