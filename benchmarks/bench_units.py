"""Units per operation: the AWS requests, DynamoDB read and write units and item sizes of each thing the service does.

Run from the project root:

    .venv/bin/python benchmarks/bench_units.py [--texts 1000] [--rows 1000] [--webhooks 50] [--write BENCHMARKS.md]

The whole service runs in this process on the production container (`chalicelib.wiring.Container`: the DynamoDB, SQS,
SES, SSM, S3 and EventBridge adapters over HTTP) against the embedded AWS endpoint (moto's ThreadedMotoServer with its
DynamoDB patches, `tools.local_stack.start_aws`, in a thread). One account sends through `local` (nothing leaves the
machine), has Twilio credentials in SSM, an alert sender and a compliance address, and one event endpoint (a loopback
HTTP server answering 204). In order, each phase counted apart:

1. a campaign of `--texts` texts (10% of the numbers suppressed beforehand) queued with the send queue adapter, then
   the send queue handed to the app's send function (`app.handle_send_queue`) in batches of 100, as Lambda would;
2. a delivery-status webhook (`delivered`) for `--webhooks` of the texts, signed Twilio requests handed to the app;
3. `--webhooks` STOPs and `--webhooks` plain replies from numbers the campaign texted, then the jobs they queued:
   email jobs (SES), change-event fan-outs (EventBridge, one delivery queued per endpoint), deliveries (a POST);
4. an import of `--rows` rows (mode opt_out, all new numbers) started as the API does, its chunks and their change
   events run from the queue.

Every call of the container's boto3 clients is counted with botocore's event hooks (`provide-client-params`,
`after-call`). moto reports no consumed capacity (its ConsumedCapacity is a constant), so units are computed from
the items themselves: a second, uncounted client reads each item a write touches just before and just after the
write, and each item a read returns or a GetItem/BatchGetItem names. DynamoDB's documented rules: a read costs 1
unit per 4 KB (an eventually consistent read half that; GetItem and BatchGetItem per item, Query per 4 KB of all
items read), a write 1 unit per 1 KB of the larger of the item before and after, transactions twice that; each
global secondary index the item is in before or after costs a write of its entry (the item plus 100 bytes, per KB,
for `gsi1` and `gsi2`, which project ALL; for `gsi3`, which INCLUDEs a few attributes, the keys and those), one to
put or rewrite it (`gsi3`: only when a key or an included attribute changed), one to remove it, two when its key
changes. An item size is the sum of its attribute names' and values' UTF-8 lengths (numbers: 1 byte per two digits
plus 1). SQS receives and deletes are the Lambda event source's, not counted here (see docs/capacity.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _report  # noqa: E402  (benchmarks/, the script's directory, is on sys.path)

from chalicelib import wiring  # noqa: E402
from chalicelib.adapters.carriers import twilio  # noqa: E402
from chalicelib.adapters.dynamodb.table import ACTIVITY_PROJECTION, GSI1, GSI2, GSI3  # noqa: E402
from chalicelib.domain import change_events, imports  # noqa: E402
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account  # noqa: E402
from chalicelib.domain.imports import ImportMode  # noqa: E402
from chalicelib.domain.models import SendRequest  # noqa: E402
from chalicelib.observability import logger  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from tools import local_stack  # noqa: E402
from tools.local_worker import FakeLambdaContext, to_lambda_record  # noqa: E402

TITLE = "Units per operation"
ACCOUNT = "acme"
BASE_URL = "https://sms.example.com/api"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
SID = "AC" + "1" * 32
OUR_NUMBER = "+14155550100"
RESOURCE = "/webhooks/{carrier}/{account_id}"
STATUS_RESOURCE = "/webhooks/{carrier}/{account_id}/status"
#: Each index's key attributes, and the attributes it projects besides the keys (None: ALL, the whole item).
INDEXES: dict[str, tuple[str, str, frozenset[str] | None]] = {
    GSI1: ("gsi1pk", "gsi1sk", None),
    GSI2: ("gsi2pk", "gsi2sk", None),
    GSI3: ("gsi3pk", "gsi3sk", frozenset({"pk", "sk", "gsi3pk", "gsi3sk", *ACTIVITY_PROJECTION})),
}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
#: Index entry overhead DynamoDB adds to the projected item (bytes).
INDEX_OVERHEAD = 100


# --- DynamoDB sizes and units ----------------------------------------------------------------------------------------


def value_size(value: dict[str, Any]) -> int:
    (kind, raw), *_ = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = raw.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in raw)
    if kind == "NS":
        return sum(value_size({"N": n}) for n in raw)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in raw.items())
    raise ValueError(kind)


def item_size(item: dict[str, Any] | None) -> int:
    """DynamoDB's size of an item (0 for none)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def kb_units(size: int, unit: int = 1024) -> int:
    return max(1, math.ceil(size / unit))


