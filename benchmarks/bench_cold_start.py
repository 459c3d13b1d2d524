"""Cold start: a fresh interpreter imports the app and serves its first Twilio webhook (a signed STOP).

Run from the project root:

    .venv/bin/python benchmarks/bench_cold_start.py [--runs 20] [--write BENCHMARKS.md]

The parent starts the embedded AWS endpoint in a child process (moto's server with the DynamoDB patches `make run`
uses, `tools.local_stack.start_aws`: a transaction costs what it touches, not the table), creates the table and the
send queue (`tools.local_stack.create_resources`) and one account through the real adapters, builds the Lambda zips
of both apps (the bundle the infra/ stack deploys, `infra.bundle.package`, and the zip `chalice package` alone
builds) and unzips each into a temporary directory, then starts fresh child interpreters, round-robin: our app
(`app.py`) and a bare Chalice app (`benchmarks/baseline_app/app.py`, one boto3 DynamoDB client, one GetItem), each
from its source tree with .pyc and from each unzipped zip as Lambda runs it (`python -S`: the zip first on sys.path,
then what the runtime provides, boto3 and botocore with their .pyc; nothing from site-packages, and nothing
written). A child calls `app.app(event, context)` with an API Gateway proxy event, as the Lambda runtime does, and
reports its timings (time.perf_counter from its first line) and the boto3 clients it built, by service (botocore's
`Session.create_client` wrapped in the child); the parent adds the spawn time and the wall time of the whole
subprocess. A last pass runs our deployed bundle under `python -X importtime` to name the imports that cost the
most.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _report  # noqa: E402  (benchmarks/, the script's directory, is on sys.path)
import bench_bundle  # noqa: E402
from _endpoint import Endpoint  # noqa: E402

from infra import bundle  # noqa: E402

TITLE = "Cold start"
BASELINE_DIR = ROOT / "benchmarks" / "baseline_app"
TABLE = "optout-bench"
ACCOUNT = "acme"
BASE_URL = "https://sms.example.com/api"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
SID = "AC" + "1" * 32
OUR_NUMBER = "+14155550100"
MARKER = "BENCH-RESULT "

# Every child counts the boto3 clients it builds. botocore's `Session.create_client` is where every client is made
# (`boto3.client`, `boto3.Session().client`, resources, Powertools' own); an import hook wraps it as `botocore.session`
# is first imported, so the count imports nothing early. Each client is noted with its service and its builder: the
# first frame outside boto3 and botocore.
CLIENT_COUNTER = """\
_clients = []
class _CountClients:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "botocore.session":
            return None
        sys.meta_path.remove(_CountClients)
        import importlib.util
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module
        def exec_module(module):
            load(module)
            create = module.Session.create_client
            def create_client(self, service_name, *args, **kwargs):
                frame = sys._getframe(1)
                while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in ("boto3", "botocore"):
                    frame = frame.f_back
                where = "?" if frame is None else (
                    f"{frame.f_globals.get('__name__')}.{frame.f_code.co_qualname} (line {frame.f_lineno})"
                )
                _clients.append([service_name, where])
                return create(self, service_name, *args, **kwargs)
            module.Session.create_client = create_client
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, _CountClients)
"""

# The child's first statement starts the clock; everything after it (imports included) is measured.
CHILD = (
    """\
import time
_t0 = time.perf_counter()
_w0 = time.time()
import gc, json, os, resource, sys
_gc = [0, 0.0, 0.0]  # collections, their seconds, when the current one started
def _count_collection(phase, info):
    if phase == "start":
        _gc[2] = time.perf_counter()
    else:
        _gc[0] += 1
        _gc[1] += time.perf_counter() - _gc[2]
gc.callbacks.append(_count_collection)
"""
    + CLIENT_COUNTER
    + f"""\
sys.path.insert(0, os.getcwd())
import app as _application
_t1 = time.perf_counter()
_n1 = len(_clients)
class _Context:
    function_name = "bench"
    memory_limit_in_mb = 1024
    aws_request_id = "bench-request"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    def get_remaining_time_in_millis(self):
        return 30000
