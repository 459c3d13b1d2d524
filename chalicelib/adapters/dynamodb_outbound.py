"""OutboundLog on the single table: one item per send request, per-campaign counters, last contact.

Items (pk / sk):
- `OUTBOUND#<account>#<request id>` / `OUTBOUND`: the request and its outcome; `gsi1pk =
  CAMPAIGN#<account>#<campaign>`, `gsi1sk = <updated at>#<request id>` for the log by campaign.
- `CAMPAIGN#<account>#<campaign>` / `COUNTS`: one number attribute per outcome (`sent`,
  `skipped:suppressed`, ...), added to in the same transaction that records the outcome.
- `NUMBER#<account>#<phone>` / `CONTACT`: who last texted the number and the contact's email.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import StoreUnavailable
from chalicelib.domain.models import Claim, OutboundRecord, SendRequest


def _outbound_key(account_id: str, request_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"OUTBOUND#{account_id}#{request_id}"}, "sk": {"S": "OUTBOUND"}}


def _state_key(account_id: str, phone: str) -> dict[str, Any]:
    return {"pk": {"S": f"NUMBER#{account_id}#{phone}"}, "sk": {"S": "STATE"}}


def counter_name(record: OutboundRecord) -> str:
    return record.status if record.reason is None else f"{record.status}:{record.reason}"


def _outbound_item(record: OutboundRecord) -> dict[str, Any]:
    request = record.request
    item = {
        **_outbound_key(request.account_id, request.request_id),
        "status": {"S": record.status},
        "doc": {"S": record.model_dump_json()},
    }
    if request.campaign_id:
        item["gsi1pk"] = {"S": f"CAMPAIGN#{request.account_id}#{request.campaign_id}"}
        item["gsi1sk"] = {"S": f"{record.updated_at.isoformat()}#{request.request_id}"}
    return item


class DynamoDBOutboundLog:
    """The production OutboundLog. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def claim(self, request: SendRequest, expected_version: int, now: datetime) -> Claim:
        """Claim the request for sending, conditional on the recipient's state version (one transaction)."""
        if expected_version == 0:
            unchanged: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            unchanged = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
            }
        sending = OutboundRecord(request=request, status="sending", updated_at=now)
        reasons = self._transact(
            [
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": _state_key(request.account_id, request.to),
                        **unchanged,
                    }
                },
                {"Put": {"TableName": self._table, "Item": _outbound_item(sending), **self._new_or_retrying()}},
            ]
        )
        if reasons is None:
            return "claimed"
        if reasons[1] == "ConditionalCheckFailed":
            return "duplicate"
        return "stale"

    def finish(self, record: OutboundRecord, *, fresh: bool) -> bool:
        """Record the outcome, count it for the campaign, remember who texted the number: atomically."""
        request = record.request
        if fresh:
            condition = self._new_or_retrying()
        else:
            condition = {
                "ConditionExpression": "#status = :sending",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":sending": {"S": "sending"}},
            }
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": _outbound_item(record), **condition}}
        ]
        if request.campaign_id:
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": f"CAMPAIGN#{request.account_id}#{request.campaign_id}"}, "sk": {"S": "COUNTS"}},
                        "UpdateExpression": "ADD #counter :one",
                        "ExpressionAttributeNames": {"#counter": counter_name(record)},
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                }
            )
        if record.status == "sent":
            contact: dict[str, Any] = {
                "pk": {"S": f"NUMBER#{request.account_id}#{request.to}"},
                "sk": {"S": "CONTACT"},
                "last_sent_at": {"S": record.updated_at.isoformat()},
                "last_request_id": {"S": request.request_id},
            }
            if request.user_email:
                contact["last_user_email"] = {"S": request.user_email}
            if request.contact_email:
                contact["contact_email"] = {"S": request.contact_email}
            items.append({"Put": {"TableName": self._table, "Item": contact}})
        return self._transact(items) is None

    def release(self, request: SendRequest, now: datetime) -> None:
        """Hand a claimed request back so a redelivery may claim it again."""
        retrying = OutboundRecord(request=request, status="retrying", updated_at=now)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_outbound_item(retrying),
                ConditionExpression="#status = :sending",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":sending": {"S": "sending"}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise StoreUnavailable(f"could not release {request.request_id}: {error}") from error
        except BotoCoreError as error:
            raise StoreUnavailable(f"could not release {request.request_id}: {error}") from error

    def get(self, account_id: str, request_id: str) -> OutboundRecord | None:
        item = self._call(
            "get_item", TableName=self._table, Key=_outbound_key(account_id, request_id), ConsistentRead=True
        ).get("Item")
        return OutboundRecord.model_validate_json(item["doc"]["S"]) if item else None

    def campaign_counts(self, account_id: str, campaign_id: str) -> dict[str, int]:
        """The campaign's counters: `sent`, `skipped:<reason>`, `failed:<reason>`."""
        item = self._call(
            "get_item",
            TableName=self._table,
            Key={"pk": {"S": f"CAMPAIGN#{account_id}#{campaign_id}"}, "sk": {"S": "COUNTS"}},
            ConsistentRead=True,
        ).get("Item", {})
        return {name: int(value["N"]) for name, value in item.items() if "N" in value}

    # plumbing

    @staticmethod
    def _new_or_retrying() -> dict[str, Any]:
        return {
            "ConditionExpression": "attribute_not_exists(pk) OR #status = :retrying",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":retrying": {"S": "retrying"}},
        }

    def _transact(self, items: list[dict[str, Any]]) -> list[str | None] | None:
        """None when the transaction went through, else the cancellation reason of each item.

        A cancellation only by conflicting transactions in flight is tried again a few times.
        """
        for _ in range(3):
            try:
                self._client.transact_write_items(TransactItems=items)
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise StoreUnavailable(f"could not record the send outcome: {error}") from error
                reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
                if "ConditionalCheckFailed" in reasons:
                    return reasons + [None] * (len(items) - len(reasons))
                if "TransactionConflict" not in reasons:
                    raise StoreUnavailable(f"the send outcome write was cancelled: {reasons}") from error
                continue
            except BotoCoreError as error:
                raise StoreUnavailable(f"could not record the send outcome: {error}") from error
            return None
        raise StoreUnavailable("the send outcome write kept conflicting with other writes")

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self._client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(f"the store did not answer {operation}: {error}") from error
