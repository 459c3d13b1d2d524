"""A bulk import of 100,000 rows on DynamoDB: time, and DynamoDB requests and writes per row.

Run from the project root:

    .venv/bin/python benchmarks/bench_import.py [--rows 100000] [--reset] [--write BENCHMARKS.md]

The file has `--rows` rows (100,000 by default): 1% not phone numbers, 1% numbers whose contact texted STOP before (a
keyword opt-out, stored beforehand), the rest new numbers (every tenth written nationally, with a note). It goes
through the import's use cases as the service runs them (`chalicelib/domain/imports.py`): `start_import` as the API
does (header, row count, the file into S3, the job, its first task), then `run_chunk` task after task as the send
function does, each chunk queueing the next (a recording queue stands in for SQS; the chunks run one after the other
in this process, with no time budget, so each reads 2,000 lines). Then the same import id again (the API's answer only),
and with `--reset` the same list in mode `reset` (lifting what the first import added, refusing the contacts' own).

The stores are the real DynamoDB and S3 adapters over HTTP against the embedded AWS endpoint: moto's ThreadedMotoServer
on 127.0.0.1 (tools.local_stack.start_aws, with its DynamoDB patches), in a child process so its CPU is not ours.
Every DynamoDB request is counted by botocore's event hooks; write units are estimated from each written item's size
(1 per KB, twice in a transaction; each index entry it adds, changes or removes, its size and 100 bytes, per KB). The
embedded endpoint answers a few hundred requests a second: the times say what this machine and moto do, not what
DynamoDB would (single-digit milliseconds a request); the request and write counts are DynamoDB's.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _report  # noqa: E402
from _endpoint import Endpoint  # noqa: E402  (benchmarks/, the script's directory, is on sys.path)

from chalicelib.adapters.dynamodb import dynamodb_stores  # noqa: E402
from chalicelib.adapters.s3_import_files import S3ImportFiles  # noqa: E402
from chalicelib.domain import imports, policy  # noqa: E402
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account  # noqa: E402
from chalicelib.domain.imports import ImportJob, ImportMode  # noqa: E402
from chalicelib.domain.models import Action, Event, Source  # noqa: E402
from chalicelib.domain.ports import Stores  # noqa: E402
from tests.containers import RecordingQueue, registry  # noqa: E402
from tests.fakes import FixedClock, InMemorySecretStore  # noqa: E402
from tools import local_stack  # noqa: E402

TITLE = "Bulk import"
ACCOUNT = "acme"
REGION = "us-east-1"
WRITES = ("TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the file (default 100000)")
    parser.add_argument("--reset", action="store_true", help="then import the same list in mode reset, timed too")
    parser.add_argument("--write", metavar="FILE", help="replace this script's section of FILE (e.g. BENCHMARKS.md)")
    args = parser.parse_args()
    if not 100 <= args.rows <= imports.MAX_BODY_ROWS:
        parser.error(f"--rows must be from 100 to {imports.MAX_BODY_ROWS}")

    started = time.perf_counter()
    endpoint = Endpoint.start()
    try:
        body = _run(args, endpoint)
    finally:
        endpoint.stop()
    print(body)
    print(f"\n(the whole run took {time.perf_counter() - started:,.0f} s)")
    _report.write_if_asked(args.write, TITLE, body)


# --- counting DynamoDB requests and writes -------------------------------------------------------------------------


@dataclass
class Meter:
    """Every DynamoDB request of one client, by operation, with the items it wrote and their estimated write units."""

    calls: Counter[str] = field(default_factory=Counter)
    items_written: int = 0
    write_units: float = 0.0
    #: Sizes of the items put, by key: what an update of them later costs.
    sizes: dict[tuple[str, str], int] = field(default_factory=dict)

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params.dynamodb.*", self._count)

    def _count(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[1]
        self.calls[operation] += 1
        if operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                ((kind, request),) = entry.items()
                self._written(request, transactional=True)
        elif operation in ("PutItem", "UpdateItem"):
            self._written(params, transactional=False)

    def _written(self, request: dict[str, Any], *, transactional: bool) -> None:
        """One written item: 1 unit per KB of it (twice in a transaction), plus its index entries (the item and 100
        bytes, per KB) where it adds, changes or removes one. A put's size is its attributes'; an update's, the size
        of the item as last put (else its key and the values it sets)."""
        self.items_written += 1
        item = request.get("Item")
        key = item or request["Key"]
        identity = (key["pk"]["S"], key["sk"]["S"])
        if item is not None:
            size = _size(item)
            self.sizes[identity] = size
            indexed = sum(1 for name in ("gsi1pk", "gsi2pk") if name in item)
        else:
            size = self.sizes.get(identity) or _size({**request["Key"], **request.get("ExpressionAttributeValues", {})})
            expression = request.get("UpdateExpression", "")
            indexed = sum(1 for name in ("gsi1pk", "gsi2pk") if name in expression)
        self.write_units += math.ceil(size / 1024) * (2 if transactional else 1)
        self.write_units += indexed * math.ceil((size + 100) / 1024)

    def snapshot(self) -> tuple[Counter[str], int, float]:
        return Counter(self.calls), self.items_written, self.write_units


def _size(attributes: dict[str, Any]) -> int:
    return sum(len(name) + len(str(next(iter(value.values())))) for name, value in attributes.items())


class CountingQueue(RecordingQueue):
    """The recording queue, counting the calls that queue jobs and the jobs they carry."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = self.jobs_queued = 0

    def enqueue_jobs(self, jobs):  # type: ignore[no-untyped-def]
        self.calls += 1
        self.jobs_queued += len(jobs)
        return super().enqueue_jobs(jobs)