_first = _application.app(json.loads(os.environ["BENCH_EVENT"]), _Context())
_t2 = time.perf_counter()
_w2 = time.time()
_cpu = resource.getrusage(resource.RUSAGE_SELF)
_collections = list(_gc[:2])
_n2 = len(_clients)
_second = _application.app(json.loads(os.environ["BENCH_EVENT_2"]), _Context())
_t3 = time.perf_counter()
_wiring = sys.modules.get("chalicelib.wiring")
print({MARKER!r} + json.dumps({{
    "first_line_wall": _w0, "response_wall": _w2, "last_line_wall": time.time(),
    "cpu_to_response_ms": (_cpu.ru_utime + _cpu.ru_stime) * 1000,
    "import_ms": (_t1 - _t0) * 1000, "first_ms": (_t2 - _t1) * 1000, "to_response_ms": (_t2 - _t0) * 1000,
    "second_ms": (_t3 - _t2) * 1000,
    "gc_count": _collections[0], "gc_ms": _collections[1] * 1000,
    "status": _first["statusCode"], "body": _first["body"], "status_2": _second["statusCode"],
    "clients": [[service, where, "import app" if i < _n1 else "first webhook" if i < _n2 else "second webhook"]
                for i, (service, where) in enumerate(_clients)],
    "built": list(_wiring.container().clients.built) if _wiring is not None else None,
}}))
"""
)

# Our app only: the same path in steps, to see where the first request's time goes. The container builds each client
# the first webhook builds (BENCH_SERVICES, in the order it built them) before the webhook rather than inside it.
CHILD_STEPS = (
    """\
import time
_t = [time.perf_counter()]
import json, os, sys
"""
    + CLIENT_COUNTER
    + f"""\
sys.path.insert(0, os.getcwd())
import app as _application
_t.append(time.perf_counter())
import botocore.session
_t.append(time.perf_counter())
from chalicelib import wiring
_parts = wiring.container()
_calls = []
def _count_call(event_name, **_):
    _calls.append(event_name.split(".", 1)[1])
for _service in os.environ["BENCH_SERVICES"].split(","):
    _parts.clients.get(_service).meta.events.register("before-call.*.*", _count_call)
    _t.append(time.perf_counter())
_parts.stores, _parts.secrets, _parts.queue, _parts.carriers
_t.append(time.perf_counter())
_built = len(_clients)
_first = _application.app(json.loads(os.environ["BENCH_EVENT"]), None)
_t.append(time.perf_counter())
_first_calls, _calls[:] = list(_calls), []
_second = _application.app(json.loads(os.environ["BENCH_EVENT_2"]), None)
_t.append(time.perf_counter())
print({MARKER!r} + json.dumps({{
    "steps_ms": [(b - a) * 1000 for a, b in zip(_t, _t[1:])],
    "status": _first["statusCode"], "status_2": _second["statusCode"],
    "calls": [_first_calls, list(_calls)],
    "clients_while_serving": [service for service, _ in _clients[_built:]],
}}))
"""
)
#: How the steps name a service's client.
SERVICE_NAMES = {"dynamodb": "DynamoDB", "ssm": "SSM", "sqs": "SQS", "sesv2": "SES v2"}


def _steps(services: list[str]) -> list[str]:
    return [
        "import app",
        "import botocore (the clients' SDK)",
        *(f"{SERVICE_NAMES.get(service, service)} client" for service in services),
        "build the container's parts (imports the adapters)",
        "first webhook",
        "second webhook (warm)",
    ]


VARIANTS = {
    "pyc": "source tree with .pyc",
    "zip": "`chalice package` zip (before)",
    "sources": "bundle with its sources kept",
    "bundle": "deployed bundle (infra/bundle.py)",
}
#: The variants run from an unzipped zip, as Lambda runs it, and how each zip is built.
ZIPS = {
    "zip": bench_bundle.build_plain,
    "sources": lambda workdir, project_dir: bench_bundle.build_bundle(workdir, project_dir, sources=True),
    "bundle": bench_bundle.build_bundle,
}
RUNTIME_LABEL = "the standard library, " + ", ".join(name.removesuffix(".py") for name in bundle.RUNTIME_PACKAGES)
#: The target: our cold start from the bundle infra/ deploys at most this many times the bare app's as the Lambda zip
#: runs it (the bare app's `chalice package` zip).
ZIP_TARGET = 1.3
APPS = {"ours": ("our app", ROOT), "baseline": ("bare Chalice + 1 GetItem", BASELINE_DIR)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Runs of 10 differed by 0.13x in the ratio on a shared 2-core VM; runs of 20 agreed.
    parser.add_argument("--runs", type=int, default=20, help="fresh processes per app and variant (default 20)")
    parser.add_argument("--importtime-runs", type=int, default=5, help="runs under -X importtime (default 5)")
    parser.add_argument("--write", metavar="FILE", help="replace this script's section of FILE (e.g. BENCHMARKS.md)")
    args = parser.parse_args()

    endpoint = Endpoint.start()
    try:
        env = _child_env(endpoint.url)
        os.environ.update(env)
        env["OPTOUT_SEND_QUEUE_URL"] = os.environ["OPTOUT_SEND_QUEUE_URL"] = _create_resources_and_account(env)
        with tempfile.TemporaryDirectory(prefix="bench-cold-") as scratch:
            places = _places(Path(scratch))
            runs = _measure(args.runs, env, places)
            services = _services_of_first_webhook(runs)
            deployed = places[("ours", "bundle")]
            steps = _measure_steps(args.runs, {**env, **deployed.env, "BENCH_SERVICES": ",".join(services)}, deployed)
            imports = _measure_imports(args.importtime_runs, {**env, **deployed.env}, deployed)
            parts = _measure_parts(args.runs, {**env, **deployed.env}, deployed)
    finally:
        endpoint.stop()

    body = _render(args.runs, args.importtime_runs, runs, (services, steps), imports, parts)
    print(body)
    _report.write_if_asked(args.write, TITLE, body)


# --- set-up --------------------------------------------------------------------------------------------------------


def _child_env(endpoint_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "OPTOUT_"))}
    env.update(
        OPTOUT_TABLE_NAME=TABLE,
        OPTOUT_OPERATOR_TOKEN="bench-operator-token",
        OPTOUT_PUBLIC_BASE_URL=BASE_URL,
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        # As in Lambda: the function's name set, no shared config or credentials files, no instance metadata.
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def _create_resources_and_account(env: dict[str, str]) -> str:
    """The table and the send queue as `make run` creates them; the account and its auth token through the real
    adapters. Returns the send queue's URL: the container needs one (a STOP queues its email alert)."""
    from chalicelib import wiring
    from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
    from chalicelib.settings import Settings
    from tools import local_stack

    resources = local_stack.create_resources(
        env["AWS_ENDPOINT_URL"], table_name=TABLE, region=env["AWS_DEFAULT_REGION"]
    )
    settings = AccountSettingsIn.model_validate(
        {"name": "Acme", "carriers": {"twilio": {"account_sid": SID, "auth_token": AUTH_TOKEN}}}
    )
    parts = wiring.Container(Settings(send_queue_url=resources.queue_url))  # the rest from the environment
    upsert_account(parts.stores.accounts, parts.secrets, parts.carriers, ACCOUNT, settings, datetime.now(UTC))
    return resources.queue_url


