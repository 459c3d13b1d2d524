"""The single table: its key schema, and every key the adapters of this package read or write.

Each item keeps its model as a JSON document (`doc`) beside the key attributes: one attribute to
read and write, parsed by pydantic in C, and the DynamoDB console still shows it readably.

Items (pk / sk), with the module that owns them:
- `ACCOUNT#<account>` / `ACCOUNT` (accounts): `doc`, the Account: settings and token hashes.
- `NUMBER#<account>#<phone>` / `STATE` (numbers, the only writer): `doc`, the NumberState without its
  version: active suppressions and per-scope clock; `version` (N), counting the events that changed it,
  absent while only the send path has touched the number; `gsi1pk = SUPPRESSED#<account>#<shard>`,
  `gsi1sk = <phone>` while anything is suppressed (a sparse index: the suppression list, spread over
  `SUPPRESSED_SHARDS` partitions by a hash of the phone: see `suppressed_shard`). The send path's last claim
  adds `last_send_at`, `last_request_id`, `last_user_email`, `contact_email`, and for a campaign's text
  `last_campaign_id`, `last_campaign_at`; each claim of a send request adds `send#<request id>` (N, epoch
  seconds), removed when the request is handed back for a retry or, by a
  later claim, once it is a day old.
- `NUMBER#<account>#<phone>` / `EVENT#<event id>` (written by numbers, read by history): `doc`, the
  EventRecord (the key makes each event idempotent). With an email job: `job`, the NotificationJob,
  and while it is not yet queued `gsi2pk = OUTBOX#<shard>`, `gsi2sk = <received at>#<event id>` (the outbox,
  spread over `OUTBOX_SHARDS` partitions by a hash of the event id: see `outbox_partition`).
- `INBOUND#<account>#<message id>` / `INBOUND` (inbound, and numbers in the same transaction as an
  event): `doc`, the LoggedInbound; `gsi1pk = INBOUND#<account>`, `gsi1sk = <received at>#<message id>`
  for the log newest first; while it awaits an admin's review, `gsi2pk = REVIEW#<account>`, `gsi2sk`
  likewise (a sparse index: the review queue). `intent` and `review` (`pending`, `resolved`, absent) beside the
  document, for the log's filters; and its entry in the number's activity (`gsi3`, below).
- `OUTBOUND#<account>#<request id>` / `OUTBOUND` (outbound): `status` and `doc`, the OutboundRecord. Once its
  outcome is known (any status but `sending`: a claim writes no index entry), and when it has a campaign, the log by
  campaign: `gsi1pk = CAMPAIGN#<account>#<campaign>#<shard>`, `gsi1sk = <status>#<reason>#<request id>`; and its
  entry in the recipient's activity (`gsi3`, below). The campaign index is spread over CAMPAIGN_SHARDS (16)
  partitions, `<shard>` (two digits) a CRC-32 of the request id modulo 16: a 1,000,000-text campaign sent at 1,000
  texts a second writes ~60 index entries a second per partition, not 1,000 on one (DynamoDB's cap is 1,000 WCU a
  second per partition). A listing queries the 16 in parallel and merges them by sort key; the sort key starts with
  the outcome and reason, so `outcome=skipped&reason=suppressed` reads only those entries (a key condition, not a
  filter). Its price: a record whose status changes after it was indexed (`retrying`, then `sent`) moves its entry
  (a delete and a put); since `sending` is not indexed, a text sent at once writes one entry, not the two it wrote
  when the claim was indexed too.
- `CAMPAIGN#<account>#<campaign>` / `COUNTS` (outbound): one number attribute per outcome (`sent`,
  `skipped:suppressed`, ...), added to once per batch after the batch's outcomes are stored.
- The activity index (`gsi3`, one partition per number, newest first): `gsi3pk = ACTIVITY#<account>#<phone>`,
  `gsi3sk = <at>#<kind>#<id>` on the number's outbound items (`sent`, at the record's `updated_at`, by request id),
  inbound items (`reply`, at `received_at`, by message id) and history events (`change`, at `received_at`, by event
  id): one Query gives a number's timeline a page at a time. It costs one index write per text (on the outbound
  item's final write: no extra request), per inbound message and per history event. It projects `doc`, `intent` and
  `review` only (ACTIVITY_PROJECTION), so the outbox's update of an event item writes nothing to it.
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
- `REPORT#<account>#<shard, 2 digits>` / `DAY#<yyyy-mm-dd>` (reports; added to by numbers in an event's
  transaction): one number attribute per counter of the opt-out report (`reports.counter_name`: `o`,
  `i#s#keyword`, `o#c#spring`, ...), ADDed to; an account's counters spread over REPORT_SHARDS partitions by the
  phone, a day's being one item in each.
- The number's state item also gets `last_campaign_id` and `last_campaign_at` from the send path's claim of a
  campaign's text (read with the state as `NumberState.last_campaign`).
"""

