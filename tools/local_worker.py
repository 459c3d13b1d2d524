"""The local queue worker: what Lambda's SQS event source does in AWS, for `chalice local` (which never runs
`on_sqs_message` handlers).

It long-polls the send queue, gathers records into a batch (up to `batch_size` or `batching_window` seconds, as
the app's `on_sqs_message` registration says), calls the send function's handler with a real SQS event (the
queue's own message ids, so every `messageId` is unique) and honours the partial batch response: records listed
in `batchItemFailures` stay on the queue and come back after the visibility timeout (the dead-letter queue takes
them after `maxReceiveCount` receives); the others are deleted. When the handler raises, nothing is deleted.

    python -m tools.local_worker          # OPTOUT_SEND_QUEUE_URL, AWS_ENDPOINT_URL, AWS_DEFAULT_REGION

Standard library and boto3 only.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import boto3
from botocore.exceptions import BotoCoreError, ClientError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HANDLER_NAME = "handle_send_queue"
DEFAULT_REGION = "us-east-1"
MAX_RECEIVE = 10  # SQS returns at most 10 messages a receive

Handler = Callable[[dict[str, Any], Any], Any]

log = logging.getLogger("tools.local_worker")  # the same name under `python -m`


class FakeLambdaContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    def __init__(self, function_name: str, region: str, memory_limit_in_mb: int = 128, timeout_seconds: float = 60):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class BatchResult:
    """What happened to one batch: the message ids handed over, deleted, and left for redelivery."""

    message_ids: list[str]
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    error: str | None = None


def load_app_handler(name: str = HANDLER_NAME) -> Handler:
    """The function `name` of the project's app.py (by default the send function, `app.handle_send_queue`)."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    module = importlib.import_module("app")
    handler: Handler = getattr(module, name)
    return handler


