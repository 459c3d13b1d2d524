"""The embedded AWS endpoint (moto's server with our DynamoDB patches, `tools.local_stack.start_aws`) on 127.0.0.1, in a
child process, so that its CPU is not the benchmark's and can be read apart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _report import ROOT

_ENDPOINT_CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from tools import local_dynamodb
from tools.local_stack import start_aws
endpoint = start_aws()
if sys.argv[2] == "moto":
    local_dynamodb.uninstall()
print(endpoint.url, flush=True)
sys.stdin.read()  # serve until the parent closes our stdin (or dies)
endpoint.stop()
"""


class Endpoint:
    """moto's ThreadedMotoServer on 127.0.0.1 (tools.local_stack.start_aws) in a child process: with our DynamoDB
    patches (`implementation` "patched", as `make run`), or moto alone ("moto")."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    @classmethod
    def start(cls, implementation: str = "patched") -> Endpoint:
        process = subprocess.Popen(  # our own interpreter and code
            [sys.executable, "-c", _ENDPOINT_CHILD, str(ROOT), implementation],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            process.kill()
            raise RuntimeError(f"the embedded endpoint did not start (it printed {url!r})")
        return cls(process, url)

    def cpu_seconds(self) -> float | None:
        """The child's user + system CPU so far (Linux /proc), or None where that cannot be read."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def resident_mb(self) -> float | None:
        """The child's resident memory (Linux /proc), or None where that cannot be read."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