def partition_kind(value: str) -> str:
    """An index partition key with its ids replaced by what they are (`SUPPRESSED#acme` -> `SUPPRESSED#<account>`)."""
    head, _, rest = value.partition("#")
    if head == "OUTBOX":
        return "OUTBOX#<shard>" if rest else "OUTBOX"
    if head == "ACTIVITY":
        return "ACTIVITY#<account>#<phone>"
    if head == "CAMPAIGN":
        parts = rest.split("#")
        return "CAMPAIGN#<account>#<campaign>" + ("#<shard>" if len(parts) > 2 else "")
    return f"{head}#<account>" + ("#<shard>" if rest.count("#") else "")


def item_kind(key: dict[str, Any]) -> str:
    """What an item is, from its key."""
    pk, sk = key["pk"]["S"], key["sk"]["S"]
    head = pk.split("#", 1)[0]
    return {
        ("NUMBER", "STATE"): "number state",
        ("NUMBER", "EVENT"): "history event",
        ("INBOUND", "INBOUND"): "inbound message",
        ("OUTBOUND", "OUTBOUND"): "outbound record",
        ("CAMPAIGN", "COUNTS"): "campaign counters",
        ("EMAIL", "TO"): "email log entry",
        ("ENDPOINT", "DELIVERY"): "endpoint delivery",
        ("IMPORT", "JOB"): "import job",
        ("IMPORT", "REJECTED"): "import rejected rows",
        ("ACCOUNT", "ACCOUNT"): "account",
        ("ACCOUNT", "EVENT_ENDPOINTS"): "event endpoints",
        ("PARTS", "PART"): "message part",
    }.get((head, sk.split("#", 1)[0]), f"{head}/{sk.split('#', 1)[0]}")


@dataclass
class Tally:
    """What one phase cost."""

    calls: Counter[str] = field(default_factory=Counter)  # "service Operation" -> requests
    rcu: float = 0.0
    wcu_table: float = 0.0
    wcu_index: float = 0.0
    #: index partition kind -> write units on it
    index_wcu: Counter[str] = field(default_factory=Counter)
    #: table partition kind of items written -> write units (hot items)
    item_wcu: Counter[str] = field(default_factory=Counter)
    #: item kind -> sizes written (bytes, after the write)
    sizes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    #: what was read (an item kind, or the partition a Query read) -> read units
    read_rcu: Counter[str] = field(default_factory=Counter)
    sqs_messages: int = 0
    sqs_bytes: int = 0
    events_published: int = 0
    emails: int = 0


