"""History on the single table: a number's event items, beside its state (layout in `table`).

`DynamoDBNumberStore.commit` writes them; this module only reads.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb.calls import get_document, query_all
from chalicelib.adapters.dynamodb.table import EVENT_PREFIX, event_key, number_pk
from chalicelib.domain.models import EventRecord


class DynamoDBHistory:
    """The production History. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get_event(self, account_id: str, phone: str, event_id: str) -> EventRecord | None:
        """One history event, strongly consistent; None when the number has no such event."""
        return get_document(self._client, self._table, event_key(account_id, phone, event_id), EventRecord)

    def history(self, account_id: str, phone: str) -> list[EventRecord]:
        """Every event of the number, newest first by carrier time, then by received time, then by sequence."""
        items = query_all(
            self._client,
            self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :events)",
            ExpressionAttributeValues={":pk": {"S": number_pk(account_id, phone)}, ":events": {"S": EVENT_PREFIX}},
        )
        records = [EventRecord.model_validate_json(item["doc"]["S"]) for item in items]
        records.sort(key=lambda r: (r.event.occurred_at, r.event.received_at, r.sequence), reverse=True)
        return records
