"""AWS End User Messaging two-way SMS over HTTPS: SNS messages to /webhooks/aws/{account}, through the HTTP edge.

SNS signs with AWS's certificates; here a self-signed one stands in, served by a fake fetch at an SNS URL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.adapters.carriers.aws import AwsCarrier
from chalicelib.adapters.carriers.registry import CarrierRegistry
from chalicelib.adapters.carriers.twilio import TwilioCarrier
from chalicelib.settings import Settings
from tests.containers import fake_container
from tests.sns_signing import FakeFetch, certificate_pem, make_key, sign

OPERATOR = "operator-secret-token"
BASE = "https://sms.example.com/api"
EVENTS = Path(__file__).parents[1] / "events" / "aws"
TOPIC = "arn:aws:sns:us-east-1:123456789012:optout-inbound-acme"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000000000000a.pem"
CONTACT = "+14255550182"
OUR_NUMBER = "+12125550101"
KEY = make_key()


def event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture
def fetch() -> FakeFetch:
    now = datetime.now(UTC)
    pem = certificate_pem(KEY, not_before=now - timedelta(days=1), not_after=now + timedelta(days=30))
    return FakeFetch({CERT_URL: pem})


@pytest.fixture
def parts(fetch):
    carriers = CarrierRegistry(
        [TwilioCarrier(api_url="https://api.twilio.invalid"), AwsCarrier(sms_client=_no_client, fetch=fetch)]
    )
    yield fake_container(Settings(operator_token=OPERATOR, public_base_url=BASE), carriers=carriers)
    wiring.use(None)


def _no_client():
    raise AssertionError("no SMS client is needed here")


@pytest.fixture
def client(parts):
    with Client(application.app) as test_client:
        body = {"name": "Acme", "issue_token": True, "carriers": {"aws": {"topic_arn": TOPIC}}}
        response = test_client.http.put(
            "/v1/accounts/acme",
            headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
            body=json.dumps(body),
        )
        assert response.status_code == 201, response.body
        yield test_client


def notification(message: dict, *, message_id: str = "sns-1", topic: str = TOPIC, cert_url: str = CERT_URL) -> dict:
    fields = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic,
        "Message": json.dumps(message),
        "Timestamp": "2026-11-22T10:00:00.000Z",
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }
    return sign(fields, KEY)


def post(client, fields: dict, path: str = "/webhooks/aws/acme"):
    headers = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": fields["Type"]}
    return client.http.post(path, headers=headers, body=json.dumps(fields))


def stop(inbound_id: str = "in-1") -> dict:
    return {**event("two_way_inbound_stop.json"), "inboundMessageId": inbound_id}


def test_an_sns_delivered_stop_suppresses_the_number_and_queues_one_confirmation(client, parts) -> None:
    response = post(client, notification(stop()))
    assert response.status_code == 200
    state, _ = parts.stores.numbers.load("acme", CONTACT)
    assert state.suppressions["all"].source.value == "keyword"
    # The carrier's time is the SNS Timestamp
    (record,) = parts.stores.history.history("acme", CONTACT)
    assert record.event.occurred_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    # The confirmation goes back through AWS, from the number the contact texted
    (confirmation,) = parts.queue.requests
    assert (confirmation.provider, confirmation.sender, confirmation.confirms_event) == ("aws", OUR_NUMBER, "aws:in-1")


def test_a_redelivered_sns_message_is_applied_once(client, parts) -> None:
    fields = notification(stop())
    assert post(client, fields).status_code == 200
    assert post(client, fields).status_code == 200
    assert len(parts.stores.history.history("acme", CONTACT)) == 1
    # The confirmation is queued again under the same request id: the send path sends it once
    assert {r.request_id for r in parts.queue.requests} == {"confirm:aws:in-1"}


@pytest.mark.parametrize(
    "forgery",
    [
        "bad signature",
        "wrong topic",
        "certificate off SNS hosts",
        "re-signed with another key",
        "unsigned",
    ],
)
def test_a_forged_sns_message_is_403_and_writes_nothing(client, parts, fetch, forgery: str) -> None:
    fields = notification(stop())
    if forgery == "bad signature":
        fields["Message"] = json.dumps({**stop(), "messageBody": "START"})
    elif forgery == "wrong topic":
        fields = notification(stop(), topic="arn:aws:sns:us-east-1:123456789012:optout-inbound-other")
    elif forgery == "certificate off SNS hosts":
        evil = "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem"
        fetch.documents[evil] = fetch.documents[CERT_URL]
        fields = notification(stop(), cert_url=evil)
    elif forgery == "re-signed with another key":
        fields = sign({k: v for k, v in fields.items() if k not in ("Signature", "SignatureVersion")}, make_key())
    else:
        fields.pop("Signature")
    response = post(client, fields)
    assert response.status_code == 403
    assert json.loads(response.body)["error"]["code"] == "invalid_signature"
    assert parts.stores.numbers.states == {} and parts.stores.inbound.messages == {}
    assert parts.queue.requests == []


def test_a_refused_sns_message_says_no_more_than_an_unknown_account_is_told(client) -> None:
    forged = post(client, notification(stop(), topic="arn:aws:sns:us-east-1:123456789012:other"))
    unknown = post(client, notification(stop()), path="/webhooks/aws/nobody")
    assert forged.status_code == unknown.status_code == 403
    assert forged.body == unknown.body


def test_the_subscription_is_confirmed_by_visiting_its_subscribe_url(client, fetch) -> None:
    subscribe_url = f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=abc"
    fetch.documents[subscribe_url] = b"<ConfirmSubscriptionResponse/>"
    fields = sign(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "sub-1",
            "Token": "abc",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe",
            "SubscribeURL": subscribe_url,
            "Timestamp": "2026-11-22T10:00:00.000Z",
            "SigningCertURL": CERT_URL,
        },
        KEY,
    )
    response = post(client, fields)
    assert response.status_code == 200
    assert subscribe_url in fetch.calls


@pytest.mark.parametrize(
    ("event_type", "status", "source"),
    [("TEXT_UNREACHABLE", "UNREACHABLE", "bounce"), ("TEXT_DELIVERED", "DELIVERED", None)],
)
def test_a_delivery_event_makes_a_bounce_or_nothing(client, parts, event_type, status, source) -> None:
    delivery = {
        **event("event_text_successful.json"),
        "eventType": event_type,
        "messageStatus": status,
        "destinationPhoneNumber": CONTACT,
        "isFinal": True,
    }
    response = post(client, notification(delivery, message_id="sns-ev"), path="/webhooks/aws/acme/status")
    assert response.status_code == 204
    history = parts.stores.history.history("acme", CONTACT)
    assert [r.event.source.value for r in history] == ([source] if source else [])
