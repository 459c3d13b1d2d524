"""The send queue's record handler (the send path proper comes with the send-path issue)."""

from __future__ import annotations

from typing import Any

from chalicelib.observability import logger


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """Log each record; report no failures (nothing is processed yet)."""
    for record in event.get("Records", []):
        logger.info("send request received", extra={"message_id": record.get("messageId")})
    return {"batchItemFailures": []}
