"""Outbox on the single table: email jobs riding on their event items, listed on GSI2 until queued.

`DynamoDBNumberStore.commit` puts a job there with its event; this module lists and unlists them.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb.calls import call, conditional
from chalicelib.adapters.dynamodb.table import GSI2, OUTBOX, event_key
from chalicelib.domain.change_events import ChangeEventJob
from chalicelib.domain.models import NotificationJob
from chalicelib.domain.ports import OutboxJob


class DynamoDBOutbox:
    """The production Outbox. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def pending_jobs(self, limit: int) -> list[OutboxJob]:
        """The jobs of up to `limit` events stored but not queued yet, oldest first (by received time)."""
        response = call(
            self._client,
            "query",
            TableName=self._table,
            IndexName=GSI2,
            KeyConditionExpression="gsi2pk = :outbox",
            ExpressionAttributeValues={":outbox": {"S": OUTBOX}},
            Limit=limit,
        )
        jobs: list[OutboxJob] = []
        for item in response.get("Items", []):
            if "job" in item:
                jobs.append(NotificationJob.model_validate_json(item["job"]["S"]))
            if "change_job" in item:
                jobs.append(ChangeEventJob.model_validate_json(item["change_job"]["S"]))
        return jobs

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
