"""`make run` end to end: `tools.run_local` in a subprocess, every carrier of its demo account driven through the
HTTP API (its webhooks, aws through its topic) from the demo file it writes, then stopped as Ctrl-C stops it.

The subprocess gets free ports (PORT, AWS_PORT) and its own demo file (OPTOUT_DEMO_FILE, in the test's temporary
directory), so a developer's own `make run` and its `.run/demo.json` are left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tools import send_sms
from tools.demo_file import DEMO_FILE, DEMO_FILE_VARIABLE, PROJECT_ROOT, read_demo_file
from tools.local_stack import HOST, free_port

#: Each carrier's credentials in the demo file (besides webhook_url, status_url and number): a shape scripts rely on.
CREDENTIALS = {
    "twilio": {"account_sid", "auth_token"},
    "aws": {"topic_arn"},
    "telnyx": {"public_key", "private_key"},
    "plivo": {"auth_id", "auth_token"},
    "vonage": {"api_key", "signature_secret", "signature_method"},
    "bandwidth": {"username", "password"},
}
CARRIERS = set(CREDENTIALS)
#: A different contact per carrier: each number's suppression can only have come through its carrier.
CONTACTS = {carrier: f"+1415555{310 + index:04d}" for index, carrier in enumerate(sorted(CARRIERS))}
READY_TIMEOUT = 40  # seconds; about 6 on a quiet 2-core machine
STOP_TIMEOUT = 20  # Ctrl-C waits for the worker's and the bridge's long polls (2 s)


@dataclass
class MakeRun:
    process: subprocess.Popen[str]
    api_port: int
    aws_port: int
    demo_file: Path
    output: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None

    @classmethod
    def start(cls, demo_file: Path, name: str) -> MakeRun:
        """`python -m tools.run_local` (what `make run` runs) on free ports, writing `demo_file`, in its own process
        group (a Ctrl-C in the terminal running pytest is not one for it); its output read by a thread named `name`.
        Started, not yet ready: `ready` is set when it says so (or ends)."""
        env = {variable: value for variable, value in os.environ.items() if not variable.startswith("OPTOUT_")}
        api_port, aws_port = free_port(), free_port()
        env |= {"PORT": str(api_port), "AWS_PORT": str(aws_port), DEMO_FILE_VARIABLE: str(demo_file)}
        env["PYTHONUNBUFFERED"] = "1"
        process = subprocess.Popen(  # noqa: S603 (this Python, our module)
            [sys.executable, "-m", "tools.run_local"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        run = cls(process, api_port, aws_port, demo_file)
        run.reader = threading.Thread(target=run.read_output, name=name, daemon=True)
        run.reader.start()
        return run

    def read_output(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))
            if line.startswith("ready "):
                self.ready.set()
        self.ready.set()  # it ended: whoever waits looks at the process

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output[-lines:])


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    """`python -m tools.run_local` (what `make run` runs), ready; killed afterwards if the test left it running."""
    run = MakeRun.start(tmp_path / "run" / "demo.json", "make-run-output")
    process = run.process
    try:
        if not run.ready.wait(READY_TIMEOUT) or process.poll() is not None:
            pytest.fail(f"make run was not ready within {READY_TIMEOUT} s; its output ends:\n{run.tail()}")
        yield run
    finally:
        if process.poll() is None:
            process.kill()  # SIGKILL: chalice local gets SIGTERM through its parent-death signal
            process.wait(10)
        assert run.reader is not None
        run.reader.join(5)


def number(run: dict[str, Any], phone: str) -> dict[str, Any]:
    answer = requests.get(
        f"{run['api']}/v1/accounts/{run['account_id']}/numbers/{quote(phone, safe='')}",
        headers={"Authorization": f"Bearer {run['admin_token']}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def eventually(check: Any, timeout: float = 10) -> Any:
    """check()'s first truthy value; the last one when `timeout` passes (the aws text goes through the bridge)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc; none found elsewhere)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex((HOST, port)) == 0


