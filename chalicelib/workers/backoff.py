"""When a record of the send queue that failed for now comes back: 2^(receives) * 15 seconds, capped at 15 minutes (SQS
allows up to 12 h). Send requests, email jobs and change events back off alike."""

from __future__ import annotations

BASE_SECONDS = 15
MAX_SECONDS = 900


def backoff_seconds(receives: int) -> int:
    """The delay before a record received `receives` times comes back."""
    return int(min(MAX_SECONDS, BASE_SECONDS * 2**receives))
