"""End to end, once app.py, send.py and record_event are wired: a signed Twilio STOP through the app, the outbox,
the send queue and the send function, to a loopback receiver that checks the Standard Webhooks signature; the
endpoint created through the API; a receiver answering 500 gets it again later."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

import boto3
import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.adapters.carriers import twilio
from chalicelib.adapters.dynamodb import dynamodb_stores
from chalicelib.adapters.ses_mailer import SesMailer
from chalicelib.adapters.sqs_queue import SqsSendQueue
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
from chalicelib.settings import Settings
from tests.containers import registry
from tests.fakes import InMemorySecretStore, RecordingSmsProvider
from tests.integration.test_change_events import Receiver, verify_standard_webhook
from tools.local_worker import LocalWorker

CONTACT = "+14155550123"
OUR_NUMBER = "+14155550100"
AUTH_TOKEN = "e" * 32
BASE = "https://sms.example.com/api"
OPERATOR = "operator-token"


@pytest.fixture
def real(clean_aws):
    dynamodb = boto3.client("dynamodb", endpoint_url=clean_aws.endpoint_url, region_name=clean_aws.region)
    sqs = boto3.client("sqs", endpoint_url=clean_aws.endpoint_url, region_name=clean_aws.region)
    ses = boto3.client("sesv2", endpoint_url=clean_aws.endpoint_url, region_name=clean_aws.region)
    settings = Settings(
        table_name=clean_aws.table_name,
        send_queue_url=clean_aws.queue_url,
        public_base_url=BASE,
        email_sender=clean_aws.email_sender,
        operator_token=OPERATOR,
        event_bus_name=clean_aws.event_bus_name,
        allow_loopback_endpoints=True,
        aws_endpoint_url=clean_aws.endpoint_url,
        aws_region=clean_aws.region,
    )
    parts = wiring.Container(
        settings,
        stores=dynamodb_stores(dynamodb, clean_aws.table_name),
        secrets=InMemorySecretStore(),
        queue=SqsSendQueue(sqs, clean_aws.queue_url),
        mailer=SesMailer(ses),
        carriers=registry(RecordingSmsProvider(), settings),
    )
    wiring.use(parts)
    settings_in = AccountSettingsIn(name="Acme", sms_provider="local", carriers={"twilio": {"auth_token": AUTH_TOKEN}})
    upsert_account(parts.stores.accounts, parts.secrets, parts.carriers, "acme", settings_in, datetime.now(UTC))
    yield type("Real", (), {"resources": clean_aws, "parts": parts})
    wiring.use(None)


def drain(real, rounds: int = 3) -> None:
    w = LocalWorker(
        real.resources.queue_url,
        handler=application.handle_send_queue,
        endpoint_url=real.resources.endpoint_url,
        wait_seconds=1,
    )
    for _ in range(rounds):
        w.run_once(wait_seconds=1)


def contact_texts(body: str) -> None:
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": CONTACT, "To": OUR_NUMBER, "Body": body}
    path = "/webhooks/twilio/acme"
    with Client(application.app) as client:
        response = client.http.post(
            path,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": twilio.compute_signature(BASE + path, sorted(params.items()), AUTH_TOKEN),
            },
            body=urlencode(params),
        )
    assert response.status_code == 200


def create_endpoint(url: str) -> dict:
    with Client(application.app) as client:
        response = client.http.post(
            "/v1/accounts/acme/event-endpoints",
            headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
            body=json.dumps({"url": url}).encode(),
        )
    assert response.status_code == 201, response.body
    return json.loads(response.body)


def test_a_stop_reaches_a_loopback_receiver_signed(real) -> None:
    with Receiver(200) as receiver:
        created = create_endpoint(receiver.url)
        contact_texts("STOP")
        for _ in range(5):
            drain(real, rounds=1)
            if receiver.received:
                break
    ((headers, body),) = receiver.received
    payload = verify_standard_webhook(created["secret"], headers, body, now=time.time())
    assert payload["type"] == "suppression.created" and payload["data"]["phone"] == CONTACT
    assert payload["data"]["source"] == "keyword"
    # the outbox is empty: both jobs of the STOP were queued
    assert real.parts.stores.outbox.pending_jobs(10) == []
    with Client(application.app) as client:
        log = client.http.get(
            f"/v1/accounts/acme/event-endpoints/{created['endpoint']['endpoint_id']}/deliveries",
            headers={"Authorization": f"Bearer {OPERATOR}"},
        )
    assert json.loads(log.body)["deliveries"][0]["status"] == "delivered"


def test_a_lift_and_a_start_are_events_too(real) -> None:
    with Receiver(200) as receiver:
        create_endpoint(receiver.url)
        contact_texts("STOP")
        drain(real, rounds=3)
        contact_texts("START")
        drain(real, rounds=3)
    types = [json.loads(body)["type"] for _, body in receiver.received]
    assert types[0] == "suppression.created" and "suppression.lifted" in types
