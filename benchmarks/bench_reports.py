"""The opt-out report's counters on DynamoDB: what they add to each opt-out's write, and what a year's report reads.

Run from the project root:

    .venv/bin/python benchmarks/bench_reports.py [--opt-outs 2000] [--write BENCHMARKS.md]

Against the embedded AWS endpoint (moto's server on 127.0.0.1, `tools.local_stack.start_aws`, in this process), on
the DynamoDB adapters:

1. A busy day of one account: `--opt-outs` contacts, each first texted by one of 5 campaigns from one of 3 senders (the
   send path's claim, `claim_recipient`), then texting an opt-out through the webhook use case
   (`services.receive_inbound`): keywords (STOP, Stop please, BAJA, UNSUBSCRIBE, END, ARRET) and phrasings the
   detector reads ("please stop texting me", "wrong number", ...); every tenth then texts START. Every
   TransactWriteItems is counted by botocore's event hooks. Write units are estimated from the items' sizes as
   DynamoDB counts them (attribute names and values): 2 per KB in a transaction, plus the index entries an item
   has (its size and 100 bytes, per KB). The items' sizes are read back after the day: an update costs the larger of
   the item before and after, so the counter items' final (largest) sizes give the upper bound.
2. A year's report: every day of a year given the same counter items as that day (all 32 shards, the worst case),
   then the report by week and by campaign through `reports.opt_out_report`: Query pages, items and bytes read,
   read units (eventually consistent, as the store reads: half a unit per 4 KB of the items a page reads), and the
   time on the embedded endpoint (moto's, not DynamoDB's).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _report  # noqa: E402  (benchmarks/, the script's directory, is on sys.path)
import boto3  # noqa: E402

from chalicelib.adapters.dynamodb import dynamodb_stores  # noqa: E402
from chalicelib.adapters.dynamodb.parallel import SHARD_THREADS  # noqa: E402
from chalicelib.adapters.dynamodb.table import (  # noqa: E402
    REPORT_SHARDS,
    report_day_sort_key,
    report_partition,
)
from chalicelib.domain import reports, services  # noqa: E402
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account  # noqa: E402
from chalicelib.domain.models import InboundMessage, SendRequest  # noqa: E402
from tests.containers import RecordingQueue, registry  # noqa: E402
from tests.fakes import InMemorySecretStore  # noqa: E402
from tools import local_stack  # noqa: E402

TITLE = "Opt-out report counters"
ACCOUNT = "acme"
REGION = "us-east-1"
SENDERS = ("+14155550100", "+14155550101", "+14155550102")
CAMPAIGNS = tuple(f"campaign-{n}" for n in range(1, 6))
MESSAGES = (
    "STOP",
    "Stop please",
    "BAJA",
    "UNSUBSCRIBE",
    "END",
    "ARRET",
    "please stop texting me",
    "wrong number",
    "take me off your list",
    "stpo",
)
DAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--opt-outs", type=int, default=2000, help="contacts who opt out on the day (default 2000)")
    parser.add_argument("--write", metavar="FILE", help="replace this script's section of FILE (e.g. BENCHMARKS.md)")
    args = parser.parse_args()
    endpoint = local_stack.start_aws()
    try:
        body = _run(args.opt_outs, endpoint.url)
    finally:
        endpoint.stop()
    print(body)
    _report.write_if_asked(args.write, TITLE, body)


class Transactions:
    """The items of every TransactWriteItems, by kind (state, event, inbound, counters), and their keys."""

    def __init__(self) -> None:
        self.count = 0
        self.items: Counter[str] = Counter()
        self.keys: dict[str, list[tuple[str, str]]] = {}

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", self._count)

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        self.count += 1
        for entry in params["TransactItems"]:
            ((_, request),) = entry.items()
            key = request.get("Key") or request["Item"]
            pk, sk = key["pk"]["S"], key["sk"]["S"]
            kind = "counters" if pk.startswith("REPORT#") else sk.split("#")[0].lower()
            self.items[kind] += 1
            self.keys.setdefault(kind, []).append((pk, sk))


def _size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: names, plus strings' UTF-8 bytes, numbers' (about) half-digits."""
    size = 0
    for name, value in item.items():
        ((kind, raw),) = value.items()
        size += len(name.encode())
        size += (len(raw.lstrip("-").replace(".", "")) + 1) // 2 + 1 if kind == "N" else len(str(raw).encode())
    return size


def _units(size: int, indexed: int = 0) -> int:
    return math.ceil(size / 1024) * 2 + indexed * math.ceil((size + 100) / 1024)


