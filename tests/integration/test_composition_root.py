"""The composition root as AWS runs it: everything built from the settings, against the embedded endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import botocore.session
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
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def built_clients(clean_aws, monkeypatch) -> Counter:
    """AWS clients built while the test runs, by service: botocore's `Session.create_client` makes every one."""
    made: Counter = Counter()
    real_create = botocore.session.Session.create_client

    def counting_create(self, service, *args, **kwargs):
        made[service] += 1
        return real_create(self, service, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting_create)
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


def test_a_cold_start_imports_neither_boto3_nor_s3transfer() -> None:
    # boto3 (and s3transfer, which boto3 imports as it loads) cost ~30 ms of every cold start and are never used: the
    # clients come from botocore's session, the secrets from GetParameter. In a fresh interpreter, as a cold start:
    code = """
import json, sys
import app
from chalicelib import wiring
from chalicelib.settings import Settings
parts = wiring.Container(Settings(aws_region="us-east-1", send_queue_url="https://sqs.example/q", table_name="t"))
parts.stores, parts.secrets, parts.queue, parts.carriers.get("twilio")
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("boto3", "s3transfer"))))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
