"""The composition root as AWS runs it: everything built from the settings, against the embedded endpoint."""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import urlencode

import boto3
import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.adapters.carriers import twilio
from chalicelib.settings import Settings

OPERATOR = "operator-token-for-the-root"
BASE = "https://sms.example.com/api"
AUTH_TOKEN = "c" * 32
CONTACT = "+14155550123"


@pytest.fixture
def built_clients(clean_aws, monkeypatch) -> Counter:
    """boto3 clients built while the test runs, by service."""
    made: Counter = Counter()
    real_client = boto3.client

    def counting_client(service, *args, **kwargs):
        made[service] += 1
        return real_client(service, *args, **kwargs)

    monkeypatch.setattr(boto3, "client", counting_client)
    settings = Settings(
        table_name=clean_aws.table_name,
        send_queue_url=clean_aws.queue_url,
        operator_token=OPERATOR,
        public_base_url=BASE,
        aws_endpoint_url=clean_aws.endpoint_url,
        aws_region=clean_aws.region,
    )
    wiring.use(wiring.Container(settings))
    yield made
    wiring.use(None)


def test_a_cold_start_builds_one_client_per_aws_service_it_uses(built_clients) -> None:
    # Given a fresh container: an account is created (its Twilio auth token goes to SSM)
    with Client(application.app) as client:
        body = {"name": "Acme", "carriers": {"twilio": {"auth_token": AUTH_TOKEN}}}
        headers = {"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"}
        assert client.http.put("/v1/accounts/acme", headers=headers, body=json.dumps(body)).status_code == 201
        # When signed STOPs come in (DynamoDB, SSM and SQS for the email job each serve several calls)
        for sid in ("SM1", "SM2"):
            params = {"MessageSid": sid, "From": CONTACT, "To": "+14155550100", "Body": "STOP"}
            path = "/webhooks/twilio/acme"
            signature = twilio.compute_signature(BASE + path, sorted(params.items()), AUTH_TOKEN)
            response = client.http.post(
                path,
                headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
                body=urlencode(params),
            )
            assert response.status_code == 200
    # Then one client per service was built, and only for the services used
    assert built_clients == Counter({"dynamodb": 1, "ssm": 1, "sqs": 1})
    assert wiring.container().clients.built == ("dynamodb", "ssm", "sqs")


def test_every_client_has_explicit_timeouts_and_standard_retries(built_clients) -> None:
    parts = wiring.container()
    config = parts.clients.get("dynamodb").meta.config
    settings = parts.settings
    assert (config.connect_timeout, config.read_timeout) == (settings.aws_connect_timeout, settings.aws_read_timeout)
    assert config.retries == {"mode": "standard", "total_max_attempts": settings.aws_max_attempts}