class Meter:
    """Counts the calls of every boto3 client the container builds, and DynamoDB's units (see the module docstring)."""

    def __init__(self, reader: Any, table_name: str) -> None:
        self.reader = reader
        self.table = table_name
        self.tally = Tally()

    def phase(self) -> Tally:
        """The tally so far, and start a new one."""
        tally, self.tally = self.tally, Tally()
        return tally

    def attach(self, client: Any, service: str) -> None:
        events = client.meta.events
        events.register("provide-client-params", self._before, unique_id=f"bench-units-before-{service}")
        events.register("after-call", self._after, unique_id=f"bench-units-after-{service}")

    # botocore hooks: `context` is the same dict for one call, from its parameters to its parsed answer.
    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        self.tally.calls[f"{service} {model.name}"] += 1
        if service == "dynamodb" and model.name in WRITES:
            keys = self._written_keys(model.name, params)
            context["bench_before"] = {self._k(key): self._read(key) for key, _ in keys}
            context["bench_keys"] = keys
        elif service == "sqs":
            bodies = [params["MessageBody"]] if model.name == "SendMessage" else []
            bodies += [entry["MessageBody"] for entry in params.get("Entries", []) if "MessageBody" in entry]
            self.tally.sqs_messages += len(bodies)
            self.tally.sqs_bytes += sum(len(body.encode()) for body in bodies)
        elif service == "events" and model.name == "PutEvents":
            self.tally.events_published += len(params.get("Entries", []))
        elif service == "sesv2" and model.name == "SendEmail":
            self.tally.emails += 1
        context["bench_params"] = params

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.service_model.service_name != "dynamodb":
            return
        params = context.get("bench_params", {})
        name = model.name
        if name in WRITES:
            twice = name == "TransactWriteItems"
            for key, _ in context.get("bench_keys", []):
                before = context["bench_before"][self._k(key)]
                after = self._read(key)
                self._write_units(key, before, after, twice)
        elif name == "GetItem":
            self._read_units(params["Key"], bool(params.get("ConsistentRead")))
        elif name == "BatchGetItem":
            for request in params["RequestItems"].values():
                for key in request["Keys"]:
                    self._read_units(key, bool(request.get("ConsistentRead")))
        elif name in ("Query", "Scan"):
            size = sum(item_size(item) for item in parsed.get("Items", []))
            consistent = params.get("ConsistentRead") and "IndexName" not in params
            units = kb_units(size, 4096) * (1 if consistent else 0.5)
            self.tally.rcu += units
            partition = next(iter(params.get("ExpressionAttributeValues", {}).values()), {}).get("S", "?")
            where = f"{params['IndexName']} " if "IndexName" in params else ""
            self.tally.read_rcu[f"Query {where}`{partition_kind(partition)}`"] += units

    def _read_units(self, key: dict[str, Any], consistent: bool) -> None:
        """A read of one item by key: DynamoDB charges its whole size, whatever the projection."""
        units = kb_units(item_size(self._read(key)), 4096) * (1 if consistent else 0.5)
        self.tally.rcu += units
        self.tally.read_rcu[item_kind(key)] += units

    def _write_units(self, key: dict[str, Any], before: dict | None, after: dict | None, twice: bool) -> None:
        tally = self.tally
        size = max(item_size(before), item_size(after))
        units = kb_units(size) * (2 if twice else 1)
        tally.wcu_table += units
        tally.item_wcu[item_kind(key)] += units
        if after:
            tally.sizes[item_kind(key)].append(item_size(after))
        if before == after:
            return  # a write that changed nothing (a failed condition): no index entry moves
        for pk_name, sk_name, projected in INDEXES.values():
            old = (before or {}).get(pk_name, {}).get("S"), (before or {}).get(sk_name, {}).get("S")
            new = (after or {}).get(pk_name, {}).get("S"), (after or {}).get(sk_name, {}).get("S")
            was, now = None not in old, None not in new

            def entry(item: dict | None, projected: frozenset[str] | None = projected) -> int:
                """The index entry's size: the item, or its keys and the attributes the index includes."""
                kept = item or {}
                return item_size(kept if projected is None else {k: v for k, v in kept.items() if k in projected})

            moves: list[tuple[str, int]] = []
            if was and now and old == new:
                if projected is not None and entry(before) == entry(after):
                    continue  # no attribute the index holds changed: its entry is not rewritten
                moves.append((str(new[0]), entry(after)))
            else:
                if was:
                    moves.append((str(old[0]), entry(before)))
                if now:
                    moves.append((str(new[0]), entry(after)))
            for partition, entry in moves:
                index_units = kb_units(entry + INDEX_OVERHEAD)
                tally.wcu_index += index_units
                tally.index_wcu[partition_kind(partition)] += index_units

    def _written_keys(self, operation: str, params: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
        def key_of(item: dict[str, Any]) -> dict[str, Any]:
            return {"pk": item["pk"], "sk": item["sk"]}

        if operation == "PutItem":
            return [(key_of(params["Item"]), "put")]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(params["Key"], operation)]
        if operation == "TransactWriteItems":
            keys = []
            for entry in params["TransactItems"]:
                (kind, body), *_ = entry.items()
                keys.append((key_of(body["Item"]) if kind == "Put" else body["Key"], kind))
            return keys
        keys = []
        for requests in params["RequestItems"].values():
            for request in requests:
                if "PutRequest" in request:
                    keys.append((key_of(request["PutRequest"]["Item"]), "put"))
                else:
                    keys.append((request["DeleteRequest"]["Key"], "delete"))
        return keys

    def _read(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.reader.get_item(
            TableName=self.table, Key={"pk": key["pk"], "sk": key["sk"]}, ConsistentRead=True
        ).get("Item")
        return item

    @staticmethod
    def _k(key: dict[str, Any]) -> tuple[str, str]:
        return key["pk"]["S"], key["sk"]["S"]


class MeteredClients(wiring.AwsClients):
    """The container's clients, each with the meter's hooks."""

    def __init__(self, settings: Settings, meter: Meter) -> None:
        super().__init__(settings)
        self._meter = meter

    def get(self, service: str) -> Any:
        fresh = service not in self._clients
        client = super().get(service)
        if fresh:
            self._meter.attach(client, service)
        return client


# --- the world ---------------------------------------------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    """An event endpoint that takes every POST."""

    received = 0

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.received += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@dataclass
class World:
    parts: wiring.Container
    meter: Meter
    sqs: Any
    queue_url: str
    queue_arn: str
    region: str
    app: Any
    send_function: Any


def build(endpoint_url: str) -> tuple[World, ThreadingHTTPServer]:
    resources = local_stack.create_resources(endpoint_url)
    env = local_stack.service_environment(endpoint_url, resources, "bench-operator", public_base_url=BASE_URL)
    os.environ.update(env)
    settings = Settings()
    reader = boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=resources.region)
    meter = Meter(reader, resources.table_name)
    parts = wiring.Container(settings, clients=MeteredClients(settings, meter))
    wiring.use(parts)
    account_settings = AccountSettingsIn.model_validate(
        {
            "name": "Acme",
            "sms_provider": "local",
            "carriers": {"twilio": {"account_sid": SID, "auth_token": AUTH_TOKEN}},
            "email_sender": resources.email_sender,
            "compliance_email": "compliance@acme.example",
        }
    )
    upsert_account(parts.stores.accounts, parts.secrets, parts.carriers, ACCOUNT, account_settings, parts.clock.now())
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    change_events.create_endpoint(
        parts.stores.endpoints,
        parts.secrets,
        ACCOUNT,
        f"http://127.0.0.1:{server.server_address[1]}/hooks",
        description="bench",
        types=None,
        actor="bench",
        now=parts.clock.now(),
        allow_loopback=True,
    )
    from app import app, handle_send_queue  # after the environment is set: the app reads its settings on first use

    sqs = boto3.client("sqs", endpoint_url=endpoint_url, region_name=resources.region)
    world = World(parts, meter, sqs, resources.queue_url, resources.queue_arn, resources.region, app, handle_send_queue)
    return world, server


