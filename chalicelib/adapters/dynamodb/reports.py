"""ReportCounters on the single table: the opt-out report's counter items (layout in `table`).

Written only inside a number's event transaction (`numbers.DynamoDBNumberStore.commit` adds `counter_update`), so a
change counts once, with its event; read here, a range of days in one Query per shard, the shards read at once.

An account's counters are spread over REPORT_SHARDS partitions by a hash of the phone: an account's opt-outs arrive
together (a campaign's STOPs, an import's rows, 8 at a time), and one partition takes at most 1,000 write units a
second; and DynamoDB cancels a transaction that meets another one in flight on the same item
(`TransactionConflict`). A conflict cancels the whole transaction, the event with it: the store reports it as
ConcurrentUpdate, and the use case reads the number again and retries (a webhook is answered only once its event is
stored, else a 503 the carrier retries).
"""

from __future__ import annotations

import zlib
from collections import Counter
from datetime import date
from typing import Any

from chalicelib.adapters.dynamodb.calls import query_all
from chalicelib.adapters.dynamodb.parallel import each_shard
from chalicelib.adapters.dynamodb.table import REPORT_SHARDS, report_day_key, report_day_sort_key, report_partition
from chalicelib.domain.reports import Tally


def shard(phone: str) -> int:
    """The shard of a number's counters (stable across processes: CRC-32, not Python's salted hash)."""
    return zlib.crc32(phone.encode()) % REPORT_SHARDS


def counter_update(table_name: str, tally: Tally) -> dict[str, Any]:
    """The transaction's Update that adds `tally` to its day's counters (the item is created by the first ADD)."""
    names = {f"#c{index}": name for index, name in enumerate(tally.counters)}
    return {
        "TableName": table_name,
        "Key": report_day_key(tally.account_id, tally.day.isoformat(), shard(tally.phone)),
        "UpdateExpression": "ADD " + ", ".join(f"{placeholder} :one" for placeholder in names),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }


class DynamoDBReportCounters:
    """The production ReportCounters. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def daily_counts(self, account_id: str, first: date, last: date) -> dict[date, dict[str, int]]:
        """A Query of each of the account's REPORT_SHARDS counter partitions from `first` to `last` (paged; only days
        with events have an item), run at once, the shards of each day summed."""

        def shard_items(shard: int) -> list[dict[str, Any]]:
            # Eventually consistent: half the read units of a strongly consistent read, and a report may miss a
            # change of the last second.
            return query_all(
                self._client,
                self._table,
                consistent=False,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
                ExpressionAttributeValues={
                    ":pk": {"S": report_partition(account_id, shard)},
                    ":first": {"S": report_day_sort_key(first.isoformat())},
                    ":last": {"S": report_day_sort_key(last.isoformat())},
                },
            )

        days: dict[date, Counter[str]] = {}
        for items in each_shard(shard_items, range(REPORT_SHARDS)):
            for item in items:
                day = date.fromisoformat(item["sk"]["S"].removeprefix("DAY#"))
                counts = days.setdefault(day, Counter())
                for name, value in item.items():
                    if name not in ("pk", "sk"):
                        counts[name] += int(value["N"])
        return {day: dict(counts) for day, counts in sorted(days.items())}