def test_every_carrier_takes_a_signed_stop_through_make_run(make_run: MakeRun) -> None:
    developers_demo_file = DEMO_FILE.read_bytes() if DEMO_FILE.exists() else None

    # Given make run's demo file, with every carrier
    demo = read_demo_file(make_run.demo_file)
    urls_and_number = {"webhook_url", "status_url", "number"}
    assert {name: set(carrier) - urls_and_number for name, carrier in demo["carriers"].items()} == CREDENTIALS
    assert all(urls_and_number <= set(carrier) for carrier in demo["carriers"].values())
    assert demo["carriers"]["vonage"]["signature_method"] == "hmac-sha256"
    assert stat.S_IMODE(make_run.demo_file.stat().st_mode) == 0o600
    assert demo["api"] == f"http://{HOST}:{make_run.api_port}"
    assert demo["aws_endpoint"] == f"http://{HOST}:{make_run.aws_port}"
    # and a banner whose examples use that file
    for carrier in CARRIERS:
        example = (
            f"-m tools.send_sms --carrier {carrier} --from +14155550123 --body STOP --demo-file {make_run.demo_file}"
        )
        assert any(line.endswith(example) for line in make_run.output), f"no {carrier} example in:\n{make_run.tail()}"

    # and the demo account, which sends nothing anywhere, has every carrier
    account = requests.get(
        f"{demo['api']}/v1/accounts/{demo['account_id']}",
        headers={"Authorization": f"Bearer {demo['admin_token']}"},
        timeout=10,
    ).json()["account"]
    assert account["sms_provider"] == "local" and set(account["carriers"]) == CARRIERS, account

    # When a contact texts STOP through each carrier, posted and signed as that carrier does
    answers = {}
    for carrier in sorted(CARRIERS):
        answer = send_sms.send(carrier, origination=CONTACTS[carrier], text="STOP", demo_file=make_run.demo_file)
        assert answer.ok, (carrier, answer)
        answers[carrier] = answer

    # Then each contact's number is suppressed, from the keyword, by its carrier's event
    def suppressed(phone: str) -> dict[str, Any] | None:
        state = number(demo, phone)
        return state if state["suppressions"] else None

    for carrier, answer in answers.items():
        state = eventually(lambda carrier=carrier: suppressed(CONTACTS[carrier]))
        assert state and state["sendable"] is False, (carrier, state)
        [suppression] = state["suppressions"]
        assert (suppression["scope"], suppression["source"]) == ("all", "keyword"), carrier
        assert suppression["event_id"] == answer.event_id and answer.event_id.startswith(f"{carrier}:")

    # When one of them texts START through the same carrier
    start = send_sms.send("telnyx", origination=CONTACTS["telnyx"], text="START", demo_file=make_run.demo_file)
    assert start.ok, start

    # Then that number is sendable again, and the others stay suppressed
    assert number(demo, CONTACTS["telnyx"]) == {
        "phone": CONTACTS["telnyx"],
        "sendable": True,
        "status": "sendable",
        "suppressions": [],
    }
    assert all(number(demo, CONTACTS[carrier])["sendable"] is False for carrier in CARRIERS - {"telnyx"})

    # When make run gets Ctrl-C
    started = children(make_run.process.pid)
    assert started or not Path("/proc").is_dir(), "chalice local should run as make run's child"
    make_run.process.send_signal(signal.SIGINT)
    assert make_run.process.wait(STOP_TIMEOUT) == 0, make_run.tail()

    # Then it stopped everything it started: nothing listens on its ports, its children are gone
    assert "stopped everything it started" in make_run.tail(5)
    assert not listening(make_run.api_port) and not listening(make_run.aws_port)
    assert not [pid for pid in started if Path(f"/proc/{pid}").exists()]
    # And the developer's own demo file was left alone
    assert (DEMO_FILE.read_bytes() if DEMO_FILE.exists() else None) == developers_demo_file
