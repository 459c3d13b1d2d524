"""The send queue on SQS: producers' requests in, backoff for records that must wait."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.sqs_batches import send_in_batches
from chalicelib.domain.change_events import ChangeEventJob
from chalicelib.domain.errors import StoreUnavailable
from chalicelib.domain.imports import ImportTask
from chalicelib.domain.models import NotificationJob, SendRequest
from chalicelib.observability import logger


class SqsSendQueue:
    """`client` is a boto3 SQS client; `queue_url` the send queue."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def enqueue(self, requests: Sequence[SendRequest]) -> dict[str, str]:
        """Queue the requests, ten per SendMessageBatch; returns request id -> why it was not queued."""
        bodies = [request.model_dump_json() for request in requests]
        refused = send_in_batches(self._client, self._url, bodies, "send requests")
        return {
            requests[i].request_id: failure.get("Message") or failure.get("Code", "failed") for i, failure in refused
        }

    def enqueue_jobs(self, jobs: Sequence[NotificationJob | ChangeEventJob]) -> dict[str, str]:
        """Queue the jobs, ten per SendMessageBatch (an opt-out's email job and change-event job: one call); returns
        job id -> why it was not queued. A call that fails leaves its jobs and the ones after it unqueued."""
        bodies = [job.model_dump_json() for job in jobs]
        refused = send_in_batches(self._client, self._url, bodies, "jobs", refuse_unsent=True)
        return {jobs[i].job_id: failure.get("Message") or failure.get("Code", "failed") for i, failure in refused}

    def enqueue_import(self, task: ImportTask) -> None:
        """Queue an import's next chunk; StoreUnavailable when SQS did not take it."""
        try:
            self._client.send_message(QueueUrl=self._url, MessageBody=task.model_dump_json())
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(f"could not queue import {task.import_id}: {error}") from error

    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Keep a record hidden for `seconds` before SQS redelivers it (backoff); best effort."""
        try:
            self._client.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except (ClientError, BotoCoreError) as error:
            # Without the delay the record is simply redelivered when its visibility timeout ends.
            logger.warning("could not delay a record for retry", extra={"error": str(error)})
