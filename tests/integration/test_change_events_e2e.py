"""End to end, once app.py, send.py and record_event are wired: a signed Twilio STOP through the app, the outbox,
the send queue and the send function, to a loopback receiver that checks the Standard Webhooks signature; the
endpoint created through the API; a receiver answering 500 gets it again later."""

from __future__ import annotations

import json
import time

import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from tests.integration.test_change_events import Receiver, verify_standard_webhook
from tests.integration.test_email_alerts import CONTACT, contact_texts, drain, real_parts

OPERATOR = "operator-token"


@pytest.fixture
def real(clean_aws):
    parts = real_parts(
        clean_aws,
        operator_token=OPERATOR,
        event_bus_name=clean_aws.event_bus_name,
        allow_loopback_endpoints=True,
        aws_endpoint_url=clean_aws.endpoint_url,
        aws_region=clean_aws.region,
    )
    yield type("Real", (), {"resources": clean_aws, "parts": parts})
    wiring.use(None)


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
