"""AWS End User Messaging two-way SMS through the embedded endpoint's SNS: a topic per account, published to as AWS
publishes, fed to the app's `handle_sms_topic` as Lambda's SNS trigger feeds it (tools/local_sns.py)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import boto3
import pytest

import app as application
from chalicelib import wiring
from chalicelib.adapters.dynamodb import dynamodb_stores
from chalicelib.adapters.sqs_queue import SqsSendQueue
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
from chalicelib.settings import Settings
from tests.containers import registry
from tests.fakes import InMemorySecretStore, RecordingSmsProvider
from tools.local_sns import LocalSnsBridge
from tools.local_stack import INBOUND_TOPIC_PREFIX, create_inbound_topic

CONTACT = "+14155550123"
OUR_NUMBER = "+14155550100"


@pytest.fixture
def world(clean_aws):
    endpoint, region = clean_aws.endpoint_url, clean_aws.region
    settings = Settings(
        table_name=clean_aws.table_name, send_queue_url=clean_aws.queue_url, inbound_topic_prefix=INBOUND_TOPIC_PREFIX
    )
    parts = wiring.Container(
        settings,
        stores=dynamodb_stores(
            boto3.client("dynamodb", endpoint_url=endpoint, region_name=region), settings.table_name
        ),
        secrets=InMemorySecretStore(),
        queue=SqsSendQueue(boto3.client("sqs", endpoint_url=endpoint, region_name=region), clean_aws.queue_url),
        carriers=registry(RecordingSmsProvider(), settings),
    )
    wiring.use(parts)
    topics = {name: create_inbound_topic(endpoint, name, region=region) for name in ("acme", "other")}
    account_settings = AccountSettingsIn(
        name="Acme", sms_provider="local", carriers={"aws": {"topic_arn": topics["acme"]}}
    )
    upsert_account(parts.stores.accounts, parts.secrets, parts.carriers, "acme", account_settings, datetime.now(UTC))
    bridge = LocalSnsBridge(
        topics.values(),
        handler=application.handle_sms_topic,
        endpoint_url=endpoint,
        region=region,
        wait_seconds=1,
        retry_delay=0,
        max_attempts=2,
    ).connect()
    sns = boto3.client("sns", endpoint_url=endpoint, region_name=region)
    yield type("World", (), {"parts": parts, "topics": topics, "bridge": bridge, "sns": sns})
    wiring.use(None)


def publish(world, body: str, *, topic: str = "acme", inbound_id: str | None = None) -> str:
    inbound_id = inbound_id or str(uuid.uuid4())
    message = {
        "originationNumber": CONTACT,
        "destinationNumber": OUR_NUMBER,
        "messageKeyword": "KEYWORD_123456789012",
        "messageBody": body,
        "inboundMessageId": inbound_id,
    }
    world.sns.publish(TopicArn=world.topics[topic], Message=json.dumps(message))
    return inbound_id


def test_a_stop_published_on_the_accounts_topic_suppresses_the_number_and_queues_its_confirmation(world) -> None:
    inbound_id = publish(world, "STOP")
    (delivery,) = world.bridge.run_once(wait_seconds=1)
    assert delivery.deleted and delivery.error is None
    state, _ = world.parts.stores.numbers.load("acme", CONTACT)
    assert state.suppressions["all"].source.value == "keyword"
    logged = world.parts.stores.inbound.get_inbound("acme", inbound_id)
    assert logged is not None and logged.message.carrier == "aws"
    sqs = boto3.client("sqs", endpoint_url=world.bridge._endpoint_url, region_name=world.bridge.region)
    queued = sqs.receive_message(QueueUrl=world.parts.settings.send_queue_url, MaxNumberOfMessages=10)["Messages"]
    assert {json.loads(m["Body"]).get("request_id") for m in queued} >= {f"confirm:aws:{inbound_id}"}


def test_the_same_inbound_message_published_twice_is_applied_once(world) -> None:
    inbound_id = publish(world, "STOP")
    publish(world, "STOP", inbound_id=inbound_id)
    deliveries = world.bridge.run_once(wait_seconds=1) + world.bridge.run_once(wait_seconds=1)
    assert len(deliveries) == 2 and all(d.deleted for d in deliveries)
    assert len(world.parts.stores.history.history("acme", CONTACT)) == 1


def test_a_topic_no_account_expects_fails_the_invocation_and_writes_nothing(world) -> None:
    # Given the topic of an account that does not exist (or has not configured it)
    publish(world, "STOP", topic="other")
    # When the function is invoked with it, every attempt fails (then the bridge dead-letters it, as Lambda's
    # on-failure destination would: tests/integration/test_local_sns.py)
    first = world.bridge.run_once(wait_seconds=1)
    second = world.bridge.run_once(wait_seconds=1)
    assert [d.deleted for d in first + second] == [False, False]
    assert all("no account expects" in (d.error or "") for d in first + second)
    assert world.parts.stores.numbers.load("other", CONTACT)[0].suppressed is False
