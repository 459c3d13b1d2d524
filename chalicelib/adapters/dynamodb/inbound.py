"""InboundLog on the single table: one item per inbound message, listed on GSI1 and, for review, GSI2.

The item is built by `table.inbound_item`, since a number's commit writes it too.

A search reads one index partition newest first: the number's activity (GSI3) when it names a number, else the
review queue (GSI2) for messages awaiting review, else the whole log (GSI1). A date range is a key condition (it
reads only the messages in it); intent and review state are filters, so a page costs the reads of every message it
passes over: the store keeps reading until the page is full or it has passed over READ_BUDGET messages, then
answers with what it found and a cursor.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.dynamodb.calls import call, conditional, get_document
from chalicelib.adapters.dynamodb.cursors import encode_key, page, start_key
from chalicelib.adapters.dynamodb.table import (
    GSI1,
    GSI2,
    GSI3,
    activity_partition,
    inbound_item,
    inbound_key,
    inbound_partition,
    review_partition,
)
from chalicelib.domain.models import LoggedInbound
from chalicelib.domain.ports import InboundFilter

#: Messages one search call passes over at most (a filtered page may come back short, with a cursor).
READ_BUDGET = 1000
#: Messages read per request while a filter is passing over others.
FILTERED_READ = 250


class DynamoDBInboundLog:
    """The production InboundLog. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def log_inbound(self, inbound: LoggedInbound) -> bool:
        """Log the message once; False when the carrier already delivered it."""
        return conditional(
            self._client,
            "put_item",
            TableName=self._table,
            Item=inbound_item(inbound),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_inbound(self, account_id: str, message_id: str) -> LoggedInbound | None:
        """One logged message, strongly consistent; None when the account has no such message."""
        return get_document(self._client, self._table, inbound_key(account_id, message_id), LoggedInbound)

    def list_inbound(
        self,
        account_id: str,
        cursor: str | None,
        limit: int,
        *,
        needs_review: bool = False,
        search: InboundFilter | None = None,
    ) -> tuple[list[LoggedInbound], str | None]:
        """The inbound log newest first, `limit` at a time; or only the messages awaiting review; or those `search`
        keeps."""
        if search is not None and search != InboundFilter():
            return self._search(account_id, cursor, limit, needs_review, search)
        if needs_review:
            partition, index = review_partition(account_id), GSI2
        else:
            partition, index = inbound_partition(account_id), GSI1
        items, next_cursor = page(self._client, self._table, partition, cursor, limit, forward=False, index=index)
        return [LoggedInbound.model_validate_json(item["doc"]["S"]) for item in items], next_cursor

    def _search(
        self, account_id: str, cursor: str | None, limit: int, needs_review: bool, search: InboundFilter
    ) -> tuple[list[LoggedInbound], str | None]:
        review = "pending" if needs_review else search.review
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        filters: list[str] = []
        if search.phone is not None:
            index, partition = GSI3, activity_partition(account_id, search.phone)
            filters.append("attribute_exists(intent)")  # the number's replies, not its texts or changes
        elif review == "pending":
            index, partition, review = GSI2, review_partition(account_id), None
        else:
            index, partition = GSI1, inbound_partition(account_id)
        if search.intent is not None:
            filters.append("#intent = :intent")
            names["#intent"], values[":intent"] = "intent", {"S": search.intent.value}
        if review is not None:
            filters.append("#review = :review")
            names["#review"], values[":review"] = "review", {"S": review}
        condition = f"{index}pk = :p"
        values[":p"] = {"S": partition}
        since, until = _when(search.since), _when(search.until)
        if since and until and since >= until:
            return [], None
        if since and until:
            condition += f" AND {index}sk BETWEEN :since AND :until"
        elif since:
            condition += f" AND {index}sk >= :since"
        elif until:
            condition += f" AND {index}sk < :until"
        values |= {f":{name}": {"S": bound} for name, bound in (("since", since), ("until", until)) if bound}
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
        if names:
            query["ExpressionAttributeNames"] = names
        start = start_key(cursor, partition, index) if cursor else None
        found: list[LoggedInbound] = []
        passed = 0
        while True:
            wanted = limit - len(found)
            read = min(READ_BUDGET - passed, max(wanted, FILTERED_READ) if filters else wanted)
            response = call(
                self._client, "query", **query, Limit=read, **({"ExclusiveStartKey": start} if start else {})
            )
            passed += response.get("ScannedCount", read)
            items = response.get("Items", [])
            start = response.get("LastEvaluatedKey")
            for position, item in enumerate(items):
                found.append(LoggedInbound.model_validate_json(item["doc"]["S"]))
                if len(found) == limit:
                    if position == len(items) - 1 and start is None:
                        return found, None
                    keys = ("pk", "sk", f"{index}pk", f"{index}sk")
                    return found, encode_key({name: item[name] for name in keys})
            if start is None:
                return found, None
            if passed >= READ_BUDGET:
                return found, encode_key(start)

    def resolve_review(self, inbound: LoggedInbound) -> None:
        """Store the message with its review; it leaves the review queue."""
        call(self._client, "put_item", TableName=self._table, Item=inbound_item(inbound))


def _when(moment: datetime | None) -> str | None:
    """A time as the index sort keys start with it (UTC, ISO 8601)."""
    return None if moment is None else moment.astimezone(UTC).isoformat()
