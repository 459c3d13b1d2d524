"""The outbox sweep: email jobs stored with their event but not yet on the queue go on it now."""

from __future__ import annotations

import time

from chalicelib.domain import alerts
from chalicelib.observability import logger
from chalicelib.wiring import container

#: A sweep takes page after page of the outbox for this long at most, then leaves the rest to the next run (every
#: 5 minutes, with a 60-second timeout: infra/stack.py); a page of 100 events takes a few seconds.
BUDGET_SECONDS = 30.0


def flush() -> int:
    """Queue what the outbox holds; returns how many jobs went."""
    parts = container()
    deadline = time.monotonic() + BUDGET_SECONDS
    queued = alerts.drain_outbox(parts.stores.outbox, parts.queue, lambda: time.monotonic() < deadline)
    if queued:
        logger.warning("queued email jobs left in the outbox", extra={"queued": queued})
    return queued
