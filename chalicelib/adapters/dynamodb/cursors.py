"""Listings a page at a time from an index, with opaque, URL-safe cursors (the index's LastEvaluatedKey).

A cursor is checked in full before DynamoDB sees it: exactly the key attributes of the index's items (the table's
`pk`, `sk` and the index's two), each a string within DynamoDB's key size limits, in the listing's partition. So a
crafted cursor is an InvalidRequest (400), never a ValidationException from DynamoDB (a 503). The API signs the
cursors it hands out (`chalicelib/api/cursors.py`); this is the store's own guard.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from chalicelib.adapters.dynamodb.calls import call
from chalicelib.adapters.dynamodb.table import GSI1
from chalicelib.domain.errors import InvalidRequest

#: The longest cursor decoded: four key attributes at their limits, encoded, fit well inside.
MAX_CURSOR_LENGTH = 8192
#: DynamoDB's limits on one key attribute, in UTF-8 bytes: a partition key's, a sort key's.
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
_URLSAFE = re.compile(r"[A-Za-z0-9_-]+")


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
        kwargs["ExclusiveStartKey"] = _start_key(cursor, partition, index)
    response = call(client, "query", **kwargs)
    last = response.get("LastEvaluatedKey")
    return response.get("Items", []), _encode(last) if last else None


def encode_key(key: dict[str, Any]) -> str:
    """A cursor for the item key `key` (a LastEvaluatedKey, or the key of the last item a page returned)."""
    return _encode(key)


def start_key(cursor: str, partition: str, index: str) -> dict[str, Any]:
    """The ExclusiveStartKey a cursor of `partition` of `index` encodes; InvalidRequest for any other cursor."""
    return _start_key(cursor, partition, index)


def encode_position(listing: list[str], position: str) -> str:
    """A cursor that is a sort key `position` in the listing named by `listing` (e.g. a merge of partitions)."""
    return _encode({"listing": listing, "after": position})


def decode_position(cursor: str, listing: list[str]) -> str:
    """The position `cursor` holds, when it was made for `listing`; InvalidRequest otherwise."""
    decoded = _decode(cursor)
    after = decoded.get("after")
    if set(decoded) != {"listing", "after"} or not isinstance(after, str):
        raise _refused(cursor)
    if not 0 < len(after.encode("utf-8", "surrogatepass")) <= MAX_SORT_KEY_BYTES:  # DynamoDB's limit is in bytes
        raise _refused(cursor)
    if decoded["listing"] != listing:
        raise InvalidRequest("the cursor belongs to another listing", cursor=cursor)
    return after


def _encode(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _start_key(cursor: str, partition: str, index: str) -> dict[str, Any]:
    """The key `cursor` encodes, when it is a key of an item of `partition` in `index`; InvalidRequest otherwise."""
    key = _decode(cursor)
    limits = {
        "pk": MAX_PARTITION_KEY_BYTES,
        "sk": MAX_SORT_KEY_BYTES,
        f"{index}pk": MAX_PARTITION_KEY_BYTES,
        f"{index}sk": MAX_SORT_KEY_BYTES,
    }
    if set(key) != set(limits):
        raise _refused(cursor)
    for name, value in key.items():
        if not isinstance(value, dict) or set(value) != {"S"} or not isinstance(value["S"], str):
            raise _refused(cursor)
        size = len(value["S"].encode("utf-8", "surrogatepass"))
        if not 0 < size <= limits[name]:
            raise _refused(cursor)
    if key[f"{index}pk"]["S"] != partition:
        raise InvalidRequest("the cursor belongs to another listing", cursor=cursor)
    return key


def _decode(cursor: str) -> dict[str, Any]:
    if len(cursor) > MAX_CURSOR_LENGTH or not _URLSAFE.fullmatch(cursor):
        raise _refused(cursor[:100])
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise _refused(cursor) from None
    if not isinstance(key, dict):
        raise _refused(cursor)
    return key


def _refused(cursor: str) -> InvalidRequest:
    return InvalidRequest("the cursor is not one this service returned", cursor=cursor)
