"""MessageParts on the single table: one item per part of a long message, read back as one partition."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb.calls import call, query_all
from chalicelib.adapters.dynamodb.table import part_key, parts_partition
from chalicelib.domain.models import InboundMessage


class DynamoDBMessageParts:
    """The production MessageParts. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def add_part(self, message: InboundMessage) -> list[InboundMessage]:
        """Put the part (a redelivery overwrites it with the same), then read its message's parts back."""
        if message.part is None:
            raise ValueError("add_part takes one part of a long message")
        partition = parts_partition(message.account_id, message.carrier, message.from_phone, message.part.reference)
        item = {**part_key(partition, message.part.number), "doc": {"S": message.model_dump_json()}}
        call(self._client, "put_item", TableName=self._table, Item=item)
        items = query_all(
            self._client,
            self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": partition}},
        )
        parts = [InboundMessage.model_validate_json(found["doc"]["S"]) for found in items]
        numbers = {part.part.number for part in parts if part.part is not None}
        if numbers != set(range(1, message.part.total + 1)):
            return []
        return sorted(parts, key=lambda part: part.part.number if part.part else 0)