def drain(world: World, batch_of: Callable[[str], int]) -> dict[str, Tally]:
    """Hand every queued record to the send function, grouped by kind (sends in batches of 100, the rest one by one,
    so each job is counted alone); records a handled record queues are handled too. The cost per record kind."""
    by_kind: dict[str, Tally] = {}
    counts: Counter[str] = Counter()
    while True:
        messages: list[dict[str, Any]] = []
        while True:
            received = world.sqs.receive_message(
                QueueUrl=world.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                # Hidden until deleted: a record must not come back while the ones received before it are handled.
                VisibilityTimeout=43_200,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                break
            messages += received
        if not messages:
            break
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for message in messages:
            grouped[json.loads(message["Body"]).get("kind", "send")].append(message)
        for kind, group in grouped.items():
            size = batch_of(kind)
            for start in range(0, len(group), size):
                batch = group[start : start + size]
                event = {"Records": [to_lambda_record(m, world.queue_arn, world.region) for m in batch]}
                world.meter.phase()
                answer = world.send_function(event, FakeLambdaContext("bench", world.region, 1024, 900))
                tally = world.meter.phase()
                if answer and answer.get("batchItemFailures"):
                    raise RuntimeError(f"{kind}: records failed: {answer}")
                merge(by_kind.setdefault(kind, Tally()), tally)
                counts[kind] += len(batch)
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
                for chunk in range(0, len(entries), 10):
                    world.sqs.delete_message_batch(QueueUrl=world.queue_url, Entries=entries[chunk : chunk + 10])
    for kind, tally in by_kind.items():
        tally.calls["records"] = counts[kind]
    return by_kind


def merge(into: Tally, tally: Tally) -> None:
    into.calls.update(tally.calls)
    into.rcu += tally.rcu
    into.wcu_table += tally.wcu_table
    into.wcu_index += tally.wcu_index
    into.index_wcu.update(tally.index_wcu)
    into.item_wcu.update(tally.item_wcu)
    into.read_rcu.update(tally.read_rcu)
    for kind, sizes in tally.sizes.items():
        into.sizes[kind] += sizes
    into.sqs_messages += tally.sqs_messages
    into.sqs_bytes += tally.sqs_bytes
    into.events_published += tally.events_published
    into.emails += tally.emails


def twilio_event(params: dict[str, str], status: bool) -> dict[str, Any]:
    route = f"/webhooks/twilio/{ACCOUNT}" + ("/status" if status else "")
    signature = twilio.compute_signature(BASE_URL + route, sorted(params.items()), AUTH_TOKEN)
    return _report.api_gateway_event(
        route,
        STATUS_RESOURCE if status else RESOURCE,
        urlencode(params),
        signature,
        {"carrier": "twilio", "account_id": ACCOUNT},
    )


def inbound(world: World, phone: str, body: str, serial: int) -> None:
    params = {
        "MessageSid": f"SM{serial:032x}",
        "SmsSid": f"SM{serial:032x}",
        "AccountSid": SID,
        "From": phone,
        "To": OUR_NUMBER,
        "Body": body,
        "NumSegments": "1",
        "NumMedia": "0",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    answer = world.app(twilio_event(params, status=False), None)
    if answer["statusCode"] != 200:
        raise RuntimeError(f"webhook answered {answer['statusCode']}: {answer['body']}")


def delivered(world: World, phone: str, serial: int) -> None:
    params = {
        "MessageSid": f"SM{serial:032x}",
        "SmsSid": f"SM{serial:032x}",
        "AccountSid": SID,
        "From": OUR_NUMBER,
        "To": phone,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "ApiVersion": "2010-04-01",
    }
    answer = world.app(twilio_event(params, status=True), None)
    if answer["statusCode"] not in (200, 204):
        raise RuntimeError(f"status webhook answered {answer['statusCode']}: {answer['body']}")


def phones(start: int, count: int) -> Iterator[str]:
    return (f"+1415{3000000 + n:07d}" for n in range(start, start + count))


# --- the phases ---------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, world: World) -> dict[str, tuple[int, Tally]]:
    """Each operation's count and total cost."""
    parts, meter = world.parts, world.meter
    now = datetime.now(UTC)
    account = parts.stores.accounts.get_account(ACCOUNT)
    assert account is not None
    rows: dict[str, tuple[int, Tally]] = {}

    def one_at_a_time(kind: str) -> int:
        return 100 if kind == "send" else 1

    # 0. Suppress 10% of the campaign's numbers beforehand (an import, not counted).
    campaign = list(phones(0, args.texts))
    suppressed = campaign[::10]
    csv = "phone\n" + "\n".join(suppressed) + "\n"
    imports.start_import(
        parts.stores, parts.queue, account, import_id="before", mode=ImportMode.OPT_OUT, dry_run=False,
        actor="bench", now=now, data=csv.encode(),
    )  # fmt: skip
    drain(world, one_at_a_time)
    meter.phase()

    # 1. The campaign.
    requests = [
        SendRequest(
            request_id=f"spring:{n}",
            account_id=ACCOUNT,
            to=phone,
            sender=OUR_NUMBER,
            body="Spring sale: 20% off everything until Sunday. Reply STOP to opt out.",
            campaign_id="spring",
            user_email="ana@acme.example",
        )
        for n, phone in enumerate(campaign)
    ]
    for start in range(0, len(requests), 500):  # as POST .../sends takes them
        parts.queue.enqueue(requests[start : start + 500])
    queued = meter.phase()
    handled = drain(world, one_at_a_time)
    send = handled.pop("send")
    merge(send, queued)
    rows["sent text (campaign, 10% suppressed)"] = (args.texts, send)
    if handled:
        raise RuntimeError(f"the campaign queued more than sends: {list(handled)}")
    counts = parts.stores.outbound.campaign_counts(ACCOUNT, "spring")
    meter.phase()  # the check above is not the next phase's

    # 2. Delivery-status webhooks.
    texted = [phone for phone in campaign if phone not in set(suppressed)]
    serial = iter(range(1, 10**6))
    for phone in texted[: args.webhooks]:
        delivered(world, phone, next(serial))
    rows["status webhook (delivered)"] = (args.webhooks, meter.phase())

    # 3. STOPs and replies, then what they queued.
    for phone in texted[args.webhooks : 2 * args.webhooks]:
        inbound(world, phone, "STOP", next(serial))
    rows["webhook STOP"] = (args.webhooks, meter.phase())
    for phone in texted[2 * args.webhooks : 3 * args.webhooks]:
        inbound(world, phone, "Can I move my appointment to Tuesday?", next(serial))
    rows["webhook plain reply"] = (args.webhooks, meter.phase())
    for kind, tally in drain(world, one_at_a_time).items():
        rows[f"queued job: {kind}"] = (tally.calls.pop("records"), tally)

    # 4. The import.
    csv = "phone,scope,notes\n" + "\n".join(f"{p},all,crm export" for p in phones(500_000, args.rows)) + "\n"
    imports.start_import(
        parts.stores, parts.queue, account, import_id="crm", mode=ImportMode.OPT_OUT, dry_run=False,
        actor="bench", now=datetime.now(UTC), data=csv.encode(),
    )  # fmt: skip
    started = meter.phase()
    handled = drain(world, one_at_a_time)
    chunks = handled.pop("import")
    merge(chunks, started)
    rows["imported row (chunks)"] = (args.rows, chunks)
    for kind, tally in handled.items():
        rows[f"imported row: {kind}"] = (tally.calls.pop("records"), tally)
    rows["_counts"] = (0, Tally(calls=Counter(counts)))
    return rows


# --- the report ---------------------------------------------------------------------------------------------------


def render(args: argparse.Namespace, rows: dict[str, tuple[int, Tally]]) -> str:
    counts = rows.pop("_counts")[1].calls
    lines = [
        _report.machine(),
        "",
        f"`.venv/bin/python benchmarks/bench_units.py --texts {args.texts} --rows {args.rows} "
        f"--webhooks {args.webhooks}`. The whole service in one process on the production container against the "
        "embedded AWS endpoint: a campaign, delivery-status webhooks, STOPs and replies with the jobs they queue, "
        "and a bulk import, each counted apart (how, in the script's docstring). Requests are counted on the "
        "service's own boto3 clients; the SQS receives and deletes of Lambda's event source are not ours and not "
        "here. Units are computed from item sizes under DynamoDB's rules (moto reports none): reads 1 per 4 KB "
        "(eventually consistent: half), writes 1 per KB of the larger image, transactions twice, each index entry "
        "put, rewritten or removed 1 per KB of the entry plus 100 bytes (`gsi1` and `gsi2` hold the whole item, "
        "`gsi3`, the activity index, its keys and the attributes it includes).",
        "",
        f"Checked after the run: the campaign's counters read {dict(counts)}.",
        "",
    ]
    table = []
    for name, (count, tally) in rows.items():
        calls = ", ".join(f"{op} {n / count:.2f}" for op, n in sorted(tally.calls.items()) if op != "records" and n)
        table.append(
            (
                f"{name} ({count:,})",
                calls,
                f"{tally.rcu / count:.2f}",
                f"{tally.wcu_table / count:.2f}",
                f"{tally.wcu_index / count:.2f}",
                f"{(tally.wcu_table + tally.wcu_index) / count:.2f}",
                f"{tally.sqs_messages / count:.2f}",
                f"{tally.emails / count:.2f}",
                f"{tally.events_published / count:.2f}",
            )
        )
    lines.append(
        _report.table(
            (
                "operation (count)",
                "AWS requests per operation",
                "RCU",
                "table WCU",
                "index WCU",
                "WCU",
                "SQS messages",
                "SES emails",
                "bus events",
            ),
            table,
        )
    )
    lines += ["", "Units per operation by where they land: index partitions and table items (the hot keys):", ""]
    hot = []
    for name, (count, tally) in rows.items():
        index = ", ".join(f"`{k}` {v / count:.2f}" for k, v in sorted(tally.index_wcu.items())) or "none"
        items = ", ".join(f"{k} {v / count:.2f}" for k, v in sorted(tally.item_wcu.items())) or "none"
        reads = ", ".join(f"{k} {v / count:.2f}" for k, v in sorted(tally.read_rcu.items())) or "none"
        hot.append((name, index, items, reads))
    lines.append(
        _report.table(("operation", "index WCU by index partition", "table WCU by item", "RCU by item read"), hot)
    )
    sizes: dict[str, list[int]] = defaultdict(list)
    for _, tally in rows.values():
        for kind, values in tally.sizes.items():
            sizes[kind] += values
    lines += ["", "Item sizes written (bytes, DynamoDB's measure, after each write):", ""]
    lines.append(
        _report.table(
            ("item", "writes", "min", "median", "max"),
            ((kind, f"{len(v):,}", min(v), int(_report.median(v)), max(v)) for kind, v in sorted(sizes.items())),
        )
    )
    per_message = {
        name: tally.sqs_bytes / tally.sqs_messages for name, (_, tally) in rows.items() if tally.sqs_messages
    }
    lines += [
        "",
        "SQS message bodies (bytes, mean): "
        + ", ".join(f"{name} {size:,.0f}" for name, size in per_message.items())
        + ". Each SendMessage, and each SendMessageBatch of up to 10 under 64 KB, is one billed request.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=1000, help="texts of the campaign (default 1000)")
    parser.add_argument("--rows", type=int, default=1000, help="rows of the import (default 1000)")
    parser.add_argument("--webhooks", type=int, default=50, help="status webhooks, STOPs and replies each (50)")
    parser.add_argument("--write", metavar="FILE", help="replace this script's section of FILE (e.g. BENCHMARKS.md)")
    args = parser.parse_args()
    if args.texts < 3 * args.webhooks * 10 // 9 + 10:
        parser.error("--texts must leave three --webhooks of texted numbers")
    started = time.perf_counter()
    logger.registered_handler.setStream(open(os.devnull, "w"))  # noqa: SIM115  (open for the life of the process)
    endpoint = local_stack.start_aws()
    try:
        world, server = build(endpoint.url)
        try:
            rows = run(args, world)
        finally:
            server.shutdown()
            wiring.use(None)
    finally:
        endpoint.stop()
    body = render(args, rows)
    print(body)
    print(f"\n(the run took {time.perf_counter() - started:,.0f} s; the endpoint took {Receiver.received} POSTs)")
    _report.write_if_asked(args.write, TITLE, body)


if __name__ == "__main__":
    main()
