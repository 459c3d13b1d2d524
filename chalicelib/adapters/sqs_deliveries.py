"""DeliveryQueue on the send queue: change-event deliveries wait there beside send requests and email jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.adapters.sqs_batches import send_in_batches
from chalicelib.domain.change_events import DeliveryJob
from chalicelib.domain.errors import StoreUnavailable


class SqsDeliveryQueue:
    """`client` is a boto3 SQS client; `queue_url` the send queue."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def enqueue_deliveries(self, jobs: Sequence[DeliveryJob]) -> None:
        """Queue the jobs, ten per SendMessageBatch; StoreUnavailable when SQS did not take every one (the fan-out
        or the replay is then retried, and what was queued already is delivered once)."""
        bodies = [job.model_dump_json() for job in jobs]
        refused = send_in_batches(self._client, self._url, bodies, "change-event deliveries")
        if refused:
            reasons = {failure.get("Code", "failed") for _, failure in refused}
            raise StoreUnavailable(f"SQS refused change-event deliveries: {', '.join(sorted(reasons))}")
