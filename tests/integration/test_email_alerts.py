"""Email alerts end to end on the embedded AWS: a signed webhook, the queue, the worker, SES over HTTP."""

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
from chalicelib.domain.errors import MailRetry
from chalicelib.domain.models import SendRequest
from chalicelib.settings import Settings
from tests.containers import registry
from tests.fakes import InMemorySecretStore, RecordingSmsProvider
from tests.integration.conftest import impatient_queue
from tools.local_worker import LocalWorker
from tools.mail import received_emails

CONTACT = "+14155550123"
OUR_NUMBER = "+14155550100"
AUTH_TOKEN = "e" * 32
BASE = "https://sms.example.com/api"


def real_parts(clean_aws, **settings_fields) -> wiring.Container:
    """The app's container on the embedded endpoint's DynamoDB, SQS and SES with a recording SMS provider, in use,
    and the account `acme` on Twilio; `settings_fields` add to the settings."""
    dynamodb = boto3.client("dynamodb", endpoint_url=clean_aws.endpoint_url, region_name=clean_aws.region)
    sqs = boto3.client("sqs", endpoint_url=clean_aws.endpoint_url, region_name=clean_aws.region)
    ses = boto3.client("sesv2", endpoint_url=clean_aws.endpoint_url, region_name=clean_aws.region)
    settings = Settings(
        table_name=clean_aws.table_name,
        send_queue_url=clean_aws.queue_url,
        public_base_url=BASE,
        email_sender=clean_aws.email_sender,
        **settings_fields,
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
    return parts


@pytest.fixture
def real(clean_aws):
    parts = real_parts(clean_aws)
    yield type("Real", (), {"resources": clean_aws, "queue": parts.queue, "stores": parts.stores, "parts": parts})
    wiring.use(None)


def worker(queue_url: str, endpoint_url: str) -> LocalWorker:
    return LocalWorker(queue_url, handler=application.handle_send_queue, endpoint_url=endpoint_url, wait_seconds=1)


def drain(real, rounds: int = 3) -> None:
    w = worker(real.resources.queue_url, real.resources.endpoint_url)
    for _ in range(rounds):
        w.run_once(wait_seconds=1)


def ana_texted(real, contact_email: str | None) -> None:
    real.queue.enqueue(
        [
            SendRequest(
                request_id=f"r-{uuid.uuid4()}",
                account_id="acme",
                to=CONTACT,
                sender=OUR_NUMBER,
                body="Your order shipped",
                user_email="ana@example.com",
                contact_email=contact_email,
            )
        ]
    )
    drain(real, rounds=1)


def contact_texts(body: str, sid: str | None = None) -> None:
    params = {"MessageSid": sid or "SM" + uuid.uuid4().hex, "From": CONTACT, "To": OUR_NUMBER, "Body": body}
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


def emails_to(real, address: str) -> list[dict]:
    return [email for email in received_emails(real.resources.endpoint_url) if address in email["to"]]


def test_a_signed_stop_emails_the_sender_user_and_the_contact_exactly_once(real) -> None:
    # Given Ana texted the contact, whose email is known
    ana_texted(real, "bo@example.com")
    # When the contact replies STOP and the worker handles the job
    contact_texts("STOP")
    drain(real)
    # Then one email each, through SES
    to_ana, to_bo = emails_to(real, "ana@example.com"), emails_to(real, "bo@example.com")
    assert len(to_ana) == 1 and len(to_bo) == 1
    assert CONTACT in to_ana[0]["subject"]
    assert to_ana[0]["from"] == real.resources.email_sender


def test_an_invalid_contact_email_gets_no_email_and_the_user_still_does(real) -> None:
    ana_texted(real, "bo-at-example")
    contact_texts("STOP")
    drain(real)
    assert len(emails_to(real, "ana@example.com")) == 1
    assert emails_to(real, "bo-at-example") == []


def test_a_reply_goes_to_the_user_who_last_texted_and_a_redelivered_job_sends_nothing_more(real) -> None:
    ana_texted(real, None)
    contact_texts("running late", sid="SMlate")
    drain(real)
    (alert,) = emails_to(real, "ana@example.com")
    assert "running late" in alert["text"] and "SMlate/unsubscribe" in alert["text"]
    # The same job delivered again by SQS
    job = {
        "kind": "notification",
        "job_id": "reply:twilio:SMlate",
        "account_id": "acme",
        "phone": CONTACT,
        "topic": "reply",
        "occurred_at": datetime.now(UTC).isoformat(),
        "message": "running late",
        "message_id": "SMlate",
    }
    boto3.client("sqs", endpoint_url=real.resources.endpoint_url, region_name=real.resources.region).send_message(
        QueueUrl=real.resources.queue_url, MessageBody=json.dumps(job)
    )
    drain(real)
    assert len(emails_to(real, "ana@example.com")) == 1


class ThrottledMailer:
    def send(self, email):
        raise MailRetry("Maximum sending rate exceeded")


def test_an_ses_failure_leaves_the_opt_out_stored_and_the_job_is_retried_then_dead_lettered(real) -> None:
    ana_texted(real, None)
    sqs = boto3.client("sqs", endpoint_url=real.resources.endpoint_url, region_name=real.resources.region)
    queue_url, dlq = impatient_queue(sqs, "alerts")
    quick = SqsSendQueue(sqs, queue_url)
    # Backoff would hide the job for minutes: keep the queue's own one-second visibility instead
    quick.delay = lambda receipt_handle, seconds: None
    wiring.use(
        wiring.Container(
            real.parts.settings,
            stores=real.stores,
            secrets=real.parts.secrets,
            queue=quick,
            mailer=ThrottledMailer(),
            carriers=real.parts.carriers,
        )
    )
    # Given Ana's contact STOPs while SES throttles
    contact_texts("STOP", sid="SMstop")
    assert real.stores.numbers.load("acme", CONTACT)[0].suppressed
    # When the worker keeps failing the job
    w = worker(queue_url, real.resources.endpoint_url)
    for _ in range(4):
        w.run_once(wait_seconds=1)
        time.sleep(1.1)
    # Then the opt-out still stands and the job is in the dead-letter queue, not lost
    assert real.stores.numbers.load("acme", CONTACT)[0].suppressed
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert [json.loads(m["Body"])["job_id"] for m in dead] == ["opt_out:twilio:SMstop"]
