"""A STOP's latency through the webhook with 100 and with 20,000 numbers stored, on the embedded endpoint as `make run`
and the tests start it (moto with tools/local_dynamodb.py's patches) and on moto 5.2.5 alone.

Run from the project root:

    .venv/bin/python benchmarks/bench_local_store.py [--numbers 100,20000] [--stops 30] [--write BENCHMARKS.md]

For each implementation, the endpoint runs in a child process (`tools.local_stack.start_aws`; for moto alone the child
then calls `tools.local_dynamodb.uninstall()`) and `chalice local` in another (`tools.local_stack.start_api`, told its
own URL as the public base URL), with the table, queues and one account with Twilio credentials. Numbers are stored
with BatchWriteItem (four threads), as the service stores a keyword opt-out: per number its state item (suppressed,
version 1, listed in the suppression index) and its event item, built by the domain's own `policy.apply` (layout:
chalicelib/adapters/dynamodb/numbers.py). Then, at each size, `--stops` STOPs from new contacts, one at a time, each
a signed Twilio webhook over HTTP timed from request to answer (the service's load, transaction and queueing of the
email job; the answer carries the TwiML reply); then the history of a stored number (a Query of the table) and the
first page of the suppression list (a Query of an index), `--reads` times each. The endpoint's resident memory is
read from /proc after each size. On moto alone `--moto-stops` STOPs are timed (each copies the table). The default run
takes about two minutes on a 2-CPU VM, most of it moto alone at 20,000 numbers.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _report  # noqa: E402  (benchmarks/, the script's directory, is on sys.path)
from _endpoint import Endpoint  # noqa: E402

from chalicelib.adapters.carriers import twilio  # noqa: E402
from chalicelib.adapters.dynamodb.table import event_key, state_key, suppressed_partition  # noqa: E402
from chalicelib.domain import policy  # noqa: E402
from chalicelib.domain.models import ALL, Action, Event, NumberState, Source  # noqa: E402
from tools import local_stack  # noqa: E402

TITLE = "Local store: a STOP at 100 and 20,000 stored numbers"
ACCOUNT = "bench-store"
SID = "AC" + "4" * 32
OUR_NUMBER = "+14155550100"
IMPLEMENTATIONS = {"patched": "moto + tools/local_dynamodb.py", "moto": "moto 5.2.5 alone"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--numbers", default="100,20000", help="stored numbers at each step (default 100,20000)")
    parser.add_argument("--stops", type=int, default=30, help="STOPs timed at each size, patched (default 30)")
    parser.add_argument("--moto-stops", type=int, default=5, help="STOPs timed at each size on moto alone (5)")
    parser.add_argument("--reads", type=int, default=5, help="history and suppression-list reads timed (5)")
    parser.add_argument("--skip-moto", action="store_true", help="measure the patched endpoint only")
    parser.add_argument("--write", metavar="FILE", help="replace this script's section of FILE (e.g. BENCHMARKS.md)")
    args = parser.parse_args()
    sizes = sorted({int(size) for size in args.numbers.split(",")})

    rows: list[list[object]] = []
    for implementation in ("patched", "moto"):
        if implementation == "moto" and args.skip_moto:
            continue
        stops = args.stops if implementation == "patched" else args.moto_stops
        for result in _measure(implementation, sizes, stops, args.reads):
            rows.append(result)
            print(" | ".join(str(cell) for cell in result), flush=True)

    body = _render(args, rows)
    print(body)
    _report.write_if_asked(args.write, TITLE, body)


# --- one implementation at every size --------------------------------------------------------------------------------


def _measure(implementation: str, sizes: list[int], stops: int, reads: int) -> list[list[object]]:
    endpoint = Endpoint.start(implementation)
    try:
        resources = local_stack.create_resources(endpoint.url)
        port = local_stack.free_port()
        api = f"http://{local_stack.HOST}:{port}"
        operator = secrets.token_urlsafe(24)
        env = local_stack.service_environment(
            endpoint.url, resources, operator, public_base_url=api, extra={"OPTOUT_SECRETS_MAX_AGE": "0"}
        )
        log = Path(tempfile.gettempdir()) / f"bench_local_store-{implementation}.log"
        with local_stack.start_api(env, port, log_path=log):
            admin, auth_token = _account(api, operator)
            dynamodb = local_stack.client("dynamodb", endpoint.url)
            stored: list[str] = []
            rows = []
            for size in sizes:
                started = time.perf_counter()
                stored += _store_numbers(dynamodb, resources.table_name, range(len(stored), size))
                seeded = time.perf_counter() - started
                contacts = [_phone(5_000_000 + len(stored) + n) for n in range(stops)]
                answers = [_stop(api, auth_token, contact) for contact in contacts]
                number = f"{api}/v1/accounts/{ACCOUNT}/numbers/%2B{stored[0][1:]}"
                history = [_get(f"{number}/history", admin) for _ in range(reads)]
                listing = [_get(f"{api}/v1/accounts/{ACCOUNT}/suppressions?limit=50", admin) for _ in range(reads)]
                rows.append(_row(implementation, size, seeded, answers, history, listing, endpoint.resident_mb()))
            return rows
    finally:
        endpoint.stop()


def _account(api: str, operator: str) -> tuple[dict[str, str], str]:
    """Create the account over HTTP: (admin headers, Twilio auth token)."""
    auth_token = secrets.token_hex(16)
    response = requests.put(
        f"{api}/v1/accounts/{ACCOUNT}",
        headers={"Authorization": f"Bearer {operator}"},
        json={
            "name": "Local store benchmark",
            "issue_token": True,
            "sms_provider": "local",
            "carriers": {"twilio": {"account_sid": SID, "auth_token": auth_token}},
        },
        timeout=30,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}, auth_token


def _phone(n: int) -> str:
    """A distinct valid US number for each n < 10,000,000 (area codes 212, 312, 415, 646, 718: 2,000,000 each)."""
    area = ("212", "312", "415", "646", "718")[n // 2_000_000]
    rest = n % 2_000_000
    return f"+1{area}{200 + rest // 10_000:03d}{rest % 10_000:04d}"


def _store_numbers(dynamodb: Any, table_name: str, indices: range) -> list[str]:
    """Store a keyword opt-out for each number of `indices` with BatchWriteItem; their phones."""
    phones = [_phone(n) for n in indices]
    items: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for phone in phones:
        event = Event(
            event_id=f"twilio:SMseed{phone[1:]}",
            account_id=ACCOUNT,
            phone=phone,
            action=Action.OPT_OUT,
            scopes=(ALL,),
            source=Source.KEYWORD,
            occurred_at=now,
            received_at=now,
            actor=f"twilio:SMseed{phone[1:]}",
            message="STOP",
        )
        state, record = policy.apply(NumberState(account_id=ACCOUNT, phone=phone), event)
        items.append(
            state_key(ACCOUNT, phone)
            | {
                "doc": {"S": state.model_dump_json(exclude={"version"})},
                "version": {"N": "1"},
                "gsi1pk": {"S": suppressed_partition(ACCOUNT)},
                "gsi1sk": {"S": phone},
            }
        )
        items.append(event_key(ACCOUNT, phone, event.event_id) | {"doc": {"S": record.model_dump_json()}})
    batches = [items[start : start + 25] for start in range(0, len(items), 25)]

    def write(batch: list[dict[str, Any]]) -> None:
        request = {table_name: [{"PutRequest": {"Item": item}} for item in batch]}
        while request:
            request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, batches))
    return phones


def _stop(api: str, auth_token: str, contact: str) -> tuple[int, float]:
    """(status, seconds) of one signed STOP from `contact`."""
    url = f"{api}/webhooks/twilio/{ACCOUNT}"
    params = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": SID, "From": contact, "To": OUR_NUMBER}
    params["Body"] = "STOP"
    signature = twilio.compute_signature(url, sorted(params.items()), auth_token)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    started = time.perf_counter()
    status = requests.post(url, data=urlencode(params), headers=headers, timeout=120).status_code
    return status, time.perf_counter() - started


def _get(url: str, headers: dict[str, str]) -> tuple[int, float]:
    started = time.perf_counter()
    status = requests.get(url, headers=headers, timeout=120).status_code
    return status, time.perf_counter() - started


# --- the report ------------------------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}" if seconds >= 0.1 else f"{seconds * 1000:.1f}"


def _statuses(answers: list[tuple[int, float]]) -> str:
    counts: dict[int, int] = {}
    for status, _ in answers:
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{count} × {status}" for status, count in sorted(counts.items()))


def _row(
    implementation: str,
    size: int,
    seeded: float,
    answers: list[tuple[int, float]],
    history: list[tuple[int, float]],
    listing: list[tuple[int, float]],
    resident_mb: float | None,
) -> list[object]:
    times = [seconds for _, seconds in answers]
    return [
        IMPLEMENTATIONS[implementation],
        f"{size:,}",
        _ms(_report.median(times)),
        _ms(_report.percentile(times, 0.9)),
        _ms(max(times)),
        _statuses(answers),
        _ms(_report.median([seconds for _, seconds in history])) + f" ({_statuses(history)})",
        _ms(_report.median([seconds for _, seconds in listing])) + f" ({_statuses(listing)})",
        f"{resident_mb:,.0f}" if resident_mb is not None else "n/a",
        f"{seeded:.1f}",
    ]


def _render(args: argparse.Namespace, rows: list[list[object]]) -> str:
    headers = [
        "endpoint",
        "numbers stored",
        "STOP median ms",
        "p90 ms",
        "max ms",
        "STOP answers",
        "history ms",
        "suppression list ms",
        "endpoint RSS MB",
        "seeding s",
    ]
    return "\n".join(
        [
            _report.machine(),
            "",
            f"`benchmarks/bench_local_store.py --numbers {args.numbers} --stops {args.stops} "
            f"--moto-stops {args.moto_stops} --reads {args.reads}`. Each STOP comes from a new contact and is timed "
            "from the webhook's request to its answer through `chalice local` (another process) and the embedded "
            "endpoint (a child process): a BatchGetItem, the TransactWriteItems of state, event and inbound message, "
            "and the email job queued. A stored number is a keyword opt-out (state and event items, seeded with "
            "BatchWriteItem). History: a Query of one number's partition; suppression list: a Query of the sparse "
            "index, first page of 50 (medians of the reads). RSS is the endpoint's after the size's reads.",
            "",
            _report.table(headers, rows),
            "",
            "On moto alone each TransactWriteItems deep-copies the whole table first (about two items per stored "
            "number), so a STOP's time grows with the table; a STOP whose transaction outlasts the service's AWS read "
            "timeout (2 s, 3 attempts) is answered 503 for the carrier to retry, and an attempt that overlaps the "
            'timed-out one still running fails moto\'s copy ("dictionary changed size during iteration"). Every '
            "copied item also stays in moto's instance tracker, hence the memory. With tools/local_dynamodb.py a "
            "transaction saves only the items it writes, and a Query of the table reads only its partition. A Query "
            "of an index (the suppression list) still reads and filters every item of the table, as moto keeps no "
            "index: it is the one read here that grows with the table.",
        ]
    )


if __name__ == "__main__":
    main()
