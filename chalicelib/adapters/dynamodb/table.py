"""The single table: its key schema, and every key the adapters of this package read or write.

Each item keeps its model as a JSON document (`doc`) beside the key attributes: one attribute to
read and write, parsed by pydantic in C, and the DynamoDB console still shows it readably.

Items (pk / sk), with the module that owns them:
- `ACCOUNT#<account>` / `ACCOUNT` (accounts): `doc`, the Account: settings and token hashes.
- `NUMBER#<account>#<phone>` / `STATE` (numbers, the only writer): `doc`, the NumberState without its
  version: active suppressions and per-scope clock; `version` (N), counting the events that changed it,
  absent while only the send path has touched the number; `gsi1pk = SUPPRESSED#<account>`,
  `gsi1sk = <phone>` while anything is suppressed (a sparse index: the suppression list). The send
  path's last claim adds `last_send_at`, `last_request_id`, `last_user_email`, `contact_email`; each claim of a send
  request adds `send#<request id>` (N, epoch seconds), removed when the request is handed back for a retry or, by a
  later claim, once it is a day old.
- `NUMBER#<account>#<phone>` / `EVENT#<event id>` (written by numbers, read by history): `doc`, the
  EventRecord (the key makes each event idempotent). With an email job: `job`, the NotificationJob,
  and while it is not yet queued `gsi2pk = OUTBOX`, `gsi2sk = <received at>#<event id>` (the outbox).
- `INBOUND#<account>#<message id>` / `INBOUND` (inbound, and numbers in the same transaction as an
  event): `doc`, the LoggedInbound; `gsi1pk = INBOUND#<account>`, `gsi1sk = <received at>#<message id>`
  for the log newest first; while it awaits an admin's review, `gsi2pk = REVIEW#<account>`, `gsi2sk`
  likewise (a sparse index: the review queue).
- `OUTBOUND#<account>#<request id>` / `OUTBOUND` (outbound): `status` and `doc`, the OutboundRecord;
  `gsi1pk = CAMPAIGN#<account>#<campaign>`, `gsi1sk = <request id>` for the log by campaign.
- `CAMPAIGN#<account>#<campaign>` / `COUNTS` (outbound): one number attribute per outcome (`sent`,
  `skipped:suppressed`, ...), added to once per batch after the batch's outcomes are stored.
- `EMAIL#<account>#<job id>` / `TO#<recipient in lower case>` (emails): `status`, `updated_at` and
  `detail` of one alert email (once per job and recipient).
- `PARTS#<account>#<carrier>#<sender>#<reference>` / `PART#<nnn>` (parts): `doc`, the InboundMessage of one
  part of a long message, kept (not deleted) after the parts were joined.
- `IMPORT#<account>#<import id>` / `JOB` (imports): `doc`, the ImportJob (its progress and counts) without its version;
  `version` (N), every save conditional on it.
- `IMPORT#<account>#<import id>` / `REJECTED#<last line, 9 digits>` (imports): `doc`, a JSON list of up to 250
  rejected rows of one chunk, in line order; keyed by their last line, so a page after line n starts at the first
  item whose key is above n.
- `ACCOUNT#<account>` / `EVENT_ENDPOINTS` (endpoints): `doc`, the account's event endpoints (a JSON list, deleted
  ones kept), `version` (N), every write conditional on it. One item: the send path reads it by key.
- `ENDPOINT#<account>#<endpoint id>` / `DELIVERY#<change event id>` (endpoints): `doc`, the Delivery of one change
  event to one endpoint (the delivery log; change event ids sort by when the change was recorded), `status`.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.models import LoggedInbound

GSI1 = "gsi1"
GSI2 = "gsi2"
#: The outbox index partition (on GSI2): email jobs stored with their event and not yet queued.
OUTBOX = "OUTBOX"
#: The sort key prefix of a number's history events.
EVENT_PREFIX = "EVENT#"
#: The attribute name prefix, on a number's state item, of each send request claimed for it lately.
SEND_PREFIX = "send#"

Key = dict[str, Any]


def table_definition(table_name: str) -> dict[str, Any]:
    """Keyword arguments for DynamoDB CreateTable (on-demand billing)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GSI1,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": GSI2,
                "KeySchema": [
                    {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    }


# --- keys ----------------------------------------------------------------------------------------


def account_key(account_id: str) -> Key:
    """The account's item."""
    return {"pk": {"S": f"ACCOUNT#{account_id}"}, "sk": {"S": "ACCOUNT"}}


def number_pk(account_id: str, phone: str) -> str:
    """The partition of a number: its state item and its history."""
    return f"NUMBER#{account_id}#{phone}"


def state_key(account_id: str, phone: str) -> Key:
    """The number's state item."""
    return {"pk": {"S": number_pk(account_id, phone)}, "sk": {"S": "STATE"}}


def event_key(account_id: str, phone: str, event_id: str) -> Key:
    """One event of the number's history (with its email job, if any)."""
    return {"pk": {"S": number_pk(account_id, phone)}, "sk": {"S": f"{EVENT_PREFIX}{event_id}"}}


def suppressed_partition(account_id: str) -> str:
    """The GSI1 partition listing the account's suppressed numbers."""
    return f"SUPPRESSED#{account_id}"


def parts_partition(account_id: str, carrier: str, sender: str, reference: str) -> str:
    """Every part of one long message from one sender."""
    return f"PARTS#{account_id}#{carrier}#{sender}#{reference}"


def part_key(partition: str, number: int) -> Key:
    return {"pk": {"S": partition}, "sk": {"S": f"PART#{number:03d}"}}


def inbound_key(account_id: str, message_id: str) -> Key:
    """One message of the inbound log."""
    return {"pk": {"S": f"INBOUND#{account_id}#{message_id}"}, "sk": {"S": "INBOUND"}}


def inbound_partition(account_id: str) -> str:
    """The GSI1 partition of the account's inbound log."""
    return f"INBOUND#{account_id}"


def review_partition(account_id: str) -> str:
    """The GSI2 partition of the account's review queue."""
    return f"REVIEW#{account_id}"


def outbound_key(account_id: str, request_id: str) -> Key:
    """One send request's item in the outbound log."""
    return {"pk": {"S": f"OUTBOUND#{account_id}#{request_id}"}, "sk": {"S": "OUTBOUND"}}


def campaign_partition(account_id: str, campaign_id: str) -> str:
    """The campaign's counters item's partition, and the GSI1 partition of its outbound items."""
    return f"CAMPAIGN#{account_id}#{campaign_id}"


def campaign_counts_key(account_id: str, campaign_id: str) -> Key:
    """The campaign's counters."""
    return {"pk": {"S": campaign_partition(account_id, campaign_id)}, "sk": {"S": "COUNTS"}}


def email_key(job_id: str, account_id: str, recipient: str) -> Key:
    """One alert email: a job to one recipient (in lower case)."""
    return {"pk": {"S": f"EMAIL#{account_id}#{job_id}"}, "sk": {"S": f"TO#{recipient.lower()}"}}


def event_endpoints_key(account_id: str) -> Key:
    """The account's event endpoints, beside its account item."""
    return {"pk": {"S": f"ACCOUNT#{account_id}"}, "sk": {"S": "EVENT_ENDPOINTS"}}


#: The sort key prefix of an endpoint's delivery log entries.
DELIVERY_PREFIX = "DELIVERY#"


def delivery_partition(account_id: str, endpoint_id: str) -> str:
    """An endpoint's delivery log: its entries only."""
    return f"ENDPOINT#{account_id}#{endpoint_id}"


def delivery_key(account_id: str, endpoint_id: str, event_id: str) -> Key:
    """One change event's entry in an endpoint's delivery log."""
    return {"pk": {"S": delivery_partition(account_id, endpoint_id)}, "sk": {"S": f"{DELIVERY_PREFIX}{event_id}"}}


def import_partition(account_id: str, import_id: str) -> str:
    """An import: its job item and its rejected rows."""
    return f"IMPORT#{account_id}#{import_id}"


def import_job_key(account_id: str, import_id: str) -> Key:
    """An import's job: what was asked, its progress and its counts."""
    return {"pk": {"S": import_partition(account_id, import_id)}, "sk": {"S": "JOB"}}


#: The sort key prefix of an import's rejected rows.
REJECTED_PREFIX = "REJECTED#"


def rejected_sort_key(last_line: int) -> str:
    """The sort key of the rejected rows up to `last_line` (fixed width: keys sort as the lines do)."""
    return f"{REJECTED_PREFIX}{last_line:09d}"


# --- items written by more than one module ---------------------------------------------------------


def inbound_item(inbound: LoggedInbound) -> dict[str, Any]:
    """The inbound log's item for a message (written by the inbound log, and by a number's commit)."""
    message = inbound.message
    when = {"S": f"{message.received_at.isoformat()}#{message.message_id}"}
    item = {
        **inbound_key(message.account_id, message.message_id),
        "gsi1pk": {"S": inbound_partition(message.account_id)},
        "gsi1sk": when,
        "doc": {"S": inbound.model_dump_json()},
    }
    if inbound.needs_review and inbound.review is None:
        item["gsi2pk"] = {"S": review_partition(message.account_id)}
        item["gsi2sk"] = when
    return item
