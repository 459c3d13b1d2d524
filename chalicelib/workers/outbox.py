"""The outbox sweep: email jobs stored with their event but not yet on the queue go on it now."""

from __future__ import annotations

from chalicelib.domain import alerts
from chalicelib.observability import logger
from chalicelib.wiring import container


def flush() -> int:
    """Queue what the outbox holds; returns how many jobs went."""
    parts = container()
    queued = alerts.flush_outbox(parts.stores.outbox, parts.queue)
    if queued:
        logger.warning("queued email jobs left in the outbox", extra={"queued": queued})
    return queued
