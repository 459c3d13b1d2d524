"""Outbox on the single table: email jobs riding on their event items, listed on GSI2 until queued.

`DynamoDBNumberStore.commit` puts a job there with its event, in one of `OUTBOX_SHARDS` partitions (`table`);
this module lists them, every partition in turn, and unlists them.
"""

from __future__ import annotations

import heapq
import math
from itertools import islice
from typing import Any

from chalicelib.adapters.dynamodb.calls import call, conditional
from chalicelib.adapters.dynamodb.table import GSI2, event_key, outbox_partitions
from chalicelib.domain.change_events import ChangeEventJob
from chalicelib.domain.models import NotificationJob
from chalicelib.domain.ports import OutboxJob


class DynamoDBOutbox:
    """The production Outbox. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def pending_jobs(self, limit: int) -> list[OutboxJob]:
        """The jobs of up to `limit` events stored but not queued yet, oldest first (by received time).

        The limit is spread over the partitions: each gives its oldest `limit / partitions` (rounded up), so a
        backlog in one shard keeps no other shard's events waiting; when that makes less than the limit, what is left
        goes, spread the same way, to the partitions that had more. The oldest `limit` of what was read come back.
        """
        pages: dict[str, list[dict[str, Any]]] = {partition: [] for partition in outbox_partitions()}
        starts: dict[str, dict[str, Any] | None] = dict.fromkeys(pages)
        read = 0
        while read < limit and starts:
            share = math.ceil((limit - read) / len(starts))
            for partition, start in list(starts.items()):
                items, after = self._oldest(partition, share, start)
                pages[partition] += items
                read += len(items)
                if after is None:
                    del starts[partition]
                else:
                    starts[partition] = after
        jobs: list[OutboxJob] = []
        for item in islice(heapq.merge(*pages.values(), key=lambda item: item["gsi2sk"]["S"]), limit):
            if "job" in item:
                jobs.append(NotificationJob.model_validate_json(item["job"]["S"]))
            if "change_job" in item:
                jobs.append(ChangeEventJob.model_validate_json(item["change_job"]["S"]))
        return jobs

    def _oldest(
        self, partition: str, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Up to `limit` of one outbox partition's event items, oldest first, from `start`; and where the next
        page starts (None: the partition is read out)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": GSI2,
            "KeyConditionExpression": "gsi2pk = :outbox",
            "ExpressionAttributeValues": {":outbox": {"S": partition}},
            "Limit": limit,
        }
        if start is not None:
            request["ExclusiveStartKey"] = start
        response = call(self._client, "query", **request)
        return response.get("Items", []), response.get("LastEvaluatedKey")

    def job_queued(self, job: OutboxJob) -> None:
        """Take the job out of the outbox index (its event item keeps it, for the record).

        Nothing happens for a job whose event is not stored: an Update would otherwise create an empty
        event item, which the history could not read and `load` would take for a recorded event.
        """
        if job.event_id is None:  # only jobs stored with an event are in the outbox
            return
        conditional(
            self._client,
            "update_item",
            TableName=self._table,
            Key=event_key(job.account_id, job.phone, job.event_id),
            UpdateExpression="REMOVE gsi2pk, gsi2sk",
            ConditionExpression="attribute_exists(pk)",
        )
