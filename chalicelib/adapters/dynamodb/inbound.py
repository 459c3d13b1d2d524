"""InboundLog on the single table: one item per inbound message, listed on GSI1 and, for review, GSI2.

The item is built by `table.inbound_item`, since a number's commit writes it too.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb.calls import call, conditional, get_document
from chalicelib.adapters.dynamodb.cursors import page
from chalicelib.adapters.dynamodb.table import (
    GSI1,
    GSI2,
    inbound_item,
    inbound_key,
    inbound_partition,
    review_partition,
)
from chalicelib.domain.models import LoggedInbound


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
        self, account_id: str, cursor: str | None, limit: int, *, needs_review: bool = False
    ) -> tuple[list[LoggedInbound], str | None]:
        """The inbound log newest first, `limit` at a time; or only the messages awaiting review."""
        if needs_review:
            partition, index = review_partition(account_id), GSI2
        else:
            partition, index = inbound_partition(account_id), GSI1
        items, next_cursor = page(self._client, self._table, partition, cursor, limit, forward=False, index=index)
        return [LoggedInbound.model_validate_json(item["doc"]["S"]) for item in items], next_cursor

    def resolve_review(self, inbound: LoggedInbound) -> None:
        """Store the message with its review; it leaves the review queue."""
        call(self._client, "put_item", TableName=self._table, Item=inbound_item(inbound))
