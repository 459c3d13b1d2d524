"""Each carrier's cost: the CPU of a signed inbound STOP webhook in our own code (store faked), and what the carrier
adds to a cold start (importing its module and what it needs).

Run from the project root:

    .venv/bin/python benchmarks/bench_carriers.py [--webhooks 2000] [--runs 10] [--write BENCHMARKS.md]

Webhook CPU: as `bench_webhook.py` measures it (whose call counters this reuses), the process's container is built on
the in-memory fakes of `tests/fakes.py` (`tests.containers.fake_container`), so no AWS call is made or timed. One
account has every carrier's credentials; each webhook is a STOP from a new sender, in that carrier's own payload and
signed its own way (`tests/signed_webhooks.py`: the builders of `tools/send_sms.py`; for `aws`, an SNS notification
signed with a self-signed certificate that a stand-in for SNS's certificate host serves), handed to the Chalice app
as an API Gateway proxy event, `app(event, context)`. The carriers take turns, so the machine's other work falls on
all of them alike. Events and signatures are built before the clock starts.

Cold start: fresh interpreters, the carriers round-robin, with .pyc and without any. Each imports the app and boto3 and
builds the container on the fakes (not timed: every cold start pays it), then times asking the registry for the carrier
(importing its module and what that imports), then its first signed STOP (with whatever the carrier imports only
when it checks a signature) and a second, warm one. A last pass under `python -X importtime` names the packages each
carrier brings in.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _report  # noqa: E402  (benchmarks/, the script's directory, is on sys.path)
import bench_webhook  # noqa: E402  (its counters of store round trips and other calls)

from app import app  # noqa: E402
from chalicelib import wiring  # noqa: E402
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from tests.containers import fake_container, registry  # noqa: E402
from tests.fakes import FixedClock  # noqa: E402
from tests.signed_webhooks import ACCOUNT, BASE_URL, CARRIERS, CERT_URL, CarrierSigner, SignedRequest  # noqa: E402

TITLE = "Carriers"
RESOURCE = "/webhooks/{carrier}/{account_id}"
OPERATOR = "bench-operator-token"
MARKER = "BENCH-RESULT "
PHASE = "BENCH-PHASE "
#: The answers of a webhook whose content was stored (a carrier's choice: a body to give back or none).
STORED = (200, 204)
#: Bandwidth's first try of every callback, without its credentials: answered 401 with a challenge.
BANDWIDTH_FIRST_TRY = "bandwidth, first try (401)"
#: The headers of `_report.api_gateway_event` that API Gateway adds, kept beside each carrier's own.
TRANSPORT_HEADERS = ("Accept", "Host", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto")
#: What the carriers' signature checks use beyond the standard library, and where it is imported.
SIGNATURE_LIBRARIES = {
    "twilio": "hmac (HMAC-SHA1)",
    "aws": "`rsa` (PKCS#1 v1.5), `pyasn1` and `pyasn1_modules` (X.509), imported by `sns.py` at the first check",
    "telnyx": "`ecdsa` (Ed25519), imported by `telnyx.py` at the first signature check",
    "plivo": "hmac (HMAC-SHA256)",
    "vonage": "hashlib/hmac (MD5 or HMAC-SHA*)",
    "bandwidth": "hmac.compare_digest (HTTP Basic)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhooks", type=int, default=2000, help="timed STOP webhooks per carrier (default 2000)")
    parser.add_argument("--warm-up", type=int, default=200, help="webhooks per carrier before timing (default 200)")
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per carrier and bytecode (default 10)")
    parser.add_argument("--importtime-runs", type=int, default=5, help="runs under -X importtime (default 5)")
    parser.add_argument("--write", metavar="FILE", help="replace this script's section of FILE (e.g. BENCHMARKS.md)")
    args = parser.parse_args()

    signer = CarrierSigner()
    webhooks = _measure_webhooks(signer, args.webhooks, args.warm_up)
    cold = _measure_cold(signer, args.runs)
    imports = _measure_imports(signer, args.importtime_runs)

    body = _render(args, webhooks, cold, imports)
    print(body)
    _report.write_if_asked(args.write, TITLE, body)


# --- webhook CPU, in process ---------------------------------------------------------------------------------------


def _event(signed: SignedRequest, *, without: tuple[str, ...] = ()) -> dict:
    """The API Gateway proxy event of `_report.api_gateway_event`, with the carrier's headers instead of Twilio's."""
    event = _report.api_gateway_event(
        signed.path, RESOURCE, signed.body, "", {"carrier": signed.carrier, "account_id": ACCOUNT}
    )
    headers = {name: value for name, value in event["headers"].items() if name in TRANSPORT_HEADERS}
    headers.update((name, value) for name, value in signed.headers.items() if name not in without)
    event["headers"] = headers
    event["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    return event


class Webhooks:
    """Per kind (a carrier, or Bandwidth's first try): CPU and wall seconds per webhook, calls per webhook."""

    def __init__(self) -> None:
        self.cpu: dict[str, list[float]] = defaultdict(list)
        self.wall: dict[str, list[float]] = defaultdict(list)
        self.store_calls: dict[str, Counter[str]] = defaultdict(Counter)
        self.other_calls: dict[str, Counter[str]] = defaultdict(Counter)
        self.warmed: Counter[str] = Counter()
        self.applied: Counter[str] = Counter()
        self.answers: dict[str, Counter[int]] = defaultdict(Counter)
        self.count = 0


def _measure_webhooks(signer: CarrierSigner, count: int, warm_up: int) -> Webhooks:
    parts = fake_container(
        Settings(operator_token=OPERATOR, public_base_url=BASE_URL), carriers=registry(sns_fetch=signer.fetch)
    )
    form = AccountSettingsIn.model_validate({"name": "Acme", "carriers": signer.account_carriers()})
    upsert_account(parts.stores.accounts, parts.secrets, parts.carriers, ACCOUNT, form, parts.clock.now())
    stores = parts.stores
    others = bench_webhook.OtherCalls(parts)
    at = parts.clock.now()  # the fake clock does not move: every request is signed for when it is received
    serial = iter(range(10**7))

    def batch(size: int) -> list[tuple[str, dict, tuple[int, ...], str]]:
        """(kind, event, expected status, sender) for `size` rounds of every kind, each STOP from a new sender."""
        events = []
        for _ in range(size):
            for carrier in CARRIERS:
                sender = f"+1415{2000000 + next(serial):07d}"
                signed = signer.inbound(carrier, sender=sender, at=at)
                events.append((carrier, _event(signed), STORED, sender))
                if carrier == "bandwidth":
                    first_try = _event(signed, without=("Authorization",))
                    events.append((BANDWIDTH_FIRST_TRY, first_try, (401,), sender))
        return events

    result = Webhooks()
    for kind, event, expected, _ in batch(warm_up):  # warm-up, counting calls (outside the timed loop)
        before, others_before = bench_webhook._store_calls(stores), others.snapshot()
        _serve(event, expected)
        result.store_calls[kind].update(bench_webhook._store_calls(stores) - before)
        result.other_calls[kind].update(others.snapshot() - others_before)
        result.warmed[kind] += 1

    timed = batch(count)
    kinds = len(timed) // count
    for index in range(count):
        round_ = timed[index * kinds : (index + 1) * kinds]
        shift = index % kinds  # each kind goes first in turn
        for kind, event, expected, _ in round_[shift:] + round_[:shift]:
            cpu_started, wall_started = time.process_time(), time.perf_counter()
            response = app(event, None)
            wall, cpu = time.perf_counter() - wall_started, time.process_time() - cpu_started
            if response["statusCode"] not in expected:
                raise RuntimeError(f"{kind}: answered {response['statusCode']}: {response['body']}")
            result.cpu[kind].append(cpu)
            result.wall[kind].append(wall)
            result.answers[kind][response["statusCode"]] += 1
    result.count = count
    for kind, _, expected, sender in timed:
        if expected == STORED:
            state, _ = stores.numbers.load(ACCOUNT, sender)
            result.applied[kind] += "all" in state.suppressions
    for kind, answers in result.answers.items():
        if len(answers) != 1:
            raise RuntimeError(f"{kind}: answers {dict(answers)}")
    wiring.use(None)
    return result


def _serve(event: dict, expected: tuple[int, ...]) -> None:
    response = app(event, None)
    if response["statusCode"] not in expected:
        raise RuntimeError(f"webhook answered {response['statusCode']} (not {expected}): {response['body']}")


# --- cold start, in fresh interpreters -----------------------------------------------------------------------------

# The child: import the app and boto3, build the container on the fakes (every cold start pays that), then time the
# carrier's import (asking the registry for it), its first STOP and a second one. Phases are marked on stderr for
# -X importtime.
CHILD = r"""
import json, sys, time
spec = json.loads(sys.stdin.read())

def phase(name):
    print("BENCH-PHASE " + name, file=sys.stderr, flush=True)

started = time.perf_counter()
import app
import boto3  # a cold start's first store call imports it (and http.client, email, urllib.request with it)
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
from chalicelib.settings import Settings
from tests.containers import fake_container, registry

certificate = spec["certificate"].encode()

def fetch(url):
    if url != spec["cert_url"]:
        raise AssertionError(url)
    return certificate

parts = fake_container(
    Settings(operator_token="operator", public_base_url=spec["base_url"]), carriers=registry(sns_fetch=fetch)
)
result = {"app_ms": (time.perf_counter() - started) * 1000}
before = set(sys.modules)
phase("import")
started = time.perf_counter()
for name in spec["carriers"]:
    parts.carriers.get(name)
result["import_ms"] = (time.perf_counter() - started) * 1000
phase("set-up")
result["imported"] = sorted(set(sys.modules) - before)
if spec["events"]:
    form = AccountSettingsIn.model_validate({"name": "Acme", "carriers": spec["account_carriers"]})
    upsert_account(parts.stores.accounts, parts.secrets, parts.carriers, "acme", form, parts.clock.now())
    before = set(sys.modules)
    statuses = []
    for index, event in enumerate(spec["events"]):
        phase(f"webhook {index}")
        started = time.perf_counter()
        statuses.append(app.app(event, None)["statusCode"])
        result[f"webhook_{index}_ms"] = (time.perf_counter() - started) * 1000
        if index == 0:
            result["imported_first"] = sorted(set(sys.modules) - before)
    phase("end")
    result["statuses"] = statuses
print("BENCH-RESULT " + json.dumps(result))
"""

#: The cold-start rows: each carrier alone, and all six (what every cold start paid when the registry imported all).
ALL = "all six carriers"


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "OPTOUT_"))}


