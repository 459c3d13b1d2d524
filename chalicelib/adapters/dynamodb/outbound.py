"""OutboundLog on the single table: one item per send request, and per-campaign counters (layout in `table`).

Single-item writes only (no transactions): a send request's item is written once, with its outcome (a request
handed back for a retry is written `retrying`, then again with its outcome); the counters take one update per
campaign per batch. Making a request go to the provider once is the recipient's claim (`NumberStore`), not this
log's.

The log by campaign is spread over `CAMPAIGN_SHARDS` index partitions: a page queries them in parallel (a small
thread pool; boto3 clients are thread-safe) and merges them by sort key. The merge hands out a prefix of the whole
campaign's order, so its cursor is one sort key: every shard goes on after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.adapters.dynamodb.calls import BATCH_GET_LIMIT, batch_get, call, conditional, get_document
from chalicelib.adapters.dynamodb.cursors import decode_position, encode_position
from chalicelib.adapters.dynamodb.parallel import each_shard
from chalicelib.adapters.dynamodb.table import (
    CAMPAIGN_SHARDS,
    GSI1,
    campaign_counts_key,
    campaign_index_partition,
    outbound_index_keys,
    outbound_key,
    outcome_prefix,
)
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import OutboundRecord
from chalicelib.domain.ports import SendOutcome

#: Entries each shard is asked for beyond its even share of a page: shards are filled by a hash, so unevenly.
SHARD_MARGIN = 4


#: The condition of every write of a request's item: the request is new, or was handed back for a retry.
_NEW_OR_RETRYING: dict[str, Any] = {
    "ConditionExpression": "attribute_not_exists(pk) OR #status = :retrying",
    "ExpressionAttributeNames": {"#status": "status"},
    "ExpressionAttributeValues": {":retrying": {"S": "retrying"}},
}


def outbound_item(record: OutboundRecord) -> dict[str, Any]:
    """The outbound log's item for a request's record: its status, its document, its campaign index entry."""
    request = record.request
    return {
        **outbound_key(request.account_id, request.request_id),
        "status": {"S": record.status},
        "doc": {"S": record.model_dump_json()},
        **outbound_index_keys(record),
    }


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

    def campaign_log(
        self,
        account_id: str,
        campaign_id: str,
        outcome: SendOutcome | None,
        reason: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[OutboundRecord], str | None]:
        """A page of the campaign's records of `outcome` and `reason`, merged from its shards by sort key.

        Each shard is asked for its share of the page and a margin, all at once; a shard that holds back the merge
        (its entries may come before another's last one) is asked for more until the page is certain. Reads: about
        the page, plus the margin per shard, in 16 Query requests (a few more when the hash filled shards unevenly).
        """
        prefix = outcome_prefix(outcome, reason if outcome else None)
        listing = ["campaign", account_id, campaign_id, prefix]
        after = decode_position(cursor, listing) if cursor else None
        if after is not None and not after.startswith(prefix):
            raise InvalidRequest("the cursor belongs to another listing", cursor=cursor)
        share = min(limit, -(-limit // CAMPAIGN_SHARDS) + SHARD_MARGIN)
        shards = [
            _Shard(campaign_index_partition(account_id, campaign_id, shard), prefix, after)
            for shard in range(CAMPAIGN_SHARDS)
        ]
        each_shard(lambda shard: shard.fetch(self._client, self._table, share), shards)
        while True:
            open_shards = [shard for shard in shards if not shard.done]
            frontier = min((shard.last for shard in open_shards), default=None)
            ready = sorted(
                (entry for shard in shards for entry in shard.entries if frontier is None or entry[0] <= frontier),
                key=lambda entry: entry[0],
            )
            if frontier is None or len(ready) > limit:
                break
            # The shard whose last entry is the frontier may hold entries that come before the others' next ones.
            holding = next(shard for shard in open_shards if shard.last == frontier)
            holding.fetch(self._client, self._table, max(share, limit - len(ready) + 1))
        page = ready[:limit]
        more = len(ready) > limit
        records = [OutboundRecord.model_validate_json(doc) for _, doc in page]
        return records, encode_position(listing, page[-1][0]) if more and page else None

    def _put(self, item: dict[str, Any]) -> bool:
        return conditional(self._client, "put_item", TableName=self._table, Item=item, **_NEW_OR_RETRYING)


@dataclass
class _Shard:
    """One campaign index partition as a merge reads it: the entries read so far (sort key, document), in order."""

    partition: str
    prefix: str
    after: str | None
    entries: list[tuple[str, str]] = field(default_factory=list)
    start: dict[str, Any] | None = None
    done: bool = False

    @property
    def last(self) -> str:
        """The sort key of the last entry read ("" before any: nothing of this shard is known yet)."""
        return self.entries[-1][0] if self.entries else ""

    def fetch(self, client: Any, table: str, limit: int) -> None:
        """Read up to `limit` more entries of the shard, in sort key order."""
        values: dict[str, Any] = {":p": {"S": self.partition}}
        condition = "gsi1pk = :p"
        if self.after is not None and self.prefix:
            # After the cursor and within the prefix; BETWEEN includes the cursor's own entry, dropped below.
            condition += " AND gsi1sk BETWEEN :after AND :upper"
            values |= {":after": {"S": self.after}, ":upper": {"S": self.prefix[:-1] + "$"}}
        elif self.after is not None:
            condition += " AND gsi1sk > :after"
            values[":after"] = {"S": self.after}
        elif self.prefix:
            condition += " AND begins_with(gsi1sk, :prefix)"
            values[":prefix"] = {"S": self.prefix}
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": GSI1,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ProjectionExpression": "gsi1sk, doc",
            "ScanIndexForward": True,
            "Limit": limit,
        }
        if self.start is not None:
            kwargs["ExclusiveStartKey"] = self.start
        response = call(client, "query", **kwargs)
        for item in response.get("Items", []):
            sort_key = item["gsi1sk"]["S"]
            if sort_key != self.after:
                self.entries.append((sort_key, item["doc"]["S"]))
        self.start = response.get("LastEvaluatedKey")
        self.done = self.start is None
