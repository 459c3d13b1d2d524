"""OutboundLog on the single table: one item per send request, per-campaign counters, last contact.

Items (pk / sk):
- `OUTBOUND#<account>#<request id>` / `OUTBOUND`: the request and its outcome; `gsi1pk =
  CAMPAIGN#<account>#<campaign>`, `gsi1sk = <request id>` for the log by campaign.
- `CAMPAIGN#<account>#<campaign>` / `COUNTS`: one number attribute per outcome (`sent`,
  `skipped:suppressed`, ...), added to once per batch after the batch's outcomes are stored.
- `EMAIL#<account>#<job id>` / `TO#<recipient>`: one alert email and how it went (once per job and recipient).
- `NUMBER#<account>#<phone>` / `STATE`: the send path adds who last texted the number and the
  contact's email (`last_user_email`, `contact_email`, `last_send_at`, `last_request_id`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.adapters.dynamodb_calls import call, conditional, get_document
from chalicelib.domain.models import Claim, OutboundRecord, SendRequest


def _outbound_key(account_id: str, request_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"OUTBOUND#{account_id}#{request_id}"}, "sk": {"S": "OUTBOUND"}}


def _email_key(job_id: str, account_id: str, recipient: str) -> dict[str, Any]:
    return {"pk": {"S": f"EMAIL#{account_id}#{job_id}"}, "sk": {"S": f"TO#{recipient.lower()}"}}


def _state_key(account_id: str, phone: str) -> dict[str, Any]:
    return {"pk": {"S": f"NUMBER#{account_id}#{phone}"}, "sk": {"S": "STATE"}}


def _outbound_item(record: OutboundRecord) -> dict[str, Any]:
    request = record.request
    item = {
        **_outbound_key(request.account_id, request.request_id),
        "status": {"S": record.status},
        "doc": {"S": record.model_dump_json()},
    }
    if request.campaign_id:
        item["gsi1pk"] = {"S": f"CAMPAIGN#{request.account_id}#{request.campaign_id}"}
        # The request id alone: a sort key that changes with each status would move the index entry.
        item["gsi1sk"] = {"S": request.request_id}
    return item


class DynamoDBOutboundLog:
    """The production OutboundLog. `client` is a boto3 DynamoDB client.

    Single-item writes only (no transactions): a send costs one conditional write on the
    recipient's state, one on its outbound item, and one counter update.
    """

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def claim(self, request: SendRequest, expected_version: int, now: datetime) -> Claim:
        """Claim the request for sending, if its recipient is still at `expected_version`.

        First the outbound item, conditional on the request being new (or handed back for a
        retry). Then, as the last step before the provider is called, a conditional write on the
        recipient's state (which also remembers who texted the number last): it fails if an
        opt-out was stored since the batch read, and the request is handed back.
        """
        sending = OutboundRecord(request=request, status="sending", updated_at=now)
        if not conditional(
            self._client, "put_item", TableName=self._table, Item=_outbound_item(sending), **self._new_or_retrying()
        ):
            return "duplicate"
        values: dict[str, Any] = {":at": {"S": now.isoformat()}, ":request": {"S": request.request_id}}
        assignments = ["last_send_at = :at", "last_request_id = :request"]
        if request.user_email:
            assignments.append("last_user_email = :user")
            values[":user"] = {"S": request.user_email}
        if request.contact_email:
            assignments.append("contact_email = :contact")
            values[":contact"] = {"S": request.contact_email}
        if expected_version == 0:
            condition = "attribute_not_exists(#version)"
        else:
            condition = "#version = :expected"
            values[":expected"] = {"N": str(expected_version)}
        if not conditional(
            self._client,
            "update_item",
            TableName=self._table,
            Key=_state_key(request.account_id, request.to),
            UpdateExpression="SET " + ", ".join(assignments),
            ConditionExpression=condition,
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues=values,
        ):
            self.release(request, now)
            return "stale"
        return "claimed"

    def finish(self, record: OutboundRecord, *, fresh: bool) -> bool:
        """Record the outcome once; False when it was recorded before."""
        if fresh:
            condition = self._new_or_retrying()
        else:
            condition = {
                "ConditionExpression": "#status = :sending",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":sending": {"S": "sending"}},
            }
        return conditional(self._client, "put_item", TableName=self._table, Item=_outbound_item(record), **condition)

    def count(self, account_id: str, campaign_id: str, counts: dict[str, int]) -> None:
        """Add a batch's outcomes to the campaign's counters, in one write."""
        names = {f"#c{i}": name for i, name in enumerate(counts)}
        values = {f":n{i}": {"N": str(n)} for i, n in enumerate(counts.values())}
        call(
            self._client,
            "update_item",
            TableName=self._table,
            Key={"pk": {"S": f"CAMPAIGN#{account_id}#{campaign_id}"}, "sk": {"S": "COUNTS"}},
            UpdateExpression="ADD " + ", ".join(f"#c{i} :n{i}" for i in range(len(counts))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def release(self, request: SendRequest, now: datetime) -> None:
        """Hand a claimed request back so a redelivery may claim it again."""
        retrying = OutboundRecord(request=request, status="retrying", updated_at=now)
        conditional(
            self._client,
            "put_item",
            TableName=self._table,
            Item=_outbound_item(retrying),
            ConditionExpression="#status = :sending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":sending": {"S": "sending"}},
        )

    def claim_email(self, job_id: str, account_id: str, recipient: str, now: datetime) -> bool:
        """Claim one alert email; False once it was sent (a failed or retrying one may go again)."""
        return conditional(
            self._client,
            "put_item",
            TableName=self._table,
            Item={
                **_email_key(job_id, account_id, recipient),
                "status": {"S": "sending"},
                "updated_at": {"S": now.isoformat()},
            },
            ConditionExpression="attribute_not_exists(pk) OR #status IN (:retrying, :failed)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":retrying": {"S": "retrying"}, ":failed": {"S": "failed"}},
        )

    def email_done(self, job_id: str, account_id: str, recipient: str, status: str, detail: str | None) -> None:
        """Record the email's outcome: `sent` (detail: the SES message id), `retrying` or `failed`."""
        call(
            self._client,
            "update_item",
            TableName=self._table,
            Key=_email_key(job_id, account_id, recipient),
            UpdateExpression="SET #status = :status, detail = :detail",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": {"S": status}, ":detail": {"S": detail or ""}},
        )

    def get(self, account_id: str, request_id: str) -> OutboundRecord | None:
        return get_document(self._client, self._table, _outbound_key(account_id, request_id), OutboundRecord)

    def campaign_counts(self, account_id: str, campaign_id: str) -> dict[str, int]:
        """The campaign's counters: `sent`, `skipped:<reason>`, `failed:<reason>`."""
        item = call(
            self._client,
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