from __future__ import annotations

import hashlib
import zlib
from datetime import datetime
from typing import Any

from chalicelib.domain.models import Event, LoggedInbound, OutboundRecord

GSI1 = "gsi1"
GSI2 = "gsi2"
#: The activity index: a number's texts sent, replies received and changes, newest first.
GSI3 = "gsi3"
#: What the activity index holds besides the keys: an update that changes none of these nor a key (the outbox taking
#: an event's job out, say) writes nothing to it.
ACTIVITY_PROJECTION = ("doc", "intent", "review")
#: The partitions the campaign index of one campaign is spread over (a campaign's texts, by request id).
CAMPAIGN_SHARDS = 16
#: The outbox index partition (on GSI2): email jobs stored with their event and not yet queued. Events stored before
#: the outbox was sharded are listed here alone; the sweep still reads it (see `outbox_partitions`).
OUTBOX = "OUTBOX"
#: How many GSI2 partitions the outbox is spread over. Every opt-out and opt-in of every account is written to the
#: outbox and removed from it once queued, two index writes of 1 to 2 KB each: one partition (1,000 WCU a second)
#: would cap all accounts together at about 250 changes a second, below a 100,000-row import in 5 minutes
#: (docs/capacity.md "Hot keys"). 16 shards take 16 times that; the sweep reads each shard (16 small queries
#: every 5 minutes). Raising it is safe (the sweep reads every shard below it); lowering it would leave the events
#: of the dropped shards unswept until they are moved.
OUTBOX_SHARDS = 16
#: How many GSI1 partitions an account's suppression list is spread over. Every change of an account's suppressions
#: writes its number's entry (1 WCU): one partition (1,000 WCU a second) would cap an account at 1,000 changes a
#: second, a 100,000-row import at 100 s, below 10 times the import target (docs/capacity.md "Hot keys"). 8 shards
#: take 8,000 a second; a page of the list is a merge of the 8 (and the unsharded partition of before) in phone order.
#: Raising it is safe; lowering it would hide the dropped shards' numbers from the list until they change again.
SUPPRESSED_SHARDS = 8
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
            for name in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk")
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
            {
                "IndexName": GSI3,
                "KeySchema": [
                    {"AttributeName": "gsi3pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi3sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(ACTIVITY_PROJECTION)},
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
    """The GSI1 partition that listed the account's suppressed numbers before the list was sharded (numbers not
    changed since are still listed there)."""
    return f"SUPPRESSED#{account_id}"


def suppressed_shard(account_id: str, phone: str) -> str:
    """The GSI1 partition listing a suppressed number: `SUPPRESSED#<account>#<shard>`, the shard a stable hash of
    the phone."""
    return f"{suppressed_partition(account_id)}#{_shard(phone, SUPPRESSED_SHARDS):02d}"


def suppressed_partitions(account_id: str) -> tuple[str, ...]:
    """Every partition of the account's suppression list: each shard, then the unsharded one of before."""
    partition = suppressed_partition(account_id)
    return (*(f"{partition}#{shard:02d}" for shard in range(SUPPRESSED_SHARDS)), partition)


def _shard(value: str, shards: int) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big") % shards


def outbox_partition(event_id: str) -> str:
    """The GSI2 partition of an event's pending jobs: `OUTBOX#<shard>`, the shard a stable hash of the event id."""
    return f"{OUTBOX}#{_shard(event_id, OUTBOX_SHARDS):02d}"


def outbox_partitions() -> tuple[str, ...]:
    """Every partition the outbox sweep reads: each shard, then the unsharded one of events stored before."""
    return (*(f"{OUTBOX}#{shard:02d}" for shard in range(OUTBOX_SHARDS)), OUTBOX)


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
    """The campaign's counters item's partition (its outbound items are indexed under `campaign_index_partition`)."""
    return f"CAMPAIGN#{account_id}#{campaign_id}"


def campaign_shard(request_id: str) -> int:
    """The campaign index shard of a request: stable across processes and releases (CRC-32, not `hash`)."""
    return zlib.crc32(request_id.encode()) % CAMPAIGN_SHARDS


def campaign_index_partition(account_id: str, campaign_id: str, shard: int) -> str:
    """One of the CAMPAIGN_SHARDS GSI1 partitions of the campaign's outbound items."""
    return f"{campaign_partition(account_id, campaign_id)}#{shard:02d}"


def outcome_prefix(status: str | None, reason: str | None = None) -> str:
    """The start of the campaign index sort keys of `status` (and `reason`): `skipped#suppressed#`, `sent#`."""
    if status is None:
        return ""
    return f"{status}#" if reason is None else f"{status}#{reason}#"


def outcome_sort_key(status: str, reason: str | None, request_id: str) -> str:
    """A record's campaign index sort key: by outcome, reason, then request id (none of which holds a `#`)."""
    return f"{status}#{reason or ''}#{request_id}"


def activity_partition(account_id: str, phone: str) -> str:
    """The GSI3 partition of a number's activity."""
    return f"ACTIVITY#{account_id}#{phone}"


def activity_keys(account_id: str, phone: str, at: datetime, kind: str, entry_id: str) -> dict[str, Any]:
    """The activity index keys of one entry of a number's timeline (`kind`: sent, reply or change)."""
    return {
        "gsi3pk": {"S": activity_partition(account_id, phone)},
        "gsi3sk": {"S": f"{at.isoformat()}#{kind}#{entry_id}"},
    }


def outbound_index_keys(record: OutboundRecord) -> dict[str, Any]:
    """The index keys of an outbound record: its campaign entry (with a campaign) and its recipient's activity entry.
    The one place these keys are computed."""
    request = record.request
    keys = activity_keys(request.account_id, request.to, record.updated_at, "sent", request.request_id)
    if request.campaign_id:
        shard = campaign_shard(request.request_id)
        keys["gsi1pk"] = {"S": campaign_index_partition(request.account_id, request.campaign_id, shard)}
        keys["gsi1sk"] = {"S": outcome_sort_key(record.status, record.reason, request.request_id)}
    return keys


def event_activity_keys(event: Event) -> dict[str, Any]:
    """The activity index keys of a history event."""
    return activity_keys(event.account_id, event.phone, event.received_at, "change", event.event_id)


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


def groups_partition(account_id: str) -> str:
    """The account's named groups, by id."""
    return f"GROUPS#{account_id}"


def group_key(account_id: str, group_id: str) -> Key:
    """One named group."""
    return {"pk": {"S": groups_partition(account_id)}, "sk": {"S": group_id}}


def group_word_partition(account_id: str) -> str:
    """The index of the account's group names: one item per word of a name."""
    return f"GROUPWORDS#{account_id}"


def group_word_key(account_id: str, word: str, group_id: str) -> Key:
    """A word of a group's name, in the name index (words have no `#`: they are letters, digits and `_`)."""
    return {"pk": {"S": group_word_partition(account_id)}, "sk": {"S": f"{word}#{group_id}"}}


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
        "intent": {"S": inbound.intent.value},
        **activity_keys(message.account_id, message.from_phone, message.received_at, "reply", message.message_id),
    }
    if inbound.needs_review:
        item["review"] = {"S": "pending" if inbound.review is None else "resolved"}
    if inbound.needs_review and inbound.review is None:
        item["gsi2pk"] = {"S": review_partition(message.account_id)}
        item["gsi2sk"] = when
    return item


#: An account's report counters are spread over this many partitions (by the phone), a day's being one item in each: an
#: import at 333 rows a second (666 write units a second of counters) writes about 21 a second on each, against a
#: partition's 1,000 (one partition would cap it at 500 rows a second), and concurrent events of one account rarely
#: write the same item, so their transactions rarely conflict (an import runs 8 numbers at once: each meets one of the 7
#: others on its item about 1 - (31/32)^7 = 20% of the time at worst, and is retried). A report reads all of them: a
#: Query each, a day up to this many items, a year up to 11,712 (only days and shards that had an event have one).
REPORT_SHARDS = 32


def report_partition(account_id: str, shard: int) -> str:
    """One shard of the account's report counters: its items of every day, in date order."""
    return f"REPORT#{account_id}#{shard:02d}"


def report_day_sort_key(day: str) -> str:
    """The sort key of a day's counter item (`day` as YYYY-MM-DD)."""
    return f"DAY#{day}"


def report_day_key(account_id: str, day: str, shard: int) -> Key:
    """One shard of an account's report counters of one day."""
    return {"pk": {"S": report_partition(account_id, shard)}, "sk": {"S": report_day_sort_key(day)}}
