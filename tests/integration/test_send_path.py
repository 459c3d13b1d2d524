"""The send path end to end on the embedded AWS: SQS in, DynamoDB checks and logs, the worker between.

The SMS provider is the one fake here (it records every call with the time it was made).
"""

from __future__ import annotations

import threading
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
from chalicelib.adapters.sqs_queue import SqsSendQueue
from chalicelib.domain import sending, services
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
from chalicelib.domain.models import SendRequest
from chalicelib.settings import Settings
from chalicelib.workers import send as send_worker
from tests import lambda_events
from tests.containers import registry
from tests.fakes import InMemorySecretStore, RecordingSmsProvider
from tests.integration.conftest import impatient_queue
from tools.local_worker import LocalWorker

SENDER = "+14155550100"
OTHER_SENDER = "+14155550199"
AUTH_TOKEN = "f" * 32
BASE = "https://sms.example.com/api"


class SlowRecorder(RecordingSmsProvider):
    """Takes a little time per text, as a real provider does, so opt-outs can land mid-campaign."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self._lock = threading.Lock()

    def send(self, message):
        with self._lock:
            result = super().send(message)
        time.sleep(self.delay)
        return result


@pytest.fixture
def real(clean_aws):
    """Real adapters on the embedded endpoint, a recording provider, the account `acme`."""
    dynamodb = boto3.client("dynamodb", endpoint_url=clean_aws.endpoint_url, region_name=clean_aws.region)
    sqs = boto3.client("sqs", endpoint_url=clean_aws.endpoint_url, region_name=clean_aws.region)
    settings = Settings(table_name=clean_aws.table_name, send_queue_url=clean_aws.queue_url, public_base_url=BASE)
    provider = SlowRecorder()
    parts = wiring.Container(
        settings,
        stores=dynamodb_stores(dynamodb, clean_aws.table_name),
        secrets=InMemorySecretStore(),
        queue=SqsSendQueue(sqs, clean_aws.queue_url),
        carriers=registry(provider, settings),
    )
    wiring.use(parts)
    settings_in = AccountSettingsIn(name="Acme", sms_provider="local", carriers={"twilio": {"auth_token": AUTH_TOKEN}})
    account, _, _ = upsert_account(
        parts.stores.accounts, parts.secrets, parts.carriers, "acme", settings_in, datetime.now(UTC)
    )
    yield type(
        "Real",
        (),
        {
            "stores": parts.stores,
            "provider": provider,
            "account": account,
            "resources": clean_aws,
            "queue": parts.queue,
            "outbound": parts.stores.outbound,
        },
    )
    wiring.use(None)


def requests_for(phones: list[str], campaign: str, groups: tuple[str, ...] = ()) -> list[SendRequest]:
    return [
        SendRequest(
            request_id=f"{campaign}:{phone}",
            account_id="acme",
            to=phone,
            sender=SENDER,
            body="Sale today",
            groups=groups,
            campaign_id=campaign,
            user_email="ana@example.com",
        )
        for phone in phones
    ]


def drain(resources, until: callable, timeout: float = 120) -> LocalWorker:
    worker = LocalWorker(
        resources.queue_url, handler=application.handle_send_queue, endpoint_url=resources.endpoint_url, wait_seconds=1
    )
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        worker.run_once(wait_seconds=1)
    assert until(), "the worker did not finish in time"
    return worker


def test_rule10_a_campaign_of_1000_with_100_suppressed_sends_exactly_the_other_900(real) -> None:
    # Given 1,000 recipients of which 100 are suppressed: 40 for all, 30 for this sender, 30 for the group
    phones = [f"+1415555{n:04d}" for n in range(1000, 2000)]
    blocked = phones[::10]
    scopes = ["all"] * 40 + [f"sender:{SENDER}"] * 30 + ["group:spring-sale"] * 30
    now = datetime.now(UTC)
    for phone, scope in zip(blocked, scopes, strict=True):
        services.opt_out_manually(real.stores, real.queue, real.account, phone, scope, None, "admin", now)
    # And a few suppressions that must not block this campaign
    services.opt_out_manually(
        real.stores, real.queue, real.account, phones[1], f"sender:{OTHER_SENDER}", None, "admin", now
    )
    services.opt_out_manually(real.stores, real.queue, real.account, phones[2], "group:other", None, "admin", now)

    # When the campaign is queued on SQS and the worker drains it (in waves of 100, as a producer
    # would pace it: the embedded SQS slows down as a queue grows)
    campaign = requests_for(phones, "spring", ("spring-sale",))
    for start in range(0, 1000, 100):
        assert real.queue.enqueue(campaign[start : start + 100]) == {}
        handled = start + 100
        drain(
            real.resources,
            lambda handled=handled: sum(real.outbound.campaign_counts("acme", "spring").values()) >= handled,
        )

    # Then exactly the other 900 were sent, once each, and the counts say so
    sent = [message.to for _, message in real.provider.sent]
    assert sorted(sent) == sorted(set(phones) - set(blocked))
    assert real.outbound.campaign_counts("acme", "spring") == {"sent": 900, "skipped:suppressed": 100}


def test_a_request_queued_twice_is_sent_once(real) -> None:
    request = requests_for(["+14155552001"], "dupes")
    real.queue.enqueue(request)
    real.queue.enqueue(request)
    drain(real.resources, lambda: real.outbound.campaign_counts("acme", "dupes").get("sent") == 1)
    time.sleep(0.2)
    LocalWorker(
        real.resources.queue_url, handler=application.handle_send_queue, endpoint_url=real.resources.endpoint_url
    ).run_once(wait_seconds=1)
    assert [m.to for _, m in real.provider.sent] == ["+14155552001"]
    assert real.outbound.get("acme", "dupes:+14155552001").status == "sent"


def signed_stop(client: Client, phone: str) -> int:
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "To": SENDER, "Body": "STOP"}
    path = "/webhooks/twilio/acme"
    signature = twilio.compute_signature(BASE + path, sorted(params.items()), AUTH_TOKEN)
    response = client.http.post(
        path,
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        body=urlencode(params),
    )
    return response.status_code


def test_rule10_no_text_goes_to_a_number_after_its_opt_out_was_acknowledged(real) -> None:
    # Given a queued campaign of 300 whose provider takes 5 ms a text
    real.provider.delay = 0.005
    phones = [f"+1415555{n:04d}" for n in range(3000, 3300)]
    real.queue.enqueue(requests_for(phones, "race"))
    stoppers = phones[::6]
    acknowledged: dict[str, float] = {}

    def contacts_reply_stop() -> None:
        with Client(application.app) as client:
            # Spread the STOPs over the campaign's run, in an order unrelated to the queue's
            for phone in sorted(stoppers, key=lambda p: p[::-1]):
                assert signed_stop(client, phone) == 200
                acknowledged[phone] = time.monotonic()
                time.sleep(0.02)

    # When the STOPs arrive through the webhook while the worker sends the campaign
    webhook = threading.Thread(target=contacts_reply_stop)
    webhook.start()
    drain(real.resources, lambda: sum(real.outbound.campaign_counts("acme", "race").values()) >= 300)
    webhook.join()

    # Then no text to a number was handed to the provider after its opt-out was acknowledged
    late = [
        (m.to, at - acknowledged[m.to])
        for at, m in real.provider.sent
        if m.to in acknowledged and at > acknowledged[m.to]
    ]
    assert late == []
    # And the race really happened: some stoppers were texted before their STOP, some were skipped after it
    counts = real.outbound.campaign_counts("acme", "race")
    assert counts.get("skipped:suppressed", 0) > 0
    assert counts["sent"] + counts["skipped:suppressed"] == 300


def test_a_poisoned_record_ends_in_the_dead_letter_queue_and_the_rest_are_sent(real) -> None:
    sqs = boto3.client("sqs", endpoint_url=real.resources.endpoint_url, region_name=real.resources.region)
    queue, dlq = impatient_queue(sqs, "poison")
    good = requests_for(["+14155554001", "+14155554002"], "poison")
    for body in [good[0].model_dump_json(), '{"account_id": "acme", "to": "nobody"}', good[1].model_dump_json()]:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    worker = LocalWorker(queue, handler=application.handle_send_queue, endpoint_url=real.resources.endpoint_url)
    for _ in range(4):
        worker.run_once(wait_seconds=1)
        time.sleep(1.1)
    assert sorted(m.to for _, m in real.provider.sent) == ["+14155554001", "+14155554002"]
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in dead] == ['{"account_id": "acme", "to": "nobody"}']


def sqs_event(requests: list[SendRequest], receive_count: int = 1) -> dict:
    """An SQS event as Lambda hands it to the send function, one record per request."""
    return lambda_events.sqs_event(*(request.model_dump_json() for request in requests), receive_count=receive_count)


def test_a_campaign_delivered_twice_at_once_reaches_the_provider_once_per_request(real) -> None:
    # Given a campaign of 40 whose every request two workers receive at the same moment
    real.provider.delay = 0.01
    campaign = requests_for([f"+1415555{n:04d}" for n in range(5000, 5040)], "twice")
    responses: list[dict] = []
    workers = [threading.Thread(target=lambda: responses.append(send_worker.handle(sqs_event(campaign)))) for _ in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    # Then each request reached the provider once; a delivery that found the other one sending was given back
    sent = [message.request_id for _, message in real.provider.sent]
    assert sorted(sent) == sorted(request.request_id for request in campaign)
    assert sum(len(response["batchItemFailures"]) for response in responses) <= len(campaign)
    # And when every request comes once more, each finds its outcome: nothing more sent, each counted once
    assert send_worker.handle(sqs_event(campaign, receive_count=2))["batchItemFailures"] == []
    assert len(real.provider.sent) == 40
    assert real.outbound.campaign_counts("acme", "twice") == {"sent": 40}


def test_a_duplicate_whose_batch_read_came_before_the_first_send_and_a_later_text_is_not_sent(real) -> None:
    # Given a second delivery of a request whose batch was read before anything happened to its number
    phone = "+14155556001"
    first, later = requests_for([phone], "first") + requests_for([phone], "later")
    plan = send_worker.plan_batch(sqs_event([first])["Records"], wiring.container())
    # When the first delivery sends it, and another text to the number is sent after it
    assert send_worker.handle(sqs_event([first]))["batchItemFailures"] == []
    assert send_worker.handle(sqs_event([later]))["batchItemFailures"] == []
    # Then the second delivery, going on from its read, is stopped by the number's claim and finds the outcome
    handled = sending.send(
        wiring.container().send_deps,
        real.account,
        first,
        plan.states[("acme", phone)],
        recorded=plan.recorded.get(("acme", first.request_id)),
    )
    assert (handled.record.status, handled.first_time) == ("sent", False)
    assert [message.request_id for _, message in real.provider.sent] == [first.request_id, later.request_id]
    # And the number holds both claims; the outbound log holds each request once, with its outcome
    state, _ = real.stores.numbers.load("acme", phone)
    assert set(state.recent_sends) == {first.request_id, later.request_id}
    assert real.outbound.get("acme", first.request_id).status == "sent"
