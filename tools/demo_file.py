"""Where `make run` describes its demo account (`.run/demo.json`), and reading it back.

The file is `.run/demo.json` under the project root unless the environment variable OPTOUT_DEMO_FILE names another
path: a second `make run` (a test's, say) then leaves a developer's own running one and its file alone. `make run`
writes the file; `python -m tools.send_sms` and `python -m tools.publish_sms` read it (each also takes
`--demo-file`).

Standard library only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The demo file when OPTOUT_DEMO_FILE is not set.
DEMO_FILE = PROJECT_ROOT / ".run" / "demo.json"
#: The environment variable that puts the demo file elsewhere (relative paths are from the current directory).
DEMO_FILE_VARIABLE = "OPTOUT_DEMO_FILE"


class DemoFileError(Exception):
    """The demo file is missing, is not JSON, or lacks what the caller needs."""


def demo_file_path() -> Path:
    """The demo file: OPTOUT_DEMO_FILE (made absolute) when set, else `.run/demo.json` under the project root."""
    configured = os.environ.get(DEMO_FILE_VARIABLE)
    return Path(configured).expanduser().absolute() if configured else DEMO_FILE


def read_demo_file(path: Path | None = None) -> dict[str, Any]:
    """The demo file's document (`{"api", "aws_endpoint", ..., "carriers": {...}}`); DemoFileError when there is
    none to read."""
    path = path or demo_file_path()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DemoFileError(f"{path} does not exist: start `make run` first") from None
    except ValueError as error:
        raise DemoFileError(f"{path} is not JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("carriers"), dict):
        raise DemoFileError(f"{path} is not a demo file (no carriers)")
    return document
