"""The two ways our DynamoDB adapters call the client: ClientError codes become domain errors here."""

from __future__ import annotations

from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from chalicelib.domain.errors import StoreUnavailable

Model = TypeVar("Model", bound=BaseModel)


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


def get_document(client: Any, table: str, key: dict[str, Any], model: type[Model]) -> Model | None:
    """The item's `doc` attribute as `model`, strongly consistent; None when there is no such item."""
    item = call(client, "get_item", TableName=table, Key=key, ConsistentRead=True).get("Item")
    return model.model_validate_json(item["doc"]["S"]) if item else None
