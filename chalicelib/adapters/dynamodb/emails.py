"""EmailLog on the single table: one item per alert email job and recipient (layout in `table`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.adapters.dynamodb.calls import call, conditional
from chalicelib.adapters.dynamodb.table import email_key


class DynamoDBEmailLog:
    """The production EmailLog. `client` is a boto3 DynamoDB client. Recipients are compared in lower case."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def claim_email(self, job_id: str, account_id: str, recipient: str, now: datetime) -> bool:
        """Claim one alert email; False when it was sent or is being sent (a failed or retrying one may go again)."""
        return conditional(
            self._client,
            "put_item",
            TableName=self._table,
            Item={
                **email_key(job_id, account_id, recipient),
                "status": {"S": "sending"},
                "updated_at": {"S": now.isoformat()},
            },
            ConditionExpression="attribute_not_exists(pk) OR #status IN (:retrying, :failed)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":retrying": {"S": "retrying"}, ":failed": {"S": "failed"}},
        )

    def email_done(self, job_id: str, account_id: str, recipient: str, status: str, detail: str | None) -> None:
        """Record the email's outcome: `sent` (detail: the SES message id), `retrying` or `failed` (detail: why)."""
        call(
            self._client,
            "update_item",
            TableName=self._table,
            Key=email_key(job_id, account_id, recipient),
            UpdateExpression="SET #status = :status, detail = :detail",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": {"S": status}, ":detail": {"S": detail or ""}},
        )
