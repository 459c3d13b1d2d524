"""Email alerts with fakes: which events make jobs, who gets which email, once, and what happens on failure."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import wiring
from chalicelib.domain import alerts, services
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
from chalicelib.domain.errors import MailRejected, MailRetry
from chalicelib.domain.models import InboundMessage, SendRequest, Source
from chalicelib.workers import outbox as outbox_worker
from chalicelib.workers import send as send_worker
from tests.containers import fake_container
from tests.fakes import FixedClock, InMemorySecretStore

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
CONTACT = "+14155550123"
OUR_NUMBER = "+14155550100"


@pytest.fixture
def world():
    parts = fake_container(clock=FixedClock(T0))
    settings = AccountSettingsIn(name="Acme", email_sender="alerts@acme.example")
    account, _, _ = upsert_account(parts.stores.accounts, parts.secrets, parts.carriers, "acme", settings, T0)
    w = type("World", (), {})()
    w.parts, w.stores, w.queue, w.mailer, w.account = parts, parts.stores, parts.queue, parts.mailer, account
    yield w
    wiring.use(None)


def texted(world, body: str, sid: str, at: datetime = T0, phone: str = CONTACT) -> services.InboundResult:
    message = InboundMessage(
        carrier="twilio",
        message_id=sid,
        account_id="acme",
        from_phone=phone,
        to_phone=OUR_NUMBER,
        body=body,
        occurred_at=at,
        received_at=at,
    )
    return services.receive_inbound(world.stores, world.queue, world.account, message)


def last_sent_by(world, user: str | None, contact: str | None) -> None:
    """The send path texted CONTACT for `user`, with the contact's email: the number remembers both."""
    text = SendRequest(
        request_id=f"r-{uuid.uuid4()}",
        account_id="acme",
        to=CONTACT,
        sender=OUR_NUMBER,
        body="Your order shipped",
        user_email=user,
        contact_email=contact,
    )
    state, _ = world.stores.numbers.load("acme", CONTACT)
    assert world.stores.numbers.claim_recipient(text, state.version, T0)


def run_jobs(world, receive_count: int = 1) -> dict:
    records = [
        {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": f"r-{i}",
            "body": job.model_dump_json(),
            "attributes": {"ApproximateReceiveCount": str(receive_count)},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:optout-send",
            "awsRegion": "us-east-1",
            "md5OfBody": "",
        }
        for i, job in enumerate(world.queue.jobs)
    ]
    return send_worker.handle({"Records": records})


def test_every_opt_out_and_opt_in_queues_one_job_and_bounces_do_not(world) -> None:
    texted(world, "STOP", "SM1")
    texted(world, "START", "SM2", T0 + timedelta(minutes=1))
    services.opt_out_manually(world.stores, world.queue, world.account, "+14155550124", "all", None, "admin", T0)
    report = services.receive_delivery_report  # a bounce is not an opt-out: no email
    from chalicelib.domain.models import DeliveryReport

    report(
        world.stores,
        world.queue,
        world.account,
        DeliveryReport(
            carrier="twilio",
            message_id="SM9",
            account_id="acme",
            to_phone="+14155550125",
            from_phone=OUR_NUMBER,
            status="undelivered",
            error_code="30003",
            occurred_at=T0,
            received_at=T0,
        ),
        Source.BOUNCE,
    )
    assert [(j.topic, j.source) for j in world.queue.jobs] == [
        ("opt_out", Source.KEYWORD),
        ("opt_in", Source.KEYWORD),
        ("opt_out", Source.MANUAL),
    ]
    assert world.stores.outbox.pending_jobs(10) == []


def test_a_stop_emails_the_sender_user_and_the_contact_once_each(world) -> None:
    last_sent_by(world, "ana@example.com", "bo@example.com")
    texted(world, "STOP", "SM1")
    assert run_jobs(world) == {"batchItemFailures": []}
    assert sorted(email.to for email in world.mailer.sent) == ["ana@example.com", "bo@example.com"]
    to_ana = next(e for e in world.mailer.sent if e.to == "ana@example.com")
    assert CONTACT in to_ana.subject and to_ana.sender == "alerts@acme.example"
    # SQS delivers the same job again: nobody gets a second email
    run_jobs(world)
    assert len(world.mailer.sent) == 2


def test_an_invalid_contact_email_gets_nothing_and_says_why(world) -> None:
    last_sent_by(world, "ana@example.com", "bo at example")
    texted(world, "STOP", "SM1")
    delivery = alerts.deliver(
        world.queue.jobs[0],
        world.account,
        world.stores,
        world.mailer,
        default_sender=None,
        api_base=None,
        now=T0,
    )
    assert delivery.sent == ("ana@example.com",)
    assert any("bo at example" in reason for reason in delivery.skipped)


