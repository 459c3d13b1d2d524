"""ActivityLog on the single table: a number's timeline from the activity index (GSI3; layout in `table`).

The outbound log, the inbound log and the number store write the index keys on their own items; this module only
reads. One Query a page: the index holds texts sent, replies and history events of the number in one partition,
newest first.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb.cursors import page
from chalicelib.adapters.dynamodb.table import GSI3, activity_partition
from chalicelib.domain.models import EventRecord, LoggedInbound, OutboundRecord
from chalicelib.domain.ports import ActivityEntry


class DynamoDBActivityLog:
    """The production ActivityLog. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def activity(
        self, account_id: str, phone: str, cursor: str | None, limit: int
    ) -> tuple[list[ActivityEntry], str | None]:
        """The number's texts, replies and events, newest first, `limit` at a time."""
        items, next_cursor = page(
            self._client, self._table, activity_partition(account_id, phone), cursor, limit, forward=False, index=GSI3
        )
        return [_entry(item) for item in items], next_cursor


def _entry(item: dict[str, Any]) -> ActivityEntry:
    """The record an activity index entry is: which by its sort key's kind (`<at>#<kind>#<id>`)."""
    kind = item["gsi3sk"]["S"].split("#", 2)[1]
    doc = item["doc"]["S"]
    if kind == "sent":
        return OutboundRecord.model_validate_json(doc)
    if kind == "reply":
        return LoggedInbound.model_validate_json(doc)
    return EventRecord.model_validate_json(doc)
