"""How our DynamoDB adapters call the client: ClientError codes become domain errors here, and only here."""

from __future__ import annotations

from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from chalicelib.domain.errors import StoreUnavailable

Model = TypeVar("Model", bound=BaseModel)

#: BatchGetItem reads at most this many keys per call.
BATCH_GET_LIMIT = 100
#: BatchGetItem calls for one batch of keys before giving up on keys DynamoDB keeps leaving unprocessed.
BATCH_GET_ATTEMPTS = 10


def call(client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
    """Run one operation; StoreUnavailable when DynamoDB refused or did not answer."""
    try:
        response: dict[str, Any] = getattr(client, operation)(**kwargs)
    except (ClientError, BotoCoreError) as error:
        raise StoreUnavailable(f"the store did not answer {operation}: {error}") from error
    return response


def conditional(client: Any, operation: str, **kwargs: Any) -> bool:
    """Run a conditional write; False when its condition did not hold."""
    try:
        getattr(client, operation)(**kwargs)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise StoreUnavailable(f"the store refused {operation}: {error}") from error
    except BotoCoreError as error:
        raise StoreUnavailable(f"the store did not answer {operation}: {error}") from error
    return True


def transaction(client: Any, items: list[dict[str, Any]], what: str) -> list[str | None] | None:
    """Run a TransactWriteItems; None when it was written, else the code of each item's cancellation reason, in the
    items' order (`ConditionalCheckFailed`, `TransactionConflict`, `None`...). StoreUnavailable, naming `what`, when
    DynamoDB refused it otherwise or did not answer."""
    try:
        client.transact_write_items(TransactItems=items)
    except ClientError as error:
        if error.response["Error"]["Code"] != "TransactionCanceledException":
            raise StoreUnavailable(f"could not {what}: {error}") from error
        return [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
    except BotoCoreError as error:
        raise StoreUnavailable(f"could not {what}: {error}") from error
    return None


def conditional_transaction(client: Any, items: list[dict[str, Any]], what: str) -> bool:
    """`transaction` whose first item carries the condition that matters: True when written, False when that condition
    failed; StoreUnavailable, naming `what`, for any other cancellation (its reasons) or failure."""
    reasons = transaction(client, items, what)
    if reasons is None:
        return True
    if reasons and reasons[0] == "ConditionalCheckFailed":
        return False
    raise StoreUnavailable(f"could not {what}: {reasons}")


def get_document(client: Any, table: str, key: dict[str, Any], model: type[Model]) -> Model | None:
    """The item's `doc` attribute as `model`, strongly consistent; None when there is no such item."""
    item = call(client, "get_item", TableName=table, Key=key, ConsistentRead=True).get("Item")
    return model.model_validate_json(item["doc"]["S"]) if item else None


def batch_get(client: Any, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of up to BATCH_GET_LIMIT keys, strongly consistent, in no particular order.

    Keys DynamoDB leaves unprocessed (throttling) are asked for again; StoreUnavailable if it keeps doing so.
    """
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
    for _ in range(BATCH_GET_ATTEMPTS):
        response = call(client, "batch_get_item", RequestItems=request)
        items.extend(response.get("Responses", {}).get(table, []))
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return items
    raise StoreUnavailable("the store kept throttling a batch read")


def query_all(client: Any, table: str, *, consistent: bool = True, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item a query on the table finds, page after page; strongly consistent unless not `consistent` (half the
    read units)."""
    items: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        response = call(client, "query", TableName=table, ConsistentRead=consistent, **kwargs, **extra)
        items.extend(response.get("Items", []))
        start = response.get("LastEvaluatedKey")
        if not start:
            return items