class PollingLoop:
    """The lifecycle the local stand-ins for Lambda's event sources share: `run()` calls `run_once()` until `stop()`,
    `start()` runs it in a daemon thread, `alive` says whether that thread still runs.

    Subclasses set `queue_url`, `wait_seconds` (the long poll) and `timeout_seconds` (one invocation), and implement
    `run_once()`.
    """

    queue_url: str
    wait_seconds: int
    timeout_seconds: float
    #: The thread's name, and the noun in the log lines.
    thread_name = "local-poller"
    logger = log

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, wait_seconds: int | None = None) -> Any:
        raise NotImplementedError

    def start(self) -> Self:
        """Run in a daemon thread until stop()."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Ask the loop to stop and wait for its thread (at most a long poll plus an invocation by default)."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.wait_seconds + self.timeout_seconds + 5 if timeout is None else timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        """Poll until stop(); SQS errors are logged and retried, they do not end the loop."""
        self.logger.info("%s polling %s", self.thread_name, self.queue_url)
        while not self._stopping.is_set():
            try:
                self.run_once()
            except (BotoCoreError, ClientError) as error:
                if self._stopping.is_set():
                    break
                self.logger.warning("could not poll %s: %s (retrying in 1 s)", self.queue_url, error)
                self._stopping.wait(1)
        self.logger.info("%s stopped", self.thread_name)


def _app_batching(default_size: int, default_window: float) -> tuple[int, float]:
    """Batch size and batching window as app.py registers them for the send queue."""
    module = sys.modules.get("app")
    for source in getattr(getattr(module, "app", None), "event_sources", []):
        if getattr(source, "name", None) == HANDLER_NAME and hasattr(source, "batch_size"):
            return int(source.batch_size), float(source.maximum_batching_window_in_seconds)
    return default_size, default_window


def to_lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS ReceiveMessage message as a record of Lambda's SQS event."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # Lambda spells them in camel case and gives binary values in base64.
    attribute: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return attribute


def failed_message_ids(response: Any, message_ids: list[str]) -> set[str]:
    """The records to leave on the queue, read from the handler's answer as Lambda reads it.

    None, `{}` or an empty/absent `batchItemFailures` is a complete success. An answer that is not an object, or
    an item whose `itemIdentifier` is missing, empty or not a message id of the batch, fails the whole batch.
    """
    if response is None:
        return set()
    if not isinstance(response, dict):
        log.warning("the handler answered %r, not a partial batch response: the whole batch fails", type(response))
        return set(message_ids)
    failures = response.get("batchItemFailures") or []
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in message_ids:
            log.warning("batchItemFailures names %r, not a record of the batch: the whole batch fails", failure)
            return set(message_ids)
        failed.add(identifier)
    return failed


class LocalWorker(PollingLoop):
    """Feeds the send queue to the send function, like Lambda's SQS event source with ReportBatchItemFailures.

    `run()` loops until `stop()`; `start()` runs it in a daemon thread; `run_once()` handles one batch.
    """

    thread_name = "local-worker"

    def __init__(
        self,
        queue_url: str,
        *,
        handler: Handler | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        batch_size: int | None = None,
        batching_window: float | None = None,
        wait_seconds: int = 5,
        function_name: str = "sms-optout-dev-handle_send_queue",
        timeout_seconds: float = 60,
    ) -> None:
        if handler is None:
            handler = load_app_handler()
            default_size, default_window = _app_batching(100, 1.0)
        else:
            default_size, default_window = 100, 1.0
        self.handler = handler
        self.queue_url = queue_url
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        self.batch_size = min(batch_size or default_size, 10_000)
        self.batching_window = default_window if batching_window is None else batching_window
        # A long poll holds stop() for up to this long; SQS allows up to 20 s.
        self.wait_seconds = max(0, min(wait_seconds, 20))
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        #: The latest batches, newest last (bounded: `make run` runs for hours).
        self.results: deque[BatchResult] = deque(maxlen=1000)
        self._sqs = boto3.client("sqs", endpoint_url=endpoint_url, region_name=self.region)
        self._queue_arn: str | None = None
        super().__init__()

    # --- one batch ---------------------------------------------------------------------------

    def run_once(self, wait_seconds: int | None = None) -> BatchResult | None:
        """Receive one batch, hand it to the handler, delete what succeeded. None when the queue stayed empty."""
        messages = self._collect(self.wait_seconds if wait_seconds is None else wait_seconds)
        if not messages:
            return None
        queue_arn = self._arn()
        event = {"Records": [to_lambda_record(message, queue_arn, self.region) for message in messages]}
        message_ids = [record["messageId"] for record in event["Records"]]
        result = BatchResult(message_ids=message_ids)
        context = FakeLambdaContext(self.function_name, self.region, timeout_seconds=self.timeout_seconds)
        try:
            response = self.handler(event, context)
        except Exception as error:  # noqa: BLE001 (a failed invocation: Lambda keeps the whole batch too)
            log.exception("the handler raised on a batch of %d: every record stays on the queue", len(messages))
            result.failed, result.error = list(message_ids), f"{type(error).__name__}: {error}"
        else:
            failed = failed_message_ids(response, message_ids)
            result.failed = [message_id for message_id in message_ids if message_id in failed]
            result.deleted = self._delete([m for m in messages if m["MessageId"] not in failed])
        self.results.append(result)
        log.info(
            "batch of %d: %d deleted, %d left for redelivery", len(message_ids), len(result.deleted), len(result.failed)
        )
        return result

    def _collect(self, wait_seconds: int) -> list[dict[str, Any]]:
        # Like Lambda's batching window: after the first message, keep receiving until the batch is full or the
        # window has passed.
        messages = self._receive(min(MAX_RECEIVE, self.batch_size), wait_seconds)
        if not messages:
            return []
        deadline = time.monotonic() + self.batching_window
        while len(messages) < self.batch_size and not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = self._receive(min(MAX_RECEIVE, self.batch_size - len(messages)), 0)
            if more:
                messages.extend(more)
            else:
                self._stopping.wait(min(0.05, remaining))
        return messages

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _delete(self, messages: list[dict[str, Any]]) -> list[str]:
        deleted: list[str] = []
        for start in range(0, len(messages), MAX_RECEIVE):
            chunk = messages[start : start + MAX_RECEIVE]
            response = self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for entry in response.get("Successful", []):
                deleted.append(chunk[int(entry["Id"])]["MessageId"])
            for entry in response.get("Failed", []):
                log.warning("could not delete %s: %s", chunk[int(entry["Id"])]["MessageId"], entry.get("Message"))
        return deleted

    def _arn(self) -> str:
        if self._queue_arn is None:
            attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
            self._queue_arn = str(attributes["Attributes"]["QueueArn"])
        return self._queue_arn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.local_worker", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--queue-url", default=os.environ.get("OPTOUT_SEND_QUEUE_URL"))
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"))
    parser.add_argument("--wait-seconds", type=int, default=20)
    args = parser.parse_args(argv)
    if not args.queue_url:
        parser.error("set OPTOUT_SEND_QUEUE_URL or pass --queue-url")
    if args.endpoint_url:  # the local endpoint accepts any credentials
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)  # "Found credentials in environment variables"
    worker = LocalWorker(args.queue_url, endpoint_url=args.endpoint_url, wait_seconds=args.wait_seconds)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop(timeout=0))
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop at once (unfinished records come back later)
        worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
