"""Listings a page at a time from an index, with opaque, URL-safe cursors (the index's LastEvaluatedKey)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from chalicelib.adapters.dynamodb.calls import call
from chalicelib.adapters.dynamodb.table import GSI1
from chalicelib.domain.errors import InvalidRequest


def page(
    client: Any, table: str, partition: str, cursor: str | None, limit: int, *, forward: bool, index: str = GSI1
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` items of `partition` of `index` after `cursor`, and the cursor of the next page (None: last).

    InvalidRequest for a cursor this service did not return, or returned for another listing.
    """
    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": f"{index}pk = :p",
        "ExpressionAttributeValues": {":p": {"S": partition}},
        "ScanIndexForward": forward,
        "Limit": limit,
    }
    if cursor:
        start = _decode(cursor)
        if start.get(f"{index}pk") != {"S": partition}:
            raise InvalidRequest("the cursor belongs to another listing", cursor=cursor)
        kwargs["ExclusiveStartKey"] = start
    response = call(client, "query", **kwargs)
    last = response.get("LastEvaluatedKey")
    return response.get("Items", []), _encode(last) if last else None


def _encode(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidRequest("the cursor is not one this service returned", cursor=cursor) from None
    if not isinstance(key, dict) or not all(isinstance(v, dict) and set(v) == {"S"} for v in key.values()):
        raise InvalidRequest("the cursor is not one this service returned", cursor=cursor)
    return key
