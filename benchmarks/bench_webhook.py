"""CPU time per inbound Twilio webhook in our own code, with the store faked.

Run from the project root:

    .venv/bin/python benchmarks/bench_webhook.py [--webhooks 5000] [--write BENCHMARKS.md]

The process's container (`chalicelib.wiring`) is one built on the in-memory fakes of `tests/fakes.py` by
`tests.containers.fake_container` (as `tests/unit/test_api.py` does), one account is created, and signed Twilio
webhooks are handed to the Chalice app as API Gateway proxy events, `app(event, context)`, as Lambda would: no HTTP,
no AWS. A third are opt-outs (STOP and friends), a third ordinary replies, a
third HELP or START, each with its own MessageSid and sender. Events and signatures are built before the clock starts.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
import sysconfig
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _report  # noqa: E402  (benchmarks/, the script's directory, is on sys.path)

from app import app  # noqa: E402
from chalicelib import wiring  # noqa: E402
from chalicelib.adapters.carriers import twilio  # noqa: E402
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account  # noqa: E402
from chalicelib.domain.ports import Stores  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from tests.containers import fake_container  # noqa: E402

TITLE = "Webhook CPU cost (store faked)"
ACCOUNT = "acme"
BASE_URL = "https://sms.example.com/api"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
SID = "AC" + "1" * 32
OUR_NUMBER = "+14155550100"
CARRIER = "twilio"
ROUTE = f"/webhooks/{CARRIER}/{ACCOUNT}"
RESOURCE = "/webhooks/{carrier}/{account_id}"

KINDS = ("opt-out", "reply", "help/start")
BODIES = {
    "opt-out": ["STOP", "Stop", "stop please", "UNSUBSCRIBE", "STOP ALL", "Cancel", "PLEASE STOP!!", "Baja por favor"],
    "reply": [
        "Thanks, see you at 5",
        "Can I move my appointment to Tuesday?",
        "stop by at 5?",
        "Who is this?",
        "ok 👍",
        "I'll be 10 minutes late, sorry. Is parking still free on the second level of the garage?",
        "¿Cuál es la dirección?",
        "Yes",
    ],
    "help/start": ["HELP", "START", "help", "Start please", "INFO", "UNSTOP"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhooks", type=int, default=5000, help="timed webhooks (default 5000)")
    parser.add_argument("--rounds", type=int, default=5, help="the timed webhooks in this many rounds (default 5)")
    parser.add_argument("--warm-up", type=int, default=600, help="webhooks before timing; they count calls (600)")
    parser.add_argument("--profile", type=int, default=1500, help="webhooks profiled with cProfile (1500)")
    parser.add_argument("--write", metavar="FILE", help="replace this script's section of FILE (e.g. BENCHMARKS.md)")
    args = parser.parse_args()

    stores, others = _install_fakes()
    serial = iter(range(10**7))

    # Warm-up, counting the calls of each webhook by kind (outside the timed loop): the store calls are the sum of
    # the fakes' `calls` counters; the other calls that are round trips in AWS are counted beside them.
    calls_by_kind: dict[str, Counter] = defaultdict(Counter)
    other_by_kind: dict[str, Counter] = defaultdict(Counter)
    count_by_kind: Counter = Counter()
    for kind, event in _events(args.warm_up, serial):
        before, others_before = _store_calls(stores), others.snapshot()
        _serve(event)
        calls_by_kind[kind].update(_store_calls(stores) - before)
        other_by_kind[kind].update(others.snapshot() - others_before)
        count_by_kind[kind] += 1

    # The timed loop: perf_counter per webhook for percentiles, process_time over each round for CPU. Rounds show
    # how much the machine's other work moves the figure.
    events = list(_events(args.webhooks, serial))
    elapsed: dict[str, list[float]] = defaultdict(list)
    logged_before = len(stores.inbound.messages)  # type: ignore[attr-defined]
    gc.collect()
    collections_before = sum(stat["collections"] for stat in gc.get_stats())
    cpu_rounds: list[float] = []
    cpu_total = wall_total = 0.0
    size = -(-len(events) // args.rounds)
    for start in range(0, len(events), size):
        chunk = events[start : start + size]
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        for kind, event in chunk:
            started = time.perf_counter()
            _serve(event)
            elapsed[kind].append(time.perf_counter() - started)
        cpu = time.process_time() - cpu_started
        wall_total += time.perf_counter() - wall_started
        cpu_total += cpu
        cpu_rounds.append(cpu / len(chunk))
    collections = sum(stat["collections"] for stat in gc.get_stats()) - collections_before
    intents = _intents(stores, logged_before)

    profile = _profile(args.profile, serial)
    pieces = _pieces(events[1][1], profile[1])

    cpu = (cpu_total, cpu_rounds)
    calls = (calls_by_kind, other_by_kind, count_by_kind)
    body = _render(args, stores, calls, elapsed, cpu, wall_total, collections, intents, profile)
    body += "\n\n" + pieces
    print(body)
    _report.write_if_asked(args.write, TITLE, body)


# --- set-up --------------------------------------------------------------------------------------------------------


class OtherCalls:
    """Calls outside the store fakes' `calls` counters that are round trips in AWS: the queue (SQS), the outbox's
    `job_queued` (DynamoDB), the secret store (SSM). Counted by wrapping those methods of the container's parts."""

    def __init__(self, parts: wiring.Container) -> None:
        self.counts: Counter[str] = Counter()
        self._count(parts.queue, "enqueue_jobs", "enqueue")
        self._count(parts.stores.outbox, "job_queued")
        self._count(parts.secrets, "get", label="secret get")

    def _count(self, part: object, *methods: str, label: str | None = None) -> None:
        for name in methods:
            method = getattr(part, name)

            def counted(*args: Any, _method: Any = method, _label: str = label or name, **kwargs: Any) -> Any:
                self.counts[_label] += 1
                return _method(*args, **kwargs)

            setattr(part, name, counted)  # on the instance: the part's class is untouched

    def snapshot(self) -> Counter[str]:
        return Counter(self.counts)


