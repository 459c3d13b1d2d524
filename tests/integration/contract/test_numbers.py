"""NumberStore: the same cases on the fake and on DynamoDB."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain import policy
from chalicelib.domain.errors import ConcurrentUpdate, DuplicateEvent, InvalidRequest
from chalicelib.domain.models import Action, CampaignText, Contact, Event, NumberState
from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import (
    ACCOUNT,
    PHONE,
    T0,
    commit,
    inbound,
    opt_in,
    opt_out,
    send_request,
)


def test_an_unknown_number_is_empty_and_unseen(stores: Stores) -> None:
    state, seen = stores.numbers.load(ACCOUNT, PHONE, "twilio:SM1")
    assert state == NumberState(account_id=ACCOUNT, phone=PHONE) and not seen


def test_commit_stores_the_state_and_the_event_and_the_event_is_seen(stores: Stores) -> None:
    commit(stores, opt_out(PHONE, "twilio:SM1"))
    state, seen = stores.numbers.load(ACCOUNT, PHONE, "twilio:SM1")
    assert seen and state.version == 1 and set(state.suppressions) == {"all"}
    assert [r.event.event_id for r in stores.history.history(ACCOUNT, PHONE)] == ["twilio:SM1"]


def test_a_repeated_event_is_refused_as_duplicate(stores: Stores) -> None:
    event = opt_out(PHONE, "twilio:SM1")
    state, _ = stores.numbers.load(ACCOUNT, event.phone)
    new_state, record = policy.apply(state, event)
    stores.numbers.commit(new_state, record)
    newer, _ = stores.numbers.load(ACCOUNT, event.phone)
    with pytest.raises(DuplicateEvent):
        stores.numbers.commit(newer, record)


def test_a_stale_version_is_a_concurrent_update(stores: Stores) -> None:
    first = opt_out(PHONE, "twilio:SM1")
    second = opt_out(PHONE, "twilio:SM2", scope="group:x")
    state, _ = stores.numbers.load(ACCOUNT, first.phone)
    stores.numbers.commit(*policy.apply(state, first))
    with pytest.raises(ConcurrentUpdate):
        stores.numbers.commit(*policy.apply(state, second))
    assert len(stores.history.history(ACCOUNT, first.phone)) == 1


def test_load_many_reads_more_than_one_hundred_numbers(stores: Stores) -> None:
    phones = [f"+1415555{n:04d}" for n in range(150)]
    for phone in phones[::10]:
        commit(stores, opt_out(phone, f"e-{phone}"))
    states = stores.numbers.load_many(ACCOUNT, phones + phones[:5])
    assert len(states) == 150
    assert sorted(p for p, s in states.items() if s.suppressed) == sorted(phones[::10])


def test_suppressed_numbers_are_listed_page_by_page_and_lifted_ones_drop_out(stores: Stores) -> None:
    phones = [f"+1415555{n:04d}" for n in range(7)]
    for phone in phones:
        commit(stores, opt_out(phone, f"e-{phone}"))
    lift = Event(
        event_id="lift-1",
        account_id=ACCOUNT,
        phone=phones[0],
        action=Action.LIFT,
        scopes=("all",),
        occurred_at=T0 + timedelta(minutes=1),
        received_at=T0 + timedelta(minutes=1),
        actor="admin",
    )
    # A keyword opt-out is not liftable by an admin: the lift changes nothing
    assert commit(stores, lift).suppressed
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = stores.numbers.list_suppressed(ACCOUNT, cursor, 3)
        seen.extend(state.phone for state in page)
        if cursor is None:
            break
    assert seen == sorted(phones)
    assert stores.numbers.list_suppressed("other", None, 10) == ([], None)


def test_a_number_whose_last_suppression_is_lifted_leaves_the_suppressed_list(stores: Stores) -> None:
    # Given two opted-out numbers
    commit(stores, opt_out(PHONE, "e-1"))
    commit(stores, opt_out("+14155550124", "e-2"))
    # When the first texts START
    assert not commit(stores, opt_in(PHONE, "e-3", at=T0 + timedelta(minutes=1))).suppressed
    # Then only the second is listed
    page, cursor = stores.numbers.list_suppressed(ACCOUNT, None, 10)
    assert [state.phone for state in page] == ["+14155550124"] and cursor is None


def test_a_foreign_or_forged_cursor_is_refused(stores: Stores) -> None:
    for n in range(3):
        commit(stores, opt_out(f"+1415555{n:04d}", f"e-{n}"))
    with pytest.raises(InvalidRequest):
        stores.numbers.list_suppressed(ACCOUNT, "not-a-cursor!", 2)


def test_commit_logs_the_inbound_message_in_the_same_write(stores: Stores) -> None:
    commit(stores, opt_out(PHONE, "twilio:SM7"), inbound("SM7", body="STOP"))
    assert stores.inbound.get_inbound(ACCOUNT, "SM7") is not None


# --- claim_recipient and contact -----------------------------------------------------------------


def test_a_number_nobody_texted_has_no_contact_details(stores: Stores) -> None:
    commit(stores, opt_out(PHONE, "e-1"))
    assert stores.numbers.contact(ACCOUNT, PHONE) == Contact()
    assert stores.numbers.contact(ACCOUNT, "+14155550124") == Contact()


def test_claim_recipient_at_the_read_version_records_the_contact_details(stores: Stores) -> None:
    # Given a number at version 1
    commit(stores, opt_out(PHONE, "e-1", scope="group:other"))
    state, _ = stores.numbers.load(ACCOUNT, PHONE)
    # When a send claims it at that version
    request = send_request(user_email="sam@acme.example", contact_email="pat@example.com")
    assert stores.numbers.claim_recipient(request, state.version, T0)
    # Then who texted it and the contact's email are remembered, and the number is unchanged but for the campaign
    # that texted it last (the opt-out report's attribution)
    assert stores.numbers.contact(ACCOUNT, PHONE) == Contact(
        last_user_email="sam@acme.example", contact_email="pat@example.com"
    )
    spring = CampaignText(campaign_id="spring", sent_at=T0)
    # and the number is claimed for that request, its campaign remembered, nothing else changed
    assert stores.numbers.load(ACCOUNT, PHONE)[0] == state.model_copy(
        update={"last_campaign": spring, "recent_sends": {"req-1": AT}}
    )


def test_claim_recipient_fails_once_a_commit_changed_the_version(stores: Stores) -> None:
    # Given a send that read the number before an opt-out was stored
    state, _ = stores.numbers.load(ACCOUNT, PHONE)
    commit(stores, opt_out(PHONE, "e-1"))
    # When it claims the recipient at the version it read
    claimed = stores.numbers.claim_recipient(send_request(user_email="sam@acme.example"), state.version, T0)
    # Then the claim fails and nothing is remembered
    assert not claimed
    assert stores.numbers.contact(ACCOUNT, PHONE) == Contact()
    assert not stores.numbers.claim_recipient(send_request(), 7, T0)


def test_a_number_never_seen_is_claimed_at_version_zero_and_a_later_commit_still_works(stores: Stores) -> None:
    # Given a number no event has touched, claimed by a send at version 0
    request = send_request(user_email="sam@acme.example", contact_email="pat@example.com")
    assert stores.numbers.claim_recipient(request, 0, T0)
    spring = CampaignText(campaign_id="spring", sent_at=T0)
    claimed = NumberState(account_id=ACCOUNT, phone=PHONE, last_campaign=spring, recent_sends={"req-1": AT})
    assert stores.numbers.load(ACCOUNT, PHONE) == (claimed, False)
    assert stores.numbers.load_many(ACCOUNT, [PHONE]) == {PHONE: claimed}
    # When an opt-out is committed at version 0
    commit(stores, opt_out(PHONE, "e-1"))
    # Then it is stored, the contact details and the claim stay, and claims go by the new version
    state, seen = stores.numbers.load(ACCOUNT, PHONE, "e-1")
    assert seen and state.version == 1 and state.suppressed and state.recent_sends == {"req-1": AT}
    assert stores.numbers.contact(ACCOUNT, PHONE).contact_email == "pat@example.com"
    assert not stores.numbers.claim_recipient(send_request("req-2"), 0, T0)
    assert stores.numbers.claim_recipient(send_request("req-2"), 1, T0)


def test_a_claim_without_emails_keeps_the_contact_details_recorded_before(stores: Stores) -> None:
    first = send_request("req-1", user_email="sam@acme.example", contact_email="pat@example.com")
    assert stores.numbers.claim_recipient(first, 0, T0)
    assert stores.numbers.claim_recipient(send_request("req-2", user_email="kim@acme.example"), 0, T0)
    assert stores.numbers.contact(ACCOUNT, PHONE) == Contact(
        last_user_email="kim@acme.example", contact_email="pat@example.com"
    )


AT = int(T0.timestamp())


def test_a_request_claims_its_recipient_once(stores: Stores) -> None:
    # Given a request that claimed its recipient
    assert stores.numbers.claim_recipient(send_request("req-1", user_email="sam@acme.example"), 0, T0)
    # When it claims it again, at the same version (another delivery of it), then that claim fails
    later = T0 + timedelta(seconds=5)
    assert not stores.numbers.claim_recipient(send_request("req-1", user_email="kim@acme.example"), 0, later)
    assert stores.numbers.contact(ACCOUNT, PHONE).last_user_email == "sam@acme.example"
    # And another request claims it alongside
    assert stores.numbers.claim_recipient(send_request("req-2"), 0, later)
    assert stores.numbers.load(ACCOUNT, PHONE)[0].recent_sends == {"req-1": AT, "req-2": AT + 5}


def test_a_released_claim_may_be_claimed_again(stores: Stores) -> None:
    assert stores.numbers.claim_recipient(send_request("req-1"), 0, T0)
    assert stores.numbers.claim_recipient(send_request("req-2"), 0, T0)
    stores.numbers.release_recipient(send_request("req-1"))
    assert stores.numbers.load(ACCOUNT, PHONE)[0].recent_sends == {"req-2": AT}
    assert stores.numbers.claim_recipient(send_request("req-1"), 0, T0 + timedelta(seconds=1))


def test_a_claim_forgets_the_claims_it_is_given(stores: Stores) -> None:
    # Given three requests that claimed the number
    for request_id in ("req-1", "req-2", "req-3"):
        assert stores.numbers.claim_recipient(send_request(request_id), 0, T0)
    # When a fourth claims it and forgets two of them (one of which is no longer there)
    stores.numbers.release_recipient(send_request("req-2"))
    later = T0 + timedelta(days=2)
    assert stores.numbers.claim_recipient(send_request("req-4"), 0, later, forget=["req-1", "req-2"])
    # Then those are gone and the others stay
    assert stores.numbers.load(ACCOUNT, PHONE)[0].recent_sends == {"req-3": AT, "req-4": int(later.timestamp())}
