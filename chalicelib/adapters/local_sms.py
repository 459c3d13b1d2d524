"""The SMS provider for `make run`: sends nothing, keeps what it was given and logs it.

The outbound log (written by the send path) is where a developer sees each text; this provider only stands in for
the carrier, answering `sent` with a made-up id as a carrier would.
"""

from __future__ import annotations

import uuid

from chalicelib.domain.models import OutboundSms, SmsResult
from chalicelib.observability import logger


class LocalSmsProvider:
    """An SmsProvider that records every text in `sent` (in order) and answers `sent` with id `local-<uuid>`."""

    name = "local"

    def __init__(self) -> None:
        self.sent: list[OutboundSms] = []

    def send(self, message: OutboundSms) -> SmsResult:
        """Record `message`, log it, and report it sent; never fails."""
        provider_message_id = f"local-{uuid.uuid4()}"
        self.sent.append(message)
        # The number is masked in the log; the body only at DEBUG (message bodies are never logged at INFO).
        logger.info(
            "local SMS provider: text recorded, not sent",
            extra={
                "provider": self.name,
                "provider_message_id": provider_message_id,
                "request_id": message.request_id,
                "to": message.to,
                "sender": message.sender,
            },
        )
        logger.debug("local SMS provider: text body", extra={"request_id": message.request_id, "body": message.body})
        return SmsResult(status="sent", provider_message_id=provider_message_id)
