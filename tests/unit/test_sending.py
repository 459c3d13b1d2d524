"""The send path (DESIGN rules 3 and 10) with in-memory fakes: the worker, the checks, the outcomes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import wiring
from chalicelib.domain import replies, sending, services
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
from chalicelib.domain.models import Contact, SmsResult, Source
from chalicelib.workers import send as send_worker
from tests.containers import fake_container
from tests.fakes import FixedClock, RecordingSmsProvider
from tests.lambda_events import sqs_event

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
    # and the outbound log's records of the batch's requests once, too
    assert world.outbound.calls["get_many"] == 1
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


# --- a request reaches the provider once, however often and whenever it is delivered ---------------------------


def while_sending(world, action) -> None:
    """Run `action` once, while the provider is sending the next text (another worker at the same moment)."""
    send = world.provider.send
    done: list[bool] = []

    def sending_with_action(message):
        if not done:
            done.append(True)
            action()
        return send(message)

    world.provider.send = sending_with_action


def test_a_duplicate_delivered_while_the_first_is_at_the_provider_waits_and_is_not_sent_again(world) -> None:
    # Given a request whose second delivery arrives while the first is at the provider
    body = request("+14155550600", request_id="r-600")
    second: list[dict] = []
    while_sending(world, lambda: second.append(send_worker.handle(sqs_event(body, receive_count=1))))
    # When the first is handled
    assert send_worker.handle(sqs_event(body))["batchItemFailures"] == []
    # Then the second was given back to the queue for later, unsent and unrecorded
    assert [len(response["batchItemFailures"]) for response in second] == [1]
    assert world.queue.delays == [("receipt-0", 30)]
    # And when it comes back it finds the outcome: one text, counted once
    assert send_worker.handle(sqs_event(body, receive_count=2))["batchItemFailures"] == []
    assert sent_to(world) == ["+14155550600"]
    assert world.outbound.get("acme", "r-600").status == "sent"
    assert world.outbound.campaign_counts("acme", "dinner") == {"sent": 1}


def test_a_duplicate_read_in_its_batch_before_the_first_claimed_is_stopped_by_the_claim(world) -> None:
    # Given a second delivery whose batch read the number and the log before the first delivery did anything
    phone = "+14155550610"
    body = request(phone, request_id="r-610")
    event = sqs_event(body)
    plan = send_worker.plan_batch(event["Records"], world.parts)
    # When the first is sent and recorded, and another request to the number is claimed after it
    send_worker.handle(sqs_event(body))
    send_worker.handle(sqs_event(request(phone, request_id="r-611")))
    # Then the second delivery, going on from its read, finds the first's claim and its outcome: nothing is sent
    request_model = next(iter(plan.requests.values()))
    handled = sending.send(
        world.parts.send_deps,
        world.account,
        request_model,
        plan.states[("acme", phone)],
        recorded=plan.recorded.get(("acme", "r-610")),
    )
    assert (handled.record.status, handled.first_time) == ("sent", False)
    assert sent_to(world) == [phone, phone]
    assert [m.request_id for _, m in world.provider.sent] == ["r-610", "r-611"]


def test_a_duplicate_after_the_first_was_sent_and_another_text_went_to_the_number_is_not_sent(world) -> None:
    # Given a request sent, then another request to the same number sent
    phone = "+14155550620"
    body = request(phone, request_id="r-620")
    send_worker.handle(sqs_event(body))
    world.parts.clock.advance(60)
    send_worker.handle(sqs_event(request(phone, request_id="r-621")))
    # When the first is delivered again, a minute later and (a producer sending it again) two days later
    world.parts.clock.advance(60)
    assert send_worker.handle(sqs_event(body, receive_count=2))["batchItemFailures"] == []
    world.parts.clock.advance(2 * 24 * 3600)
    send_worker.handle(sqs_event(request(phone, request_id="r-622")))  # this claim forgets the old ones
    state, _ = world.stores.numbers.load("acme", phone)
    assert set(state.recent_sends) == {"r-622"}
    assert send_worker.handle(sqs_event(body))["batchItemFailures"] == []
    # Then it was sent once, and counted once
    assert [m.request_id for _, m in world.provider.sent] == ["r-620", "r-621", "r-622"]
    assert world.outbound.campaign_counts("acme", "dinner") == {"sent": 3}


def test_a_delivery_stopped_after_its_claim_is_not_sent_again_and_is_recorded_on_the_last_attempt(world) -> None:
    # Given a delivery that claimed its recipient and stopped before it recorded anything (the function died
    # during the provider call: here the provider raises)
    phone = "+14155550630"
    body = request(phone, request_id="r-630")

    def dies(message):
        world.provider.sent.append((0.0, message))
        raise RuntimeError("the function timed out")

    world.provider.send = dies
    assert len(send_worker.handle(sqs_event(body))["batchItemFailures"]) == 1
    del world.provider.send
    # When SQS delivers it again, then it is not sent again: it goes back to the queue
    last = world.parts.settings.send_max_receives
    for receives in range(2, last):
        response = send_worker.handle(sqs_event(body, receive_count=receives))
        assert len(response["batchItemFailures"]) == 1
        assert world.outbound.get("acme", "r-630") is None
    # and on the last attempt it is recorded as failed, its outcome unknown, and counted: nothing silently dropped
    assert send_worker.handle(sqs_event(body, receive_count=last))["batchItemFailures"] == []
    assert sent_to(world) == [phone]
    record = world.outbound.get("acme", "r-630")
    assert record is not None and (record.status, record.reason) == ("failed", "outcome_unknown")
    assert world.outbound.campaign_counts("acme", "dinner") == {"failed:outcome_unknown": 1}


def test_a_request_given_back_by_the_provider_forgets_its_claim_and_is_sent_on_redelivery(world) -> None:
    phone = "+14155550640"
    world.provider.answers[phone] = SmsResult(status="retry", error_code="429")
    body = request(phone, request_id="r-640")
    assert len(send_worker.handle(sqs_event(body))["batchItemFailures"]) == 1
    state, _ = world.stores.numbers.load("acme", phone)
    assert state.recent_sends == {}
    assert world.outbound.get("acme", "r-640").status == "retrying"
    del world.provider.answers[phone]
    assert send_worker.handle(sqs_event(body, receive_count=2))["batchItemFailures"] == []
    assert [m.request_id for _, m in world.provider.sent] == ["r-640", "r-640"]  # the first call was refused
    assert world.outbound.campaign_counts("acme", "dinner") == {"sent": 1}


def test_rule10_an_opt_out_while_a_text_is_at_the_provider_does_not_make_its_duplicate_a_second_outcome(world) -> None:
    # Given a text at the provider when the contact's opt-out is stored, and its duplicate delivered just then
    phone = "+14155550650"
    body = request(phone, request_id="r-650")
    second: list[dict] = []

    def opt_out_and_duplicate() -> None:
        services.opt_out_manually(world.stores, world.queue, world.account, phone, "all", None, "admin", T0)
        second.append(send_worker.handle(sqs_event(body)))

    while_sending(world, opt_out_and_duplicate)
    send_worker.handle(sqs_event(body))
    # Then the duplicate recorded nothing (it is not `skipped`): the text's outcome is the one that went out
    assert [len(response["batchItemFailures"]) for response in second] == [1]
    assert world.outbound.get("acme", "r-650").status == "sent"
    assert world.outbound.campaign_counts("acme", "dinner") == {"sent": 1}
    # And a later text to the number is skipped
    send_worker.handle(sqs_event(request(phone, request_id="r-651")))
    assert world.outbound.get("acme", "r-651").status == "skipped"


def test_a_duplicate_that_read_the_number_suppressed_before_an_opt_in_is_sent_at_most_once_and_counted_once(
    world,
) -> None:
    # Given a suppressed number, and a delivery of a request whose batch read it suppressed
    phone = "+14155550660"
    services.opt_out_manually(world.stores, world.queue, world.account, phone, "all", None, "admin", T0)
    body = request(phone, request_id="r-660")
    plan = send_worker.plan_batch(sqs_event(body)["Records"], world.parts)
    stale = next(iter(plan.requests.values()))
    # When the suppression is lifted, another delivery reads the number and sends, and while it is at the provider
    # the first goes on from its read and records the request skipped
    services.lift(world.stores, world.queue, world.account, phone, "all", None, "admin", T0 + timedelta(seconds=1))
    skipped: list[sending.Handled] = []
    while_sending(
        world,
        lambda: skipped.append(
            sending.send(world.parts.send_deps, world.account, stale, plan.states[("acme", phone)], recorded=None)
        ),
    )
    assert send_worker.handle(sqs_event(body))["batchItemFailures"] == []
    # Then the provider had the text once, and the request has one outcome, counted once: the first recorded
    assert sent_to(world) == [phone]
    assert [(h.record.status, h.first_time) for h in skipped] == [("skipped", True)]
    assert world.outbound.get("acme", "r-660").status == "skipped"
    assert world.outbound.campaign_counts("acme", "dinner") == {}  # the worker counts only what it recorded


def test_a_queued_request_is_normalised_again(world) -> None:
    # A number off the queue is read again, E.164 or not: producers may queue requests directly
    event = sqs_event(request("(415) 555-0380"), request("+14155550381"), request("415 555"))
    plan = send_worker.plan_batch(event["Records"], world.parts)
    assert [r.to for r in plan.requests.values()] == ["+14155550380", "+14155550381"]
    assert plan.problems[event["Records"][2]["messageId"]].startswith("invalid_phone")


# --- defects found in review: what only the service's own confirmation may do -------------------------------------


def test_a_send_request_from_the_api_naming_an_opt_out_it_confirms_is_refused(world) -> None:
    # Given a contact who opted out, and the opt-out's event id (shown by GET .../numbers/{phone}/history)
    from chalicelib.api.schemas import SendsIn

    services.opt_out_manually(world.stores, world.queue, world.account, "+14155550777", "all", None, "admin", T0)
    event_id = world.stores.history.history("acme", "+14155550777")[0].event.event_id
    # When a CRM posts a text that says it confirms that opt-out
    raw = request("+14155550777", "promo-1", body="50% OFF today only!", confirms_event=event_id)
    valid, rejected = SendsIn(requests=[raw]).parse(world.account)
    # Then the API refuses it: only the service's own confirmation may reach a suppressed number
    assert valid == [] and len(rejected) == 1


def test_a_queued_request_naming_an_opt_out_it_confirms_does_not_reach_the_suppressed_number(world) -> None:
    # Given a contact who opted out
    services.opt_out_manually(world.stores, world.queue, world.account, "+14155550777", "all", None, "admin", T0)
    event_id = world.stores.history.history("acme", "+14155550777")[0].event.event_id
    # When a producer puts on the send queue its own text that names that opt-out as what it confirms
    send_worker.handle(sqs_event(request("+14155550777", "promo-1", body="50% OFF", confirms_event=event_id)))
    # Then nothing is sent, and the log says why
    assert world.provider.sent == []
    record = world.stores.outbound.get("acme", "promo-1")
    assert record is not None and (record.status, record.reason) == ("skipped", "not_a_confirmation")


def test_a_queued_request_to_another_spelling_of_a_suppressed_number_is_skipped(world) -> None:
    # Given a German mobile that opted out
    services.opt_out_manually(world.stores, world.queue, world.account, "+4915112345678", "all", None, "admin", T0)
    # When a producer queues a text to the same number written with its trunk 0, E.164-shaped but not canonical
    send_worker.handle(sqs_event(request("+49015112345678", "promo-2")))
    # Then the number is recognised and nothing is sent
    assert world.provider.sent == []
    record = world.stores.outbound.get("acme", "promo-2")
    assert record is not None and record.status == "skipped" and record.request.to == "+4915112345678"


# --- defects found in review: claims on a busy number, and a claim whose outcome was never stored -------------------


def test_a_number_texted_all_day_keeps_at_most_twenty_claims_and_a_claim_forgets_at_most_a_hundred(world) -> None:
    # Given a number texted 30 times, one batch after another (an alerts handset, say)
    for n in range(30):
        send_worker.handle(sqs_event(request("+14155550889", f"alert-{n}")))
    assert len(world.provider.sent) == 30
    # Then its state item keeps only the newest claims, so it cannot outgrow DynamoDB's item size (a batch's own
    # texts to one number are claimed on the state the batch read: at most a batch's worth more)
    state, _ = world.stores.numbers.load("acme", "+14155550889")
    assert len(state.recent_sends) == sending.MAX_CLAIMS_KEPT
    assert "alert-29" in state.recent_sends and "alert-0" not in state.recent_sends
    # And a claim after 600 claims of a day ago forgets 100 of them at once (DynamoDB's 4 KB expression limit)
    stale = state.model_copy(update={"recent_sends": {f"old-{n}": int(T0.timestamp()) - 90_000 for n in range(600)}})
    assert len(sending._forgotten(stale, T0)) == sending.MAX_FORGOTTEN_PER_CLAIM


def test_the_claim_update_forgetting_the_most_claims_stays_within_dynamodbs_4_kb_expression_limit() -> None:
    from chalicelib.adapters.dynamodb.numbers import DynamoDBNumberStore
    from chalicelib.domain.models import SendRequest

    class Capture:
        def update_item(self, **kwargs):
            self.kwargs = kwargs
            return {}

    client = Capture()
    text = SendRequest(request_id="next", account_id="acme", to="+14155550889", sender=SENDER, body="hi")
    forget = [f"{n:03d}" + "x" * 125 for n in range(sending.MAX_FORGOTTEN_PER_CLAIM)]
    DynamoDBNumberStore(client, "t").claim_recipient(text, 3, T0, forget=forget)
    assert len(client.kwargs["UpdateExpression"].encode()) <= 4096


def test_a_text_whose_outcome_could_not_be_stored_is_recorded_and_counted_on_the_last_attempt(world) -> None:
    # Given a text whose outcome write failed once after the provider took it
    from chalicelib.domain.errors import StoreUnavailable

    body = request("+14155550991", request_id="dinner:+14155550991")
    finish, calls = world.outbound.finish, []

    def throttled_once(record):
        calls.append(record)
        if len(calls) == 1:
            raise StoreUnavailable("throttled")
        return finish(record)

    world.outbound.finish = throttled_once
    assert len(send_worker.handle(sqs_event(body, receive_count=1))["batchItemFailures"]) == 1
    # When SQS delivers it again, up to its last attempt
    for receives in range(2, 6):
        send_worker.handle(sqs_event(body, receive_count=receives))
    # Then it was sent once, and on the last attempt it is in the log and the campaign's counts, as unknown
    assert len(world.provider.sent) == 1
    record = world.outbound.get("acme", "dinner:+14155550991")
    assert record is not None and (record.status, record.reason) == ("failed", "outcome_unknown")
    assert world.outbound.campaign_counts("acme", "dinner") == {"failed:outcome_unknown": 1}


def test_a_failed_campaign_counter_write_fails_no_text_and_says_what_was_not_added(world, caplog, capsys) -> None:
    # Given a batch whose texts are all sent and recorded, and a counter write DynamoDB refuses
    from chalicelib.domain.errors import StoreUnavailable

    def throttled(*args, **kwargs):
        raise StoreUnavailable("throttled")

    world.outbound.count = throttled
    bodies = [request(f"+1415555{n:04d}") for n in range(500, 510)]
    # When the batch is handled
    response = send_worker.handle(sqs_event(*bodies))
    # Then no record goes back to the queue (a redelivery would find every text handled and count nothing), the
    # texts went once, and the error says which counts to add
    assert response["batchItemFailures"] == []
    assert len(world.provider.sent) == 10
    errors = [r for r in caplog.records if r.getMessage() == "campaign counts not added"]
    assert len(errors) == 1 and errors[0].counts == {"sent": 10} and errors[0].campaign_id == "dinner"
    # And the metric the stack's alarm watches is written once, in the service's one series
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CampaignCountsNotAdded"' in line]
    assert len(metrics) == 1 and metrics[0]["CampaignCountsNotAdded"] == [1.0]
    (directive,) = metrics[0]["_aws"]["CloudWatchMetrics"]
    assert (directive["Namespace"], directive["Dimensions"]) == ("SmsOptOut", [["service"]])