def _spec(signer: CarrierSigner, row: str, serial: int) -> dict:
    at = FixedClock().now()  # the fake container's clock
    names = list(CARRIERS) if row == ALL else [row]
    events = []
    if row != ALL:
        for offset in (0, 1):
            sender = f"+1415{3000000 + 2 * serial + offset:07d}"
            events.append(_event(signer.inbound(row, sender=sender, at=at)))
    return {
        "carriers": names,
        "events": events,
        "account_carriers": signer.account_carriers(*names),
        "certificate": signer.certificate.decode(),
        "cert_url": CERT_URL,
        "base_url": BASE_URL,
    }


def _run_child(spec: dict, xopts: list[str], env: dict[str, str]) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, *xopts, "-c", CHILD],
        input=json.dumps(spec),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"child failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    result = json.loads(lines[-1].removeprefix(MARKER))
    if any(status not in STORED for status in result.get("statuses", [])):
        raise RuntimeError(f"a webhook was not stored: {result}")
    return result, done.stderr


ROWS = (*CARRIERS, ALL)
VARIANTS = ("with .pyc", "no .pyc at all")


def _measure_cold(signer: CarrierSigner, runs: int) -> dict[tuple[str, str], list[dict]]:
    results: dict[tuple[str, str], list[dict]] = defaultdict(list)
    serial = 0
    env = _child_env()
    with tempfile.TemporaryDirectory(prefix="bench-carriers-") as scratch:
        for run in range(runs):
            for variant in VARIANTS:
                for row in ROWS[run % len(ROWS) :] + ROWS[: run % len(ROWS)]:
                    serial += 1
                    if variant == "with .pyc":
                        xopts, child_env = [], env
                    else:  # an empty pycache_prefix, never written to: every module is compiled from source
                        empty = Path(scratch) / f"empty-{serial}"
                        empty.mkdir()
                        xopts, child_env = ["-X", f"pycache_prefix={empty}"], {**env, "PYTHONDONTWRITEBYTECODE": "1"}
                    result, _ = _run_child(_spec(signer, row, serial), xopts, child_env)
                    results[(row, variant)].append(result)
            print(f"cold start: run {run + 1} of {runs} done", file=sys.stderr)
    return results