def _events(serial: int) -> dict[str, str]:
    """The child's two webhooks: STOPs from two senders no other run uses."""
    return {"BENCH_EVENT": _stop_event(2 * serial), "BENCH_EVENT_2": _stop_event(2 * serial + 1)}


def _stop_event(serial: int) -> str:
    """A signed STOP from a sender no earlier run used, so every run records a new opt-out."""
    from chalicelib.adapters.carriers import twilio

    params = {
        "ToCountry": "US",
        "SmsMessageSid": f"SMcold{serial:026d}",
        "NumMedia": "0",
        "MessageSid": f"SMcold{serial:026d}",
        "AccountSid": SID,
        "From": f"+1415{2000000 + serial:07d}",
        "To": OUR_NUMBER,
        "Body": "STOP",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }
    route = f"/webhooks/twilio/{ACCOUNT}"
    signature = twilio.compute_signature(BASE_URL + route, sorted(params.items()), AUTH_TOKEN)
    # Both apps route `/webhooks/{carrier}/{account_id}`: the same event for each.
    path_parameters = {"carrier": "twilio", "account_id": ACCOUNT}
    event = _report.api_gateway_event(
        route, "/webhooks/{carrier}/{account_id}", urlencode(params), signature, path_parameters
    )
    return json.dumps(event)


# --- measuring -----------------------------------------------------------------------------------------------------


def _run_child(code: str, cwd: Path, env: dict[str, str], xopts: list[str], serial: int) -> tuple[dict, float, float]:
    """Run `code` in a fresh interpreter; its result, the spawn instant (time.time) and the subprocess's wall time."""
    env = {**env, **_events(serial)}
    spawned = time.time()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *xopts, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    wall_ms = (time.perf_counter() - started) * 1000
    ended = time.time()
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"child failed in {cwd} ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(lines[-1][len(MARKER) :])
    if "last_line_wall" in result:
        result["exit_ms"] = (ended - result["last_line_wall"]) * 1000
    if result["status"] != 200 or result["status_2"] != 200:
        raise RuntimeError(f"the webhook was not answered with 200 in {cwd}: {result}")
    return result, spawned, wall_ms


# Every child gets new MessageSids and senders, so each run records new opt-outs rather than duplicates.
_serial = itertools.count(1)