def test_a_reply_is_emailed_to_the_user_who_last_texted_the_number(world) -> None:
    last_sent_by(world, "ana@example.com", "bo@example.com")
    texted(world, "running late <b>sorry</b>", "SM5")
    assert [j.topic for j in world.queue.jobs] == ["reply"]
    run_jobs(world)
    (email,) = world.mailer.sent
    assert email.to == "ana@example.com"
    assert "running late" in email.text and "SM5/unsubscribe" in email.text
    assert "<b>sorry</b>" not in email.html and "&lt;b&gt;sorry&lt;/b&gt;" in email.html


def test_keywords_are_not_reply_alerts(world) -> None:
    texted(world, "HELP", "SM1")
    assert world.queue.jobs == []


def test_nobody_to_tell_is_not_an_error(world) -> None:
    texted(world, "STOP", "SM1")
    assert run_jobs(world) == {"batchItemFailures": []}
    assert world.mailer.sent == []


def test_the_compliance_address_hears_of_every_opt_out(world) -> None:
    account, _, _ = upsert_account(
        world.stores.accounts,
        InMemorySecretStore(),
        world.parts.carriers,
        "acme",
        AccountSettingsIn(compliance_email="dpo@acme.example"),
        T0,
    )
    world.account = account
    texted(world, "STOP", "SM1")
    run_jobs(world)
    assert [e.to for e in world.mailer.sent] == ["dpo@acme.example"]


def test_when_the_queue_fails_the_opt_out_stands_and_the_job_waits_in_the_outbox(world) -> None:
    world.queue.fail = True
    result = texted(world, "STOP", "SM1")
    assert result.reply is not None
    assert world.stores.numbers.load("acme", CONTACT)[0].suppressed
    # the email job and the change events, both of the STOP's event
    assert [j.kind for j in world.stores.outbox.pending_jobs(10)] == ["notification", "change_events"]
    world.queue.fail = False
    assert alerts.flush_outbox(world.stores.outbox, world.queue) == 2
    assert [j.topic for j in world.queue.jobs] == ["opt_out"] and world.stores.outbox.pending_jobs(10) == []


def test_ses_throttling_retries_the_job_with_backoff(world) -> None:
    last_sent_by(world, "ana@example.com", None)
    texted(world, "STOP", "SM1")
    world.mailer.error = MailRetry("Maximum sending rate exceeded")
    response = run_jobs(world, receive_count=1)
    assert len(response["batchItemFailures"]) == 1 and world.queue.delays == [("r-0", 30)]
    world.mailer.error = None
    assert run_jobs(world) == {"batchItemFailures": []}
    assert [e.to for e in world.mailer.sent] == ["ana@example.com"]


def test_a_rejected_email_fails_the_job_so_it_ends_in_the_dead_letter_queue(world) -> None:
    last_sent_by(world, "ana@example.com", None)
    texted(world, "STOP", "SM1")
    world.mailer.error = MailRejected("Email address is not verified")
    assert len(run_jobs(world)["batchItemFailures"]) == 1
    assert world.stores.numbers.load("acme", CONTACT)[0].suppressed


def test_a_job_on_the_queue_is_plain_json(world) -> None:
    texted(world, "STOP", "SM1")
    body = json.loads(world.queue.jobs[0].model_dump_json())
    assert body["kind"] == "notification" and body["phone"] == CONTACT


def test_a_backlog_larger_than_one_page_leaves_the_outbox_in_one_sweep(world) -> None:
    # Given 250 STOPs stored while the queue was down: 250 events, each with its email job and its change events
    world.queue.fail = True
    for n in range(250):
        texted(world, "STOP", f"SM{n}", phone=f"+1415555{n:04d}")
    assert len(world.stores.outbox.pending_jobs(1000)) == 500
    # When the queue is back and the scheduled sweep runs once
    world.queue.fail = False
    assert outbox_worker.flush() == 500
    # Then nothing is left
    assert world.stores.outbox.pending_jobs(1000) == []


def test_a_sweep_stops_when_the_queue_fails_and_leaves_every_job_pending(world) -> None:
    world.queue.fail = True
    for n in range(150):
        texted(world, "STOP", f"SM{n}", phone=f"+1415555{n:04d}")
    assert alerts.drain_outbox(world.stores.outbox, world.queue, lambda: True) == 0
    assert len(world.stores.outbox.pending_jobs(1000)) == 300


def test_a_sweep_out_of_time_takes_one_page(world) -> None:
    world.queue.fail = True
    for n in range(150):
        texted(world, "STOP", f"SM{n}", phone=f"+1415555{n:04d}")
    world.queue.fail = False
    assert alerts.drain_outbox(world.stores.outbox, world.queue, lambda: False, limit=100) == 200
    assert len(world.stores.outbox.pending_jobs(1000)) == 100