def _measure_imports(signer: CarrierSigner, runs: int) -> dict[str, dict[str, dict[str, float]]]:
    """Per row and phase (the import, the first webhook): self ms by top-level package newly imported, median."""
    by_row: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for run in range(runs):
        for row in ROWS:
            _, stderr = _run_child(_spec(signer, row, 10**5 + run), ["-X", "importtime"], _child_env())
            for phase, packages in _importtime_by_phase(stderr).items():
                for package in set(by_row[row][phase]) | set(packages):
                    by_row[row][phase][package].append(packages.get(package, 0.0))
    return {
        row: {
            phase: {package: _report.median(values) for package, values in packages.items()}
            for phase, packages in phases.items()
        }
        for row, phases in by_row.items()
    }


def _importtime_by_phase(stderr: str) -> dict[str, dict[str, float]]:
    """importtime's self times (ms) summed by top-level package (our modules by module), for the import phase and
    the first webhook."""
    phases: dict[str, dict[str, float]] = {}
    current: dict[str, float] | None = None
    for line in stderr.splitlines():
        if line.startswith(PHASE):
            name = line.removeprefix(PHASE)
            current = phases.setdefault(name, defaultdict(float)) if name in ("import", "webhook 0") else None
            continue
        if current is None or not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.removeprefix("import time:").split("|")
        try:
            self_us = int(parts[0])
        except ValueError:
            continue  # the header line
        module = parts[2].strip()
        key = module if module.startswith("chalicelib.") else module.split(".")[0]
        current[key] += self_us / 1000
    return phases