@dataclass(frozen=True)
class Place:
    """Where a child runs an app: its working directory (first on sys.path), interpreter options and environment."""

    directory: Path
    xopts: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


def _places(scratch: Path) -> dict[tuple[str, str], Place]:
    """Each app's source tree, and each of its zips unzipped, to run as Lambda does: `python -S` (no site-packages),
    the zip first on sys.path and the runtime's packages after it, nothing written (/var/task is read-only)."""
    runtime = {"PYTHONPATH": str(bundle.runtime_site(scratch / "runtime")), "PYTHONDONTWRITEBYTECODE": "1"}
    places = {}
    for app_key, (_, directory) in APPS.items():
        places[(app_key, "pyc")] = Place(directory)
        for variant, build in ZIPS.items():
            built = build(scratch / f"build-{app_key}-{variant}", directory)
            places[(app_key, variant)] = Place(
                bundle.unpack(built, scratch / f"task-{app_key}-{variant}"), ("-S",), runtime
            )
    return places


def _measure(runs: int, env: dict[str, str], places: dict[tuple[str, str], Place]) -> dict[tuple[str, str], list[dict]]:
    """Every app and variant `runs` times, interleaved so that a change in machine load hits all of them alike."""
    # Warm-up (not counted): writes any missing .pyc of the source trees, reads every zip's files once.
    for place in places.values():
        _run_child(CHILD, place.directory, {**env, **place.env}, list(place.xopts), next(_serial))
    results: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for run in range(runs):
        for variant in VARIANTS:
            for app_key in APPS:
                place = places[(app_key, variant)]
                result, spawned, wall_ms = _run_child(
                    CHILD, place.directory, {**env, **place.env}, list(place.xopts), next(_serial)
                )
                expected = "<Message>" if app_key == "ours" else "<Response/>"
                if expected not in result["body"]:
                    raise RuntimeError(f"{app_key} answered {result['body']!r}, not the TwiML expected")
                result["spawn_to_first_line_ms"] = (result["first_line_wall"] - spawned) * 1000
                result["spawn_to_response_ms"] = (result["response_wall"] - spawned) * 1000
                result["wall_ms"] = wall_ms
                results[(app_key, variant)].append(result)
        print(f"run {run + 1}/{runs} done", file=sys.stderr)
    return results


def _services_of_first_webhook(results: dict[tuple[str, str], list[dict]]) -> list[str]:
    """The services our app built a client for while serving its first webhook, in order (the first run's)."""
    first = results[("ours", "pyc")][0]["clients"]
    return list(dict.fromkeys(service for service, _, phase in first if phase == "first webhook"))


def _measure_steps(runs: int, env: dict[str, str], place: Place) -> list[dict]:
    return [_run_child(CHILD_STEPS, place.directory, env, list(place.xopts), next(_serial))[0] for _ in range(runs)]


def _measure_imports(runs: int, env: dict[str, str], place: Place) -> list[list[tuple[int, str, float, float]]]:
    """Our app's whole cold start under -X importtime: (depth, module, self ms, cumulative ms) per import."""
    parsed = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, *place.xopts, "-X", "importtime", "-c", CHILD],
            cwd=place.directory,
            env={**env, **_events(next(_serial))},
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        rows = []
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            self_us, cumulative_us, name = line[len("import time:") :].split("|")
            depth = (len(name) - len(name.lstrip()) - 1) // 2
            rows.append((depth, name.strip(), int(self_us) / 1000, int(cumulative_us) / 1000))
        parsed.append(rows)
    return parsed


#: What our cold start imports beyond the bare app's (chalice, boto3), each imported alone in a fresh interpreter from
#: the deployed bundle; then the app itself, without and with botocore (our clients come from botocore's session).
PARTS = {
    "nothing (interpreter start-up)": "pass",
    "chalice": "import chalice.app",
    "boto3": "import boto3",
    "botocore": "import botocore.session",
    "pydantic": "from pydantic import BaseModel",
    "phonenumbers": "import phonenumbers",
    "Powertools (Logger)": "from aws_lambda_powertools import Logger",
    "chalice + boto3 (what the bare app imports)": "import chalice.app, boto3",
    "pydantic + phonenumbers + Powertools": "import pydantic.main, phonenumbers, aws_lambda_powertools",
    "our app (`import app`)": "import app",
    "our app + botocore": "import app, botocore.session",
}
PART_CODE = """\
import os, resource, sys
sys.path.insert(0, os.getcwd())
{code}
_cpu = resource.getrusage(resource.RUSAGE_SELF)
print({marker!r} + str((_cpu.ru_utime + _cpu.ru_stime) * 1000))
"""


