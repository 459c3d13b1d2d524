"""The outbox on DynamoDB is spread over `OUTBOX_SHARDS` index partitions: every one is swept, none kept waiting."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from chalicelib.adapters.dynamodb import dynamodb_stores
from chalicelib.adapters.dynamodb.table import OUTBOX, OUTBOX_SHARDS, event_key, outbox_partition
from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, T0, commit, opt_out


@pytest.fixture
def stores(table) -> Stores:  # type: ignore[no-untyped-def]
    """DynamoDB's alone (the shards are its layout)."""
    client, table_name = table
    return dynamodb_stores(client, table_name)


def ids_in(shard: str, count: int, prefix: str) -> list[str]:
    """`count` event ids that land in `shard`."""
    found = (f"{prefix}-{n}" for n in range(100_000))
    return [event_id for event_id in found if outbox_partition(event_id) == shard][:count]


def test_event_ids_spread_evenly_over_every_shard() -> None:
    shards = Counter(outbox_partition(f"twilio:SM{n:032x}") for n in range(16_000))
    assert sorted(shards) == [f"{OUTBOX}#{shard:02d}" for shard in range(OUTBOX_SHARDS)]
    share = 16_000 / OUTBOX_SHARDS
    assert all(0.85 * share < count < 1.15 * share for count in shards.values())


@pytest.mark.parametrize("shard", [0, OUTBOX_SHARDS - 1])
def test_a_job_in_any_shard_is_swept(stores: Stores, shard: int) -> None:
    # Given one pending job, in the first or the last shard
    (event_id,) = ids_in(f"{OUTBOX}#{shard:02d}", 1, "e")
    commit(stores, opt_out("+14155550100", event_id), with_job=True)
    # Then the sweep finds it, and once queued it is gone
    (job,) = stores.outbox.pending_jobs(100)
    assert job.event_id == event_id
    stores.outbox.job_queued(job)
    assert stores.outbox.pending_jobs(100) == []


def test_a_backlog_in_one_shard_keeps_no_other_shard_waiting(stores: Stores) -> None:
    # Given 40 old jobs in one shard, and a newer one in each of two others
    for n, event_id in enumerate(ids_in(f"{OUTBOX}#03", 40, "old")):
        commit(stores, opt_out(f"+141555502{n:02d}", event_id, at=T0 + timedelta(seconds=n)), with_job=True)
    newer = [ids_in(f"{OUTBOX}#{shard:02d}", 1, "new")[0] for shard in (7, OUTBOX_SHARDS - 1)]
    for n, event_id in enumerate(newer):
        commit(stores, opt_out(f"+141555503{n:02d}", event_id, at=T0 + timedelta(hours=1)), with_job=True)
    # When a sweep takes 20
    pending = stores.outbox.pending_jobs(20)
    # Then the newer ones are among them, with the backlog's oldest, oldest first
    assert len(pending) == 20
    assert {job.event_id for job in pending} >= set(newer)
    assert [job.occurred_at for job in pending] == sorted(job.occurred_at for job in pending)


def test_a_small_outbox_comes_whole_and_oldest_first_across_shards(stores: Stores) -> None:
    # Given jobs in five shards, stored in another order than received
    event_ids = [ids_in(f"{OUTBOX}#{shard:02d}", 1, "e")[0] for shard in (9, 2, 14, 0, 5)]
    for minutes, event_id in zip((4, 0, 3, 1, 2), event_ids, strict=True):
        commit(stores, opt_out(f"+1415555010{minutes}", event_id, at=T0 + timedelta(minutes=minutes)), with_job=True)
    # Then one sweep takes them all, oldest first
    assert [job.phone for job in stores.outbox.pending_jobs(100)] == [f"+1415555010{m}" for m in range(5)]


def test_jobs_stored_before_the_outbox_was_sharded_are_still_swept(stores: Stores, table) -> None:  # type: ignore[no-untyped-def]
    # Given a pending job listed in the single outbox partition of before
    client, table_name = table
    commit(stores, opt_out("+14155550100", "e-before"), with_job=True)
    client.update_item(
        TableName=table_name,
        Key=event_key(ACCOUNT, "+14155550100", "e-before"),
        UpdateExpression="SET gsi2pk = :outbox",
        ExpressionAttributeValues={":outbox": {"S": OUTBOX}},
    )
    # Then the sweep finds it, and once queued it is gone
    (job,) = stores.outbox.pending_jobs(100)
    assert job.event_id == "e-before"
    stores.outbox.job_queued(job)
    assert stores.outbox.pending_jobs(100) == []