# --- reporting -----------------------------------------------------------------------------------------------------


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}"


def _ms(values: list[float]) -> str:
    return f"{_report.median(values):,.1f} / {_report.percentile(values, 0.9):,.1f}"


def _render(args: argparse.Namespace, webhooks: Webhooks, cold: dict, imports: dict) -> str:
    return "\n".join(
        [
            _report.machine(),
            "",
            "### Webhook CPU per carrier (store faked)",
            "",
            _render_webhooks(args, webhooks),
            "",
            "### What each carrier adds to a cold start",
            "",
            _render_cold(args, cold, imports),
        ]
    )


def _render_webhooks(args: argparse.Namespace, webhooks: Webhooks) -> str:
    kinds = [*CARRIERS, BANDWIDTH_FIRST_TRY]
    rows = []
    for kind in kinds:
        cpu, wall = webhooks.cpu[kind], webhooks.wall[kind]
        warmed = webhooks.warmed[kind]
        store = sum(webhooks.store_calls[kind].values()) / warmed
        others = webhooks.other_calls[kind]
        queued = (others["enqueue_jobs"] + others["enqueue"] + others["job_queued"]) / warmed
        (status,) = webhooks.answers[kind]
        applied = f"{webhooks.applied[kind]:,} of {len(cpu):,}" if status in STORED else "(stores nothing)"
        rows.append(
            [
                f"`{kind}`" if kind in CARRIERS else kind,
                _us(_report.median(cpu)),
                _us(_report.percentile(cpu, 0.95)),
                _us(sum(cpu) / len(cpu)),
                _us(_report.median(wall)),
                status,
                f"{store:.2f}",
                f"{queued:.2f}",
                applied,
            ]
        )
    return "\n".join(
        [
            (
                "The app with its container on the in-memory fakes of `tests/fakes.py` (as `bench_webhook.py` runs it, "
                "whose call counters are reused here), one account with every carrier's credentials, fed signed "
                "inbound STOPs on `POST /webhooks/{carrier}/{account_id}` as API Gateway proxy events through "
                "`app(event, context)`: each carrier's own payload and signature (`tests/signed_webhooks.py`, with the "
                "builders of `tools/send_sms.py`; for `aws` an SNS notification of a two-way SMS, RSA-signed with a "
                "self-signed certificate served at an SNS URL, fetched once and then cached as in a warm function). "
                "No HTTP and no AWS call: the CPU is Chalice's dispatch, our code and the fakes'. Every STOP comes "
                f"from a new sender. {args.warm_up} rounds warm up (and count calls); then {webhooks.count:,} rounds "
                "are timed, each carrier once per round and each first in turn. Bandwidth calls first without its "
                "credentials and again with them after the 401 challenge (see `bandwidth.py`), so one of its STOPs "
                "costs both of its rows."
            ),
            "",
            (
                "Per webhook, in µs: CPU is `time.process_time()` around each `app(event, None)` (median, p95 and "
                "mean over the timed webhooks; the mean also carries the garbage collector's passes, which fall on "
                "whichever webhook is running), wall is `time.perf_counter()`. Calls per webhook (warm-up): store "
                "round trips (the fakes' `calls` counters; each is one DynamoDB request) and SQS sends plus outbox "
                "updates (`enqueue_jobs`, `job_queued`, `enqueue`): Twilio's confirmation goes back in its answer "
                "(TwiML), the others' through the send queue. Applied: timed STOPs whose sender is then suppressed "
                "for `all`."
            ),
            "",
            _report.table(
                [
                    "carrier",
                    "CPU p50",
                    "CPU p95",
                    "CPU mean",
                    "wall p50",
                    "answer",
                    "store round trips",
                    "SQS + outbox",
                    "applied",
                ],
                rows,
            ),
            "",
            "Signature checks: " + "; ".join(f"`{name}` {how}" for name, how in SIGNATURE_LIBRARIES.items()) + ".",
        ]
    )


