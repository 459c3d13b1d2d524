"""Replies for carriers whose webhook answer cannot carry one: queued through the send path, once per event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain import services
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
from chalicelib.domain.errors import StoreUnavailable
from chalicelib.domain.models import InboundMessage
from tests.containers import RecordingQueue, registry
from tests.fakes import InMemorySecretStore, in_memory_stores

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
CONTACT = "+14155550123"
OUR_NUMBER = "+14155550100"


@pytest.fixture
def world():
    stores, queue = in_memory_stores(), RecordingQueue()
    account, _, _ = upsert_account(
        stores.accounts, InMemorySecretStore(), registry(), "acme", AccountSettingsIn(name="Acme"), T0
    )
    return type("World", (), {"stores": stores, "queue": queue, "account": account})()


def texted(
    world, body: str, message_id: str, carrier_confirms: bool = False, *, in_answer: bool = False
) -> services.InboundResult:
    message = InboundMessage(
        carrier="twilio" if in_answer else "aws",
        message_id=message_id,
        account_id="acme",
        from_phone=CONTACT,
        to_phone=OUR_NUMBER,
        body=body,
        occurred_at=T0,
        received_at=T0,
        carrier_confirms=carrier_confirms,
    )
    return services.receive_inbound(world.stores, world.queue, world.account, message, reply_in_answer=in_answer)


def test_rule9_a_stop_is_confirmed_through_the_send_path_back_through_the_carrier_it_came_from(world) -> None:
    result = texted(world, "STOP", "m-1")
    assert result.reply is None  # nothing for the webhook's answer to carry
    (confirmation,) = world.queue.requests
    assert confirmation.request_id == "confirm:aws:m-1" and confirmation.confirms_event == "aws:m-1"
    assert (confirmation.to, confirmation.sender, confirmation.provider) == (CONTACT, OUR_NUMBER, "aws")
    assert confirmation.body == world.account.replies.opt_out


def test_rule9_a_redelivered_stop_queues_the_same_confirmation_which_the_send_path_sends_once(world) -> None:
    texted(world, "STOP", "m-1")
    again = texted(world, "STOP", "m-1")
    assert again.duplicate
    assert [r.request_id for r in world.queue.requests] == ["confirm:aws:m-1", "confirm:aws:m-1"]
    assert len(world.stores.history.history("acme", CONTACT)) == 1


def test_rule9_a_stop_redelivered_after_its_answer_was_lost_is_confirmed_in_the_answer_to_the_retry(world) -> None:
    # A carrier whose answer carries the reply (Twilio's TwiML) sends a message again only when it did not get our
    # first answer (a timeout, a 5xx): the confirmation in that answer never went out. The stored STOP reads back as
    # a duplicate; the answer to the retry carries the same confirmation, and nothing is stored twice.
    first = texted(world, "STOP", "SM1", in_answer=True)
    again = texted(world, "STOP", "SM1", in_answer=True)
    assert again.duplicate
    assert first.reply == again.reply == world.account.replies.opt_out
    assert world.queue.requests == []  # in the answer, not through the send path
    assert len(world.stores.history.history("acme", CONTACT)) == 1


def test_a_start_redelivered_after_its_answer_was_lost_gets_the_same_answer(world) -> None:
    texted(world, "STOP", "SM1", in_answer=True)
    first = texted(world, "START", "SM2", in_answer=True)
    again = texted(world, "START", "SM2", in_answer=True)
    assert first.reply == again.reply == world.account.replies.opt_in


def test_help_and_start_are_answered_as_ordinary_texts(world) -> None:
    texted(world, "HELP", "m-1")
    texted(world, "STOP", "m-2")
    texted(world, "START", "m-3")
    assert [(r.request_id, r.body, r.confirms_event) for r in world.queue.requests] == [
        ("reply:aws:m-1", world.account.replies.help, None),
        ("confirm:aws:m-2", world.account.replies.opt_out, "aws:m-2"),
        ("reply:aws:m-3", world.account.replies.opt_in, None),
    ]


def test_rule9_no_confirmation_when_the_carrier_already_confirmed(world) -> None:
    texted(world, "STOP", "m-1", carrier_confirms=True)
    assert world.queue.requests == []
    assert world.stores.numbers.load("acme", CONTACT)[0].suppressed


def test_an_ordinary_reply_queues_no_text(world) -> None:
    texted(world, "running late", "m-1")
    assert world.queue.requests == []


def test_rule12_a_confirmation_the_queue_refused_is_a_5xx_and_the_redelivery_queues_it(world) -> None:
    # Given SQS refuses the confirmation of a stored STOP
    world.queue.fail = True
    with pytest.raises(StoreUnavailable):
        texted(world, "STOP", "m-1")
    # Then the opt-out stands (it was stored first)
    assert world.stores.numbers.load("acme", CONTACT)[0].suppressed
    # And when the carrier retries, the confirmation is queued
    world.queue.fail = False
    texted(world, "STOP", "m-1")
    assert [r.request_id for r in world.queue.requests] == ["confirm:aws:m-1"]


def test_replies_to_two_long_message_ids_with_a_common_beginning_are_two_texts(world) -> None:
    # Given two STOPs whose carrier message ids share their first 120 characters
    texted(world, "STOP", "m" * 120 + "-first")
    texted(world, "STOP", "m" * 120 + "-second")
    # Then each has its own confirmation (a cut-off id would have made the second a duplicate of the first)
    ids = [request.request_id for request in world.queue.requests]
    assert len(set(ids)) == 2 and all(len(request_id) <= 128 for request_id in ids)
