"""The policy scan of a synthesised template: checkov, offline, against the waivers in infra/checkov-waivers.toml.

Every finding must be waived there, with its reason, and every waiver must still match a finding (over the templates
scanned together), so the file says exactly what the stack accepts. tests/infra/test_policy_scan.py runs it on the
prod and dev templates; by hand:

    .venv/bin/python -m infra.policy_scan infra/cdk.out/dev/dev.template.json [more templates]

checkov pins its own dependencies (boto3 among them) to versions the project's .venv cannot hold, so it runs from a
venv of its own, `.venv/checkov`, installed from infra/checkov-requirements.txt (pinned) on first use (PyPI, about a
minute) and again whenever that file changes. `CHECKOV=/path/to/checkov` uses another installation instead. The scan
itself needs no network: it downloads no guidelines or mappings and looks for no newer release.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INFRA_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = INFRA_DIR.parent
WAIVERS_FILE = INFRA_DIR / "checkov-waivers.toml"
CHECKOV_REQUIREMENTS = INFRA_DIR / "checkov-requirements.txt"
CHECKOV_VENV = PROJECT_ROOT / ".venv" / "checkov"
#: Written last by the install: the requirements' digest, so a changed file (or a broken install) reinstalls.
STAMP_NAME = "requirements.sha256"
INSTALL_TIMEOUT_SECONDS = 900
SCAN_TIMEOUT_SECONDS = 300
#: Offline: no Prisma Cloud guidelines or mappings (--skip-download, BC_SKIP_MAPPING), no look-up of a newer release.
OFFLINE_ENVIRONMENT = {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}


class PolicyScanError(RuntimeError):
    """checkov could not be installed or run, or a waiver is malformed."""


@dataclass(frozen=True)
class Finding:
    """A failed check on one resource; `resource` is `<resource type>.<logical id>`, as checkov names it."""

    check_id: str
    check_name: str
    resource: str

    def __str__(self) -> str:
        return f"{self.check_id} {self.resource}: {self.check_name}"


@dataclass(frozen=True)
class Waiver:
    """A check accepted on the resources its glob patterns match, with the reason."""

    check_id: str
    title: str
    resources: tuple[str, ...]
    reason: str

    def covers(self, finding: Finding) -> bool:
        return finding.check_id == self.check_id and any(
            fnmatch.fnmatchcase(finding.resource, pattern) for pattern in self.resources
        )


@dataclass(frozen=True)
class ScanResult:
    template: Path
    passed: int
    failed: tuple[Finding, ...]


def load_waivers(path: Path = WAIVERS_FILE) -> list[Waiver]:
    """The waivers file's `[[waiver]]` entries, each with a check id, a title, resource patterns and a reason."""
    entries = tomllib.loads(path.read_text()).get("waiver", [])
    waivers = []
    for index, entry in enumerate(entries):
        missing = [key for key in ("check", "title", "resources", "reason") if not entry.get(key)]
        if missing:
            raise PolicyScanError(f"{path.name}: waiver {index + 1} has no {', '.join(missing)}")
        waivers.append(
            Waiver(
                check_id=entry["check"],
                title=entry["title"],
                resources=tuple(entry["resources"]),
                reason=" ".join(entry["reason"].split()),
            )
        )
    return waivers


def unwaived(findings: Iterable[Finding], waivers: Sequence[Waiver]) -> list[Finding]:
    return [finding for finding in findings if not any(waiver.covers(finding) for waiver in waivers)]


def unused(waivers: Iterable[Waiver], findings: Sequence[Finding]) -> list[Waiver]:
    """Waivers that match none of the findings: stale, or mistyped."""
    return [waiver for waiver in waivers if not any(waiver.covers(finding) for finding in findings)]


def checkov_executable() -> Path:
    """$CHECKOV, else the pinned checkov in `.venv/checkov`, installed first if missing or out of date."""
    override = os.environ.get("CHECKOV")
    if override:
        return Path(override)
    executable = CHECKOV_VENV / "bin" / "checkov"
    digest = hashlib.sha256(CHECKOV_REQUIREMENTS.read_bytes()).hexdigest()
    stamp = CHECKOV_VENV / STAMP_NAME
    if executable.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return executable
    _install(digest)
    return executable


