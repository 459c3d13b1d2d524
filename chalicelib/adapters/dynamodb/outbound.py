"""OutboundLog on the single table: one item per send request, and per-campaign counters (layout in `table`).

Single-item writes only (no transactions): a send request's item is written once, with its outcome (a request
handed back for a retry is written `retrying`, then again with its outcome); the counters take one update per
campaign per batch. Making a request go to the provider once is the recipient's claim (`NumberStore`), not this
log's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.adapters.dynamodb.calls import BATCH_GET_LIMIT, batch_get, call, conditional, get_document
from chalicelib.adapters.dynamodb.table import campaign_counts_key, campaign_partition, outbound_key
from chalicelib.domain.models import OutboundRecord

#: The condition of every write of a request's item: the request is new, or was handed back for a retry.
_NEW_OR_RETRYING: dict[str, Any] = {
    "ConditionExpression": "attribute_not_exists(pk) OR #status = :retrying",
    "ExpressionAttributeNames": {"#status": "status"},
    "ExpressionAttributeValues": {":retrying": {"S": "retrying"}},
}


def outbound_item(record: OutboundRecord) -> dict[str, Any]:
    """The outbound log's item for a request's record: its status, its document, its campaign index entry."""
    request = record.request
    item = {
        **outbound_key(request.account_id, request.request_id),
        "status": {"S": record.status},
        "doc": {"S": record.model_dump_json()},
    }
    if request.campaign_id:
        item["gsi1pk"] = {"S": campaign_partition(request.account_id, request.campaign_id)}
        # The request id alone: a sort key that changes with each status would move the index entry.
        item["gsi1sk"] = {"S": request.request_id}
    return item


class DynamoDBOutboundLog:
    """The production OutboundLog. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def finish(self, record: OutboundRecord) -> bool:
        """Record the outcome once: False (and nothing changes) when an outcome was recorded before."""
        return self._put(outbound_item(record))

    def release(self, record: OutboundRecord) -> None:
        """Record a request handed back for a retry (`retrying`, with why), unless it has an outcome already."""
        self._put(outbound_item(record))

    def count(self, account_id: str, campaign_id: str, counts: dict[str, int]) -> None:
        """Add a batch's outcomes to the campaign's counters, in one write."""
        if not counts:  # an empty ADD is not an update expression
            return
        names = {f"#c{i}": name for i, name in enumerate(counts)}
        values = {f":n{i}": {"N": str(n)} for i, n in enumerate(counts.values())}
        call(
            self._client,
            "update_item",
            TableName=self._table,
            Key=campaign_counts_key(account_id, campaign_id),
            UpdateExpression="ADD " + ", ".join(f"#c{i} :n{i}" for i in range(len(counts))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def get(self, account_id: str, request_id: str) -> OutboundRecord | None:
        """The request's record, strongly consistent; None when the request was never claimed nor finished."""
        return get_document(self._client, self._table, outbound_key(account_id, request_id), OutboundRecord)

    def get_many(self, account_id: str, request_ids: Sequence[str]) -> dict[str, OutboundRecord]:
        """The records of those requests that have one, strongly consistent, one BatchGetItem per 100 requests."""
        distinct = list(dict.fromkeys(request_ids))
        records: dict[str, OutboundRecord] = {}
        for start in range(0, len(distinct), BATCH_GET_LIMIT):
            keys = [outbound_key(account_id, request_id) for request_id in distinct[start : start + BATCH_GET_LIMIT]]
            for item in batch_get(self._client, self._table, keys):
                record = OutboundRecord.model_validate_json(item["doc"]["S"])
                records[record.request.request_id] = record
        return records

    def campaign_counts(self, account_id: str, campaign_id: str) -> dict[str, int]:
        """The campaign's counters: `sent`, `skipped:<reason>`, `failed:<reason>` (strongly consistent)."""
        item = call(
            self._client,
            "get_item",
            TableName=self._table,
            Key=campaign_counts_key(account_id, campaign_id),
            ConsistentRead=True,
        ).get("Item", {})
        return {name: int(value["N"]) for name, value in item.items() if "N" in value}

    def _put(self, item: dict[str, Any]) -> bool:
        return conditional(self._client, "put_item", TableName=self._table, Item=item, **_NEW_OR_RETRYING)
