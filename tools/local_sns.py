"""The local SNS bridge: what an SNS topic's Lambda subscription does in AWS, for `chalice local` (which never runs
`on_sns_message` handlers, just as it never runs `on_sqs_message` ones: see tools/local_worker.py).

moto's SNS delivers to SQS subscriptions (and not to functions it does not host), so the bridge subscribes one SQS
queue of its own to every topic it is given, long-polls it, and turns each message (the SNS JSON envelope: raw
message delivery stays off) into the event Lambda's SNS trigger sends, one record per invocation:

    {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": ...,
                  "Sns": {"Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
                          "Signature", "SigningCertUrl", "UnsubscribeUrl", "MessageAttributes"}}]}

(Lambda spells `SigningCertUrl` and `UnsubscribeUrl` where the envelope has `...URL`, and gives `Subject: null` and
`MessageAttributes: {}` when there are none.) When the handler returns, the message is deleted; when it raises, the
error is logged and the message comes back later, as Lambda's asynchronous retries do: by default after 1 and then 2
more minutes, 3 attempts in all, after which it goes to the bridge's dead-letter queue (Lambda's on-failure
destination). A message that is not an SNS notification is treated as a failed invocation.

    python -m tools.local_sns --topic-arn arn:aws:sns:us-east-1:123456789012:optout-inbound-demo

Standard library and boto3 only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Self

import boto3

from tools.local_worker import DEFAULT_REGION, MAX_RECEIVE, FakeLambdaContext, Handler, PollingLoop, load_app_handler

#: app.py's `@app.on_sns_message` function for the two-way SMS topics.
HANDLER_NAME = "handle_sms_topic"
#: Lambda's asynchronous invocation: the first try and 2 retries (its default MaximumRetryAttempts).
MAX_ATTEMPTS = 3
#: Lambda retries a failed asynchronous invocation after about a minute, then after about two.
RETRY_DELAY_SECONDS = 60
#: SQS's longest visibility timeout (12 hours).
MAX_VISIBILITY_SECONDS = 43_200

log = logging.getLogger("tools.local_sns")  # the same name under `python -m`


class NotAnSnsNotification(ValueError):
    """A queue message that is not the JSON envelope of an SNS notification."""


@dataclass
class Delivery:
    """One invocation: the SNS message handed over (its SNS MessageId; the SQS one when the message is not an SNS
    notification), on which attempt, whether it was deleted, and the handler's error."""

    message_id: str
    topic_arn: str
    attempt: int
    deleted: bool = False
    error: str | None = None


def read_envelope(body: str) -> dict[str, Any]:
    """The SNS envelope an SQS message body holds (NotAnSnsNotification when it holds something else)."""
    try:
        envelope = json.loads(body)
    except ValueError as error:
        raise NotAnSnsNotification(f"the queue message is not JSON: {error}") from None
    if not isinstance(envelope, dict):
        raise NotAnSnsNotification("the queue message is not a JSON object")
    return envelope


