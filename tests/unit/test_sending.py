"""The send path (DESIGN rules 3 and 10) with in-memory fakes: the worker, the checks, the outcomes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from chalicelib import wiring
from chalicelib.domain import replies, sending, services
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
from chalicelib.domain.models import Contact, SmsResult, Source
from chalicelib.workers import send as send_worker
from tests.containers import fake_container
from tests.fakes import FixedClock, RecordingSmsProvider

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SENDER = "+14155550100"
OTHER_SENDER = "+14155550199"


@pytest.fixture
def world():
    provider = RecordingSmsProvider()
    parts = fake_container(provider=provider, clock=FixedClock(T0))
    settings = AccountSettingsIn(name="Acme", sms_provider="local")
    account, _, _ = upsert_account(parts.stores.accounts, parts.secrets, parts.carriers, "acme", settings, T0)

    class World:
        pass

    w = World()
    w.parts, w.stores, w.outbound, w.provider, w.queue, w.account = (
        parts,
        parts.stores,
        parts.stores.outbound,
        provider,
        parts.queue,
        account,
    )
    yield w
    wiring.use(None)


def request(to: str, request_id: str | None = None, **fields) -> dict:
    return {
        "request_id": request_id or f"req-{uuid.uuid4()}",
        "account_id": "acme",
        "to": to,
        "sender": SENDER,
        "body": "Your table is ready",
        "campaign_id": "dinner",
        "user_email": "ana@example.com",
        "contact_email": "bo@example.com",
        **fields,
    }


def sqs_event(*bodies: object, receive_count: int = 1) -> dict:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"receipt-{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:optout-send",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def sent_to(world) -> list[str]:
    return [message.to for _, message in world.provider.sent]


def test_rule10_suppressed_recipients_are_skipped_by_all_sender_and_group(world) -> None:
    # Given four suppressions of different scopes
    phones = [f"+1415555{n:04d}" for n in range(200, 206)]
    services.opt_out_manually(world.stores, world.queue, world.account, phones[0], "all", None, "admin", T0)
    services.opt_out_manually(
        world.stores, world.queue, world.account, phones[1], f"sender:{SENDER}", None, "admin", T0
    )
    services.opt_out_manually(
        world.stores, world.queue, world.account, phones[2], f"sender:{OTHER_SENDER}", None, "admin", T0
    )
    services.opt_out_manually(world.stores, world.queue, world.account, phones[3], "group:vip", None, "admin", T0)
    services.opt_out_manually(world.stores, world.queue, world.account, phones[4], "group:other", None, "admin", T0)
    # When a campaign to all six in group vip goes out
    response = send_worker.handle(sqs_event(*(request(p, groups=["vip"]) for p in phones)))
    # Then the all, sender and group suppressions block; the other sender's and other group's do not
    assert response == {"batchItemFailures": []}
    assert sorted(sent_to(world)) == [phones[2], phones[4], phones[5]]
    counts = world.outbound.campaign_counts("acme", "dinner")
    assert counts == {"sent": 3, "skipped:suppressed": 3}
    skipped = [r for r in world.outbound.records.values() if r.status == "skipped"]
    assert {r.blocked_by[0].scope for r in skipped} == {"all", f"sender:{SENDER}", "group:vip"}


def test_rule10_the_batch_reads_suppressions_once_not_per_message(world) -> None:
    world.stores.numbers.calls.clear()
    send_worker.handle(sqs_event(*(request(f"+1415555{n:04d}") for n in range(300, 400))))
    assert world.stores.numbers.calls.get("load_many") == 1
    assert world.stores.numbers.calls.get("load", 0) == 0
    assert len(world.provider.sent) == 100


def test_a_redelivered_request_is_sent_once(world) -> None:
    body = request("+14155550300", request_id="campaign-1:+14155550300")
    send_worker.handle(sqs_event(body))
    send_worker.handle(sqs_event(body))
    assert len(world.provider.sent) == 1
    assert world.outbound.campaign_counts("acme", "dinner") == {"sent": 1}


def test_a_poisoned_record_is_the_only_failure_reported(world) -> None:
    event = sqs_event(request("+14155550301"), "{not json", request("+14155550302"), {"account_id": "acme"})
    response = send_worker.handle(event)
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert failed == {event["Records"][1]["messageId"], event["Records"][3]["messageId"]}
    assert sorted(sent_to(world)) == ["+14155550301", "+14155550302"]


def test_an_unknown_account_fails_the_record(world) -> None:
    event = sqs_event(request("+14155550301", account_id="nobody"))
    response = send_worker.handle(event)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [event["Records"][0]["messageId"]]
    assert world.provider.sent == []


def test_rule10_an_opt_out_between_the_batch_read_and_the_send_is_honoured(world) -> None:
    # Given a batch whose states were read before the contact's STOP was stored
    phone = "+14155550310"
    event = sqs_event(request(phone))
    plan = send_worker.plan_batch(event["Records"], world.parts)
    services.opt_out_manually(world.stores, world.queue, world.account, phone, "all", None, "admin", T0)
    # When the record is sent with the state read before
    request_model = next(iter(plan.requests.values()))
    handled = sending.send(world.parts.send_deps, world.account, request_model, plan.states[("acme", phone)])
    # Then the claim sees the change, reads again, and skips
    assert handled.record.status == "skipped" and handled.first_time and world.provider.sent == []


def test_rule10_provider_opted_out_makes_a_carrier_suppression_and_counts_as_skipped(world) -> None:
    phone = "+14155550320"
    world.provider.answers[phone] = SmsResult(status="opted_out", error_code="21610")
    send_worker.handle(sqs_event(request(phone), request(phone)))
    state, _ = world.stores.numbers.load("acme", phone)
    assert state.suppressions["all"].source is Source.CARRIER
    # Only the first reached the provider; the second saw the new suppression
    assert sent_to(world) == [phone]
    assert world.outbound.campaign_counts("acme", "dinner") == {"skipped:carrier_opted_out": 1, "skipped:suppressed": 1}


def test_rule10_provider_unreachable_makes_a_bounce_and_counts_as_failed(world) -> None:
    phone = "+14155550330"
    world.provider.answers[phone] = SmsResult(status="unreachable", error_code="30003")
    send_worker.handle(sqs_event(request(phone)))
    state, _ = world.stores.numbers.load("acme", phone)
    assert state.suppressions["all"].source is Source.BOUNCE
    assert world.outbound.campaign_counts("acme", "dinner") == {"failed:unreachable": 1}


def test_a_retryable_provider_error_goes_back_to_the_queue_with_backoff_then_sends(world) -> None:
    phone = "+14155550340"
    world.provider.answers[phone] = SmsResult(status="retry", error_code="429", detail="Too Many Requests")
    body = request(phone, request_id="r-340")
    event = sqs_event(body, receive_count=2)
    response = send_worker.handle(event)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [event["Records"][0]["messageId"]]
    assert world.queue.delays == [("receipt-0", 60)]
    assert world.outbound.get("acme", "r-340").status == "retrying"
    # When SQS redelivers and the provider is fine again
    del world.provider.answers[phone]
    assert send_worker.handle(sqs_event(body))["batchItemFailures"] == []
    assert world.outbound.get("acme", "r-340").status == "sent"
    assert world.outbound.campaign_counts("acme", "dinner") == {"sent": 1}


def test_a_final_provider_error_fails_without_retry(world) -> None:
    phone = "+14155550350"
    world.provider.answers[phone] = SmsResult(status="failed", error_code="21606", detail="not a valid sender")
    response = send_worker.handle(sqs_event(request(phone)))
    assert response["batchItemFailures"] == []
    assert world.outbound.campaign_counts("acme", "dinner") == {"failed:provider_error": 1}


def test_the_number_remembers_who_texted_it_and_the_contacts_email(world) -> None:
    send_worker.handle(sqs_event(request("+14155550360")))
    assert world.stores.numbers.contact("acme", "+14155550360") == Contact(
        last_user_email="ana@example.com", contact_email="bo@example.com"
    )


def test_national_numbers_use_the_accounts_region(world) -> None:
    send_worker.handle(sqs_event(request("(415) 555-0370")))
    assert sent_to(world) == ["+14155550370"]


def stop_from(world, phone: str, sid: str):
    from chalicelib.domain.models import InboundMessage

    message = InboundMessage(
        carrier="telnyx",
        message_id=sid,
        account_id="acme",
        from_phone=phone,
        to_phone=SENDER,
        body="STOP",
        occurred_at=T0,
        received_at=T0,
    )
    return services.receive_inbound(world.stores, world.queue, world.account, message).record


def test_rule9_an_opt_out_confirmation_through_the_queue_reaches_the_suppressed_number_once(world) -> None:
    # Given a STOP stored for a carrier that cannot take a reply in its webhook answer
    phone = "+14155550380"
    confirmation = replies.confirmation(stop_from(world, phone, "m-1"), SENDER, world.account.replies.opt_out)
    # When its confirmation is queued twice
    send_worker.handle(sqs_event(confirmation.model_dump(mode="json"), confirmation.model_dump(mode="json")))
    # Then it is sent once, while an ordinary text to the number is still skipped
    send_worker.handle(sqs_event(request(phone)))
    assert [(m.to, m.body) for _, m in world.provider.sent] == [(phone, world.account.replies.opt_out)]


@pytest.mark.parametrize("which", ["unknown event", "another number's opt-out", "an opt-in"])
def test_rule9_a_confirmation_for_anything_but_the_numbers_own_opt_out_is_skipped(world, which: str) -> None:
    phone = "+14155550390"
    services.opt_out_manually(world.stores, world.queue, world.account, phone, "all", None, "admin", T0)
    if which == "unknown event":
        event_id = "telnyx:nope"
    elif which == "another number's opt-out":
        event_id = stop_from(world, "+14155550391", "m-2").event.event_id
    else:
        from chalicelib.domain.models import InboundMessage

        start = InboundMessage(
            carrier="telnyx",
            message_id="m-3",
            account_id="acme",
            from_phone=phone,
            to_phone=SENDER,
            body="START",
            occurred_at=T0,
            received_at=T0,
        )
        event_id = services.receive_inbound(world.stores, world.queue, world.account, start).record.event.event_id
    forged = request(phone, confirms_event=event_id)
    send_worker.handle(sqs_event(forged))
    assert world.provider.sent == []
    assert world.outbound.get("acme", forged["request_id"]).reason == "not_a_confirmation"


def test_a_reply_goes_back_through_the_carrier_it_came_from_unless_the_account_records_everything(world) -> None:
    # Given an account that sends through AWS and also has Twilio credentials
    settings = AccountSettingsIn(
        sms_provider="aws", carriers={"twilio": {"account_sid": "AC" + "1" * 32, "auth_token": "0123456789abcdef"}}
    )
    account, _, _ = upsert_account(
        world.stores.accounts, world.parts.secrets, world.parts.carriers, "acme", settings, T0
    )
    # Then a reply to a text that came in through Twilio goes back through Twilio
    assert world.parts.provider_for(account, "twilio").name == "twilio"
    # And an account on the local recorder sends nothing anywhere, replies included
    assert world.parts.provider_for(world.account, "twilio") is world.provider
    assert world.parts.provider_for(world.account, "aws") is world.provider


def test_a_retrying_send_says_why_and_on_the_last_receive_is_failed_and_counted_not_dropped(world) -> None:
    # Given a provider that cannot be reached
    phone = "+14155550400"
    world.provider.answers[phone] = SmsResult(status="retry", error_code="connection_error", detail="refused")
    body = request(phone, request_id="r-400")
    # When SQS delivers it: the log says why it waits
    send_worker.handle(sqs_event(body, receive_count=1))
    retrying = world.outbound.get("acme", "r-400")
    assert (retrying.status, retrying.reason, retrying.error_code, retrying.detail) == (
        "retrying",
        "provider_retry",
        "connection_error",
        "refused",
    )
    assert retrying.provider == world.provider.name
    # When the queue delivers it for the last time before it would dead-letter it
    response = send_worker.handle(sqs_event(body, receive_count=world.parts.settings.send_max_receives))
    # Then it is failed, with why, and the campaign counts it
    assert response["batchItemFailures"] == []
    final = world.outbound.get("acme", "r-400")
    assert (final.status, final.reason, final.error_code) == ("failed", "provider_unavailable", "connection_error")
    assert world.outbound.campaign_counts("acme", "dinner") == {"failed:provider_unavailable": 1}


def test_a_batch_that_runs_out_of_time_sends_what_fits_and_gives_the_rest_back_unsent(world) -> None:
    # Given an invocation with time for two texts only (each needs the carrier's timeout plus a margin)
    needed = world.parts.settings.carrier_http_timeout + send_worker.TIME_MARGIN_SECONDS
    left = iter([needed + 5, needed + 1, needed - 1, needed - 2])
    event = sqs_event(*(request(f"+1415555{n:04d}") for n in range(500, 504)))
    # When the batch is handled
    response = send_worker.handle(event, lambda: next(left))
    # Then two were sent, the other two come back soon, untried and unrecorded
    assert len(world.provider.sent) == 2
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert failed == [record["messageId"] for record in event["Records"][2:]]
    assert world.queue.delays == [("receipt-2", 1), ("receipt-3", 1)]
    assert world.outbound.campaign_counts("acme", "dinner") == {"sent": 2}