@dataclass
class Phase:
    name: str
    rows: int
    seconds: float
    calls: Counter[str]
    items_written: int
    write_units: float
    job: ImportJob
    chunks: int = 0
    s3_reads: int = 0
    #: CPU seconds of this process, and of the embedded endpoint's.
    our_cpu: float = 0.0
    endpoint_cpu: float = 0.0
    #: Calls to the queue for the rows' change events (a SendMessageBatch each on SQS), and the jobs they carried.
    queue_calls: int = 0
    queued_jobs: int = 0

    @property
    def write_requests(self) -> int:
        return sum(self.calls[operation] for operation in WRITES)


# --- the run -------------------------------------------------------------------------------------------------------


def _number(n: int) -> str:
    return f"+1415{2000000 + n:07d}"


def _file(rows: int) -> tuple[bytes, list[str]]:
    """The CSV, and the numbers whose contact opted out by keyword beforehand."""
    lines, keyword = ["phone,scope,notes"], []
    for n in range(rows):
        if n % 100 == 0:
            lines.append(f"not-a-number-{n},,")
        elif n % 100 == 1:
            keyword.append(_number(n))
            lines.append(f"{_number(n)},,")
        elif n % 10 == 5:
            lines.append(f'"(415) {200 + n // 10000:03d}-{n % 10000:04d}",all,"from the CRM, written nationally"')
        else:
            lines.append(f"{_number(n)},,")
    return ("\n".join(lines) + "\n").encode(), keyword


class CountingFiles:
    """The S3 adapter, counting its reads (ranged GETs)."""

    def __init__(self, inner: S3ImportFiles) -> None:
        self._inner, self.reads = inner, 0

    def read(self, key: str, start: int, length: int) -> bytes:
        self.reads += 1
        return self._inner.read(key, start, length)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _run(args: argparse.Namespace, endpoint: Endpoint) -> str:
    url = endpoint.url
    resources = local_stack.create_resources(url, region=REGION)
    dynamodb = boto3.client("dynamodb", endpoint_url=url, region_name=REGION)
    s3 = boto3.client("s3", endpoint_url=url, region_name=REGION, config=Config(signature_version="s3v4"))
    meter = Meter()
    meter.attach(dynamodb)
    files = CountingFiles(S3ImportFiles(lambda: s3, resources.import_bucket))
    stores: Stores = replace(dynamodb_stores(dynamodb, resources.table_name), import_files=files)  # type: ignore[arg-type]
    clock = FixedClock(datetime.now(UTC))
    queue = CountingQueue()
    account, _, _ = upsert_account(
        stores.accounts, InMemorySecretStore(), registry(), ACCOUNT, AccountSettingsIn(name="Acme"), clock.now()
    )
    data, keyword = _file(args.rows)

    setup_started = time.perf_counter()
    for phone in keyword:  # the contacts' own STOPs, stored as the webhooks store them
        state, _ = stores.numbers.load(ACCOUNT, phone)
        stop = Event(
            event_id=f"twilio:SM{phone}",
            account_id=ACCOUNT,
            phone=phone,
            action=Action.OPT_OUT,
            scopes=("all",),
            source=Source.KEYWORD,
            occurred_at=clock.now(),
            received_at=clock.now(),
            actor="twilio",
            message="STOP",
        )
        stores.numbers.commit(*policy.apply(state, stop))
    setup_seconds = time.perf_counter() - setup_started
    clock.advance(60)

    def run(name: str, import_id: str, mode: ImportMode) -> Phase:
        before, files.reads, queue.calls, queue.jobs_queued = meter.snapshot(), 0, 0, 0
        cpu_before = (time.process_time(), endpoint.cpu_seconds() or 0.0)
        started = time.perf_counter()
        job, created = imports.start_import(
            stores,
            queue,
            account,
            import_id=import_id,
            mode=mode,
            dry_run=False,
            actor="bench",
            now=clock.now(),
            data=data,
        )
        chunks = 0
        while queue.imports:
            job = imports.run_chunk(stores, queue, account, queue.imports.pop(0), clock) or job
            chunks += 1
            print(f"  {name}: {job.next_line - 2:,} of {args.rows:,} lines", end="\r", flush=True, file=sys.stderr)
        seconds = time.perf_counter() - started
        calls, items, units = meter.snapshot()
        return Phase(
            name,
            args.rows,
            seconds,
            calls - before[0],
            items - before[1],
            units - before[2],
            stores.imports.get_job(ACCOUNT, import_id) or job,
            chunks,
            files.reads,
            time.process_time() - cpu_before[0],
            (endpoint.cpu_seconds() or 0.0) - cpu_before[1],
            queue.calls,
            queue.jobs_queued,
        )

    phases = [run("opt_out", "bench-opt-out", ImportMode.OPT_OUT)]
    again = run("the same import id again", "bench-opt-out", ImportMode.OPT_OUT)
    if args.reset:
        clock.advance(60)
        phases.append(run("reset", "bench-reset", ImportMode.RESET))
    return _render(args, phases, again, setup_seconds, len(keyword))


