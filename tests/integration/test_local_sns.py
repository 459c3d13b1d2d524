"""The local SNS bridge (tools/local_sns.py) against the embedded endpoint, with a stand-in for the function; the demo
file `make run` writes (tools/local_stack.py); the publish helper (tools/publish_sms.py).

The app's own `handle_sms_topic` behind the bridge is tested elsewhere, end to end.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from chalice.app import SNSEvent

from tools import local_stack, publish_sms
from tools.local_sns import LocalSnsBridge, NotAnSnsNotification
from tools.local_stack import (
    INBOUND_TOPIC_PREFIX,
    DemoAccount,
    Resources,
    create_inbound_topic,
    demo_document,
    service_environment,
    write_demo_file,
)

SNS_KEYS = {
    "Type",
    "MessageId",
    "TopicArn",
    "Subject",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertUrl",
    "UnsubscribeUrl",
    "MessageAttributes",
}
TWO_WAY_SMS = {
    "originationNumber": "+14155550123",
    "destinationNumber": "+14155550100",
    "messageKeyword": "KEYWORD_123456789012",
    "messageBody": "STOP",
    "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84",
}


class Recorder:
    """A stand-in for the `on_sns_message` function: keeps each event; raises while `failures` lasts."""

    def __init__(self, failures: int = 0) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.failures = failures

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the function fell over")
        return {"handled": len(event["Records"])}

    @property
    def message_ids(self) -> list[str]:
        return [event["Records"][0]["Sns"]["MessageId"] for event in self.events]


def sns_client(resources: Resources) -> Any:
    return boto3.client("sns", endpoint_url=resources.endpoint_url, region_name=resources.region)


def sqs_client(resources: Resources) -> Any:
    return boto3.client("sqs", endpoint_url=resources.endpoint_url, region_name=resources.region)


def bridge_for(resources: Resources, handler: Recorder, *topic_arns: str, **options: Any) -> LocalSnsBridge:
    options.setdefault("wait_seconds", 1)
    options.setdefault("retry_delay", 1)
    return LocalSnsBridge(
        topic_arns, handler=handler, endpoint_url=resources.endpoint_url, region=resources.region, **options
    )


def queue_counts(resources: Resources, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = sqs_client(resources).get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def wait_for(condition: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# --- the bridge ------------------------------------------------------------------------------


def test_a_published_message_reaches_the_handler_once_as_a_lambda_sns_event(resources: Resources) -> None:
    # Given the demo account's topic, bridged to a function
    topic_arn = create_inbound_topic(resources.endpoint_url, "demo")
    handler = Recorder()
    bridge = bridge_for(resources, handler, topic_arn).connect()

    # When AWS End User Messaging SMS publishes an inbound text to it
    published = sns_client(resources).publish(
        TopicArn=topic_arn,
        Message=json.dumps(TWO_WAY_SMS),
        Subject="inbound",
        MessageAttributes={"source": {"DataType": "String", "StringValue": "two-way"}},
    )
    [delivery] = bridge.run_once()

    # Then the function got one invocation with Lambda's SNS event: one record, Lambda's spelling of every key
    assert delivery.deleted and delivery.error is None and delivery.attempt == 1
    assert delivery.message_id == published["MessageId"] and delivery.topic_arn == topic_arn
    [event] = handler.events
    [record] = event["Records"]
    assert set(record) == {"EventSource", "EventVersion", "EventSubscriptionArn", "Sns"}
    assert record["EventSource"] == "aws:sns" and record["EventVersion"] == "1.0"
    sns = record["Sns"]
    assert set(sns) == SNS_KEYS
    assert sns["Type"] == "Notification"
    assert sns["MessageId"] == published["MessageId"]
    assert sns["TopicArn"] == topic_arn
    assert json.loads(sns["Message"]) == TWO_WAY_SMS
    assert sns["Subject"] == "inbound"
    assert sns["MessageAttributes"] == {"source": {"Type": "String", "Value": "two-way"}}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", sns["Timestamp"])
    assert sns["SignatureVersion"] in ("1", "2") and sns["Signature"]
    assert re.fullmatch(
        r"https://sns\.us-east-1\.amazonaws\.com/SimpleNotificationService-\w+\.pem", sns["SigningCertUrl"]
    )
    # And the subscription it names is a real one, the bridge's, to that topic
    subscription_arn = record["EventSubscriptionArn"]
    assert subscription_arn.startswith(topic_arn + ":") and subscription_arn == bridge.subscriptions[topic_arn]
    assert sns["UnsubscribeUrl"].endswith(f"?Action=Unsubscribe&SubscriptionArn={subscription_arn}")
    listed = sns_client(resources).list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [(s["SubscriptionArn"], s["Protocol"]) for s in listed] == [(subscription_arn, "sqs")]
    # with a Lambda-like context for the SNS function
    context = handler.contexts[0]
    assert context.function_name == "sms-optout-dev-handle_sms_topic" and context.aws_request_id
    assert 0 < context.get_remaining_time_in_millis() <= 60_000

    # And it is not delivered again: the message is gone
    assert bridge.run_once(wait_seconds=1) == []
    assert handler.message_ids == [published["MessageId"]]
    assert queue_counts(resources, bridge.queue_url) == (0, 0)


def test_without_subject_or_attributes_the_event_says_null_and_empty_as_lambda_does(resources: Resources) -> None:
    topic_arn = create_inbound_topic(resources.endpoint_url, "demo")
    handler = Recorder()
    bridge = bridge_for(resources, handler, topic_arn).connect()

    sns_client(resources).publish(TopicArn=topic_arn, Message=json.dumps(TWO_WAY_SMS))
    bridge.run_once()

    [event] = handler.events
    assert event["Records"][0]["Sns"]["Subject"] is None
    assert event["Records"][0]["Sns"]["MessageAttributes"] == {}
    # Chalice's SNSEvent (what `on_sns_message` functions get) reads the event without a KeyError
    chalice_event = SNSEvent(event, handler.contexts[0])
    assert json.loads(chalice_event.message) == TWO_WAY_SMS and chalice_event.subject is None
    assert chalice_event.to_dict() == event


def test_a_handler_that_raises_leaves_the_message_for_redelivery_and_it_comes_again(resources: Resources) -> None:
    # Given a function that fails the first time
    topic_arn = create_inbound_topic(resources.endpoint_url, "demo")
    handler = Recorder(failures=1)
    bridge = bridge_for(resources, handler, topic_arn, retry_delay=1).connect()
    message_id = sns_client(resources).publish(TopicArn=topic_arn, Message=json.dumps(TWO_WAY_SMS))["MessageId"]

    # When the bridge hands the message over
    [failed] = bridge.run_once()

    # Then it is not deleted: it waits, in flight, for its retry
    assert not failed.deleted and failed.attempt == 1
    assert failed.error == "RuntimeError: the function fell over"
    assert queue_counts(resources, bridge.queue_url) == (0, 1)

    # And it comes again (the same SNS message, a later attempt), and this time it is deleted
    [retried] = bridge.run_once(wait_seconds=5)
    assert retried.deleted and retried.attempt == 2 and retried.message_id == message_id
    assert handler.message_ids == [message_id, message_id]
    assert queue_counts(resources, bridge.queue_url) == (0, 0)


def test_a_message_that_keeps_failing_goes_to_the_dead_letter_queue_after_the_last_attempt(
    resources: Resources,
) -> None:
    topic_arn = create_inbound_topic(resources.endpoint_url, "demo")
    handler = Recorder(failures=10)
    bridge = bridge_for(resources, handler, topic_arn, retry_delay=0, max_attempts=2).connect()
    message_id = sns_client(resources).publish(TopicArn=topic_arn, Message=json.dumps(TWO_WAY_SMS))["MessageId"]

    attempts = [delivery.attempt for _ in range(3) for delivery in bridge.run_once(wait_seconds=1)]

    # Two attempts (Lambda makes three by default), then the message sits in the dead-letter queue
    assert attempts == [1, 2] and handler.message_ids == [message_id, message_id]
    assert queue_counts(resources, bridge.queue_url) == (0, 0)
    [kept] = sqs_client(resources).receive_message(QueueUrl=bridge.dead_letter_queue_url)["Messages"]
    assert json.loads(kept["Body"])["MessageId"] == message_id


def test_a_queue_message_that_is_not_an_sns_notification_is_a_failed_invocation(resources: Resources) -> None:
    handler = Recorder()
    bridge = bridge_for(resources, handler).connect()
    sqs_client(resources).send_message(QueueUrl=bridge.queue_url, MessageBody="not an SNS envelope")

    [delivery] = bridge.run_once()

    assert handler.events == [] and not delivery.deleted
    assert delivery.error is not None and delivery.error.startswith(NotAnSnsNotification.__name__)


def test_one_bridge_carries_several_topics_each_record_naming_its_own(resources: Resources) -> None:
    # Given two accounts' topics, the second added while the bridge runs
    acme, globex = (create_inbound_topic(resources.endpoint_url, account) for account in ("acme", "globex"))
    handler = Recorder()
    bridge = bridge_for(resources, handler, acme).start()
    try:
        bridge.add_topic(globex)

        # When each topic gets a text
        sns = sns_client(resources)
        sent = {
            topic: sns.publish(TopicArn=topic, Message=json.dumps(TWO_WAY_SMS))["MessageId"] for topic in (acme, globex)
        }
        wait_for(lambda: len(handler.events) == 2)
    finally:
        bridge.stop()

    # Then each came once, through its own topic's subscription
    records = {event["Records"][0]["Sns"]["TopicArn"]: event["Records"][0] for event in handler.events}
    assert {topic: record["Sns"]["MessageId"] for topic, record in records.items()} == sent
    for topic, record in records.items():
        assert record["EventSubscriptionArn"] == bridge.subscriptions[topic]
        assert record["EventSubscriptionArn"].startswith(topic + ":")


def test_stop_ends_the_loop(resources: Resources) -> None:
    # Given a bridge running in its thread, which has delivered a message
    topic_arn = create_inbound_topic(resources.endpoint_url, "demo")
    handler = Recorder()
    bridge = bridge_for(resources, handler, topic_arn).start()
    sns = sns_client(resources)
    sns.publish(TopicArn=topic_arn, Message=json.dumps(TWO_WAY_SMS))
    wait_for(lambda: len(handler.events) == 1)
    assert bridge.alive

    # When it is stopped
    started = time.monotonic()
    bridge.stop()

    # Then its thread ends within a long poll, and later messages stay on the queue for the next run
    assert not bridge.alive and time.monotonic() - started < bridge.wait_seconds + 3
    sns.publish(TopicArn=topic_arn, Message=json.dumps(TWO_WAY_SMS))
    time.sleep(0.5)
    assert len(handler.events) == 1
    assert queue_counts(resources, bridge.queue_url) == (1, 0)


def test_start_fails_in_the_caller_when_the_topic_does_not_exist(resources: Resources) -> None:
    bridge = bridge_for(resources, Recorder(), "arn:aws:sns:us-east-1:123456789012:optout-inbound-nobody")
    with pytest.raises(ClientError, match="NotFound"):
        bridge.start()
    assert not bridge.alive


def test_the_default_handler_is_the_apps_sns_function() -> None:
    import app

    bridge = LocalSnsBridge(endpoint_url="http://127.0.0.1:1")  # no request until it connects
    assert bridge.handler is app.handle_sms_topic


# --- resources, environment ------------------------------------------------------------------


def test_an_accounts_inbound_topic_is_named_by_the_prefix_and_created_once(resources: Resources) -> None:
    topic_arn = create_inbound_topic(resources.endpoint_url, "demo")
    assert topic_arn == f"arn:aws:sns:{resources.region}:123456789012:{INBOUND_TOPIC_PREFIX}demo"
    assert create_inbound_topic(resources.endpoint_url, "demo") == topic_arn
    env = service_environment(resources.endpoint_url, resources, "operator-token")
    assert env["OPTOUT_INBOUND_TOPIC_PREFIX"] == INBOUND_TOPIC_PREFIX == "optout-inbound-"


# --- the demo file ---------------------------------------------------------------------------

DEMO = DemoAccount(
    account_id="demo",
    admin_token="demo.admin-token",
    twilio_account_sid="AC" + "0" * 32,
    twilio_auth_token="f" * 32,
    aws_topic_arn="arn:aws:sns:us-east-1:123456789012:optout-inbound-demo",
)


def demo_file_document(public_base_url: str | None = None) -> dict[str, Any]:
    return demo_document(
        DEMO,
        api_url="http://127.0.0.1:8000",
        aws_endpoint="http://127.0.0.1:4566",
        operator_token="operator-token",
        public_base_url=public_base_url,
    )


def test_the_demo_file_has_the_shape_outside_scripts_rely_on(tmp_path: Path) -> None:
    path = write_demo_file(demo_file_document(), tmp_path / ".run" / "demo.json")

    assert json.loads(path.read_text()) == {
        "api": "http://127.0.0.1:8000",
        "aws_endpoint": "http://127.0.0.1:4566",
        "operator_token": "operator-token",
        "account_id": "demo",
        "admin_token": "demo.admin-token",
        "carriers": {
            "twilio": {
                "webhook_url": "http://127.0.0.1:8000/webhooks/twilio/demo",
                "status_url": "http://127.0.0.1:8000/webhooks/twilio/demo/status",
                "number": "+14155550100",
                "account_sid": "AC" + "0" * 32,
                "auth_token": "f" * 32,
            },
            "aws": {
                "webhook_url": "http://127.0.0.1:8000/webhooks/aws/demo",
                "status_url": "http://127.0.0.1:8000/webhooks/aws/demo/status",
                "number": "+14155550100",
                "topic_arn": "arn:aws:sns:us-east-1:123456789012:optout-inbound-demo",
            },
        },
    }
    assert local_stack.DEMO_FILE == local_stack.PROJECT_ROOT / ".run" / "demo.json" == publish_sms.DEMO_FILE


def test_the_demo_files_webhooks_are_under_the_public_base_url_when_there_is_one() -> None:
    carriers = demo_file_document("https://tunnel.example/prod/")["carriers"]
    assert carriers["aws"]["webhook_url"] == "https://tunnel.example/prod/webhooks/aws/demo"
    assert carriers["twilio"]["status_url"] == "https://tunnel.example/prod/webhooks/twilio/demo/status"


def test_the_demo_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    # Given an earlier file that anyone could read
    path = tmp_path / ".run" / "demo.json"
    path.parent.mkdir()
    path.write_text("{}")
    path.chmod(0o644)

    write_demo_file(demo_file_document(), path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    fresh = write_demo_file(demo_file_document(), tmp_path / "new" / "demo.json")
    assert stat.S_IMODE(fresh.parent.stat().st_mode) == 0o700


def test_the_demo_file_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a demo file from an earlier run
    path = write_demo_file({"run": 1}, tmp_path / "demo.json")
    earlier_inode = path.stat().st_ino

    # When the next run writes it, the new file is renamed over the old one (never rewritten in place)
    write_demo_file({"run": 2}, path)
    assert json.loads(path.read_text()) == {"run": 2} and path.stat().st_ino != earlier_inode
    assert [p.name for p in tmp_path.iterdir()] == ["demo.json"]

    # And a write that fails, before or at the rename, leaves the earlier file whole and no temporary file behind
    with pytest.raises(TypeError):
        write_demo_file({"run": object()}, path)

    def failing_replace(source: Any, target: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_demo_file({"run": 3}, path)
    assert json.loads(path.read_text()) == {"run": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["demo.json"]


# --- the publish helper ----------------------------------------------------------------------


def test_publish_sms_texts_the_demo_topic_as_aws_would(resources: Resources, tmp_path: Path) -> None:
    # Given a running bridge's topic, described in a demo file
    topic_arn = create_inbound_topic(resources.endpoint_url, "demo")
    handler = Recorder()
    bridge = bridge_for(resources, handler, topic_arn).connect()
    document = demo_document(
        DemoAccount("demo", "t", "AC" + "0" * 32, "f" * 32, aws_topic_arn=topic_arn),
        api_url="http://127.0.0.1:8000",
        aws_endpoint=resources.endpoint_url,
        operator_token="o",
    )
    demo_file = write_demo_file(document, tmp_path / "demo.json")

    # When a contact texts STOP through the helper
    assert publish_sms.main(["--from", "+14155550123", "--body", "STOP", "--demo-file", str(demo_file)]) == 0
    bridge.run_once()

    # Then the function gets AWS's two-way SMS payload for it
    [event] = handler.events
    payload = json.loads(event["Records"][0]["Sns"]["Message"])
    assert payload["originationNumber"] == "+14155550123" and payload["destinationNumber"] == "+14155550100"
    assert payload["messageBody"] == "STOP" and payload["messageKeyword"] == "KEYWORD_123456789012"
    assert re.fullmatch(r"[0-9a-f-]{36}", payload["inboundMessageId"])


def test_publish_sms_says_what_is_missing_without_a_demo_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish_sms.main(["--from", "+14155550123", "--body", "STOP", "--demo-file", str(tmp_path / "no.json")]) == 1
    assert "make run" in capsys.readouterr().err