def to_lambda_sns_event(envelope: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """The event Lambda's SNS trigger sends for one SNS notification, from its JSON envelope as SNS posts it to an SQS
    (or HTTP) subscription; `subscription_arn` is the subscription it came through."""
    if envelope.get("Type") != "Notification":
        raise NotAnSnsNotification(f"an SNS message of type {envelope.get('Type')!r}, not a Notification")
    missing = [key for key in ("MessageId", "TopicArn", "Message", "Timestamp") if key not in envelope]
    if missing:
        raise NotAnSnsNotification(f"an SNS notification without {', '.join(missing)}")
    # The envelope's UnsubscribeURL names some subscription (moto's a made-up one); Lambda's names the function's.
    region = _region_of(subscription_arn)
    unsubscribe_url = f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"
    sns = {
        "Type": envelope["Type"],
        "MessageId": envelope["MessageId"],
        "TopicArn": envelope["TopicArn"],
        "Subject": envelope.get("Subject"),
        "Message": envelope["Message"],
        "Timestamp": envelope["Timestamp"],
        "SignatureVersion": envelope.get("SignatureVersion", "1"),
        "Signature": envelope.get("Signature", ""),
        "SigningCertUrl": envelope.get("SigningCertURL", ""),
        "UnsubscribeUrl": unsubscribe_url,
        "MessageAttributes": dict(envelope.get("MessageAttributes") or {}),
    }
    return {
        "Records": [
            {"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": subscription_arn, "Sns": sns}
        ]
    }


def _region_of(arn: str) -> str:
    return arn.split(":")[3]


class LocalSnsBridge(PollingLoop):
    """Feeds SNS topics to a function as Lambda's SNS trigger does: one queue subscribed to every topic, one record
    per invocation, a failed invocation retried later.

    `connect()` creates the queue (and its dead-letter queue) and subscribes the topics; `start()` and `run_once()`
    connect first, so messages published after `start()` returns are delivered. `add_topic()` subscribes one more,
    also while running. `run()` loops until `stop()`; `start()` runs it in a daemon thread.
    """

    thread_name = "local-sns-bridge"
    logger = log

    def __init__(
        self,
        topic_arns: Iterable[str] = (),
        *,
        handler: Handler | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        queue_name: str = "local-sns-bridge",
        wait_seconds: int = 5,
        retry_delay: float = RETRY_DELAY_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        function_name: str = f"sms-optout-dev-{HANDLER_NAME}",
        timeout_seconds: float = 60,
    ) -> None:
        super().__init__()
        self.handler = handler if handler is not None else load_app_handler(HANDLER_NAME)
        self.topic_arns: list[str] = list(dict.fromkeys(topic_arns))
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        self.queue_name = queue_name
        self.queue_url = ""  # known once connected
        # A long poll holds stop() for up to this long; SQS allows up to 20 s.
        self.wait_seconds = max(0, min(wait_seconds, 20))
        self.retry_delay = retry_delay
        self.max_attempts = max(1, max_attempts)
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        #: The latest invocations, newest last (bounded: `make run` runs for hours).
        self.results: deque[Delivery] = deque(maxlen=1000)
        self._endpoint_url = endpoint_url
        self._sqs = boto3.client("sqs", endpoint_url=endpoint_url, region_name=self.region)
        self._sns_clients: dict[str, Any] = {}
        #: Topic ARN -> the ARN of the queue's subscription to it (the record's EventSubscriptionArn).
        self.subscriptions: dict[str, str] = {}
        self.dead_letter_queue_url = ""
        self._queue_arn = ""

    # --- topics ------------------------------------------------------------------------------

    def connect(self) -> Self:
        """Create the queue and its dead-letter queue, and subscribe every topic; what exists already is kept."""
        if not self.queue_url:
            dlq_url = self._sqs.create_queue(QueueName=f"{self.queue_name}-dlq")["QueueUrl"]
            dlq_arn = self._attribute(dlq_url, "QueueArn")
            # The visibility timeout only covers an invocation in progress: retries set their own delay.
            visibility = min(MAX_VISIBILITY_SECONDS, int(self.timeout_seconds) + 30)
            redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": self.max_attempts})
            attributes = {"VisibilityTimeout": str(visibility), "RedrivePolicy": redrive}
            queue_url = self._sqs.create_queue(QueueName=self.queue_name)["QueueUrl"]
            self._sqs.set_queue_attributes(QueueUrl=queue_url, Attributes=attributes)
            self._queue_arn = self._attribute(queue_url, "QueueArn")
            self.dead_letter_queue_url, self.queue_url = dlq_url, queue_url
        for topic_arn in self.topic_arns:
            if topic_arn not in self.subscriptions:
                self._subscribe(topic_arn)
        return self

    def add_topic(self, topic_arn: str) -> str:
        """Subscribe the bridge to one more topic (at once when connected); the subscription's ARN once connected."""
        if topic_arn not in self.topic_arns:
            self.topic_arns.append(topic_arn)
        if self.queue_url and topic_arn not in self.subscriptions:
            self._subscribe(topic_arn)
        return self.subscriptions.get(topic_arn, "")

    def _subscribe(self, topic_arn: str) -> None:
        # Not raw (the default): the queue gets the envelope, with the TopicArn, MessageId and Timestamp Lambda passes
        # on. No `RawMessageDelivery: "false"` either: moto keeps the string, which it then reads as true.
        answer = self._sns(topic_arn).subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=self._queue_arn, ReturnSubscriptionArn=True
        )
        self.subscriptions[topic_arn] = str(answer["SubscriptionArn"])
        log.info("SNS bridge subscribed to %s", topic_arn)

    def _sns(self, topic_arn: str) -> Any:
        region = _region_of(topic_arn)
        if region not in self._sns_clients:
            self._sns_clients[region] = boto3.client("sns", endpoint_url=self._endpoint_url, region_name=region)
        return self._sns_clients[region]

    def _attribute(self, queue_url: str, name: str) -> str:
        return str(self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[name])["Attributes"][name])

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Subscribe (in the caller's thread, so a missing topic fails here), then run in a daemon thread."""
        self.connect()
        return super().start()

    # --- one receive -------------------------------------------------------------------------

    def run_once(self, wait_seconds: int | None = None) -> list[Delivery]:
        """Receive up to 10 messages and invoke the handler once for each; [] when the queue stayed empty."""
        self.connect()
        response = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=MAX_RECEIVE,
            WaitTimeSeconds=self.wait_seconds if wait_seconds is None else wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages = list(response.get("Messages", []))
        deliveries: list[Delivery] = []
        for index, message in enumerate(messages):
            if self._stopping.is_set() and deliveries:
                self._release(messages[index:])
                break
            deliveries.append(self._invoke(message))
        return deliveries

    def _invoke(self, message: dict[str, Any]) -> Delivery:
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        delivery = Delivery(message_id=str(message["MessageId"]), topic_arn="", attempt=attempt)
        context = FakeLambdaContext(self.function_name, self.region, timeout_seconds=self.timeout_seconds)
        try:
            envelope = read_envelope(message["Body"])
            delivery.message_id = str(envelope.get("MessageId", delivery.message_id))
            delivery.topic_arn = str(envelope.get("TopicArn", ""))
            event = to_lambda_sns_event(envelope, self._subscription_arn(delivery.topic_arn))
            self.handler(event, context)
        except Exception as error:  # noqa: BLE001 (a failed invocation: Lambda retries it too)
            delivery.error = f"{type(error).__name__}: {error}"
            self._retry_later(message, delivery)
        else:
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            delivery.deleted = True
            log.info("SNS message %s from %s handled (attempt %d)", delivery.message_id, delivery.topic_arn, attempt)
        self.results.append(delivery)
        return delivery

    def _release(self, messages: list[dict[str, Any]]) -> None:
        # Stopping with messages received but not handed over: visible again now, not after the visibility timeout.
        for message in messages:
            self._sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )

    def _retry_later(self, message: dict[str, Any], delivery: Delivery) -> None:
        if delivery.attempt >= self.max_attempts:
            # Visible at once: the next receive moves it to the dead-letter queue (the redrive policy's count).
            delay, outcome = 0, f"gave up after {delivery.attempt} attempts: it goes to {self.queue_name}-dlq"
        else:
            # Lambda backs off: about 1 minute before the second attempt, about 2 before the third.
            delay = int(min(MAX_VISIBILITY_SECONDS, self.retry_delay * delivery.attempt))
            outcome = f"attempt {delivery.attempt} of {self.max_attempts}, tried again in {delay} s"
        log.error(
            "the handler raised on SNS message %s from %s (%s): %s",
            delivery.message_id,
            delivery.topic_arn or "?",
            outcome,
            delivery.error,
            exc_info=True,
        )
        self._sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=delay
        )

    def _subscription_arn(self, topic_arn: str) -> str:
        known = self.subscriptions.get(topic_arn)
        if known:
            return known
        if not topic_arn.startswith("arn:"):
            raise NotAnSnsNotification(f"the SNS envelope names no topic ARN: {topic_arn!r}")
        # A topic someone else subscribed this queue to (an earlier bridge with the same queue name): look it up.
        for subscription in self._sns(topic_arn).list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]:
            if subscription.get("Endpoint") == self._queue_arn:
                self.subscriptions[topic_arn] = str(subscription["SubscriptionArn"])
                return self.subscriptions[topic_arn]
        raise NotAnSnsNotification(f"the queue is not subscribed to {topic_arn}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.local_sns", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--topic-arn", action="append", required=True, help="a topic to bridge (repeatable)")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"))
    parser.add_argument("--wait-seconds", type=int, default=20)
    parser.add_argument("--retry-delay", type=float, default=RETRY_DELAY_SECONDS)
    args = parser.parse_args(argv)
    if args.endpoint_url:  # the local endpoint accepts any credentials
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)  # "Found credentials in environment variables"
    bridge = LocalSnsBridge(
        args.topic_arn,
        endpoint_url=args.endpoint_url,
        region=_region_of(args.topic_arn[0]),
        wait_seconds=args.wait_seconds,
        retry_delay=args.retry_delay,
    ).connect()
    signal.signal(signal.SIGTERM, lambda *_: bridge.stop(timeout=0))
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop at once (an unfinished message comes back later)
        bridge.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