def _run(opt_outs: int, url: str) -> str:
    resources = local_stack.create_resources(url, region=REGION)
    client = boto3.client("dynamodb", endpoint_url=url, region_name=REGION)
    transactions = Transactions()
    transactions.attach(client)
    stores = dynamodb_stores(client, resources.table_name)
    account, _, _ = upsert_account(
        stores.accounts, InMemorySecretStore(), registry(), ACCOUNT, AccountSettingsIn(name="Acme"), DAY
    )
    queue = RecordingQueue()
    phones = [f"+1415{3000000 + n:07d}" for n in range(opt_outs)]
    # The day: each contact texted by a campaign at 9:00, answering during the day; every tenth texts START later.
    started = time.perf_counter()
    for n, phone in enumerate(phones):
        sender, campaign = SENDERS[n % len(SENDERS)], CAMPAIGNS[n % len(CAMPAIGNS)]
        request = SendRequest(
            request_id=f"{campaign}:{phone}",
            account_id=ACCOUNT,
            to=phone,
            sender=sender,
            body="Sale",
            campaign_id=campaign,
        )
        stores.numbers.claim_recipient(request, 0, DAY)
        at = DAY + timedelta(seconds=10 + n * 20)
        services.receive_inbound(stores, queue, account, _text(f"SM{n}", phone, sender, MESSAGES[n % 10], at))
        if n % 10 == 9:
            later = at + timedelta(seconds=5)
            services.receive_inbound(stores, queue, account, _text(f"SM{n}b", phone, sender, "START", later))
    day_seconds = time.perf_counter() - started

    # The items' sizes, read back.
    def sizes(kind: str) -> list[tuple[int, int]]:
        found = []
        for pk, sk in dict.fromkeys(transactions.keys.get(kind, [])):
            item = client.get_item(TableName=resources.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}})["Item"]
            indexed = sum(1 for name in ("gsi1pk", "gsi2pk") if name in item)
            found.append((_size(item), indexed))
        return found

    by_kind = {kind: sizes(kind) for kind in ("state", "event", "inbound", "counters")}
    units = {kind: statistics.mean(_units(size, indexed) for size, indexed in found) for kind, found in by_kind.items()}
    counter_sizes = [size for size, _ in by_kind["counters"]]
    counter_items = len(counter_sizes)
    per_transaction = {kind: count / transactions.count for kind, count in transactions.items.items()}
    without = sum(units[kind] * per_transaction.get(kind, 0) for kind in ("state", "event", "inbound"))
    extra = units["counters"] * per_transaction.get("counters", 0)
    counted = reports.opt_out_report(
        stores.reports,  # type: ignore[arg-type]
        stores.outbound,
        ACCOUNT,
        DAY.date(),
        DAY.date() + timedelta(days=1),
        "keyword",
    )

    # A year: every day gets the day's counter items (every shard), then the report by week and by campaign.
    day_items = [
        client.get_item(TableName=resources.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}})["Item"]
        for pk, sk in dict.fromkeys(transactions.keys["counters"])
    ]
    last = DAY.date()
    first = last - timedelta(days=reports.MAX_DAYS - 1)
    seeded = 0
    for offset in range(reports.MAX_DAYS - 1):
        day = (first + timedelta(days=offset)).isoformat()
        batch = []
        for item in day_items:
            batch.append({"PutRequest": {"Item": {**item, "sk": {"S": report_day_sort_key(day)}}}})
        for start in range(0, len(batch), 25):
            client.batch_write_item(RequestItems={resources.table_name: batch[start : start + 25]})
        seeded += len(batch)
    pages: list[dict[str, Any]] = []

    def count_query(params: dict[str, Any], **_: Any) -> None:
        pages.append(params)

    client.meta.events.register("provide-client-params.dynamodb.Query", count_query)
    year: dict[str, tuple[float, int, int, int, float]] = {}  # seconds, queries, items, bytes, read units
    for by in ("week", "campaign"):
        pages.clear()
        started = time.perf_counter()
        report = reports.opt_out_report(stores.reports, stores.outbound, ACCOUNT, first, last, by)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        assert report.totals.opt_outs >= counted.totals.opt_outs * (reports.MAX_DAYS - 1)
        year[by] = (seconds, len(pages), *_read_cost(client, resources.table_name, first, last))
    return _body(
        opt_outs,
        phones,
        transactions,
        per_transaction,
        units,
        without,
        extra,
        counter_sizes,
        counter_items,
        counted,
        day_seconds,
        seeded,
        year,
    )


def _read_cost(client: Any, table: str, first: Any, last: Any) -> tuple[int, int, float]:
    """Items and bytes the year's Queries read (one per shard), and their read units (half a unit per 4 KB a page
    reads, at least half a unit a page: eventually consistent, as the store reads)."""
    items, size, units = 0, 0, 0.0
    for shard in range(REPORT_SHARDS):
        start = None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            answer = client.query(
                TableName=table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
                ExpressionAttributeValues={
                    ":pk": {"S": report_partition(ACCOUNT, shard)},
                    ":a": {"S": report_day_sort_key(first.isoformat())},
                    ":b": {"S": report_day_sort_key(last.isoformat())},
                },
                **extra,
            )
            page = sum(_size(item) for item in answer["Items"])
            items, size = items + len(answer["Items"]), size + page
            units += max(math.ceil(page / 4096), 1) / 2
            start = answer.get("LastEvaluatedKey")
            if not start:
                break
    return items, size, units