def _install(digest: str) -> None:
    """A fresh venv with the pinned requirements; the stamp last, so an interrupted install is redone."""
    shutil.rmtree(CHECKOV_VENV, ignore_errors=True)
    python = CHECKOV_VENV / "bin" / "python"
    commands = (
        [sys.executable, "-m", "venv", str(CHECKOV_VENV)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "-r"]
        + [str(CHECKOV_REQUIREMENTS)],
    )
    for command in commands:
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS)
        except subprocess.CalledProcessError as error:
            raise PolicyScanError(f"installing checkov failed: {' '.join(command)}\n{error.stderr[-4000:]}") from None
        except subprocess.TimeoutExpired:
            raise PolicyScanError(f"installing checkov took over {INSTALL_TIMEOUT_SECONDS} s") from None
    (CHECKOV_VENV / STAMP_NAME).write_text(digest + "\n")


def scan(template: Path, executable: Path | None = None) -> ScanResult:
    """checkov's CloudFormation checks on one template, offline; returns the passed count and the failures."""
    command = [
        str(executable or checkov_executable()),
        "--file",
        str(template),
        "--framework",
        "cloudformation",
        "--skip-download",
        "--quiet",  # failures only in the results (the summary still counts the passes)
        "--compact",
        "--output",
        "json",
    ]
    environment = {**os.environ, **OFFLINE_ENVIRONMENT}
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=SCAN_TIMEOUT_SECONDS, env=environment, check=False
        )
    except subprocess.TimeoutExpired:
        raise PolicyScanError(f"checkov took over {SCAN_TIMEOUT_SECONDS} s on {template}") from None
    # 0: every check passed; 1: some failed. Anything else is checkov's own failure.
    if result.returncode not in (0, 1):
        raise PolicyScanError(f"checkov exited {result.returncode} on {template}:\n{result.stderr[-4000:]}")
    return _parse(template, json.loads(result.stdout))


def _parse(template: Path, report: Any) -> ScanResult:
    # One framework gives one report (a list when several ran).
    reports = report if isinstance(report, list) else [report]
    passed, failed = 0, []
    for item in reports:
        summary = item.get("summary", {})
        if summary.get("parsing_errors"):
            raise PolicyScanError(f"checkov could not parse {template}")
        passed += summary.get("passed", 0)
        failed += [
            Finding(check_id=check["check_id"], check_name=check["check_name"], resource=check["resource"])
            for check in item.get("results", {}).get("failed_checks", [])
        ]
    return ScanResult(template=template, passed=passed, failed=tuple(failed))


def report(results: Sequence[ScanResult], waivers: Sequence[Waiver]) -> tuple[str, bool]:
    """A readable account of the scans, and whether they pass (nothing unwaived, no unused waiver)."""
    lines = []
    findings = [finding for result in results for finding in result.failed]
    for result in results:
        waived = len(result.failed) - len(unwaived(result.failed, waivers))
        lines.append(
            f"{result.template}: {result.passed} passed, {len(result.failed)} failed ({waived} waived, "
            f"{len(result.failed) - waived} not)"
        )
        lines += [f"  NOT WAIVED {finding}" for finding in unwaived(result.failed, waivers)]
    stale = unused(waivers, findings)
    lines += [f"UNUSED WAIVER {waiver.check_id} {list(waiver.resources)}: matches no finding" for waiver in stale]
    ok = not stale and not unwaived(findings, waivers)
    return "\n".join(lines), ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="checkov on synthesised templates, against infra/checkov-waivers.toml")
    parser.add_argument("templates", nargs="+", type=Path)
    args = parser.parse_args(argv)
    waivers = load_waivers()
    executable = checkov_executable()
    text, ok = report([scan(template, executable) for template in args.templates], waivers)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