def _render_saving(cold: dict) -> str:
    """What a cold start saves by importing only the carrier its request names, per carrier (medians)."""

    def saved(row: str, variant: str) -> str:
        every = _report.median([run["import_ms"] for run in cold[(ALL, variant)]])
        alone = _report.median([run["import_ms"] for run in cold[(row, variant)]])
        return f"{every - alone:,.0f}"

    return (
        "A cold start whose first request names one carrier imports that one instead of all six: it saves the import "
        "of the other five (all six's import minus the carrier's, medians, ms with .pyc / without): "
        + ", ".join(f"`{row}` {saved(row, VARIANTS[0])} / {saved(row, VARIANTS[1])}" for row in CARRIERS)
        + ". The cost of the signature libraries, which `aws` and `telnyx` import at their first signature check, "
        "was paid by those carriers' first webhooks before as now (the registry never imported them)."
    )


def _render_cold(args: argparse.Namespace, cold: dict, imports: dict) -> str:
    rows = []
    for row in ROWS:
        cells: list[object] = [f"`{row}`" if row in CARRIERS else row]
        for variant in VARIANTS:
            runs = cold[(row, variant)]
            cells.append(_ms([run["import_ms"] for run in runs]))
            if row == ALL:
                cells += ["", ""]
            else:
                cells.append(_ms([run["webhook_0_ms"] for run in runs]))
                cells.append(_ms([run["webhook_1_ms"] for run in runs]))
        rows.append(cells)
    heavy_rows = []
    for row in ROWS:
        phases = imports.get(row, {})
        for phase, label in (("import", "import"), ("webhook 0", "first STOP")):
            packages = phases.get(phase, {})
            ours = sum(ms for name, ms in packages.items() if name.startswith("chalicelib."))
            theirs = sorted(
                ((ms, name) for name, ms in packages.items() if not name.startswith("chalicelib.")), reverse=True
            )
            listed = ", ".join(f"`{name}` {ms:.1f}" for ms, name in theirs if ms >= 0.05) or "none"
            if row == ALL and phase != "import":
                continue
            heavy_rows.append(
                [f"`{row}`" if row in CARRIERS else row, label, f"{sum(packages.values()):.1f}", f"{ours:.1f}", listed]
            )
    return "\n".join(
        [
            (
                f"Fresh interpreters, {args.runs} per carrier and bytecode variant, all interleaved. Each imports the "
                "app and boto3 and builds its container on the fakes first (not timed: every cold start pays it, "
                "boto3 for its first store call, and the standard library's `http.client`, `email` and "
                "`urllib.request` come with boto3, so they are not counted against a carrier that imports them too; "
                f"{_report.median([run['app_ms'] for run in cold[(CARRIERS[0], VARIANTS[0])]]):,.0f} ms with .pyc), "
                "then times: *import*, asking the registry for the carrier, which imports its module and what that "
                "imports and builds the carrier (what a cold start pays for it since the registry imports a carrier "
                "on first use; the row of all six is what every cold start paid when the registry imported all of "
                "them); *first STOP*, its first signed STOP through `app(event, context)`, which includes what the "
                "carrier imports only when it checks a signature and everything else a first request pays; *warm "
                "STOP*, a second one. *No .pyc at all*: `-X pycache_prefix=<empty dir>` and "
                "`PYTHONDONTWRITEBYTECODE=1`, so every module imported is compiled from source (pessimistic for the "
                "standard library, which Lambda's runtime has compiled; realistic for a zip that ships no .pyc)."
            ),
            "",
            "Median / p90, in ms:",
            "",
            _report.table(
                [
                    "carrier",
                    "import, .pyc",
                    "first STOP, .pyc",
                    "warm STOP, .pyc",
                    "import, no .pyc",
                    "first STOP, no .pyc",
                    "warm STOP, no .pyc",
                ],
                rows,
            ),
            "",
            _render_saving(cold),
            "",
            (
                f"What each carrier imports that the app had not, under `python -X importtime` (with .pyc, median "
                f"over {args.importtime_runs} runs; importtime adds its own overhead): self ms summed, for our modules "
                "and by top-level package for the others (the standard library's included), in the import and "
                "during the first STOP."
            ),
            "",
            _report.table(["carrier", "when", "ms in all", "our modules", "other packages (self ms)"], heavy_rows),
        ]
    )


if __name__ == "__main__":
    main()