def _text(message_id: str, phone: str, sender: str, body: str, at: datetime) -> InboundMessage:
    return InboundMessage(
        carrier="twilio",
        message_id=message_id,
        account_id=ACCOUNT,
        from_phone=phone,
        to_phone=sender,
        body=body,
        occurred_at=at,
        received_at=at,
    )


def _body(
    opt_outs: int,
    phones: list[str],
    transactions: Transactions,
    per_transaction: dict[str, float],
    units: dict[str, float],
    without: float,
    extra: float,
    counter_sizes: list[int],
    counter_items: int,
    counted: reports.OptOutReport,
    day_seconds: float,
    seeded: int,
    year: dict[str, tuple[float, int, int, int, float]],
) -> str:
    starts = opt_outs // 10
    lines = [
        _report.machine(),
        "",
        f"`benchmarks/bench_reports.py --opt-outs {opt_outs}`, against the embedded endpoint (moto, in process) on the "
        f"DynamoDB adapters. A day of one account: {opt_outs:,} contacts, each texted first by one of "
        f"{len(CAMPAIGNS)} campaigns from one of {len(SENDERS)} senders, then opting out through the webhook use case "
        f"({len(MESSAGES)} keywords and phrasings in turn; {starts:,} of them texting START later): "
        f"{transactions.count:,} transactions, counted {counted.totals.opt_outs:,} opt-outs and "
        f"{counted.totals.opt_ins:,} opt-ins ({day_seconds:,.1f} s on moto). Write units are estimated from the "
        "items' sizes read back after the day (names and values, as DynamoDB sizes items): 2 per KB in a "
        "transaction, plus each index entry (the item and 100 bytes, per KB); an update costs the larger of the "
        "item before and after, so the counter items' final sizes are the upper bound.",
        "",
        _report.table(
            ["item of an opt-out's transaction", "items per transaction", "write units each (est.)"],
            [
                [
                    "the number's state (indexed while suppressed)",
                    f"{per_transaction.get('state', 0):.2f}",
                    f"{units['state']:.2f}",
                ],
                [
                    "the history event (in the outbox index until queued)",
                    f"{per_transaction.get('event', 0):.2f}",
                    f"{units['event']:.2f}",
                ],
                [
                    "the inbound message (inbound log index)",
                    f"{per_transaction.get('inbound', 0):.2f}",
                    f"{units['inbound']:.2f}",
                ],
                [
                    "**the day's report counters (one of 32 shards)**",
                    f"{per_transaction.get('counters', 0):.2f}",
                    f"**{units['counters']:.2f}**",
                ],
            ],
        ),
        "",
        f"**Extra write units per opt-out or opt-in: {extra:.2f}** (one more item in the transaction), on "
        f"{without:.2f} without the counters: +{extra / without:.0%}. The day's {counter_items} counter items are "
        f"{min(counter_sizes):,} to {max(counter_sizes):,} bytes at the end of the day (median "
        f"{statistics.median(counter_sizes):,.0f}): one attribute per source, keyword, sender and campaign that "
        "occurred on the day in that shard, so an item outgrows 1 KB (4 units a write instead of 2) only with "
        "dozens of distinct keywords, senders and campaigns a day. An import's row adds the same item with two "
        "attributes (`o` and `o#s#import`, or the `i` pair for a reset): 2 write units.",
        "",
        f"A year's report ({reports.MAX_DAYS} days; every day seeded with the same {counter_items} counter items, "
        f"{seeded:,} items in all: the most a year can have is {reports.MAX_DAYS * REPORT_SHARDS:,}):",
        "",
        _report.table(
            [
                "report",
                "Query requests",
                "items read",
                "KB read",
                "read units (eventually consistent)",
                "time on moto (not DynamoDB's)",
            ],
            [
                [
                    f"by={by}",
                    pages,
                    f"{items:,}",
                    f"{size / 1024:,.0f}",
                    f"{units:,.0f}",
                    f"{seconds * 1000:,.0f} ms",
                ]
                for by, (seconds, pages, items, size, units) in year.items()
            ],
        ),
        "",
        f"A Query of each of the account's {REPORT_SHARDS} counter partitions (one per shard, "
        f"{SHARD_THREADS} at a time), each paged by DynamoDB at 1 MB; by=campaign adds one GetItem per campaign "
        f"listed (the campaign's send counts; {len(CAMPAIGNS)} here). No history item is read.",
    ]
    del phones
    return "\n".join(lines)


if __name__ == "__main__":
    main()
