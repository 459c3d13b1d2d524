"""Change events against the embedded AWS endpoint and real HTTP on loopback: the EventBridge publisher (moto takes
PutEvents on a custom bus and routes it by a rule), the delivery queue on SQS, the webhook sender, and a STOP's event
delivered to a local receiver that checks its Standard Webhooks signature itself, and to one that answers 500 first
and gets it again later."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from chalicelib import wiring
from chalicelib.adapters.eventbridge import SOURCE, EventBridgePublisher
from chalicelib.adapters.sqs_deliveries import SqsDeliveryQueue
from chalicelib.adapters.webhook_sender import UrllibWebhookSender
from chalicelib.domain import change_events, services
from chalicelib.domain.change_events import ChangeEventJob, DeliveryJob
from chalicelib.domain.errors import StoreUnavailable
from chalicelib.domain.models import Account, InboundMessage
from chalicelib.settings import Settings
from chalicelib.workers import change_events as worker
from tests.containers import RecordingQueue
from tests.fakes import FixedClock
from tools.local_stack import Resources

ACCOUNT = "crm-demo"
PHONE = "+14155550123"
NUMBER = "+14155550100"


def client(resources: Resources, service: str):
    return boto3.client(service, endpoint_url=resources.endpoint_url, region_name=resources.region)


# --- a receiver on loopback, checking signatures as a CRM would ---------------------------------------------


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes, now: float, tolerance: int = 300):
    """The receiver's check, written from the spec (standardwebhooks.com), not from the service's code: the key is
    the secret without `whsec_`, base64-decoded; the signed content `<webhook-id>.<webhook-timestamp>.<body>`; any
    of the space-separated `v1,<base64>` signatures may match, compared in constant time; the timestamp within
    `tolerance` seconds of `now`. Returns the JSON body; raises ValueError otherwise."""
    names = ("webhook-id", "webhook-timestamp", "webhook-signature")
    message_id, timestamp, signatures = (headers.get(name) for name in names)
    if not (message_id and timestamp and signatures):
        raise ValueError("missing webhook headers")
    if abs(now - int(timestamp)) > tolerance:
        raise ValueError("timestamp outside the tolerance")
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    for signature in signatures.split(" "):
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(value), expected):
            return json.loads(body)
    raise ValueError("no signature matches")


class Receiver:
    """A local HTTP server that answers each POST with the next status of its script (the last one repeats) and
    keeps what came: headers and raw body."""

    def __init__(self, *statuses: int, delay: float = 0) -> None:
        self.statuses = list(statuses) or [200]
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                time.sleep(delay)
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "https://elsewhere.example.com/")
                if status == 503:
                    self.send_header("Retry-After", "120")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no")

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- adapters -------------------------------------------------------------------------------------------------


def stop_job(event_id: str = "twilio:SM1") -> ChangeEventJob:
    from chalicelib.domain import policy
    from chalicelib.domain.models import Action, Event, NumberState, Source

    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    event = Event(
        event_id=event_id,
        account_id=ACCOUNT,
        phone=PHONE,
        action=Action.OPT_OUT,
        scopes=("all",),
        source=Source.KEYWORD,
        occurred_at=now,
        received_at=now,
        actor=event_id,
    )
    state, record = policy.apply(NumberState(account_id=ACCOUNT, phone=PHONE), event)
    job = change_events.job_for(record, state)
    assert job is not None
    return job


def tap(resources: Resources) -> str:
    """A queue a rule on the bus sends every sms-optout event to: what a consumer of the bus would get."""
    sqs, events = client(resources, "sqs"), client(resources, "events")
    url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = json.dumps({"source": [SOURCE], "detail-type": ["suppression.created", "suppression.lifted"]})
    events.put_rule(Name="all-changes", EventBusName=resources.event_bus_name, EventPattern=pattern)
    events.put_targets(Rule="all-changes", EventBusName=resources.event_bus_name, Targets=[{"Id": "tap", "Arn": arn}])
    return url


def test_change_events_go_on_the_bus_for_rules_to_route(resources: Resources) -> None:
    url = tap(resources)
    job = stop_job()
    EventBridgePublisher(client(resources, "events"), resources.event_bus_name).publish(job.events)
    messages = client(resources, "sqs").receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
    assert len(messages) == 1
    routed = json.loads(messages[0]["Body"])
    assert (routed["source"], routed["detail-type"]) == (SOURCE, "suppression.created")
    assert routed["detail"] == json.loads(job.events[0].body())
    assert routed["time"] == "2026-11-22T10:00:00Z"


def test_a_bus_that_does_not_exist_is_a_retry(resources: Resources) -> None:
    with pytest.raises(StoreUnavailable):
        EventBridgePublisher(client(resources, "events"), "no-such-bus").publish(stop_job().events)


def test_deliveries_are_queued_on_the_send_queue_ten_at_a_time(resources: Resources) -> None:
    jobs = [
        DeliveryJob(
            account_id=ACCOUNT,
            endpoint_id="ep_abc",
            event_id=stop_job(f"twilio:SM{n}").events[0].id,
            scheduled_at=datetime(2026, 11, 22, tzinfo=UTC),
        )
        for n in range(12)
    ]
    SqsDeliveryQueue(client(resources, "sqs"), resources.queue_url).enqueue_deliveries(jobs)
    sqs, bodies = client(resources, "sqs"), []
    while len(bodies) < 12:
        got = sqs.receive_message(QueueUrl=resources.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        assert got
        bodies += [worker.parse(json.loads(m["Body"])) for m in got]
    assert sorted(b.event_id for b in bodies) == sorted(j.event_id for j in jobs)


def test_the_sender_posts_reports_failures_and_follows_no_redirect() -> None:
    sender = UrllibWebhookSender(2, allow_loopback=True)
    with Receiver(200, 500, 302, 503) as receiver:
        assert sender.post(receiver.url, b"{}", {"webhook-id": "evt_1"}).status == 200
        failed = sender.post(receiver.url, b"{}", {})
        assert (failed.status, failed.ok, failed.error) == (500, False, "HTTP 500: no")
        redirected = sender.post(receiver.url, b"{}", {})
        assert redirected.status == 302 and "redirects are not followed" in (redirected.error or "")
        assert sender.post(receiver.url, b"{}", {}).retry_after == 120
        assert len(receiver.received) == 4  # the redirect's target was never called
        assert receiver.received[0][0]["webhook-id"] == "evt_1"


def test_the_sender_gives_up_on_a_slow_receiver_and_an_absent_one() -> None:
    sender = UrllibWebhookSender(0.5, allow_loopback=True)
    with Receiver(200, delay=2) as slow:
        answer = sender.post(slow.url, b"{}", {})
    assert answer.status is None and "timed out" in (answer.error or "")
    with Receiver() as gone:
        url = gone.url
    assert sender.post(url, b"{}", {}).status is None


def test_the_sender_refuses_plain_http_and_private_addresses_in_a_deployed_stage() -> None:
    sender = UrllibWebhookSender(1)
    with Receiver() as receiver:
        assert "https" in (sender.post(receiver.url, b"{}", {}).error or "")
        https_loopback = receiver.url.replace("http://", "https://")
        assert "not a public address" in (sender.post(https_loopback, b"{}", {}).error or "")
        assert receiver.received == []


# --- a STOP's event, to loopback receivers ----------------------------------------------------------------------


@pytest.fixture
def stack(resources: Resources) -> Iterator[wiring.Container]:
    """The service's container on the embedded endpoint, loopback endpoints allowed, its clock a fixed one set five
    minutes before now (so a retry five minutes later is signed at about the real time)."""
    settings = Settings(
        table_name=resources.table_name,
        send_queue_url=resources.queue_url,
        event_bus_name=resources.event_bus_name,
        allow_loopback_endpoints=True,
        aws_endpoint_url=resources.endpoint_url,
        aws_region=resources.region,
        operator_token="operator",
        secrets_max_age=0,
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    built = wiring.Container(settings, clock=FixedClock(start))
    wiring.use(built)
    account = Account(account_id=ACCOUNT, name="CRM demo", created_at=start, updated_at=start)
    built.stores.accounts.put_account(account)
    yield built
    wiring.use(None)


def store_stop(parts: wiring.Container) -> ChangeEventJob:
    """A contact texts STOP; the change job of the event it stored (what record_event puts in the outbox)."""
    now = parts.clock.now()
    account = parts.stores.accounts.get_account(ACCOUNT)
    assert account is not None
    message = InboundMessage(
        carrier="twilio",
        message_id="SM0123",
        account_id=ACCOUNT,
        from_phone=PHONE,
        to_phone=NUMBER,
        body="STOP",
        occurred_at=now,
        received_at=now,
    )
    # Its email job goes to a queue of its own here: the send queue holds only what this test reads from it.
    result = services.receive_inbound(parts.stores, RecordingQueue(), account, message)
    assert result.record is not None
    state, _ = parts.stores.numbers.load(ACCOUNT, PHONE)
    job = change_events.job_for(result.record, state)
    assert job is not None
    return job


def receive_one(parts: wiring.Container, resources: Resources) -> tuple[DeliveryJob, str, int]:
    """The next record of the send queue: its delivery job, receipt handle and receive count."""
    sqs = client(resources, "sqs")
    got = sqs.receive_message(
        QueueUrl=resources.queue_url, MaxNumberOfMessages=1, AttributeNames=["ApproximateReceiveCount"]
    ).get("Messages", [])
    assert got, "no record on the send queue"
    job = worker.parse(json.loads(got[0]["Body"]))
    assert isinstance(job, DeliveryJob)
    return job, got[0]["ReceiptHandle"], int(got[0]["Attributes"]["ApproximateReceiveCount"])


def test_a_loopback_receiver_gets_a_stop_signed_the_standard_webhooks_way(
    stack: wiring.Container, resources: Resources
) -> None:
    stack.clock.advance(300)  # type: ignore[attr-defined]  # now: the library checks the time against its own clock
    with Receiver(200) as receiver:
        # Given an endpoint on loopback (allowed by the local setting)
        created = change_events.create_endpoint(
            stack.stores.endpoints,
            stack.secrets,
            ACCOUNT,
            receiver.url,
            description="CRM",
            types=None,
            actor="operator",
            now=stack.clock.now(),
            allow_loopback=True,
        )
        bus = tap(resources)
        # When a contact texts STOP and its change job is handled from the queue
        job = store_stop(stack)
        assert worker.handle(job, receipt_handle="r", receives=1) == "fanned_out"
        delivery, receipt, receives = receive_one(stack, resources)
        assert worker.handle(delivery, receipt_handle=receipt, receives=receives) == "delivered"
    # Then the receiver got it once, and the signature checks out by the spec
    ((headers, body),) = receiver.received
    payload = verify_standard_webhook(created.secret, headers, body, now=stack.clock.now().timestamp())
    assert payload["type"] == "suppression.created"
    data = payload["data"]
    assert (data["account_id"], data["phone"], data["scope"], data["source"]) == (ACCOUNT, PHONE, "all", "keyword")
    assert data["event_id"] == "twilio:SM0123" and data["number_status"] == "blocked"
    assert headers["webhook-id"] == data["id"] == delivery.event_id
    # and a rule on the bus routed the same event
    routed = client(resources, "sqs").receive_message(QueueUrl=bus, WaitTimeSeconds=1)["Messages"]
    assert json.loads(routed[0]["Body"])["detail"] == payload
    # and the delivery log says so
    logged = stack.stores.endpoints.get_delivery(ACCOUNT, created.endpoint.endpoint_id, delivery.event_id)
    assert logged is not None and (logged.status, logged.attempts, logged.last_status_code) == ("delivered", 1, 200)


def test_a_receiver_that_answers_500_gets_the_event_again_later(stack: wiring.Container, resources: Resources) -> None:
    with Receiver(500, 200) as receiver:
        created = change_events.create_endpoint(
            stack.stores.endpoints,
            stack.secrets,
            ACCOUNT,
            receiver.url,
            description=None,
            types=None,
            actor="operator",
            now=stack.clock.now(),
            allow_loopback=True,
        )
        worker.handle(store_stop(stack), receipt_handle="r", receives=1)
        # When the first attempt is answered 500
        delivery, receipt, receives = receive_one(stack, resources)
        with pytest.raises(worker.RetryChangeEvents):
            worker.handle(delivery, receipt_handle=receipt, receives=receives)
        # Then the record is hidden for the schedule's five minutes
        sqs = client(resources, "sqs")
        assert sqs.receive_message(QueueUrl=resources.queue_url).get("Messages", []) == []
        logged = stack.stores.endpoints.get_delivery(ACCOUNT, created.endpoint.endpoint_id, delivery.event_id)
        assert logged is not None and (logged.status, logged.last_status_code) == ("retrying", 500)
        # When five minutes have passed (the queue is told so: the record's visibility ends now)
        stack.clock.advance(300)  # type: ignore[attr-defined]
        sqs.change_message_visibility(QueueUrl=resources.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
        again, receipt, receives = receive_one(stack, resources)
        assert (again, receives) == (delivery, 2)
        assert worker.handle(again, receipt_handle=receipt, receives=receives) == "delivered"
    # Then the receiver got the same event twice, the same id, each attempt signed at its own time
    (first_headers, first_body), (second_headers, second_body) = receiver.received
    assert first_body == second_body and first_headers["webhook-id"] == second_headers["webhook-id"]
    assert int(second_headers["webhook-timestamp"]) - int(first_headers["webhook-timestamp"]) == 300
    verify_standard_webhook(created.secret, second_headers, second_body, now=time.time())
    logged = stack.stores.endpoints.get_delivery(ACCOUNT, created.endpoint.endpoint_id, delivery.event_id)
    assert logged is not None and (logged.status, logged.attempts, logged.last_error) == ("delivered", 2, None)


def test_the_standard_webhooks_library_accepts_what_a_receiver_gets() -> None:
    """The reference Python library (a development dependency only) verifies a delivery's headers and body."""
    standardwebhooks = pytest.importorskip("standardwebhooks")
    secret, body = change_events.new_secret(), stop_job().events[0].body()
    with Receiver(200) as receiver:
        headers = change_events.signed_headers(secret, stop_job().events[0].id, int(time.time()), body)
        assert UrllibWebhookSender(2, allow_loopback=True).post(receiver.url, body, headers).ok
    ((received_headers, received_body),) = receiver.received
    assert standardwebhooks.Webhook(secret).verify(received_body, received_headers) == json.loads(body)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(change_events.new_secret()).verify(received_body, received_headers)
