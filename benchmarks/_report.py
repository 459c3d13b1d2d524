"""What the benchmark scripts share: the machine they ran on, a few statistics, and BENCHMARKS.md sections.

Each script owns one `## <title>` section of BENCHMARKS.md and replaces only that one, so sections written by
other scripts (a detector evaluation, say) are kept as they are.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_HEADER = (
    "# Benchmarks\n\n"
    "Figures written by the scripts under `benchmarks/` (`make bench`). Each section says how it was measured and is "
    "replaced only by the script that wrote it. Benchmarks are not tests: nothing asserts on these numbers.\n"
)


def machine() -> str:
    """One line naming the date, code, interpreter, platform and CPUs, so a reader can tell whether figures compare."""
    return (
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}{_code()}, with Python {platform.python_version()} "
        f"({platform.python_implementation()}) on {platform.platform()}, {_cpu_model()}, "
        f"{os.cpu_count()} CPUs (load average {_load()})."
    )


def _code() -> str:
    """` on commit abc1234` (plus whether the code measured had uncommitted changes); empty outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "app.py", "chalicelib", "tools", "tests"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f" on commit {commit}" + (" plus uncommitted changes to the code" if changed else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _load() -> str:
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (p90 of 10 runs is the 9th smallest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(round(len(ordered) * fraction, 9)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table; the first column is left-aligned, the others right-aligned."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(path: Path, title: str, body: str) -> None:
    """Replace the `## <title>` section of `path` with `body` (append it when absent); keep everything else."""
    text = path.read_text() if path.exists() else _HEADER
    lines = text.splitlines()
    start, end = _find_section(lines, title)
    section = [f"## {title}", "", *body.strip("\n").splitlines(), ""]
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *section]
    else:
        lines[start:end] = section
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


def _find_section(lines: list[str], title: str) -> tuple[int | None, int]:
    """The line range of the `## <title>` section: up to the next `#`/`##` heading outside code fences."""
    start = None
    in_fence = False
    for index, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        heading = line.startswith(("## ", "# "))
        if start is None:
            if line.startswith("## ") and line[3:].strip() == title:
                start = index
        elif heading:
            return start, index
    return start, len(lines)


def write_if_asked(value: str | None, title: str, body: str) -> None:
    """Replace section `title` of the file `--write` named (`value`; nothing without one) with `body`, and say so."""
    path = output_path(value)
    if path:
        write_section(path, title, body)
        print(f"\nwrote section '{title}' of {path}")


def output_path(value: str | None) -> Path | None:
    """The file given to `--write`, relative to the project root unless absolute; None when not given."""
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


def api_gateway_event(path: str, resource: str, body: str, signature: str, path_parameters: dict[str, str]) -> dict:
    """An API Gateway (REST, proxy integration) event for a form POST from Twilio, as Lambda hands it to Chalice.

    `path` is the request's path without the stage (`/webhooks/twilio/acme`), `resource` the route it matched
    (`/webhooks/{carrier}/{account_id}`) and `path_parameters` its parameters; the request context carries the path
    with the stage, as API Gateway does.
    """
    headers = {
        "Accept": "*/*",
        "Content-Type": "application/x-www-form-urlencoded",
        "Host": "sms.example.com",
        "I-Twilio-Idempotency-Token": "bench",
        "User-Agent": "TwilioProxy/1.1",
        "X-Forwarded-For": "54.172.60.1",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        "X-Twilio-Signature": signature,
    }
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": dict(path_parameters),
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "POST",
            "path": f"/api{path}",
            "stage": "api",
            "protocol": "HTTP/1.1",
            "domainName": "sms.example.com",
            "apiId": "bench00001",
            "accountId": "123456789012",
            "requestId": "bench-request",
            "identity": {"sourceIp": "54.172.60.1", "userAgent": "TwilioProxy/1.1"},
        },
        "body": body,
        "isBase64Encoded": False,
    }
