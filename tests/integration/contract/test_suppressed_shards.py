"""The suppression list on DynamoDB is spread over `SUPPRESSED_SHARDS` index partitions and read back as one list in
phone order, page by page."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from chalicelib.adapters.dynamodb import dynamodb_stores
from chalicelib.adapters.dynamodb.table import (
    SUPPRESSED_SHARDS,
    state_key,
    suppressed_partition,
    suppressed_shard,
)
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, T0, commit, opt_in, opt_out


@pytest.fixture
def stores(table) -> Stores:  # type: ignore[no-untyped-def]
    """DynamoDB's alone (the shards are its layout)."""
    client, table_name = table
    return dynamodb_stores(client, table_name)


def listed(stores: Stores, limit: int) -> list[list[str]]:
    """Every page of the list, as phones."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        page, cursor = stores.numbers.list_suppressed(ACCOUNT, cursor, limit)
        pages.append([state.phone for state in page])
        if cursor is None:
            return pages


def test_phones_spread_evenly_over_every_shard() -> None:
    shards = Counter(suppressed_shard(ACCOUNT, f"+1415{n:07d}") for n in range(8_000))
    assert sorted(shards) == [f"SUPPRESSED#{ACCOUNT}#{shard:02d}" for shard in range(SUPPRESSED_SHARDS)]
    assert all(850 < count < 1150 for count in shards.values())


def test_the_list_comes_whole_in_phone_order_in_pages_of_any_size(stores: Stores, table) -> None:  # type: ignore[no-untyped-def]
    # Given 40 opted-out numbers, stored in another order than their phones'
    phones = [f"+1415555{(n * 37) % 100:04d}" for n in range(40)]
    for n, phone in enumerate(phones):
        commit(stores, opt_out(phone, f"e-{n}", at=T0 + timedelta(seconds=n)))
    client, table_name = table
    indexed = {item["gsi1pk"]["S"] for item in client.scan(TableName=table_name)["Items"] if "gsi1pk" in item}
    assert len(indexed) > SUPPRESSED_SHARDS // 2  # the numbers are in several shards
    # Then every page size lists them all, once each, in phone order, no page longer than asked
    for limit in (1, 7, 40, 100):
        pages = listed(stores, limit)
        assert all(len(page) <= limit for page in pages)
        assert [phone for page in pages for phone in page] == sorted(phones)


def test_a_lifted_number_leaves_its_shard(stores: Stores) -> None:
    commit(stores, opt_out("+14155550100", "e-1"))
    commit(stores, opt_out("+14155550101", "e-2"))
    commit(stores, opt_in("+14155550100", "e-3", at=T0 + timedelta(minutes=1)))
    assert listed(stores, 10) == [["+14155550101"]]


def test_numbers_listed_before_the_list_was_sharded_are_still_listed_in_order(stores: Stores, table) -> None:  # type: ignore[no-untyped-def]
    # Given three numbers, one of them still indexed in the unsharded partition of before
    client, table_name = table
    for n in range(3):
        commit(stores, opt_out(f"+141555501{n:02d}", f"e-{n}"))
    client.update_item(
        TableName=table_name,
        Key=state_key(ACCOUNT, "+14155550101"),
        UpdateExpression="SET gsi1pk = :old",
        ExpressionAttributeValues={":old": {"S": suppressed_partition(ACCOUNT)}},
    )
    # Then it is listed in its place, and once it changes again it is in its shard, listed once
    assert listed(stores, 2) == [["+14155550100", "+14155550101"], ["+14155550102"]]
    commit(stores, opt_out("+14155550101", "e-again", at=T0 + timedelta(minutes=1), scope="sender:+14155550199"))
    item = client.get_item(TableName=table_name, Key=state_key(ACCOUNT, "+14155550101"))["Item"]
    assert item["gsi1pk"]["S"] == suppressed_shard(ACCOUNT, "+14155550101")
    assert listed(stores, 10) == [["+14155550100", "+14155550101", "+14155550102"]]


@pytest.mark.parametrize(
    "cursor",
    [
        # a cursor of the list before it was sharded: the index key it stopped at
        "eyJnc2kxcGsiOnsiUyI6IlNVUFBSRVNTRUQjYWNtZSJ9LCJnc2kxc2siOnsiUyI6IisxNDE1NTU1MDEwMCJ9fQ",
        "KzE0MTU1NTUwMTAw!",  # not base64url
        "aGVsbG8",  # base64url of something that is not a phone
    ],
)
def test_a_cursor_that_is_not_a_phone_of_this_list_is_refused(stores: Stores, cursor: str) -> None:
    commit(stores, opt_out("+14155550100", "e-1"))
    with pytest.raises(InvalidRequest):
        stores.numbers.list_suppressed(ACCOUNT, cursor, 10)
