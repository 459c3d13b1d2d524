"""Shared by every suite: the project root on sys.path, and the `integration` marker on tests/integration."""

from __future__ import annotations

import os
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


#: The service's settings in the environment when the run started. Loading the Chalice app the way `chalice package`
#: does (the infra tests' synthesis) writes a stage's environment variables into this process: every test starts
#: from the environment the run started with, so no test reads another's settings.
_SERVICE_ENVIRONMENT = {name: value for name, value in os.environ.items() if name.startswith("OPTOUT_")}


@pytest.fixture(autouse=True)
def _service_environment_as_at_start() -> None:
    for name in [name for name in os.environ if name.startswith("OPTOUT_")]:
        if name not in _SERVICE_ENVIRONMENT:
            del os.environ[name]
    os.environ.update(_SERVICE_ENVIRONMENT)