def _render(args: argparse.Namespace, phases: list[Phase], again: Phase, setup_seconds: float, keyword: int) -> str:
    rows = args.rows
    lines = [
        _report.machine(),
        "",
        f"`.venv/bin/python benchmarks/bench_import.py --rows {rows}{' --reset' if args.reset else ''}`: one CSV of "
        f"{rows:,} rows (1% not phone numbers, 1% numbers whose contact had texted STOP: {keyword:,} keyword opt-outs "
        f"stored beforehand in {setup_seconds:,.0f} s), imported through `chalicelib/domain/imports.py` on the "
        "DynamoDB and S3 adapters against the embedded endpoint (moto, in a child process), the chunks run one after "
        "the other "
        "(2,000 lines each). Write units are estimated from the written items' sizes (1 per KB, doubled in "
        "transactions, and each index entry added, changed or removed: the item and 100 bytes, per KB).",
        "",
    ]
    table_rows = []
    for phase in phases:
        counts = phase.job.counts
        outcome = (
            f"{counts.added:,} added, {counts.already_suppressed:,} already suppressed"
            if phase.job.mode is ImportMode.OPT_OUT
            else f"{counts.lifted:,} lifted, {counts.refused:,} refused"
        ) + f", {counts.invalid:,} invalid"
        table_rows.append(
            [
                f"{phase.name} ({outcome})",
                f"{phase.seconds:,.1f} s",
                f"{rows / phase.seconds:,.0f}",
                f"{sum(phase.calls.values()) / rows:.3f}",
                f"{phase.write_requests / rows:.3f}",
                f"{phase.items_written / rows:.3f}",
                f"{phase.write_units / rows:.2f}",
                f"{phase.chunks}",
            ]
        )
    lines.append(
        _report.table(
            [
                "import",
                "time",
                "rows/s",
                "DynamoDB requests/row",
                "write requests/row",
                "items written/row",
                "write units/row (est.)",
                "chunks",
            ],
            table_rows,
        )
    )
    lines.append("")
    for phase in phases:
        calls = ", ".join(f"{operation} {count:,}" for operation, count in sorted(phase.calls.items()))
        lines.append(
            f"- {phase.name}: {calls}; S3 ranged reads {phase.s3_reads}; queue calls {phase.queue_calls:,} for "
            f"{phase.queued_jobs:,} change events; status `{phase.job.status}`. CPU a row: "
            f"{phase.our_cpu / rows * 1000:.2f} ms here (the import, boto3), {phase.endpoint_cpu / rows * 1000:.2f} ms "
            "in the endpoint."
        )
    again_calls = ", ".join(f"{operation} {count}" for operation, count in sorted(again.calls.items())) or "none"
    lines += [
        f"- The same import id posted again: {again_calls} ({again.seconds * 1000:,.0f} ms), nothing written, no "
        "chunk queued.",
        "",
        "A row that changes a number is one TransactWriteItems of three items (the number's state, conditional on its "
        "version; the history event, conditional on its id, carrying its change events and listed in the outbox "
        "index; the opt-out report's counters of the day, an ADD to one of its 32 shards), then one UpdateItem "
        "taking the event out of the outbox once its change events are queued (ten rows' change events to a queue "
        "call, an SQS SendMessageBatch, sent from the pool beside the next rows; a recording queue counts the calls "
        "here; their fan-out to the bus and endpoints runs later in the send function and is not in these figures). "
        "A row that changes nothing (already suppressed, invalid, "
        "refused) writes nothing. Each chunk reads its numbers 100 per BatchGetItem, and writes the job "
        "twice (its start, then its progress with its rejected rows, in one transaction). The rows of a chunk go 8 "
        "numbers at a time, but the embedded endpoint answers one request at a time (tools/local_dynamodb.py) and "
        "spends milliseconds of CPU on each transaction: it sets the rate here. On DynamoDB, where a transaction "
        "takes about 10 ms and 8 run at once, a chunk of 2,000 rows would take a few seconds (an estimate, not "
        "measured here).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