def _measure_parts(runs: int, env: dict[str, str], place: Place) -> dict[str, list[float]]:
    """CPU ms (user + system, the whole process) to import each of PARTS, from the deployed bundle, interleaved."""
    found: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        for name, code in PARTS.items():
            done = subprocess.run(
                [sys.executable, *place.xopts, "-c", PART_CODE.format(code=code, marker=MARKER)],
                cwd=place.directory,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
            line = next(line for line in done.stdout.splitlines() if line.startswith(MARKER))
            found[name].append(float(line[len(MARKER) :]))
    return found


# --- reporting -----------------------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:,.0f}"


def _med_p90(values: list[float]) -> str:
    return f"{_ms(_report.median(values))} / {_ms(_report.percentile(values, 0.9))}"


def _render(runs, importtime_runs, results, steps_run, imports, parts) -> str:
    services, steps = steps_run
    out = [
        _report.machine(),
        "",
        (
            f"Each figure is the median / p90 over {runs} fresh processes, in milliseconds. Our app (`app.py`) "
            "serves a signed Twilio STOP on `POST /webhooks/{carrier}/{account_id}` end to end through the real "
            "adapters (as the process's container in `chalicelib/wiring.py` builds them from the settings: DynamoDB, "
            "SSM, and SQS for the STOP's email alert) against the embedded endpoint on 127.0.0.1 (moto's server with "
            "the DynamoDB patches of `tools/local_dynamodb.py`, in its own process); the bare app "
            "(`benchmarks/baseline_app/app.py`) answers the same event after one DynamoDB GetItem. A child calls "
            "`app.app(event, context)` with an API Gateway proxy event, as the Lambda runtime does. All runs are "
            "interleaved; the endpoint runs on the same CPUs, so AWS round trips are local "
            "(a few ms) rather than real network ones."
        ),
        "",
        (
            "- *import → response*: `time.perf_counter()` from the child's first line to the first response "
            "(imports, building clients, the request)."
        ),
        (
            "- *spawn → response*: from the parent's `time.time()` before spawning to the child's after the response "
            "(adds interpreter start-up, which Lambda's init also pays)."
        ),
        (
            "- *CPU to response*: the child's own CPU time (user + system, `getrusage`) from its start to the "
            "response, interpreter start-up included: what the cold start costs, less sensitive than wall time to "
            "other work on the machine (AWS round trips wait without CPU)."
        ),
        "- *process wall*: the whole subprocess (adds a second, warm webhook and interpreter shutdown).",
        (
            "- *source tree with .pyc*: the app's directory and the venv, with the .pyc a warm-up run wrote (as on a "
            "developer's machine)."
        ),
        (
            "- *`chalice package` zip (before)*: the zip `chalice package` alone builds, as deployed before, unzipped "
            "into a temporary directory and run as Lambda runs it: `python -S` (no site-packages), the zip first on "
            f"sys.path, then what the Lambda Python runtime provides precompiled ({RUNTIME_LABEL}, linked from the "
            "venv with their .pyc), `PYTHONDONTWRITEBYTECODE=1` (/var/task is read-only). The zip has no .pyc, so "
            "everything it carries (our code, chalice, pydantic, phonenumbers, Powertools, ...) is compiled on each "
            "cold start."
        ),
        (
            "- *deployed bundle (infra/bundle.py)*: the same, from the bundle the infra/ stack deploys (the same "
            "build function): that zip trimmed, every module shipped as unchecked-hash .pyc in place of its source "
            "(the .pyc at the module's legacy location), with botocore's data trimmed to what the service uses "
            "(infra/aws_models.py: read by our clients, the bare app's boto3 client reads botocore's own). For the "
            "bare app the same build gives its zip .pyc too."
        ),
        (
            "- *bundle with its sources kept*: the same build with `sources=True`: the sources kept and the "
            "unchecked-hash .pyc beside them in `__pycache__` (what was deployed before the bundle dropped its "
            "sources)."
        ),
        "",
    ]
    rows = []
    for variant, label in VARIANTS.items():
        for app_key, (app_label, _) in APPS.items():
            data = results[(app_key, variant)]
            rows.append(
                [
                    f"{app_label}, {label}",
                    _med_p90([r["import_ms"] for r in data]),
                    _med_p90([r["first_ms"] for r in data]),
                    _med_p90([r["to_response_ms"] for r in data]),
                    _med_p90([r["spawn_to_response_ms"] for r in data]),
                    _med_p90([r["cpu_to_response_ms"] for r in data]),
                    _med_p90([r["wall_ms"] for r in data]),
                    _med_p90([r["second_ms"] for r in data]),
                ]
            )
        ours = _report.median([r["spawn_to_response_ms"] for r in results[("ours", variant)]])
        bare = _report.median([r["spawn_to_response_ms"] for r in results[("baseline", variant)]])
        ours_cpu = _report.median([r["cpu_to_response_ms"] for r in results[("ours", variant)]])
        bare_cpu = _report.median([r["cpu_to_response_ms"] for r in results[("baseline", variant)]])
        rows.append(
            [
                f"*our app minus bare app, {label}*",
                "",
                "",
                "",
                f"*{_ms(ours - bare)}* (medians; {ours / bare:.2f}× the bare app)",
                f"*{_ms(ours_cpu - bare_cpu)}* ({ours_cpu / bare_cpu:.2f}×)",
                "",
                "",
            ]
        )
    out.append(
        _report.table(
            [
                "app, bytecode",
                "import app",
                "first request",
                "import → response",
                "spawn → response",
                "CPU to response",
                "process wall",
                "second request (warm)",
            ],
            rows,
        )
    )
    spawn = [r["spawn_to_first_line_ms"] for data in results.values() for r in data]
    target = _ratio(results, "bundle", "zip")
    out += [
        "",
        (
            f"Target: our cold start from the deployed bundle at most {ZIP_TARGET}× the bare app's as the Lambda zip "
            "runs it (its `chalice package` zip; spawn → response, medians, measured side by side in this run): "
            f"**{target:.2f}×, {'met' if target <= ZIP_TARGET else 'missed'}**. Before (our `chalice package` zip): "
            f"{_ratio(results, 'zip', 'zip'):.2f}×. Against the bare app built the same way (its bundle, with .pyc): "
            f"{_ratio(results, 'bundle', 'bundle'):.2f}×. Both from their source trees with .pyc: "
            f"{_ratio(results, 'pyc', 'pyc'):.2f}×. In CPU to response: "
            f"{_ratio(results, 'bundle', 'zip', 'cpu_to_response_ms'):.2f}× (before "
            f"{_ratio(results, 'zip', 'zip', 'cpu_to_response_ms'):.2f}×). With its sources kept, our bundle was "
            f"{_ratio(results, 'sources', 'zip'):.2f}× ({_ratio(results, 'sources', 'zip', 'cpu_to_response_ms'):.2f}"
            "× in CPU)."
        ),
        "",
        f"Interpreter start-up before the child's first line (all runs): {_med_p90(spawn)}.",
        "",
        (
            "Garbage collections from the child's first line to the response (counted with `gc.callbacks`), from "
            "the deployed bundle and the bare app's `chalice package` zip, median / p90 of the number and of the ms "
            "they took: "
            + "; ".join(
                f"{APPS[app_key][0]} {_med_p90([r['gc_count'] for r in results[(app_key, variant)]])} collections, "
                f"{_med_p90([r['gc_ms'] for r in results[(app_key, variant)]])} ms"
                for app_key, variant in (("ours", "bundle"), ("baseline", "zip"))
            )
            + ". In Lambda (AWS_LAMBDA_FUNCTION_NAME set, as here) our app collects none until its first event is "
            "handled, then freezes what it built (`chalicelib/cold_start.py`); before that change its cold start "
            "spent about 30 ms in some 190 collections, one a full collection of about 12 ms."
        ),
        "",
        (
            "Interpreter shutdown, from the child's last line to the parent seeing it exit (part of *process wall*; "
            "Lambda freezes the process instead, so a cold start never pays it), with .pyc: "
            + "; ".join(
                f"{app_label} {_med_p90([r['exit_ms'] for r in results[(app_key, 'pyc')]])}"
                for app_key, (app_label, _) in APPS.items()
            )
            + "."
        ),
        "",
        (
            f"Our app's cold start in steps (from the deployed bundle, median / p90 over {runs} more processes; the "
            "same work as the first request, with the clients built before it rather than inside it):"
        ),
        "",
        _report.table(
            ["step", "ms"],
            [[name, _med_p90([run["steps_ms"][i] for run in steps])] for i, name in enumerate(_steps(services))],
        ),
        "",
        (
            f"AWS calls of the first webhook: {_calls(steps[0]['calls'][0])}; of the second: "
            f"{_calls(steps[0]['calls'][1])} (the auth token is cached for `secrets_max_age` seconds)."
            + _late_clients(steps)
        ),
        "",
        _render_clients(runs, results),
        "",
        _render_parts(runs, results, parts),
        "",
        _render_imports(importtime_runs, imports),
    ]
    return "\n".join(out)


def _render_parts(runs: int, results: dict[tuple[str, str], list[dict]], parts: dict[str, list[float]]) -> str:
    """Where our extra CPU goes: imports alone, then the first request."""
    median = {name: _report.median(values) for name, values in parts.items()}
    ours = _report.median([r["cpu_to_response_ms"] for r in results[("ours", "bundle")]])
    bare = _report.median([r["cpu_to_response_ms"] for r in results[("baseline", "zip")]])
    bare_imports = median["chalice + boto3 (what the bare app imports)"]
    imports_extra = median["our app + botocore"] - bare_imports
    libraries = median["pydantic + phonenumbers + Powertools"] - median["nothing (interpreter start-up)"]
    return "\n".join(
        [
            (
                f"What the rest is made of, in CPU (median over {runs} fresh interpreters each, from the deployed "
                "bundle, run as above; each line imports only what it names, so shared dependencies such as "
                "`logging` or `json` count in each):"
            ),
            "",
            _report.table(["imports", "CPU ms"], [[name, _ms(value)] for name, value in median.items()]),
            "",
            (
                f"Our cold start took {_ms(ours)} ms of CPU to its response against the bare app's {_ms(bare)} (its "
                f"`chalice package` zip): {_ms(ours - bare)} more. Imports: our app and botocore "
                f"{_ms(median['our app + botocore'])} against chalice and boto3 {_ms(bare_imports)}, "
                f"{_ms(imports_extra)} more, of which pydantic, phonenumbers and Powertools imported alone take "
                f"{_ms(libraries)}, and the rest is our own modules (routes, the pydantic models' classes, the "
                f"carriers' adapters). The first request (CPU to response minus those imports): ours "
                f"{_ms(ours - median['our app + botocore'])}, the bare app's {_ms(bare - bare_imports)}: two more "
                "clients (SSM, SQS), five more AWS calls, the first use of the models it validates. (Medians of "
                "separate runs: the differences are approximate.)"
            ),
        ]
    )


def _ratio(
    results: dict[tuple[str, str], list[dict]],
    variant: str,
    baseline_variant: str,
    figure: str = "spawn_to_response_ms",
) -> float:
    """Our app's median of `figure` (spawn → response) in one variant over the bare app's in another."""
    ours = _report.median([r[figure] for r in results[("ours", variant)]])
    return ours / _report.median([r[figure] for r in results[("baseline", baseline_variant)]])


def _calls(calls: list[str]) -> str:
    """`dynamodb.GetItem` as `DynamoDB GetItem`."""
    named = []
    for call in calls:
        service, operation = call.split(".", 1)
        named.append(f"{SERVICE_NAMES.get(service, service)} {operation}")
    return ", ".join(named)


def _late_clients(steps: list[dict]) -> str:
    late = sorted({service for run in steps for service in run["clients_while_serving"]})
    if not late:
        return " No client was built while serving once the container's clients were built before the webhook."
    return f" Clients still built while serving, after the steps built theirs: {', '.join(late)}."


def _render_clients(runs: int, results: dict[tuple[str, str], list[dict]]) -> str:
    """The boto3 clients each cold start built, per service, over every run of every variant."""
    rows = []
    notes = []
    for app_key, (app_label, _) in APPS.items():
        data = [r for variant in VARIANTS for r in results[(app_key, variant)]]
        per_run = [Counter(service for service, _, _ in r["clients"]) for r in data]
        services = sorted({service for counts in per_run for service in counts})
        for service in services:
            counts = [counts[service] for counts in per_run]
            phases = Counter(phase for r in data for name, _, phase in r["clients"] if name == service)
            where = sorted({where for r in data for name, where, _ in r["clients"] if name == service})
            low, high = min(counts), max(counts)
            rows.append(
                [
                    app_label,
                    f"`{service}`",
                    f"{low}" if low == high else f"{low}–{high}",
                    ", ".join(f"{phase} {n / len(data):g}" for phase, n in phases.items()),
                    "; ".join(f"`{w}`" for w in where),
                ]
            )
        built = {tuple(r["built"]) for r in data if r["built"] is not None}
        if built:
            listed = " / ".join(", ".join(entry) or "none" for entry in sorted(built))
            counted = {tuple(sorted(service for service, _, _ in r["clients"])) for r in data}
            agree = "the same services as counted" if counted == {tuple(sorted(e)) for e in built} else "NOT as counted"
            notes.append(
                f"What {app_label}'s own container says it built (`container().clients.built` after the two "
                f"webhooks), in every run: {listed} ({agree})"
            )
    runs_each = runs * len(VARIANTS)
    total = {
        app_key: _report.median([len(r["clients"]) for v in VARIANTS for r in results[(app_key, v)]])
        for app_key in APPS
    }
    return "\n".join(
        [
            (
                "AWS SDK clients built per cold start, counted for real in every child: botocore's "
                "`Session.create_client`, through which `boto3.client`, `boto3.Session().client`, resources and "
                "Powertools all build theirs, is wrapped by an import hook as `botocore.session` is first imported "
                f"(so the count imports nothing early). Over the {runs_each} runs of each app (all three bytecode "
                f"variants), by service: the clients each run built (min–max), when (per run: while importing the "
                "app, serving the first webhook, serving the second) and who built them (the first caller outside "
                f"boto3 and botocore). In all: our app {total['ours']:g} clients per cold start, the bare app "
                f"{total['baseline']:g}."
            ),
            "",
            _report.table(["app", "service", "clients per run", "when (per run)", "built by"], rows),
            "",
            "; ".join(notes) + ".",
        ]
    )


def _import_tree(rows: list[tuple[int, str, float, float]]) -> list[tuple[str, float, float, list]]:
    """importtime's post-order lines as a forest of (module, self ms, cumulative ms, children)."""
    pending: dict[int, list] = defaultdict(list)
    for depth, name, self_ms, cumulative_ms in rows:
        node = (name, self_ms, cumulative_ms, pending.pop(depth + 1, []))
        pending[depth].append(node)
    return pending[0]


def _import_figures(rows: list[tuple[int, str, float, float]]) -> dict[str, dict[str, float]]:
    """Per run: cumulative ms per top-level package, self ms per package and per module of ours, and the split
    between the imports of `import app` and the lazy ones made while serving the first webhook."""
    by_package: dict[str, float] = defaultdict(float)
    package_self: dict[str, float] = defaultdict(float)
    ours: dict[str, float] = defaultdict(float)

    def visit(node, outer_packages: frozenset[str]) -> None:
        name, self_ms, cumulative_ms, children = node
        package = name.split(".")[0]
        package_self[package] += self_ms
        if package in ("app", "chalicelib"):
            ours[name] += self_ms
        elif package not in outer_packages:
            by_package[package] += cumulative_ms  # its outermost import: everything it pulled in
        for child in children:
            visit(child, outer_packages | {package})

    roots = _import_tree(rows)
    for root in roots:
        visit(root, frozenset())
    names = [root[0] for root in roots]
    app_at = names.index("app")
    phases = {
        "import app": roots[app_at][2],
        "lazy imports while serving": sum(root[2] for root in roots[app_at + 1 :]),
    }
    lazy = {root[0]: root[2] for root in roots[app_at + 1 :]}
    return {"package": by_package, "self": package_self, "ours": ours, "phases": phases, "lazy": lazy}


def _render_imports(runs, imports) -> str:
    series: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rows in imports:
        for kind, figures in _import_figures(rows).items():
            for name, value in figures.items():
                series[kind][name].append(value)

    def top(kind: str, count: int = 10) -> list[list[str]]:
        medians = sorted(((_report.median(v), k) for k, v in series[kind].items()), reverse=True)[:count]
        return [[f"`{name}`", _ms(value)] for value, name in medians]

    phases = {name: _report.median(values) for name, values in series["phases"].items()}
    lazy = ", ".join(f"{name} {value}" for name, value in top("lazy", 3))
    return "\n".join(
        [
            (
                f"Imports of our app's whole cold start (`import app` and the first webhook) under "
                f"`python -X importtime`, from the deployed bundle, median over {runs} runs, in ms (importtime itself "
                f"adds some overhead): {_ms(phases['import app'])} in `import app`, "
                f"{_ms(phases['lazy imports while serving'])} imported lazily while serving the first webhook "
                f"(largest: {lazy})."
            ),
            "",
            (
                "Top 10 top-level packages by cumulative import time (the time of the outermost imports of the "
                "package, including whatever they imported first, so `botocore` includes `urllib3`; a package "
                "imported by another is counted in both):"
            ),
            "",
            _report.table(["package", "cumulative ms"], top("package")),
            "",
            "Top 10 packages by their own (self) import time, wherever imported (these add up to the total):",
            "",
            _report.table(["package", "self ms"], top("self")),
            "",
            "Our modules by their own import time (mostly building pydantic models and tables at import):",
            "",
            _report.table(["module", "self ms"], top("ours", 6)),
        ]
    )


if __name__ == "__main__":
    main()
