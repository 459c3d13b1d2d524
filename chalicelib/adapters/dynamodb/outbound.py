"""OutboundLog on the single table: one item per send request, and per-campaign counters (layout in `table`).

Single-item writes only (no transactions): a send costs one conditional write on its outbound item to
claim it, one to finish it, and its share of one counter update per batch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.adapters.dynamodb.calls import call, conditional, get_document
from chalicelib.adapters.dynamodb.table import campaign_counts_key, campaign_partition, outbound_key
from chalicelib.domain.models import OutboundRecord, SendRequest
from chalicelib.domain.ports import Claim

#: The condition of a first write: the request is new, or was handed back for a retry.
_NEW_OR_RETRYING: dict[str, Any] = {
    "ConditionExpression": "attribute_not_exists(pk) OR #status = :retrying",
    "ExpressionAttributeNames": {"#status": "status"},
    "ExpressionAttributeValues": {":retrying": {"S": "retrying"}},
}
#: The condition of a claimed request's next write: it is still being sent.
_SENDING: dict[str, Any] = {
    "ConditionExpression": "#status = :sending",
    "ExpressionAttributeNames": {"#status": "status"},
    "ExpressionAttributeValues": {":sending": {"S": "sending"}},
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

    def claim(self, request: SendRequest, now: datetime) -> Claim:
        """Mark the request `sending`, if it is new or was handed back for a retry; else `duplicate`.

        The recipient's own check comes next, in `NumberStore.claim_recipient`; when that fails, the
        caller `release`s the request.
        """
        sending = OutboundRecord(request=request, status="sending", updated_at=now)
        return "claimed" if self._put(outbound_item(sending), _NEW_OR_RETRYING) else "duplicate"

    def finish(self, record: OutboundRecord, *, fresh: bool) -> bool:
        """Record the outcome once; False when it was recorded before.

        `fresh` (a request skipped without a claim): the request must be new or retrying; otherwise it
        must be the one being sent.
        """
        return self._put(outbound_item(record), _NEW_OR_RETRYING if fresh else _SENDING)

    def release(self, record: OutboundRecord) -> None:
        """Hand a claimed request back (`retrying`, with why) so a redelivery may claim it; else nothing changes."""
        self._put(outbound_item(record), _SENDING)

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

    def _put(self, item: dict[str, Any], condition: dict[str, Any]) -> bool:
        return conditional(self._client, "put_item", TableName=self._table, Item=item, **condition)
