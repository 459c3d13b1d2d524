"""The outbox sweep: email jobs stored with their event but not yet on the queue go on it now."""

from __future__ import annotations

from chalicelib import wiring
from chalicelib.domain import alerts
from chalicelib.observability import logger


def flush() -> int:
    """Queue what the outbox holds; returns how many jobs went."""
    queue = wiring.alerts_queue()
    if queue is None:
        return 0
    queued = alerts.flush_outbox(wiring.dependencies().store, queue)
    if queued:
        logger.warning("queued email jobs left in the outbox", extra={"queued": queued})
    return queued