def _counters(stores: Stores) -> list[Counter[str]]:
    """The `calls` counters of the store fakes (each store once)."""
    unique = {id(store): store for store in vars(stores).values()}
    return [store.calls for store in unique.values() if isinstance(getattr(store, "calls", None), Counter)]


def _counted_store_names(stores: Stores) -> list[str]:
    """The fields of `stores` whose fake counts its calls."""
    return [name for name, store in vars(stores).items() if isinstance(getattr(store, "calls", None), Counter)]


def _store_calls(stores: Stores) -> Counter[str]:
    """The round trips the store fakes counted: the sum of their `calls` counters."""
    return sum(_counters(stores), Counter())


def _install_fakes() -> tuple[Stores, OtherCalls]:
    """Install a container on in-memory fakes and create the account the webhooks are for."""
    parts = fake_container(Settings(operator_token="bench-operator-token", public_base_url=BASE_URL))
    settings = AccountSettingsIn.model_validate(
        {"name": "Acme", "carriers": {CARRIER: {"account_sid": SID, "auth_token": AUTH_TOKEN}}}
    )
    upsert_account(parts.stores.accounts, parts.secrets, parts.carriers, ACCOUNT, settings, parts.clock.now())
    for calls in _counters(parts.stores):
        calls.clear()
    return parts.stores, OtherCalls(parts)


