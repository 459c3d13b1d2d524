"""Shared by every suite: the project root on sys.path, and the `integration` marker on tests/integration."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # pyproject's `pythonpath` does this too; kept for runs from other directories
    sys.path.insert(0, str(ROOT))

INTEGRATION = Path(__file__).resolve().parent / "integration"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # `-m "not integration"` runs the unit suite alone.
    for item in items:
        if INTEGRATION in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)
