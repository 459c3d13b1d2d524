"""The logs' costs: index writes per text (before and after the campaign index was sharded and the activity index
added), and what reading a page of each log costs.

    .venv/bin/python benchmarks/bench_logs.py [--texts 4000] [--messages 2000] [--write BENCHMARKS.md]

Writes: the items the outbound log, the inbound log and a number's commit write (built by `chalicelib.adapters.
dynamodb`), and, for "before", the outbound item as it was built before this change (the campaign index keys on every
write, sort key the request id, no activity entry). Write units are estimated under DynamoDB's documented rules: 1 per
KB of the larger of the item before and after; each index the item is in before or after costs a write of its entry
(what it projects, plus 100 bytes: the whole item in gsi1 and gsi2, the keys, `doc`, `intent` and `review` in gsi3)
when the entry changes: one to add, update or remove it, two when its index key changes.

Reads: a campaign of `--texts` texts (90% sent, 9% skipped as suppressed, 1% failed) and an inbound log of
`--messages` messages from 100 numbers are stored on the embedded AWS endpoint (moto in this process, with the
project's DynamoDB patches); every page of each listing is read through the stores, each Query counted by botocore's
event hooks (requests, items returned, items the query passed over). Read units are estimated as DynamoDB charges a
Query on an index (eventually consistent): half a unit per 4 KB of the items it read, summed per request and rounded
up. Times are moto's on this machine, not DynamoDB's.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _report  # noqa: E402
from chalicelib.adapters.dynamodb import dynamodb_stores  # noqa: E402
from chalicelib.adapters.dynamodb.numbers import _event_item  # noqa: E402
from chalicelib.adapters.dynamodb.outbound import outbound_item  # noqa: E402
from chalicelib.adapters.dynamodb.table import (  # noqa: E402
    ACTIVITY_PROJECTION,
    CAMPAIGN_SHARDS,
    campaign_partition,
    campaign_shard,
    inbound_item,
    outbound_key,
)
from chalicelib.domain.models import (  # noqa: E402
    Action,
    Event,
    EventRecord,
    InboundMessage,
    Intent,
    LoggedInbound,
    OutboundRecord,
    SendRequest,
    Source,
    Suppression,
)
from chalicelib.domain.ports import InboundFilter  # noqa: E402
from tests.integration.contract.examples import job_of  # noqa: E402
from tools import local_stack  # noqa: E402

TITLE = "Logs: index writes per text, and what a page costs"
ACCOUNT = "acme"
CAMPAIGN = "june"
SENDER = "+14155550100"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
INDEXES = (("gsi1pk", "gsi1sk"), ("gsi2pk", "gsi2sk"), ("gsi3pk", "gsi3sk"))
INDEX_OVERHEAD = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=4000, help="texts of the campaign read back (default 4000)")
    parser.add_argument("--messages", type=int, default=2000, help="inbound messages read back (default 2000)")
    parser.add_argument("--write", metavar="FILE", help="replace this script's section of FILE (e.g. BENCHMARKS.md)")
    args = parser.parse_args()
    writes = _writes()
    endpoint = local_stack.start_aws()
    try:
        reads = _reads(endpoint.url, args.texts, args.messages)
    finally:
        endpoint.stop()
    body = "\n\n".join([_report.machine(), writes, reads])
    print(body)
    _report.write_if_asked(args.write, TITLE, body)


# --- writes --------------------------------------------------------------------------------------------------------


def _size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names and values in UTF-8 (numbers roughly as text)."""
    return sum(len(name.encode()) + len(next(iter(value.values())).encode()) for name, value in item.items())


def _entry(item: dict[str, Any] | None, pk: str, sk: str) -> dict[str, Any] | None:
    """The index entry of `item` in the index keyed (`pk`, `sk`): None when the item is not in it."""
    if not item or pk not in item:
        return None
    if pk != "gsi3pk":  # projection ALL
        return item
    kept = ("pk", "sk", pk, sk, *ACTIVITY_PROJECTION)
    return {name: value for name, value in item.items() if name in kept}


