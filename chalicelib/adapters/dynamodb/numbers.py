"""NumberStore on the single table: the only writer of a number's state item (layout in `table`).

Every write of the state item is an Update conditional on the `version` it was read at, built by
`_state_update`: an event's commit (which bumps the version) and the send path's claim (which only
remembers who texted the number, so that an opt-out stored since the batch read stops the send).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from chalicelib.adapters.dynamodb.calls import BATCH_GET_LIMIT, batch_get, call, conditional, transaction
from chalicelib.adapters.dynamodb.cursors import decode_position, encode_position
from chalicelib.adapters.dynamodb.reports import counter_update
from chalicelib.adapters.dynamodb.table import (
    GSI1,
    SEND_PREFIX,
    event_activity_keys,
    event_key,
    inbound_item,
    outbox_partition,
    state_key,
    suppressed_partitions,
    suppressed_shard,
)
from chalicelib.domain import reports
from chalicelib.domain.change_events import ChangeEventJob
from chalicelib.domain.errors import ConcurrentUpdate, DuplicateEvent, InvalidRequest
from chalicelib.domain.models import (
    CampaignText,
    Contact,
    EventRecord,
    LoggedInbound,
    NotificationJob,
    NumberState,
    SendRequest,
)

#: A suppression list cursor is the last phone of a page (E.164).
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


class DynamoDBNumberStore:
    """The production NumberStore. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def load(self, account_id: str, phone: str, event_id: str | None = None) -> tuple[NumberState, bool]:
        """The number's state and whether `event_id` is already recorded, in one BatchGetItem."""
        state_item_key = state_key(account_id, phone)
        keys = [state_item_key]
        if event_id is not None:
            keys.append(event_key(account_id, phone, event_id))
        state = NumberState(account_id=account_id, phone=phone)
        seen = False
        for item in batch_get(self._client, self._table, keys):
            if item["sk"] == state_item_key["sk"]:
                state = _state_from(item)
            else:
                seen = True
        return state, seen

    def load_many(self, account_id: str, phones: Sequence[str]) -> dict[str, NumberState]:
        """Each number's state, strongly consistent, one BatchGetItem per 100 distinct numbers."""
        distinct = list(dict.fromkeys(phones))
        states = {phone: NumberState(account_id=account_id, phone=phone) for phone in distinct}
        for start in range(0, len(distinct), BATCH_GET_LIMIT):
            keys = [state_key(account_id, phone) for phone in distinct[start : start + BATCH_GET_LIMIT]]
            for item in batch_get(self._client, self._table, keys):
                state = _state_from(item)
                states[state.phone] = state
        return states

    def commit(
        self,
        state: NumberState,
        record: EventRecord,
        inbound: LoggedInbound | None = None,
        job: NotificationJob | None = None,
        change_job: ChangeEventJob | None = None,
    ) -> None:
        """Write the state and append the event in one transaction, conditional on version and novelty.

        A `job` rides on the event item, listed in the outbox index until it is queued; `inbound` is
        put in the same transaction. ConcurrentUpdate when the state moved on since `state.version`
        (or another transaction on it was in flight), DuplicateEvent when the event is already recorded.
        """
        values: dict[str, Any] = {
            # last_campaign is the send path's, kept in its own attributes (`_state_from`).
            ":doc": {"S": state.model_dump_json(exclude={"version", "last_campaign"})},
            ":next": {"N": str(state.version + 1)},
        }
        if state.suppressed:
            # Sparse index: only suppressed numbers are listed.
            expression = "SET #doc = :doc, #version = :next, gsi1pk = :listed, gsi1sk = :phone"
            values |= {":listed": {"S": suppressed_shard(state.account_id, state.phone)}, ":phone": {"S": state.phone}}
        else:
            expression = "SET #doc = :doc, #version = :next REMOVE gsi1pk, gsi1sk"
        update = self._state_update(state.account_id, state.phone, state.version, expression, values, {"#doc": "doc"})
        items: list[dict[str, Any]] = [
            {"Update": update},
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _event_item(record, job, change_job),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if inbound is not None:
            items.append({"Put": {"TableName": self._table, "Item": inbound_item(inbound)}})
        counted = reports.tally(state, record)
        if counted is not None:
            # The opt-out report's counters, last: the condition checks above keep their places (items 0 and 1).
            items.append({"Update": counter_update(self._table, counted)})
        reasons = transaction(self._client, items, "record the event")
        if reasons is None:
            return
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            raise DuplicateEvent(record.event.event_id)
        # The version moved on, or another transaction on the number or on its report counters was in flight
        # (TransactionConflict): nothing was written; reload and try again.
        raise ConcurrentUpdate(state.phone)

    def claim_recipient(
        self, request: SendRequest, expected_version: int, now: datetime, *, forget: Iterable[str] = ()
    ) -> bool:
        """Claim the recipient for the request, if it is still at `expected_version` and the request was not
        claimed before; False otherwise.

        One conditional Update of the state item: `send#<request id>` (when, in epoch seconds: what makes a
        request claimed once), `last_send_at`, `last_request_id`, and the request's `user_email` and
        `contact_email` when it has them (a request without them keeps the ones before); `last_campaign_id` and
        `last_campaign_at` for a campaign's text (other texts keep the ones before). The requests in
        `forget` lose their `send#` attribute in the same write. The version is left as it is: a send changes
        nothing an event reads.
        """
        values: dict[str, Any] = {":at": {"S": now.isoformat()}, ":request": {"S": request.request_id}}
        assignments = ["last_send_at = :at", "last_request_id = :request"]
        if request.user_email:
            assignments.append("last_user_email = :user")
            values[":user"] = {"S": request.user_email}
        if request.contact_email:
            assignments.append("contact_email = :contact")
            values[":contact"] = {"S": request.contact_email}
        if request.campaign_id:
            # The opt-out report attributes an opt-out to the latest campaign that texted the number.
            assignments.append("last_campaign_id = :campaign, last_campaign_at = :at")
            values[":campaign"] = {"S": request.campaign_id}
        assignments.append("#claim = :claimed")
        values[":claimed"] = {"N": str(int(now.timestamp()))}
        names = {"#claim": SEND_PREFIX + request.request_id}
        expression = "SET " + ", ".join(assignments)
        stale = [request_id for request_id in forget if request_id != request.request_id]
        if stale:
            names |= {f"#old{i}": SEND_PREFIX + request_id for i, request_id in enumerate(stale)}
            expression += " REMOVE " + ", ".join(f"#old{i}" for i in range(len(stale)))
        update = self._state_update(request.account_id, request.to, expected_version, expression, values, names)
        update["ConditionExpression"] += " AND attribute_not_exists(#claim)"
        return conditional(self._client, "update_item", **update)

    def release_recipient(self, request: SendRequest) -> None:
        """Forget the request's claim (it goes back to the queue unsent), so that a redelivery may claim it."""
        call(
            self._client,
            "update_item",
            TableName=self._table,
            Key=state_key(request.account_id, request.to),
            UpdateExpression="REMOVE #claim",
            ExpressionAttributeNames={"#claim": SEND_PREFIX + request.request_id},
        )

    def contact(self, account_id: str, phone: str) -> Contact:
        """Who last texted the number and the contact's email, from its state item (strongly consistent)."""
        item = call(
            self._client,
            "get_item",
            TableName=self._table,
            Key=state_key(account_id, phone),
            ProjectionExpression="last_user_email, contact_email",
            ConsistentRead=True,
        ).get("Item", {})
        return Contact(
            last_user_email=item.get("last_user_email", {}).get("S"),
            contact_email=item.get("contact_email", {}).get("S"),
        )

    def list_suppressed(self, account_id: str, cursor: str | None, limit: int) -> tuple[list[NumberState], str | None]:
        """Suppressed numbers in phone order, `limit` at a time, from the sparse index's shards merged by phone.

        The cursor is the last phone of the page (each shard is read from there); every shard is read a few items at
        a time, and only as far as the merge needs it.
        """
        partitions = list(suppressed_partitions(account_id))
        after = _after_phone(cursor, partitions)
        chunk = -(-limit // len(partitions)) + 2
        merged = heapq.merge(
            *(self._suppressed_from(partition, after, chunk) for partition in partitions),
            key=lambda item: item["gsi1sk"]["S"],
        )
        items: list[dict[str, Any]] = []
        for item in merged:
            if items and item["gsi1sk"]["S"] == items[-1]["gsi1sk"]["S"]:
                continue  # listed in two partitions for a moment, while the index moves it
            if len(items) == limit:
                return _listed(items), encode_position(partitions, items[-1]["gsi1sk"]["S"])
            items.append(item)
        return _listed(items), None

    def _suppressed_from(self, partition: str, after: str | None, chunk: int) -> Iterator[dict[str, Any]]:
        """One partition of the suppression list in phone order after `after`, `chunk` items a query, as needed."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": GSI1,
            "KeyConditionExpression": "gsi1pk = :p" + (" AND gsi1sk > :after" if after else ""),
            "ExpressionAttributeValues": {":p": {"S": partition}, **({":after": {"S": after}} if after else {})},
            "ScanIndexForward": True,
            "Limit": chunk,
        }
        while True:
            response = call(self._client, "query", **request)
            yield from response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _state_update(
        self,
        account_id: str,
        phone: str,
        expected_version: int,
        expression: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """An Update of the number's state item, conditional on it being at `expected_version`.

        Version 0 is a number no event has changed: its item is absent, or only the send path wrote it.
        An Update, not a Put: the send path keeps who last texted the number on the same item.
        """
        values = dict(values)
        if expected_version == 0:
            condition = "attribute_not_exists(#version)"
        else:
            condition = "#version = :expected"
            values[":expected"] = {"N": str(expected_version)}
        return {
            "TableName": self._table,
            "Key": state_key(account_id, phone),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#version": "version", **(names or {})},
            "ExpressionAttributeValues": values,
        }


def _listed(items: list[dict[str, Any]]) -> list[NumberState]:
    # The index is eventually consistent: skip a number lifted since it was indexed.
    return [state for state in map(_state_from, items) if state.suppressed]


def _after_phone(cursor: str | None, partitions: list[str]) -> str | None:
    """The phone a suppression list cursor (a position in the list's partitions, merged) continues after;
    InvalidRequest for anything else."""
    if cursor is None:
        return None
    phone = decode_position(cursor, partitions)
    if not _E164.fullmatch(phone):
        raise InvalidRequest("the cursor is not one this service returned", cursor=cursor[:100])
    return phone


def _state_from(item: dict[str, Any]) -> NumberState:
    last_campaign = None
    if "last_campaign_id" in item:
        last_campaign = CampaignText(
            campaign_id=item["last_campaign_id"]["S"], sent_at=datetime.fromisoformat(item["last_campaign_at"]["S"])
        )
    recent_sends = {
        name[len(SEND_PREFIX) :]: int(value["N"]) for name, value in item.items() if name.startswith(SEND_PREFIX)
    }
    if "version" not in item:  # only the send path has touched this number: nothing suppressed yet
        _, account_id, phone = item["pk"]["S"].split("#", 2)
        return NumberState(account_id=account_id, phone=phone, last_campaign=last_campaign, recent_sends=recent_sends)
    return NumberState.model_validate_json(item["doc"]["S"]).model_copy(
        update={"version": int(item["version"]["N"]), "last_campaign": last_campaign, "recent_sends": recent_sends}
    )


def _event_item(record: EventRecord, job: NotificationJob | None, change_job: ChangeEventJob | None) -> dict[str, Any]:
    event = record.event
    item: dict[str, Any] = {
        **event_key(event.account_id, event.phone, event.event_id),
        "doc": {"S": record.model_dump_json()},
        **event_activity_keys(event),
    }
    if job is not None:
        item["job"] = {"S": job.model_dump_json()}
    if change_job is not None:
        item["change_job"] = {"S": change_job.model_dump_json()}
    if job is not None or change_job is not None:
        item["gsi2pk"] = {"S": outbox_partition(event.event_id)}
        item["gsi2sk"] = {"S": f"{event.received_at.isoformat()}#{event.event_id}"}
    return item
