"""DESIGN.md's "What users rely on", rule by rule, through the use cases with in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import services
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
from chalicelib.domain.errors import InvalidPhone, LiftRefused, NotSuppressed
from chalicelib.domain.models import (
    Account,
    DeliveryReport,
    ExtraKeywords,
    InboundMessage,
    Intent,
    Source,
)
from chalicelib.domain.phone import to_e164
from chalicelib.domain.ports import Stores
from tests.containers import RecordingQueue, registry
from tests.fakes import InMemorySecretStore, in_memory_stores

CONTACT = "+14155550123"
OUR_NUMBER = "+14155550100"
OTHER_SENDER = "+14155550199"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


#: Where the use cases queue email jobs and replies; these rules do not look at it.
QUEUE = RecordingQueue()


@pytest.fixture
def stores() -> Stores:
    return in_memory_stores()


def make_account(stores: Stores, account_id: str = "acme", **settings: object) -> Account:
    account, _, _ = upsert_account(
        stores.accounts, InMemorySecretStore(), registry(), account_id, AccountSettingsIn(name="Acme", **settings), T0
    )
    return account


def text(
    stores: Stores,
    account: Account,
    body: str,
    *,
    sid: str,
    at: datetime = T0,
    phone: str = CONTACT,
    to: str = OUR_NUMBER,
    carrier_confirms: bool = False,
) -> services.InboundResult:
    message = InboundMessage(
        carrier="twilio",
        message_id=sid,
        account_id=account.account_id,
        from_phone=phone,
        to_phone=to,
        body=body,
        occurred_at=at,
        received_at=at,
        carrier_confirms=carrier_confirms,
    )
    return services.receive_inbound(stores, QUEUE, account, message)


def state_of(stores: Stores, account: Account, phone: str = CONTACT):
    return stores.numbers.load(account.account_id, phone)[0]


def report(account: Account, code: str | None, sid: str = "SM1", status: str = "undelivered") -> DeliveryReport:
    return DeliveryReport(
        carrier="twilio",
        message_id=sid,
        account_id=account.account_id,
        to_phone=CONTACT,
        from_phone=OUR_NUMBER,
        status=status,
        error_code=code,
        occurred_at=T0,
        received_at=T0,
    )


# Rule 1: the phone number is the subject


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+14155550123", "US", "+14155550123"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("415.555.0123", "US", "+14155550123"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 20 7946 0958", "US", "+442079460958"),
    ],
)
def test_rule1_numbers_are_normalised_to_e164_with_the_account_region(raw: str, region: str, expected: str) -> None:
    assert to_e164(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "12", "not a number", "+1 415 555 01234567", "x" * 100])
def test_rule1_an_invalid_number_is_refused(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        to_e164(raw, "US")


def test_rule1_an_opt_out_follows_the_number_whatever_format_it_is_given_in(stores) -> None:
    account = make_account(stores)
    services.opt_out_manually(stores, QUEUE, account, to_e164("(415) 555-0123"), "all", None, "admin", T0)
    verdicts = services.check_numbers(stores, account, ["+1 415 555 0123", "4155550124"], None, [])
    assert [v.sendable for v in verdicts] == [False, True]


# Rule 2: accounts


def test_rule2_one_accounts_suppressions_do_not_touch_another(stores) -> None:
    acme, other = make_account(stores, "acme"), make_account(stores, "other")
    text(stores, acme, "STOP", sid="SM1")
    assert state_of(stores, acme).suppressed
    assert not state_of(stores, other).suppressed


# Rule 3: scopes


def test_rule3_a_message_is_blocked_by_all_its_sender_or_one_of_its_groups(stores) -> None:
    account = make_account(stores)
    services.opt_out_manually(stores, QUEUE, account, CONTACT, f"sender:{OUR_NUMBER}", None, "admin", T0)
    services.opt_out_manually(stores, QUEUE, account, CONTACT, "group:newsletter", None, "admin", T0)
    state = state_of(stores, account)
    assert state.blocking(OUR_NUMBER, ())
    assert state.blocking(OTHER_SENDER, ("newsletter",))
    assert not state.blocking(OTHER_SENDER, ("billing",))
    services.opt_out_manually(stores, QUEUE, account, CONTACT, "all", None, "admin", T0)
    assert state_of(stores, account).blocking(OTHER_SENDER, ("billing",))


# Rule 4: sources and who may lift what


@pytest.mark.parametrize("body", ["STOP"])
def test_rule4_an_admin_cannot_lift_the_contacts_own_opt_out(stores, body: str) -> None:
    account = make_account(stores)
    text(stores, account, body, sid="SM1")
    with pytest.raises(LiftRefused) as refused:
        services.lift(stores, QUEUE, account, CONTACT, "all", None, "admin", T0 + timedelta(minutes=1))
    assert refused.value.details["source"] == "keyword"
    assert state_of(stores, account).suppressed


def test_rule4_an_admin_cannot_lift_a_carrier_opt_out(stores) -> None:
    account = make_account(stores)
    services.receive_delivery_report(stores, QUEUE, account, report(account, "21610"), Source.CARRIER)
    with pytest.raises(LiftRefused):
        services.lift(stores, QUEUE, account, CONTACT, "all", None, "admin", T0)


@pytest.mark.parametrize("source", ["manual", "bounce"])
def test_rule4_an_admin_may_lift_manual_and_bounce_suppressions(stores, source: str) -> None:
    account = make_account(stores)
    if source == "manual":
        services.opt_out_manually(stores, QUEUE, account, CONTACT, "all", "asked by phone", "admin", T0)
    else:
        services.receive_delivery_report(stores, QUEUE, account, report(account, "30003"), Source.BOUNCE)
    state = services.lift(
        stores, QUEUE, account, CONTACT, "all", "number reassigned", "admin", T0 + timedelta(minutes=1)
    )
    assert not state.suppressed


def test_rule4_lifting_what_is_not_there_is_an_error_and_changes_nothing(stores) -> None:
    account = make_account(stores)
    with pytest.raises(NotSuppressed):
        services.lift(stores, QUEUE, account, CONTACT, "all", None, "admin", T0)
    assert stores.history.history(account.account_id, CONTACT) == []


def test_rule4_only_the_contact_lifts_their_own_opt_out_by_texting_start(stores) -> None:
    account = make_account(stores)
    text(stores, account, "STOP", sid="SM1")
    result = text(stores, account, "START", sid="SM2", at=T0 + timedelta(minutes=1))
    assert result.intent is Intent.OPT_IN
    assert not state_of(stores, account).suppressed


def test_rule4_an_inbound_message_lifts_a_bounce(stores) -> None:
    account = make_account(stores)
    services.receive_delivery_report(stores, QUEUE, account, report(account, "30005"), Source.BOUNCE)
    text(stores, account, "who is this?", sid="SM2", at=T0 + timedelta(minutes=1))
    assert not state_of(stores, account).suppressed
    assert stores.history.history(account.account_id, CONTACT)[0].changes[0].change == "lifted"


def test_rule4_a_contacts_start_does_not_lift_an_admins_manual_suppression(stores) -> None:
    account = make_account(stores)
    services.opt_out_manually(stores, QUEUE, account, CONTACT, "all", "legal hold", "admin", T0)
    text(stores, account, "START", sid="SM2", at=T0 + timedelta(minutes=1))
    assert state_of(stores, account).suppressions["all"].source is Source.MANUAL


def test_rule4_a_manual_opt_out_does_not_weaken_the_contacts_own(stores) -> None:
    account = make_account(stores)
    text(stores, account, "STOP", sid="SM1")
    services.opt_out_manually(stores, QUEUE, account, CONTACT, "all", None, "admin", T0 + timedelta(minutes=1))
    assert state_of(stores, account).suppressions["all"].source is Source.KEYWORD


# Rule 5: order and duplicates


def test_rule5_stop_then_start_delivered_in_reverse_order_ends_opted_in(stores) -> None:
    account = make_account(stores)
    # Given START at 10:01 delivered first, then STOP at 10:00
    text(stores, account, "START", sid="SM-start", at=T0 + timedelta(minutes=1))
    late = text(stores, account, "STOP", sid="SM-stop", at=T0)
    # Then the number is opted in, the stale STOP is in history as superseded, and no confirmation goes out
    assert not state_of(stores, account).suppressed
    assert late.record is not None and late.record.outcome == "superseded"
    assert late.reply is None
    assert [r.event.event_id for r in stores.history.history(account.account_id, CONTACT)] == [
        "twilio:SM-start",
        "twilio:SM-stop",
    ]


def test_rule5_the_same_webhook_delivered_three_times_leaves_one_event(stores) -> None:
    account = make_account(stores)
    replies = [text(stores, account, "STOP", sid="SM1").reply for _ in range(3)]
    assert len(stores.history.history(account.account_id, CONTACT)) == 1
    # Each delivery gets the same answer: a carrier delivers again only when the answer before did not reach it
    assert replies == [account.replies.opt_out] * 3


def test_rule5_a_delivery_report_applied_twice_is_one_event(stores) -> None:
    account = make_account(stores)
    for _ in range(2):
        services.receive_delivery_report(stores, QUEUE, account, report(account, "21610"), Source.CARRIER)
    assert len(stores.history.history(account.account_id, CONTACT)) == 1


# Rule 6: keywords (the recogniser itself is tested in test_keywords.py)


def test_rule6_stop_with_filler_suppresses_and_a_keyword_inside_a_sentence_does_not(stores) -> None:
    account = make_account(stores)
    text(stores, account, "stop by at 5", sid="SM1")
    assert not state_of(stores, account).suppressed
    text(stores, account, "Stop. Thank you", sid="SM2", at=T0 + timedelta(seconds=1))
    assert state_of(stores, account).suppressions["all"].source is Source.KEYWORD


def test_rule6_an_accounts_own_keyword_opts_out(stores) -> None:
    account = make_account(stores, keywords=ExtraKeywords(opt_out=("DESINSCRIBIR",)))
    text(stores, account, "desinscribir", sid="SM1")
    assert state_of(stores, account).suppressed


def test_rule6_yes_lifts_only_a_keyword_opt_out(stores) -> None:
    account = make_account(stores)
    # YES with nothing to lift is an ordinary reply: no event, no reply text
    result = text(stores, account, "YES", sid="SM1")
    assert result.intent is Intent.NONE and result.reply is None
    assert stores.history.history(account.account_id, CONTACT) == []
    # YES after a keyword STOP lifts it
    text(stores, account, "STOP", sid="SM2", at=T0 + timedelta(minutes=1))
    assert text(stores, account, "yes", sid="SM3", at=T0 + timedelta(minutes=2)).intent is Intent.OPT_IN
    assert not state_of(stores, account).suppressed


def test_rule6_yes_does_not_lift_a_carrier_opt_out(stores) -> None:
    account = make_account(stores)
    services.receive_delivery_report(stores, QUEUE, account, report(account, "21610"), Source.CARRIER)
    text(stores, account, "YES", sid="SM3", at=T0 + timedelta(minutes=2))
    assert state_of(stores, account).suppressions["all"].source is Source.CARRIER


# Rule 7: opt-outs in other words


def test_rule7_a_clear_request_in_other_words_suppresses_as_natural_language_with_the_reason(stores) -> None:
    account = make_account(stores)
    result = text(stores, account, "please stop texting me", sid="SM1")
    assert result.intent is Intent.OPT_OUT and result.reply == account.replies.opt_out
    assert state_of(stores, account).suppressions["all"].source is Source.NATURAL_LANGUAGE
    (record,) = stores.history.history(account.account_id, CONTACT)
    assert record.event.notes and "stop texting" in record.event.notes


def test_rule7_a_likely_opt_out_below_the_threshold_is_flagged_for_review_not_suppressed(stores) -> None:
    account = make_account(stores)
    result = text(stores, account, "not interested", sid="SM1")
    assert result.reply is None and not state_of(stores, account).suppressed
    (flagged,), _ = stores.inbound.list_inbound(account.account_id, None, 10, needs_review=True)
    assert flagged.message.message_id == "SM1" and flagged.needs_review and flagged.reason
    assert 0.6 <= flagged.confidence < 0.9


def test_rule7_unsubscribing_a_flagged_message_suppresses_and_empties_the_review_queue(stores) -> None:
    account = make_account(stores)
    text(stores, account, "not interested", sid="SM1")
    state = services.unsubscribe_from_message(stores, QUEUE, account, "SM1", None, "token:abc", T0)
    assert state.suppressions["all"].source is Source.NATURAL_LANGUAGE
    assert stores.inbound.list_inbound(account.account_id, None, 10, needs_review=True) == ([], None)
    assert stores.inbound.get_inbound(account.account_id, "SM1").review.resolution == "unsubscribed"


def test_rule7_dismissing_a_flagged_message_is_noted_in_history_and_changes_nothing(stores) -> None:
    account = make_account(stores)
    text(stores, account, "not interested", sid="SM1")
    logged = services.dismiss_review(stores, QUEUE, account, "SM1", "asking about the offer", "token:abc", T0)
    assert logged.review.resolution == "dismissed" and not state_of(stores, account).suppressed
    (note,) = stores.history.history(account.account_id, CONTACT)
    assert note.event.action.value == "note" and "asking about the offer" in note.event.notes
    assert stores.inbound.list_inbound(account.account_id, None, 10, needs_review=True) == ([], None)


def test_rule7_the_thresholds_are_account_settings(stores) -> None:
    account = make_account(stores, detector={"opt_out_threshold": 0.65, "review_threshold": 0.6})
    text(stores, account, "not interested", sid="SM1")
    assert state_of(stores, account).suppressions["all"].source is Source.NATURAL_LANGUAGE


def test_rule7_ordinary_replies_are_neither_suppressed_nor_flagged(stores) -> None:
    account = make_account(stores)
    for sid, body in enumerate(["stop by at 5", "the end of the month works", "cancel my 3pm appointment"]):
        text(stores, account, body, sid=f"SM{sid}")
    assert not state_of(stores, account).suppressed
    assert stores.inbound.list_inbound(account.account_id, None, 10, needs_review=True) == ([], None)


# Rule 8: scope of a texted opt-out


def test_rule8_texted_opt_out_is_account_wide_by_default(stores) -> None:
    account = make_account(stores)
    text(stores, account, "STOP", sid="SM1")
    assert set(state_of(stores, account).suppressions) == {"all"}


def test_rule8_sender_policy_opts_out_of_the_texted_number_only(stores) -> None:
    account = make_account(stores, opt_out_scope="sender")
    text(stores, account, "STOP", sid="SM1")
    state = state_of(stores, account)
    assert set(state.suppressions) == {f"sender:{OUR_NUMBER}"}
    assert not state.blocking(OTHER_SENDER)


def test_rule8_stopall_is_always_account_wide(stores) -> None:
    account = make_account(stores, opt_out_scope="sender")
    text(stores, account, "STOPALL", sid="SM1")
    assert set(state_of(stores, account).suppressions) == {"all"}


# Rule 9: replies


def test_rule9_one_confirmation_per_opt_out_with_the_accounts_text(stores) -> None:
    account = make_account(stores, replies={"opt_out": "Acme: unsubscribed."})
    assert text(stores, account, "STOP", sid="SM1").reply == "Acme: unsubscribed."
    # The same message delivered again is the same opt-out: its answer carries the same one confirmation (the carrier
    # sends a message again only when it did not get the answer before, so that confirmation never went out)
    assert text(stores, account, "STOP", sid="SM1").reply == "Acme: unsubscribed."
    assert len(stores.history.history(account.account_id, CONTACT)) == 1


def test_rule9_no_confirmation_when_the_carrier_confirms(stores) -> None:
    account = make_account(stores)
    result = text(stores, account, "STOP", sid="SM1", carrier_confirms=True)
    assert result.reply is None
    assert state_of(stores, account).suppressed


def test_rule9_help_gets_the_help_text_and_opt_in_the_resubscribed_note(stores) -> None:
    account = make_account(stores)
    assert text(stores, account, "HELP", sid="SM1").reply == account.replies.help
    assert text(stores, account, "START", sid="SM2").reply == account.replies.opt_in
    assert text(stores, account, "thanks!", sid="SM3").reply is None


# Rule 11: audit


def test_rule11_every_change_is_an_immutable_event_and_history_outlives_the_opt_in(stores) -> None:
    account = make_account(stores)
    text(stores, account, "STOP", sid="SM1")
    text(stores, account, "START", sid="SM2", at=T0 + timedelta(minutes=1))
    history = stores.history.history(account.account_id, CONTACT)
    assert [r.event.action.value for r in history] == ["opt_in", "opt_out"]
    stop = history[1]
    assert stop.event.source is Source.KEYWORD
    assert stop.event.actor == "twilio:SM1"
    assert stop.event.message == "STOP"
    assert stop.event.occurred_at == T0 and stop.event.received_at == T0
    assert [(c.scope, c.change) for c in stop.changes] == [("all", "suppressed")]


def test_rule11_manual_opt_out_records_who_and_why(stores) -> None:
    account = make_account(stores)
    services.opt_out_manually(stores, QUEUE, account, CONTACT, "group:events", "asked at the desk", "token:abc", T0)
    (record,) = stores.history.history(account.account_id, CONTACT)
    assert record.event.actor == "token:abc"
    assert record.event.notes == "asked at the desk"
    assert record.event.scopes == ("group:events",)


# Inbound log


def test_every_inbound_message_is_logged_once(stores) -> None:
    account = make_account(stores)
    for body, sid in [("STOP", "SM1"), ("hello", "SM2"), ("hello", "SM2"), ("HELP", "SM3")]:
        text(stores, account, body, sid=sid)
    logged, _ = stores.inbound.list_inbound(account.account_id, None, 10)
    assert sorted(entry.message.message_id for entry in logged) == ["SM1", "SM2", "SM3"]
    assert {entry.message.message_id: entry.intent for entry in logged}["SM1"] is Intent.OPT_OUT


def test_unsubscribe_from_message_is_the_contacts_own_opt_out(stores) -> None:
    account = make_account(stores)
    text(stores, account, "who gave you this number", sid="SM9")
    state = services.unsubscribe_from_message(stores, QUEUE, account, "SM9", "read as a stop", "token:abc", T0)
    assert state.suppressions["all"].source is Source.NATURAL_LANGUAGE
    with pytest.raises(LiftRefused):
        services.lift(stores, QUEUE, account, CONTACT, "all", None, "admin", T0)


# --- long messages in parts ---------------------------------------------------------------------------------------


def part_of(account: Account, body: str, number: int, total: int, reference: str = "ref-1") -> InboundMessage:
    from chalicelib.domain.models import MessagePart

    return InboundMessage(
        carrier="vonage",
        message_id=f"{reference}-{number}",
        account_id=account.account_id,
        from_phone=CONTACT,
        to_phone=OUR_NUMBER,
        body=body,
        occurred_at=T0,
        received_at=T0,
        part=MessagePart(reference=reference, number=number, total=total),
    )


def test_rule7_a_long_message_is_read_whole_once_every_part_has_come_in_any_order(stores) -> None:
    account = make_account(stores)
    # Given "Please stop texting me" delivered in two parts, the second first
    first = services.receive_inbound(stores, QUEUE, account, part_of(account, " texting me", 2, 2))
    # Then nothing is decided on half a message
    assert first.intent is Intent.NONE and not state_of(stores, account).suppressed
    # When the other part comes, the whole message is read: an opt-out in other words
    whole = services.receive_inbound(stores, QUEUE, account, part_of(account, "Please stop", 1, 2))
    assert whole.intent is Intent.OPT_OUT
    assert state_of(stores, account).suppressions["all"].source is Source.NATURAL_LANGUAGE
    (record,) = stores.history.history(account.account_id, CONTACT)
    assert record.event.message == "Please stop texting me" and record.event.event_id == "vonage:ref-1-1"
    # And a part delivered again is the same event, applied once
    assert services.receive_inbound(stores, QUEUE, account, part_of(account, " texting me", 2, 2)).duplicate
    assert len(stores.history.history(account.account_id, CONTACT)) == 1


def test_rule9_start_from_a_number_an_admin_suppressed_is_not_told_it_is_resubscribed(stores) -> None:
    # Given an admin's manual suppression, which the contact's START does not lift (rule 4)
    account = make_account(stores)
    services.opt_out_manually(stores, QUEUE, account, CONTACT, "all", "legal hold", "admin", T0)
    # When the contact texts START
    result = text(stores, account, "START", sid="SM2", at=T0 + timedelta(minutes=1))
    # Then the reply is true: the number stays unsubscribed
    assert state_of(stores, account).suppressed
    assert result.reply == account.replies.opt_in_blocked != account.replies.opt_in


def test_unsubscribing_a_plain_reply_records_the_admins_act_not_the_detectors_no(stores) -> None:
    account = make_account(stores)
    text(stores, account, "Thanks!", sid="SM1")
    services.unsubscribe_from_message(stores, QUEUE, account, "SM1", None, "admin", T0 + timedelta(minutes=1))
    (record,) = stores.history.history(account.account_id, CONTACT)
    assert record.event.notes == "unsubscribed from this message"
    assert "no opt-out" not in (record.event.notes or "")