def _events(count: int, serial: Iterator[int]) -> Iterator[tuple[str, dict]]:
    """(kind, event) pairs: kinds in turn, each webhook with a new MessageSid and a new sender."""
    for index in range(count):
        number = next(serial)
        kind = KINDS[index % len(KINDS)]
        bodies = BODIES[kind]
        params = {
            "ToCountry": "US",
            "ToState": "CA",
            "SmsMessageSid": f"SM{number:032x}",
            "NumMedia": "0",
            "ToCity": "SAN FRANCISCO",
            "FromZip": "94105",
            "SmsSid": f"SM{number:032x}",
            "FromState": "CA",
            "SmsStatus": "received",
            "FromCity": "SAN FRANCISCO",
            "Body": bodies[(index // len(KINDS)) % len(bodies)],
            "FromCountry": "US",
            "To": OUR_NUMBER,
            "ToZip": "94105",
            "NumSegments": "1",
            "MessageSid": f"SM{number:032x}",
            "AccountSid": SID,
            "From": f"+1415{2000000 + number:07d}",
            "ApiVersion": "2010-04-01",
        }
        signature = twilio.compute_signature(BASE_URL + ROUTE, sorted(params.items()), AUTH_TOKEN)
        path_parameters = {"carrier": CARRIER, "account_id": ACCOUNT}
        yield kind, _report.api_gateway_event(ROUTE, RESOURCE, urlencode(params), signature, path_parameters)


def _serve(event: dict) -> None:
    response = app(event, None)
    if response["statusCode"] != 200:
        raise RuntimeError(f"webhook answered {response['statusCode']}: {response['body']}")


def _intents(stores: Stores, skip: int) -> dict[str, Counter]:
    """What the timed webhooks were recognised as, per kind (to check the mix is what it claims to be)."""
    by_kind: dict[str, Counter] = defaultdict(Counter)
    kind_of = {body: kind for kind, bodies in BODIES.items() for body in bodies}
    for logged in list(stores.inbound.messages.values())[skip:]:  # type: ignore[attr-defined]
        by_kind[kind_of[logged.message.body]][logged.intent.value] += 1
    return by_kind


# --- where the time goes -------------------------------------------------------------------------------------------


def _profile(count: int, serial: Iterator[int]) -> tuple[dict[str, float], list[tuple[str, float, float]], float]:
    """Share of the time by area, and our own functions by cumulative time, under cProfile (a separate pass)."""
    events = list(_events(count, serial))
    profiler = cProfile.Profile()
    profiler.enable()
    for _, event in events:
        _serve(event)
    profiler.disable()
    stats = pstats.Stats(profiler)
    areas: dict[str, float] = defaultdict(float)
    ours: list[tuple[str, float, float]] = []
    for (filename, line, function), (_, calls, tottime, cumtime, _) in stats.stats.items():
        areas[_area(filename, function)] += tottime
        if "/chalicelib/" in filename:
            module = filename.split("/chalicelib/", 1)[1].removesuffix(".py").replace("/", ".")
            ours.append((f"chalicelib.{module}.{function} (line {line})", cumtime, calls / count))
    ours.sort(key=lambda row: row[1], reverse=True)
    return areas, ours, sum(areas.values())


def _area(filename: str, function: str) -> str:
    if filename == "~":  # built-in functions: name them by what they belong to
        for marker, area in (
            ("pydantic_core", _PYDANTIC),
            ("hmac", "hashlib/hmac"),
            ("_hashlib", "hashlib/hmac"),
            ("phonenumbers", "phonenumbers"),
        ):
            if marker in function:
                return area
        return "built-ins (str, dict, re, ...)"
    if "/chalicelib/" in filename:
        return "our code: chalicelib/" + filename.split("/chalicelib/", 1)[1]
    if "/tests/" in filename:
        return "the in-memory fakes (tests/fakes.py)"
    if "/site-packages/" in filename:
        package = filename.split("/site-packages/", 1)[1].split("/", 1)[0]
        return _PYDANTIC if package in ("pydantic", "pydantic_core") else package
    if filename.endswith("/app.py"):
        return "our code: app.py"
    if filename.startswith(_STDLIB):
        return "stdlib: " + filename[len(_STDLIB) :].removesuffix(".py").removesuffix("/__init__")
    return filename


_PYDANTIC = "pydantic (validation, serialisation)"
_STDLIB = sysconfig.get_paths()["stdlib"] + "/"


def _pieces(event: dict, ours: list[tuple[str, float, float]]) -> str:
    """A few steps of every webhook timed alone with timeit (no profiler overhead), in µs per call."""
    import timeit

    def per_webhook(function: str) -> str:
        """How often the profiled pass called `function` per webhook."""
        found = [calls for name, _, calls in ours if name.startswith(function + " ")]
        return f"{found[0]:.1f}" if found else "?"

    from chalicelib.domain import keywords
    from chalicelib.domain.phone import to_e164

    body = event["body"].encode()
    params = twilio.parse_form(body)
    signature = event["headers"]["X-Twilio-Signature"]
    url = BASE_URL + ROUTE
    steps = {
        "`to_e164('+14155550100')` (From and To)": (
            per_webhook("chalicelib.domain.phone.to_e164"),
            lambda: to_e164(OUR_NUMBER, "US"),
        ),
        f"`twilio.parse_form` ({len(params)} fields)": (
            per_webhook("chalicelib.adapters.carriers.twilio.parse_form"),
            lambda: twilio.parse_form(body),
        ),
        "`twilio.is_valid_request` (one URL, valid)": (
            per_webhook("chalicelib.adapters.carriers.twilio.is_valid_request"),
            lambda: twilio.is_valid_request(urls=[url], params=params, auth_token=AUTH_TOKEN, signature=signature),
        ),
        "`keywords.recognise('Stop please')`": ("", lambda: keywords.recognise("Stop please")),
        "`keywords.recognise` (an 88-character reply)": ("", lambda: keywords.recognise(BODIES["reply"][5])),
    }
    rows = []
    for name, (calls, step) in steps.items():
        number, _ = timeit.Timer(step).autorange()
        best = min(timeit.repeat(step, number=number, repeat=5)) / number
        rows.append([name, calls, f"{best * 1e6:.1f}"])
    return "\n".join(
        [
            "Some steps of every webhook timed alone (timeit, best of 5, µs per call; calls per webhook from the "
            "profiled pass):",
            "",
            _report.table(["step", "calls per webhook", "µs"], rows),
        ]
    )


# --- reporting -----------------------------------------------------------------------------------------------------


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}"


def _render(args, stores, calls, elapsed, cpu, wall_total, collections, intents, profile) -> str:
    calls_by_kind, other_by_kind, count_by_kind = calls
    cpu_total, cpu_rounds = cpu
    everything = [value for values in elapsed.values() for value in values]
    count = len(everything)
    rows = [
        [
            f"{kind} ({len(values)})",
            _us(sum(values) / len(values)),
            _us(_report.percentile(values, 0.5)),
            _us(_report.percentile(values, 0.99)),
            _us(max(values)),
        ]
        for kind, values in elapsed.items()
    ]
    rows.append(
        [
            f"**all ({count})**",
            _us(sum(everything) / count),
            _us(_report.percentile(everything, 0.5)),
            _us(_report.percentile(everything, 0.99)),
            _us(max(everything)),
        ]
    )
    call_names = sorted({name for counter in calls_by_kind.values() for name in counter})
    other_names = [
        name
        for name in ("enqueue_jobs", "job_queued", "enqueue", "secret get")
        if any(counter[name] for counter in other_by_kind.values())
    ]
    call_rows = [
        [
            kind,
            *(f"{calls_by_kind[kind][name] / count_by_kind[kind]:.2f}" for name in call_names),
            f"**{sum(calls_by_kind[kind].values()) / count_by_kind[kind]:.2f}**",
            *(f"{other_by_kind[kind][name] / count_by_kind[kind]:.2f}" for name in other_names),
        ]
        for kind in KINDS
    ]
    every = sum(count_by_kind.values())
    counted = ", ".join(f"`stores.{name}`" for name in _counted_store_names(stores))
    store_mean = sum(sum(counter.values()) for counter in calls_by_kind.values()) / every
    aws_others = [name for name in other_names if name != "secret get"]
    others_mean = sum(sum(other_by_kind[kind][name] for name in aws_others) for kind in KINDS) / every
    recognised = "; ".join(
        f"{kind}: " + ", ".join(f"{intent} {n}" for intent, n in intents[kind].most_common()) for kind in KINDS
    )
    areas, ours, profiled_total = profile
    area_rows = [
        [area, f"{share / profiled_total:.0%}"]
        for area, share in sorted(areas.items(), key=lambda item: item[1], reverse=True)[:12]
    ]
    our_rows = [
        [f"`{name}`", f"{cumulative / profiled_total:.0%}", f"{per_webhook:.1f}"]
        for name, cumulative, per_webhook in ours[:10]
    ]
    return "\n".join(
        [
            _report.machine(),
            "",
            (
                "The app with its container built on the in-memory fakes of `tests/fakes.py` "
                "(`tests.containers.fake_container`: stores, secrets, a recording queue, clock; the real carrier "
                "registry), fed signed Twilio inbound webhooks on `POST /webhooks/{carrier}/{account_id}` as API "
                "Gateway proxy events through `app(event, context)` in one process: no HTTP, no AWS, so this is the "
                "CPU of Chalice's dispatch plus our own code (signature check, parsing, E.164, keywords, policy, "
                "pydantic models, email jobs, TwiML). Each webhook has its own "
                f"MessageSid and sender; kinds alternate (opt-out, ordinary reply, HELP/START). {args.warm_up} "
                f"webhooks warm up first; then {count} are timed."
            ),
            "",
            (
                f"**CPU per webhook (time.process_time over the timed loop / {count}): {_us(cpu_total / count)} µs**; "
                f"wall {_us(wall_total / count)} µs per webhook ({count / wall_total:,.0f} webhooks/s on one core); "
                f"{collections} garbage collections during the loop. CPU per webhook in each of {len(cpu_rounds)} "
                f"rounds: {', '.join(_us(value) for value in cpu_rounds)} µs. On a shared VM separate invocations can "
                "differ far more than rounds of one invocation (up to 2× was seen on the 2-CPU VM these figures were "
                "first taken on): compare figures from one invocation, or rerun before reading much into a change."
            ),
            "",
            "Per webhook, `time.perf_counter` around each call, in µs:",
            "",
            _report.table(["kind (webhooks)", "mean", "p50", "p99", "max"], rows),
            "",
            f"Recognised as: {recognised}.",
            "",
            (
                f"Calls per webhook over the {args.warm_up} warm-up webhooks. The store round trips are the sum of "
                f"the store fakes' `calls` counters ({counted}); with the DynamoDB stores each is "
                "one round trip: `get_account` a GetItem, `load` a BatchGetItem (the state and the event key), "
                "`commit` a TransactWriteItems, `log_inbound` a conditional PutItem. Beside them, counted by this "
                "benchmark, calls that the stores' counters do not see: `enqueue_jobs`, an event's jobs queued on "
                "the send queue (one SQS SendMessageBatch: the email alert and any other job the event calls for); "
                "`job_queued`, the event's jobs taken out of the outbox once queued (a DynamoDB UpdateItem); "
                "`secret get`, the carrier's auth token (an SSM GetParameter, cached for "
                "`secrets_max_age` = 60 s in a warm function, so not a round trip per webhook). "
                f"Mean over the mix: **{store_mean:.2f} store round trips** per webhook, plus "
                f"**{others_mean:.2f}** to SQS and the outbox."
            ),
            "",
            _report.table(["kind", *call_names, "store round trips", *other_names], call_rows),
            "",
            (
                f"Where the time goes: cProfile over {args.profile} more webhooks (a separate pass; profiling inflates "
                "the times, so only the shares are shown). Own time by area:"
            ),
            "",
            _report.table(["area", "share of own time"], area_rows),
            "",
            "Our functions by cumulative time (including what they call):",
            "",
            _report.table(["function", "share", "calls per webhook"], our_rows),
        ]
    )


if __name__ == "__main__":
    main()
