"""DeliveryQueue on the send queue: change-event deliveries wait there beside send requests and email jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.change_events import DeliveryJob
from chalicelib.domain.errors import StoreUnavailable

SEND_BATCH_LIMIT = 10


class SqsDeliveryQueue:
    """`client` is a boto3 SQS client; `queue_url` the send queue."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def enqueue_deliveries(self, jobs: Sequence[DeliveryJob]) -> None:
        """Queue the jobs, ten per SendMessageBatch; StoreUnavailable when SQS did not take every one (the fan-out
        or the replay is then retried, and what was queued already is delivered once)."""
        for start in range(0, len(jobs), SEND_BATCH_LIMIT):
            chunk = jobs[start : start + SEND_BATCH_LIMIT]
            entries = [{"Id": str(i), "MessageBody": job.model_dump_json()} for i, job in enumerate(chunk)]
            try:
                response = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
            except (ClientError, BotoCoreError) as error:
                raise StoreUnavailable(f"could not queue change-event deliveries: {error}") from error
            if response.get("Failed"):
                reasons = {failure.get("Code", "failed") for failure in response["Failed"]}
                raise StoreUnavailable(f"SQS refused change-event deliveries: {', '.join(sorted(reasons))}")