def _units(before: dict[str, Any] | None, after: dict[str, Any]) -> tuple[int, int]:
    """(table WCU, index WCU) of writing `after` over `before`."""
    table = math.ceil(max(_size(before or {}), _size(after)) / 1024)
    index = 0
    for pk, sk in INDEXES:
        old, new = _entry(before, pk, sk), _entry(after, pk, sk)
        old_cost = math.ceil((_size(old) + INDEX_OVERHEAD) / 1024) if old else 0
        new_cost = math.ceil((_size(new) + INDEX_OVERHEAD) / 1024) if new else 0
        if old and new and (old[pk], old[sk]) != (new[pk], new[sk]):
            index += old_cost + new_cost  # the entry moves: a delete and a put
        elif old != new:
            index += max(old_cost, new_cost)
    return table, index


def _old_outbound_item(record: OutboundRecord) -> dict[str, Any]:
    """The outbound item as it was built before: the campaign index on every write, by request id; no activity."""
    request = record.request
    item = {
        **outbound_key(request.account_id, request.request_id),
        "status": {"S": record.status},
        "doc": {"S": record.model_dump_json()},
    }
    if request.campaign_id:
        item["gsi1pk"] = {"S": campaign_partition(request.account_id, request.campaign_id)}
        item["gsi1sk"] = {"S": request.request_id}
    return item


def _request(n: int) -> SendRequest:
    return SendRequest(
        request_id=f"{CAMPAIGN}:{n}",
        account_id=ACCOUNT,
        to=f"+1415555{n % 10000:04d}",
        sender=SENDER,
        body="June sale: 20% off everything in store this weekend. Reply STOP to opt out.",
        campaign_id=CAMPAIGN,
        user_email="ana@example.com",
    )


def _blocked() -> Suppression:
    return Suppression(scope="all", source=Source.KEYWORD, since=T0, event_id="twilio:SM1", actor="twilio:SM1")


def _histories() -> dict[str, list[OutboundRecord]]:
    """The records one text's item goes through, by what became of it."""
    request = _request(1)

    def at(status: str, seconds: int, **extra: Any) -> OutboundRecord:
        return OutboundRecord(request=request, status=status, updated_at=T0 + timedelta(seconds=seconds), **extra)

    return {
        "sent": [at("sending", 0), at("sent", 1, provider="twilio", provider_message_id="SM" + "0" * 32)],
        "skipped (suppressed)": [at("skipped", 0, reason="suppressed", blocked_by=(_blocked(),))],
        "sent after one retry": [
            at("sending", 0),
            at("retrying", 1, reason="provider_retry", provider="twilio", error_code="429"),
            at("sending", 2),
            at("sent", 3, provider="twilio", provider_message_id="SM" + "0" * 32),
        ],
    }


def _writes() -> str:
    rows = []
    for label, records in _histories().items():
        for name, build in (("before", _old_outbound_item), ("after", outbound_item)):
            table = index = 0
            previous: dict[str, Any] | None = None
            for record in records:
                item = build(record)
                units = _units(previous, item)
                table, index = table + units[0], index + units[1]
                previous = item
            rows.append([label, name, str(len(records)), str(table), str(index), str(table + index)])
    message = _inbound(0, Intent.NONE)
    before_inbound = {k: v for k, v in inbound_item(message).items() if not k.startswith("gsi3") and k != "intent"}
    event = _event_record()
    before_event = {k: v for k, v in _event_item(event, None, None).items() if not k.startswith("gsi3")}
    for label, old, new in (
        ("inbound message", before_inbound, inbound_item(message)),
        ("history event", before_event, _event_item(event, None, None)),
    ):
        for name, item in (("before", old), ("after", new)):
            table, index = _units(None, item)
            rows.append([label, name, "1", str(table), str(index), str(table + index)])
    # An opt-out's event with its email job: stored in the outbox (gsi2), then taken out once queued.
    with_job = _event_item(event, job_of(event), None)
    for name, item in (
        ("before", {k: v for k, v in with_job.items() if not k.startswith("gsi3")}),
        ("after", with_job),
    ):
        queued = {k: v for k, v in item.items() if k not in ("gsi2pk", "gsi2sk")}
        first, then = _units(None, item), _units(item, queued)
        table, index = first[0] + then[0], first[1] + then[1]
        rows.append(
            ["history event with an email job, then queued", name, "2", str(table), str(index), str(table + index)]
        )
    sizes = {
        "outbound (sent)": _size(outbound_item(_histories()["sent"][1])),
        "outbound (skipped)": _size(outbound_item(_histories()["skipped (suppressed)"][0])),
        "inbound message": _size(inbound_item(message)),
        "history event": _size(_event_item(event, None, None)),
    }
    return "\n".join(
        [
            "### Index writes per text",
            "",
            "Write units of one text's outbound item over its life, before (the campaign index written by the claim "
            "too, keyed by request id) and after (no index entry while `sending`; the campaign index sharded and "
            "keyed by outcome; the recipient's activity entry), and of an inbound message and a history event "
            "(each now also in the activity index). Per text, the writes are the same requests as before: the index "
            "entries ride on writes the send path makes anyway.",
            "",
            _report.table(["item", "", "writes", "table WCU", "index WCU", "WCU"], rows),
            "",
            "Item sizes (bytes): " + ", ".join(f"{name} {size}" for name, size in sizes.items()) + ".",
            "",
            f"A campaign sent at 1,000 texts a second writes its index entries over {CAMPAIGN_SHARDS} partitions: "
            f"about {1000 / CAMPAIGN_SHARDS:.0f} a second each (1 WCU each at these sizes), against DynamoDB's "
            "1,000 WCU a second per partition; before, all 1,000 (2,000 counting the claims' entries) went to one.",
        ]
    )


