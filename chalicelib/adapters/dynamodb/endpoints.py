"""EventEndpoints on the single table: the account's endpoints in one item, each endpoint's delivery log in its own
partition (layout in `table`)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, TypeAdapter

from chalicelib.adapters.dynamodb.calls import call, conditional
from chalicelib.adapters.dynamodb.table import (
    DELIVERY_PREFIX,
    delivery_key,
    delivery_partition,
    event_endpoints_key,
)
from chalicelib.domain.change_events import Delivery, EventEndpoint, change_event_id_floor
from chalicelib.domain.errors import InvalidRequest

_ENDPOINTS = TypeAdapter(list[EventEndpoint], config=ConfigDict(defer_build=True))  # built on first use
#: Above every change event id (they are `evt_` and digits, `T`, `Z`, `_` and hex): the upper end of a range.
_AFTER_EVERY_ID = "evt_~"
_URLSAFE = re.compile(r"[A-Za-z0-9_-]{1,2000}")
MAX_SORT_KEY_BYTES = 1024


class DynamoDBEventEndpoints:
    """The production EventEndpoints. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # --- the endpoints item ----------------------------------------------------------------------

    def load_endpoints(self, account_id: str) -> tuple[list[EventEndpoint], int]:
        """The account's endpoints and their item's version (0: no item yet), strongly consistent."""
        item = call(
            self._client, "get_item", TableName=self._table, Key=event_endpoints_key(account_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return [], 0
        return _ENDPOINTS.validate_json(item["doc"]["S"]), int(item["version"]["N"])

    def save_endpoints(self, account_id: str, endpoints: Sequence[EventEndpoint], expected_version: int) -> bool:
        """Put the item at `expected_version + 1`, conditional on it still being at `expected_version`."""
        item = {
            **event_endpoints_key(account_id),
            "doc": {"S": _ENDPOINTS.dump_json(list(endpoints)).decode()},
            "version": {"N": str(expected_version + 1)},
        }
        if expected_version == 0:
            return conditional(
                self._client,
                "put_item",
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
        return conditional(
            self._client,
            "put_item",
            TableName=self._table,
            Item=item,
            ConditionExpression="#version = :expected",
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues={":expected": {"N": str(expected_version)}},
        )

    # --- the delivery log ------------------------------------------------------------------------

    def schedule_delivery(self, delivery: Delivery) -> Delivery:
        """Put the entry unless the change event is in the endpoint's log already; the entry stored."""
        if conditional(
            self._client,
            "put_item",
            TableName=self._table,
            Item=_delivery_item(delivery),
            ConditionExpression="attribute_not_exists(pk)",
        ):
            return delivery
        stored = self.get_delivery(delivery.account_id, delivery.endpoint_id, delivery.event.id)
        return stored if stored is not None else delivery

    def put_delivery(self, delivery: Delivery) -> None:
        call(self._client, "put_item", TableName=self._table, Item=_delivery_item(delivery))

    def get_delivery(self, account_id: str, endpoint_id: str, event_id: str) -> Delivery | None:
        item = call(
            self._client,
            "get_item",
            TableName=self._table,
            Key=delivery_key(account_id, endpoint_id, event_id),
            ConsistentRead=True,
        ).get("Item")
        return Delivery.model_validate_json(item["doc"]["S"]) if item else None

    def list_deliveries(
        self, account_id: str, endpoint_id: str, cursor: str | None, limit: int
    ) -> tuple[list[Delivery], str | None]:
        """The log newest first, `limit` at a time; the cursor is the last entry's key, checked before use."""
        partition = delivery_partition(account_id, endpoint_id)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": partition}},
            "ScanIndexForward": False,
            "Limit": limit,
            "ConsistentRead": True,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = _start_key(cursor, partition)
        response = call(self._client, "query", **kwargs)
        last = response.get("LastEvaluatedKey")
        deliveries = [Delivery.model_validate_json(item["doc"]["S"]) for item in response.get("Items", [])]
        return deliveries, _encode(last) if last else None

    def deliveries_since(
        self, account_id: str, endpoint_id: str, since: datetime, limit: int, *, after: str | None = None
    ) -> list[Delivery]:
        """Entries of change events recorded at or after `since` (and after `after`), oldest first, up to `limit`."""
        low = change_event_id_floor(since)
        if after is not None and after >= low:
            low = after
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :p AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":p": {"S": delivery_partition(account_id, endpoint_id)},
                ":low": {"S": DELIVERY_PREFIX + low},
                ":high": {"S": DELIVERY_PREFIX + _AFTER_EVERY_ID},
            },
            "ConsistentRead": True,
        }
        found: list[Delivery] = []
        while len(found) < limit:
            response = call(self._client, "query", Limit=limit + 1 - len(found), **kwargs)
            for item in response.get("Items", []):
                delivery = Delivery.model_validate_json(item["doc"]["S"])
                if delivery.event.id != after:
                    found.append(delivery)
            start = response.get("LastEvaluatedKey")
            if not start:
                break
            kwargs["ExclusiveStartKey"] = start
        return found[:limit]


def _delivery_item(delivery: Delivery) -> dict[str, Any]:
    return {
        **delivery_key(delivery.account_id, delivery.endpoint_id, delivery.event.id),
        "status": {"S": delivery.status},
        "doc": {"S": delivery.model_dump_json()},
    }


def _encode(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _start_key(cursor: str, partition: str) -> dict[str, Any]:
    """The key `cursor` encodes, when it is an entry's key in `partition`; InvalidRequest otherwise (never a
    ValidationException from DynamoDB, which would be a 503)."""
    refused = InvalidRequest("the cursor is not one this service returned", cursor=cursor[:100])
    if not _URLSAFE.fullmatch(cursor):
        raise refused
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise refused from None
    if not isinstance(key, dict) or set(key) != {"pk", "sk"}:
        raise refused
    if key["pk"] != {"S": partition}:
        raise InvalidRequest("the cursor belongs to another listing", cursor=cursor[:100])
    sort_key = key["sk"]
    if not isinstance(sort_key, dict) or set(sort_key) != {"S"} or not isinstance(sort_key["S"], str):
        raise refused
    value = sort_key["S"]
    if not value.startswith(DELIVERY_PREFIX) or len(value.encode("utf-8", "surrogatepass")) > MAX_SORT_KEY_BYTES:
        raise refused
    return key
