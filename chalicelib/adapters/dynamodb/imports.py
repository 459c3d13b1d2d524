"""ImportJobStore on the single table: an import's job item and its rejected rows (layout in `table`).

Every save of a job is conditional on the version it was read at; a save that adds rejected rows writes them in the
same transaction, a few hundred rows an item, so a chunk's progress and its rejected rows are stored together or not
at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ConfigDict, TypeAdapter

from chalicelib.adapters.dynamodb.calls import call, conditional, conditional_transaction
from chalicelib.adapters.dynamodb.table import REJECTED_PREFIX, import_job_key, import_partition, rejected_sort_key
from chalicelib.domain.imports import ImportJob, RejectedRow

#: Rejected rows an item holds at most (a row is well under 2 KB: reasons are bounded), so an item stays far below
#: DynamoDB's 400 KB and a chunk's rows fit one transaction.
ROWS_PER_ITEM = 200
_ROWS = TypeAdapter(list[RejectedRow], config=ConfigDict(defer_build=True))  # built on first use


class DynamoDBImportJobs:
    """The production ImportJobStore. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create_job(self, job: ImportJob) -> bool:
        """Put the job at version 1, unless the account has one with this import id (False)."""
        return conditional(
            self._client,
            "put_item",
            TableName=self._table,
            Item={
                **import_job_key(job.account_id, job.import_id),
                "doc": {"S": job.model_dump_json(exclude={"version"})},
                "version": {"N": "1"},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_job(self, account_id: str, import_id: str) -> ImportJob | None:
        """The job, strongly consistent, with its version."""
        item = call(
            self._client,
            "get_item",
            TableName=self._table,
            Key=import_job_key(account_id, import_id),
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        return ImportJob.model_validate_json(item["doc"]["S"]).model_copy(update={"version": int(item["version"]["N"])})

    def save_job(self, job: ImportJob, expected_version: int, rejected: Sequence[RejectedRow] = ()) -> bool:
        """Update the job if it is at `expected_version`, with `rejected` in the same transaction; False otherwise."""
        update = {
            "TableName": self._table,
            "Key": import_job_key(job.account_id, job.import_id),
            "UpdateExpression": "SET #doc = :doc, #version = :next",
            "ConditionExpression": "#version = :expected",
            "ExpressionAttributeNames": {"#doc": "doc", "#version": "version"},
            "ExpressionAttributeValues": {
                ":doc": {"S": job.model_dump_json(exclude={"version"})},
                ":next": {"N": str(expected_version + 1)},
                ":expected": {"N": str(expected_version)},
            },
        }
        if not rejected:
            return conditional(self._client, "update_item", **update)
        ordered = sorted(rejected, key=lambda row: row.line)
        puts = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": {"S": import_partition(job.account_id, job.import_id)},
                        "sk": {"S": rejected_sort_key(page[-1].line)},
                        "doc": {"S": _ROWS.dump_json(page).decode()},
                    },
                }
            }
            for page in (ordered[start : start + ROWS_PER_ITEM] for start in range(0, len(ordered), ROWS_PER_ITEM))
        ]
        return conditional_transaction(self._client, [{"Update": update}, *puts], "save the import's progress")

    def rejected_rows(
        self, account_id: str, import_id: str, after_line: int, limit: int
    ) -> tuple[list[RejectedRow], int | None]:
        """Up to `limit` rejected rows after `after_line`: the items whose last line is above it, in key order."""
        found: list[RejectedRow] = []
        start: dict[str, Any] | None = None
        while len(found) <= limit:
            extra = {"ExclusiveStartKey": start} if start else {}
            response = call(
                self._client,
                "query",
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
                ExpressionAttributeValues={
                    ":pk": {"S": import_partition(account_id, import_id)},
                    ":from": {"S": rejected_sort_key(after_line + 1)},
                    ":to": {"S": REJECTED_PREFIX + "~"},
                },
                ConsistentRead=True,
                Limit=limit + 1,
                **extra,
            )
            for item in response.get("Items", []):
                found += [row for row in _ROWS.validate_json(item["doc"]["S"]) if row.line > after_line]
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        page = found[:limit]
        return page, (page[-1].line if len(found) > limit and page else None)