def _event_record() -> EventRecord:
    event = Event(
        event_id="twilio:SM1",
        account_id=ACCOUNT,
        phone="+14155550123",
        action=Action.OPT_OUT,
        scopes=("all",),
        source=Source.KEYWORD,
        occurred_at=T0,
        received_at=T0,
        actor="twilio:SM1",
        message="STOP",
    )
    return EventRecord(event=event, outcome="applied", changes=(), sequence=1)


def _inbound(n: int, intent: Intent, review: bool = False) -> LoggedInbound:
    message = InboundMessage(
        carrier="twilio",
        message_id=f"SM{n:032d}",
        account_id=ACCOUNT,
        from_phone=f"+1415555{n % 100:04d}",
        to_phone=SENDER,
        body="STOP" if intent is Intent.OPT_OUT else "What time do you open on Saturday?",
        occurred_at=T0 + timedelta(minutes=n),
        received_at=T0 + timedelta(minutes=n),
    )
    return LoggedInbound(message=message, intent=intent, reason="keyword STOP", confidence=0.5, needs_review=review)


# --- reads ---------------------------------------------------------------------------------------------------------


class QueryMeter:
    """Counts Query requests and the items each returned and passed over, and estimates their read units."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes
        self.lock = threading.Lock()
        self.requests = 0
        self.items = 0
        self.scanned = 0
        self.rcu = 0.0

    def after_query(self, parsed: dict[str, Any], **_: Any) -> None:
        scanned = parsed.get("ScannedCount", 0)
        # Passed-over items are charged too: count them at the median item's size.
        returned = [self.sizes.get(_pk(item), self.sizes["median"]) for item in parsed.get("Items", [])]
        passed = (scanned - len(returned)) * self.sizes["median"]
        with self.lock:  # the campaign log queries its shards from several threads
            self.requests += 1
            self.items += parsed.get("Count", 0)
            self.scanned += scanned
            self.rcu += math.ceil((sum(returned) + passed) / 4096) * 0.5

    def take(self) -> tuple[int, int, int, float]:
        taken = (self.requests, self.items, self.scanned, self.rcu)
        self.requests = self.items = self.scanned = 0
        self.rcu = 0.0
        return taken


def _pk(item: dict[str, Any]) -> str:
    """The table key of an item a query returned (the campaign log projects only its sort key and document)."""
    if "pk" in item:
        return str(item["pk"]["S"])
    return f"OUTBOUND#{ACCOUNT}#{item['gsi1sk']['S'].split('#', 2)[2]}"


def _reads(url: str, texts: int, messages: int) -> str:
    resources = local_stack.create_resources(url)
    client = local_stack.client("dynamodb", url)
    stores = dynamodb_stores(client, resources.table_name)
    sizes: dict[str, int] = {}
    items = []
    for n in range(texts):
        request = _request(n)
        if n % 100 == 0:
            record = OutboundRecord(
                request=request, status="failed", reason="unreachable", error_code="30003", updated_at=T0
            )
        elif n % 11 == 0:
            record = OutboundRecord(
                request=request, status="skipped", reason="suppressed", blocked_by=(_blocked(),), updated_at=T0
            )
        else:
            record = OutboundRecord(request=request, status="sent", provider="twilio", updated_at=T0)
        items.append(outbound_item(record))
    for n in range(messages):
        intent = Intent.OPT_OUT if n % 20 == 0 else Intent.HELP if n % 50 == 1 else Intent.NONE
        items.append(inbound_item(_inbound(n, intent, review=n % 33 == 2)))
    for item in items:
        sizes[item["pk"]["S"]] = _size(item)
    sizes["median"] = sorted(sizes.values())[len(sizes) // 2]
    started = time.perf_counter()
    for start in range(0, len(items), 25):
        request_items = {resources.table_name: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        while request_items:
            request_items = client.batch_write_item(RequestItems=request_items).get("UnprocessedItems") or {}
    stored = time.perf_counter() - started
    meter = QueryMeter(sizes)
    client.meta.events.register("after-call.dynamodb.Query", lambda parsed, **kw: meter.after_query(parsed))
    shard_sizes = Counter(campaign_shard(f"{CAMPAIGN}:{n}") for n in range(texts))
    rows = []

    def measure(label: str, page_size: int, read_page) -> None:
        pages, found, cursor, seconds = 0, 0, None, 0.0
        while True:
            began = time.perf_counter()
            entries, cursor = read_page(cursor, page_size)
            seconds += time.perf_counter() - began
            pages += 1
            found += len(entries)
            if cursor is None:
                break
        requests, returned, scanned, rcu = meter.take()
        rows.append(
            [
                label,
                f"{page_size}",
                f"{found:,}",
                f"{pages}",
                f"{requests / pages:.1f}",
                f"{scanned / pages:.1f}",
                f"{rcu / pages:.1f}",
                f"{1000 * seconds / pages:.0f}",
            ]
        )

    outbound = stores.outbound
    for label, outcome, reason in (
        ("campaign, outcome=sent", "sent", None),
        ("campaign, outcome=skipped&reason=suppressed", "skipped", "suppressed"),
        ("campaign, outcome=failed", "failed", None),
        ("campaign, outcome=any", None, None),
    ):
        measure(
            label,
            100,
            lambda cursor, limit, o=outcome, r=reason: outbound.campaign_log(ACCOUNT, CAMPAIGN, o, r, cursor, limit),
        )
    inbound = stores.inbound
    phone = "+14155550007"
    for label, search in (
        ("inbound log, no filter", None),
        ("inbound, intent=opt_out (5%)", InboundFilter(intent=Intent.OPT_OUT)),
        ("inbound, intent=help (2%)", InboundFilter(intent=Intent.HELP)),
        ("inbound, review=pending (3%, the review index)", InboundFilter(review="pending")),
        ("inbound, one number (1%, its activity)", InboundFilter(phone=phone)),
        ("inbound, one hour (3%)", InboundFilter(since=T0 + timedelta(hours=5), until=T0 + timedelta(hours=6))),
    ):
        measure(label, 50, lambda cursor, limit, s=search: inbound.list_inbound(ACCOUNT, cursor, limit, search=s))
    assert stores.activity is not None
    activity = stores.activity
    measure("activity of one number", 50, lambda cursor, limit: activity.activity(ACCOUNT, phone, cursor, limit))
    return "\n".join(
        [
            "### What a page costs",
            "",
            f"{texts:,} texts of one campaign and {messages:,} inbound messages from 100 numbers (the number read, "
            f"{phone}, sent {messages // 100} of them and was sent 1 text) stored in {stored:.1f} s; every page "
            "of each listing read in turn. Per page: Query requests, items DynamoDB read (returned or passed over "
            "by a filter), estimated read units, and milliseconds on the embedded endpoint.",
            "",
            _report.table(
                ["listing", "limit", "found", "pages", "requests", "items read", "RCU", "ms"],
                rows,
            ),
            "",
            f"The campaign's texts over the {CAMPAIGN_SHARDS} shards: {min(shard_sizes.values())} to "
            f"{max(shard_sizes.values())} a shard (even: {texts / CAMPAIGN_SHARDS:.0f}). A campaign page asks each "
            "shard for its share of the page plus 4 and merges them; the items read beyond the page are read again "
            "by the next page. An intent filter reads every message it passes over (up to 1,000 a call); a number "
            "reads only its own activity partition.",
        ]
    )


if __name__ == "__main__":
    main()
