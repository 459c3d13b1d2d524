"""SuppressionStore on one DynamoDB table (key layout in `dynamodb_table`).

Each item keeps its model as a JSON document (`doc`) beside the key attributes: one attribute to
read and write, parsed by pydantic in C, and the DynamoDB console still shows it readably.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.dynamodb_calls import call, conditional, get_document
from chalicelib.adapters.dynamodb_table import GSI1, GSI2
from chalicelib.domain.errors import ConcurrentUpdate, DuplicateEvent, InvalidRequest, StoreUnavailable
from chalicelib.domain.models import Account, Contact, EventRecord, LoggedInbound, NotificationJob, NumberState

BATCH_GET_LIMIT = 100
#: The outbox index partition: email jobs stored with their event and not yet queued.
OUTBOX = "OUTBOX"
_STATE = "STATE"


def _number_pk(account_id: str, phone: str) -> str:
    return f"NUMBER#{account_id}#{phone}"


def _account_key(account_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"ACCOUNT#{account_id}"}, "sk": {"S": "ACCOUNT"}}


def _inbound_key(account_id: str, message_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"INBOUND#{account_id}#{message_id}"}, "sk": {"S": "INBOUND"}}


def _state_update(state: NumberState, table: str) -> dict[str, Any]:
    """A transaction Update writing the new state, conditional on the version it was read at.

    An Update, not a Put: the send path keeps who last texted the number on the same item.
    """
    names = {"#doc": "doc", "#version": "version"}
    values: dict[str, Any] = {
        ":doc": {"S": state.model_dump_json(exclude={"version"})},
        ":next": {"N": str(state.version + 1)},
    }
    if state.suppressed:
        # Sparse index: only suppressed numbers are listed.
        expression = "SET #doc = :doc, #version = :next, gsi1pk = :listed, gsi1sk = :phone"
        values[":listed"] = {"S": f"SUPPRESSED#{state.account_id}"}
        values[":phone"] = {"S": state.phone}
    else:
        expression = "SET #doc = :doc, #version = :next REMOVE gsi1pk, gsi1sk"
    if state.version == 0:
        condition = "attribute_not_exists(#version)"
    else:
        condition = "#version = :expected"
        values[":expected"] = {"N": str(state.version)}
    return {
        "TableName": table,
        "Key": {"pk": {"S": _number_pk(state.account_id, state.phone)}, "sk": {"S": _STATE}},
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _state_from(item: dict[str, Any]) -> NumberState:
    if "version" not in item:  # only the send path has touched this number: nothing suppressed yet
        _, account_id, phone = item["pk"]["S"].split("#", 2)
        return NumberState(account_id=account_id, phone=phone)
    return NumberState.model_validate_json(item["doc"]["S"]).model_copy(update={"version": int(item["version"]["N"])})


def _event_item(record: EventRecord, job: NotificationJob | None) -> dict[str, Any]:
    event = record.event
    item: dict[str, Any] = {
        "pk": {"S": _number_pk(event.account_id, event.phone)},
        "sk": {"S": f"EVENT#{event.event_id}"},
        "doc": {"S": record.model_dump_json()},
    }
    if job is not None:
        item["job"] = {"S": job.model_dump_json()}
        item["gsi2pk"] = {"S": OUTBOX}
        item["gsi2sk"] = {"S": f"{event.received_at.isoformat()}#{event.event_id}"}
    return item


def _inbound_item(inbound: LoggedInbound) -> dict[str, Any]:
    message = inbound.message
    when = {"S": f"{message.received_at.isoformat()}#{message.message_id}"}
    item = {
        **_inbound_key(message.account_id, message.message_id),
        "gsi1pk": {"S": f"INBOUND#{message.account_id}"},
        "gsi1sk": when,
        "doc": {"S": inbound.model_dump_json()},
    }
    if inbound.needs_review and inbound.review is None:
        item["gsi2pk"] = {"S": f"REVIEW#{message.account_id}"}
        item["gsi2sk"] = when
    return item


class DynamoDBSuppressionStore:
    """The production SuppressionStore. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # accounts

    def get_account(self, account_id: str) -> Account | None:
        """The account's settings, or None when there is no such account."""
        return get_document(self._client, self._table, _account_key(account_id), Account)

    def put_account(self, account: Account) -> None:
        """Create or replace the account's settings."""
        item = {**_account_key(account.account_id), "doc": {"S": account.model_dump_json()}}
        call(self._client, "put_item", TableName=self._table, Item=item)

    # numbers

    def load(self, account_id: str, phone: str, event_id: str | None = None) -> tuple[NumberState, bool]:
        """The number's state and whether `event_id` is already recorded, in one BatchGetItem."""
        pk = {"S": _number_pk(account_id, phone)}
        keys = [{"pk": pk, "sk": {"S": _STATE}}]
        if event_id is not None:
            keys.append({"pk": pk, "sk": {"S": f"EVENT#{event_id}"}})
        items = self._batch_get(keys)
        state = NumberState(account_id=account_id, phone=phone)
        seen = False
        for item in items:
            if item["sk"]["S"] == _STATE:
                state = _state_from(item)
            else:
                seen = True
        return state, seen

    def get_event(self, account_id: str, phone: str, event_id: str) -> EventRecord | None:
        """One history event, strongly consistent."""
        key = {"pk": {"S": _number_pk(account_id, phone)}, "sk": {"S": f"EVENT#{event_id}"}}
        return get_document(self._client, self._table, key, EventRecord)

    def load_many(self, account_id: str, phones: Sequence[str]) -> dict[str, NumberState]:
        """Each number's state, strongly consistent, one BatchGetItem per 100 distinct numbers."""
        distinct = list(dict.fromkeys(phones))
        states = {phone: NumberState(account_id=account_id, phone=phone) for phone in distinct}
        for start in range(0, len(distinct), BATCH_GET_LIMIT):
            keys = [
                {"pk": {"S": _number_pk(account_id, phone)}, "sk": {"S": _STATE}}
                for phone in distinct[start : start + BATCH_GET_LIMIT]
            ]
            for item in self._batch_get(keys):
                state = _state_from(item)
                states[state.phone] = state
        return states

    def commit(
        self,
        state: NumberState,
        record: EventRecord,
        inbound: LoggedInbound | None = None,
        job: NotificationJob | None = None,
    ) -> None:
        """Write the state and append the event in one transaction, conditional on version and novelty.

        A `job` rides on the event item, listed in the outbox index until it is queued.
        """
        event = record.event
        items: list[dict[str, Any]] = [
            {"Update": _state_update(state, self._table)},
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _event_item(record, job),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if inbound is not None:
            items.append({"Put": {"TableName": self._table, "Item": _inbound_item(inbound)}})
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise StoreUnavailable(f"could not record the event: {error}") from error
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise DuplicateEvent(event.event_id) from None
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise ConcurrentUpdate(event.phone) from None
            # Conflicts with another transaction in flight: reload and try again.
            raise ConcurrentUpdate(event.phone) from None
        except BotoCoreError as error:
            raise StoreUnavailable(f"could not record the event: {error}") from error

    def history(self, account_id: str, phone: str) -> list[EventRecord]:
        """Every event of the number, newest first by carrier time, then by received time."""
        records = [
            EventRecord.model_validate_json(item["doc"]["S"])
            for item in self._query_all(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :events)",
                ExpressionAttributeValues={":pk": {"S": _number_pk(account_id, phone)}, ":events": {"S": "EVENT#"}},
            )
        ]
        records.sort(key=lambda r: (r.event.occurred_at, r.event.received_at, r.sequence), reverse=True)
        return records

    def list_suppressed(self, account_id: str, cursor: str | None, limit: int) -> tuple[list[NumberState], str | None]:
        """Suppressed numbers in phone order, `limit` at a time, from the sparse index."""
        items, next_cursor = self._page(f"SUPPRESSED#{account_id}", cursor, limit, forward=True)
        # The index is eventually consistent: skip a number lifted since it was indexed.
        states = [state for state in map(_state_from, items) if state.suppressed]
        return states, next_cursor

    # the outbox and what the send path remembers

    def pending_jobs(self, limit: int) -> list[NotificationJob]:
        """Email jobs stored with their event but not queued yet, oldest first."""
        response = call(
            self._client,
            "query",
            TableName=self._table,
            IndexName=GSI2,
            KeyConditionExpression="gsi2pk = :outbox",
            ExpressionAttributeValues={":outbox": {"S": OUTBOX}},
            Limit=limit,
        )
        return [NotificationJob.model_validate_json(item["job"]["S"]) for item in response.get("Items", [])]

    def job_queued(self, job: NotificationJob) -> None:
        """Take the job out of the outbox index (its event item keeps it, for the record)."""
        call(
            self._client,
            "update_item",
            TableName=self._table,
            Key={"pk": {"S": _number_pk(job.account_id, job.phone)}, "sk": {"S": f"EVENT#{job.event_id}"}},
            UpdateExpression="REMOVE gsi2pk, gsi2sk",
        )

    def contact(self, account_id: str, phone: str) -> Contact:
        """Who last texted the number and the contact's email, from its state item."""
        item = call(
            self._client,
            "get_item",
            TableName=self._table,
            Key={"pk": {"S": _number_pk(account_id, phone)}, "sk": {"S": _STATE}},
            ProjectionExpression="last_user_email, contact_email",
            ConsistentRead=True,
        ).get("Item", {})
        return Contact(
            last_user_email=item.get("last_user_email", {}).get("S"),
            contact_email=item.get("contact_email", {}).get("S"),
        )

    # inbound log

    def log_inbound(self, inbound: LoggedInbound) -> bool:
        """Log the message once; False when the carrier already delivered it."""
        return conditional(
            self._client,
            "put_item",
            TableName=self._table,
            Item=_inbound_item(inbound),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_inbound(self, account_id: str, message_id: str) -> LoggedInbound | None:
        return get_document(self._client, self._table, _inbound_key(account_id, message_id), LoggedInbound)

    def list_inbound(
        self, account_id: str, cursor: str | None, limit: int, *, needs_review: bool = False
    ) -> tuple[list[LoggedInbound], str | None]:
        """The inbound log newest first, `limit` at a time; or only the messages awaiting review."""
        if needs_review:
            items, next_cursor = self._page(f"REVIEW#{account_id}", cursor, limit, forward=False, index=GSI2)
        else:
            items, next_cursor = self._page(f"INBOUND#{account_id}", cursor, limit, forward=False)
        return [LoggedInbound.model_validate_json(item["doc"]["S"]) for item in items], next_cursor

    def resolve_review(self, inbound: LoggedInbound) -> None:
        """Store the message with its review; it leaves the review queue."""
        call(self._client, "put_item", TableName=self._table, Item=_inbound_item(inbound))

    # plumbing

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(10):
            response = call(self._client, "batch_get_item", RequestItems=request)
            items.extend(response.get("Responses", {}).get(self._table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
        raise StoreUnavailable("the store kept throttling a batch read")

    def _query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            response = call(self._client, "query", TableName=self._table, ConsistentRead=True, **kwargs, **extra)
            items.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                return items

    def _page(
        self, partition: str, cursor: str | None, limit: int, *, forward: bool, index: str = GSI1
    ) -> tuple[list[dict[str, Any]], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": f"{index}pk = :p",
            "ExpressionAttributeValues": {":p": {"S": partition}},
            "ScanIndexForward": forward,
            "Limit": limit,
        }
        if cursor:
            start = _decode_cursor(cursor)
            if start.get(f"{index}pk") != {"S": partition}:
                raise InvalidRequest("the cursor belongs to another listing", cursor=cursor)
            kwargs["ExclusiveStartKey"] = start
        response = call(self._client, "query", **kwargs)
        last = response.get("LastEvaluatedKey")
        return response.get("Items", []), _encode_cursor(last) if last else None


def _encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidRequest("the cursor is not one this service returned", cursor=cursor) from None
    if not isinstance(key, dict) or not all(isinstance(v, dict) and set(v) == {"S"} for v in key.values()):
        raise InvalidRequest("the cursor is not one this service returned", cursor=cursor)
    return key
