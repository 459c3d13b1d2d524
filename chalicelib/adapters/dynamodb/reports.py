"""ReportCounters on the single table: the opt-out report's counter items (layout in `table`).

Written only inside a number's event transaction (`numbers.DynamoDBNumberStore.commit` adds `counter_update`), so a
change counts once, with its event; read here, a range of days in one Query.

A day's counters are spread over REPORT_SHARDS items by a hash of the phone: DynamoDB cancels a transaction that
meets another one in flight on the same item (`TransactionConflict`), and an account's opt-outs arrive together (a
campaign's STOPs, an import's rows, 8 at a time). A conflict cancels the whole transaction, the event with it: the
store reports it as ConcurrentUpdate, and the use case reads the number again and retries (a webhook is answered
only once its event is stored, else a 503 the carrier retries).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

from chalicelib.adapters.dynamodb.calls import call
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
        """One Query over the account's counter items from `first` to `last` (paged; a day is up to REPORT_SHARDS
        items, only days with events have any), the shards of each day summed."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": {"S": report_partition(account_id)},
                ":first": {"S": report_day_sort_key(first.isoformat())},
                # Every shard of the last day: shard numbers are digits, which sort before "~".
                ":last": {"S": report_day_sort_key(last.isoformat()) + "~"},
            },
        }
        days: dict[date, Counter[str]] = {}
        for item in self._items(query):
            day = date.fromisoformat(item["sk"]["S"].split("#")[1])
            counts = days.setdefault(day, Counter())
            for name, value in item.items():
                if name not in ("pk", "sk"):
                    counts[name] += int(value["N"])
        return {day: dict(counts) for day, counts in days.items()}

    def _items(self, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of the query, page after page, eventually consistent: half the read units of a strongly
        consistent read, and a report may miss a change of the last second."""
        start: dict[str, Any] | None = None
        while True:
            page = call(self._client, "query", **query, **({"ExclusiveStartKey": start} if start else {}))
            yield from page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return
