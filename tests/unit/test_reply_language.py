"""DESIGN rule 9 in the contact's language: a confirmation (or help, or opt-in note) answers in the language of the
keyword or phrase the contact wrote, with per-language texts an account may override (issue 12, item 6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from chalicelib.domain import services
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
from chalicelib.domain.detector import detect
from chalicelib.domain.models import (
    DEFAULT_LANGUAGE_REPLIES,
    Account,
    ExtraKeywords,
    InboundMessage,
    Intent,
    Replies,
    Source,
)
from chalicelib.domain.ports import Stores
from tests.containers import RecordingQueue, registry
from tests.fakes import InMemorySecretStore, in_memory_stores

CONTACT = "+14155550123"
OUR_NUMBER = "+14155550100"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ENGLISH = Replies()
SPANISH = DEFAULT_LANGUAGE_REPLIES["es"]
FRENCH = DEFAULT_LANGUAGE_REPLIES["fr"]
KINDS = ("opt_out", "opt_in", "opt_in_blocked", "help")
#: GSM 03.38's basic character set: a text of only these is one 160-character SMS segment.
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)


@pytest.fixture
def stores() -> Stores:
    return in_memory_stores()


def make_account(stores: Stores, **settings: object) -> Account:
    account, _, _ = upsert_account(
        stores.accounts, InMemorySecretStore(), registry(), "acme", AccountSettingsIn(name="Acme", **settings), T0
    )
    return account


def text(
    stores: Stores, account: Account, body: str, *, sid: str, queue: RecordingQueue | None = None
) -> services.InboundResult:
    message = InboundMessage(
        carrier="twilio" if queue is None else "aws",
        message_id=sid,
        account_id=account.account_id,
        from_phone=CONTACT,
        to_phone=OUR_NUMBER,
        body=body,
        occurred_at=T0,
        received_at=T0,
    )
    return services.receive_inbound(stores, queue or RecordingQueue(), account, message, reply_in_answer=queue is None)


def texts_of(replies: object) -> set[str]:
    return {value for kind in KINDS if isinstance(value := getattr(replies, kind), str)}


# --- the detector says which language -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "language"),
    [
        ("STOP", "en"),
        ("Help", "en"),
        ("START", "en"),
        ("BAJA", "es"),
        ("Alto por favor", "es"),
        ("CANCELAR", "es"),
        ("ARRÊT", "fr"),
        ("arret merci", "fr"),
        ("Arrêtez !", "fr"),
        ("please stop texting me", "en"),
        ("take me off your list", "en"),
        ("no me envíen más mensajes", "es"),
        ("número equivocado", "es"),
        ("ne m'envoyez plus de messages", "fr"),
        ("STOP ya no quiero nada", "es"),
        ("Ya basta", "es"),
    ],
)
def test_the_detector_says_which_language_the_contact_wrote_in(message: str, language: str) -> None:
    assert detect(message).language == language


def test_the_detector_cannot_tell_the_language_of_an_accounts_own_keyword_or_of_no_request() -> None:
    assert detect("AYUDA", ExtraKeywords(help=("AYUDA",))).language is None
    assert detect("🛑").language is None
    assert detect("see you at 5").language is None


# --- confirmations in the contact's language ----------------------------------------------------------------


def test_a_spanish_baja_is_confirmed_in_spanish(stores) -> None:
    account = make_account(stores)

    result = text(stores, account, "BAJA", sid="SM1")

    assert result.intent is Intent.OPT_OUT
    assert result.reply == SPANISH.opt_out
    assert result.reply.startswith("Se ha dado de baja")


def test_a_french_arret_is_confirmed_in_french(stores) -> None:
    account = make_account(stores)

    assert text(stores, account, "ARRÊT", sid="SM1").reply == FRENCH.opt_out


def test_a_spanish_request_in_other_words_is_confirmed_in_spanish(stores) -> None:
    account = make_account(stores)

    result = text(stores, account, "no me envíen más mensajes", sid="SM1")

    assert result.reply == SPANISH.opt_out
    state = stores.numbers.load("acme", CONTACT)[0]
    assert state.suppressions["all"].source is Source.NATURAL_LANGUAGE


def test_stop_is_confirmed_in_english(stores) -> None:
    account = make_account(stores)

    assert text(stores, account, "STOP", sid="SM1").reply == ENGLISH.opt_out


def test_a_confirmation_sent_through_the_send_path_is_in_the_contacts_language(stores) -> None:
    # Given a carrier whose webhook answer cannot carry the reply
    account, queue = make_account(stores), RecordingQueue()

    # When the contact texts BAJA
    text(stores, account, "BAJA", sid="m-1", queue=queue)

    # Then the queued confirmation is the Spanish text
    (confirmation,) = queue.requests
    assert confirmation.confirms_event == "aws:m-1"
    assert confirmation.body == SPANISH.opt_out


# --- an account's own texts and languages -------------------------------------------------------------------


def test_an_accounts_own_spanish_opt_out_text_is_used(stores) -> None:
    account = make_account(stores, replies={"languages": {"es": {"opt_out": "Acme: le hemos dado de baja."}}})

    assert text(stores, account, "BAJA", sid="SM1").reply == "Acme: le hemos dado de baja."
    # The languages it did not give keep their built-in texts, and English its own
    assert text(stores, account, "ARRÊT", sid="SM2").reply == FRENCH.opt_out
    assert text(stores, account, "STOP", sid="SM3").reply == ENGLISH.opt_out


def test_an_accounts_spanish_text_left_out_is_the_built_in_spanish_one(stores) -> None:
    # Given an account whose Spanish opt-out is its own and whose Spanish opt-in keyword is ALTA
    account = make_account(
        stores,
        keywords={"opt_in": ["ALTA"]},
        replies={"languages": {"es": {"opt_out": "Acme: baja confirmada.", "keywords": ["alta"]}}},
    )

    # When the contact opts out and back in, in Spanish
    assert text(stores, account, "BAJA", sid="SM1").reply == "Acme: baja confirmada."
    result = text(stores, account, "ALTA", sid="SM2")

    # Then the opt-in note is the built-in Spanish one
    assert result.intent is Intent.OPT_IN
    assert result.reply == SPANISH.opt_in


def test_an_account_may_add_a_language_the_detector_does_not_know(stores) -> None:
    # Given an account with German texts and German keywords of its own
    account = make_account(
        stores,
        keywords={"opt_out": ["ABMELDEN"], "help": ["HILFE"]},
        replies={"languages": {"de": {"opt_out": "Sie sind abgemeldet.", "keywords": ["Abmelden", "HILFE"]}}},
    )

    # Then its German keyword is confirmed in German
    assert text(stores, account, "abmelden", sid="SM1").reply == "Sie sind abgemeldet."
    # And a German text it did not give is the whole English text, not a blend
    assert text(stores, account, "hilfe", sid="SM2").reply == ENGLISH.help
    # And STOP, an English keyword, stays English
    assert text(stores, account, "STOP", sid="SM3").reply == ENGLISH.opt_out


def test_an_accounts_own_keyword_without_a_language_is_answered_in_english(stores) -> None:
    account = make_account(stores, keywords={"opt_out": ["DESINSCRIBIR"]})

    assert text(stores, account, "desinscribir", sid="SM1").reply == ENGLISH.opt_out


def test_help_is_in_english_unless_the_account_has_a_help_keyword_of_its_own_in_spanish(stores) -> None:
    # AYUDA is not a default keyword (DESIGN rule 6): without the account's, it is an ordinary reply
    plain = make_account(stores)
    assert text(stores, plain, "AYUDA", sid="SM1").reply is None
    assert text(stores, plain, "HELP", sid="SM2").reply == ENGLISH.help

    # An account that lists AYUDA as a help keyword, and as Spanish, answers it in Spanish
    spanish = make_account(stores, keywords={"help": ["AYUDA"]}, replies={"languages": {"es": {"keywords": ["AYUDA"]}}})
    assert text(stores, spanish, "ayuda", sid="SM3").reply == SPANISH.help


def test_a_spanish_opt_in_that_leaves_the_number_blocked_says_so_in_spanish(stores) -> None:
    # Given a number an admin suppressed, and an account whose ALTA is a Spanish opt-in keyword
    account = make_account(stores, keywords={"opt_in": ["ALTA"]}, replies={"languages": {"es": {"keywords": ["ALTA"]}}})
    services.opt_out_manually(stores, RecordingQueue(), account, CONTACT, "all", None, "admin", T0)

    # Then ALTA is answered with the Spanish "stays unsubscribed", never a false "resubscribed"
    assert text(stores, account, "ALTA", sid="SM1").reply == SPANISH.opt_in_blocked


# --- accounts stored before languages -----------------------------------------------------------------------


def test_an_account_stored_before_languages_still_loads_and_replies_in_english(stores) -> None:
    # Given an account document as stored before replies had languages
    stored = {
        "account_id": "acme",
        "name": "Acme",
        "replies": {
            "opt_out": "Acme: unsubscribed. Reply START to resubscribe.",
            "opt_in": "Acme: resubscribed.",
            "opt_in_blocked": "Acme: still unsubscribed.",
            "help": "Acme: reply STOP to unsubscribe.",
        },
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }

    # When it is loaded
    account = Account.model_validate_json(json.dumps(stored))
    stores.accounts.put_account(account)

    # Then its English texts are kept and answer STOP and HELP
    assert text(stores, account, "HELP", sid="SM1").reply == "Acme: reply STOP to unsubscribe."
    assert text(stores, account, "STOP", sid="SM2").reply == "Acme: unsubscribed. Reply START to resubscribe."
    # And it has the built-in Spanish and French texts for contacts who write in those
    assert set(account.replies.languages) == {"es", "fr"}
    assert text(stores, account, "BAJA", sid="SM3").reply == SPANISH.opt_out


def test_replies_survive_a_store_round_trip_with_their_languages() -> None:
    replies = Replies.model_validate({"languages": {"es": {"opt_out": "Baja."}, "de": {"help": "Hilfe."}}})

    assert Replies.model_validate_json(replies.model_dump_json()) == replies


# --- never a mixed reply ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "language"),
    [
        ("STOP", "en"),
        ("HELP", "en"),
        ("BAJA", "es"),
        ("no me envíen más mensajes", "es"),
        ("ARRÊT", "fr"),
        ("ne m'envoyez plus de messages", "fr"),
        ("START", "en"),
    ],
)
def test_a_reply_never_mixes_languages(stores, message: str, language: str) -> None:
    # Given an account with a Spanish text of its own beside the built-in ones
    account = make_account(stores, replies={"languages": {"es": {"opt_out": "Acme: baja confirmada."}}})
    by_language = {
        "en": texts_of(account.replies),
        "es": texts_of(SPANISH) | {"Acme: baja confirmada."},
        "fr": texts_of(FRENCH),
    }

    reply = text(stores, account, message, sid="SM1").reply

    # Then the reply is one whole text of the contact's language, and of no other
    assert reply in by_language[language]
    assert all(reply not in texts for other, texts in by_language.items() if other != language)


# --- the texts and their validation -------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["es", "fr"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_built_in_texts_each_fit_one_gsm7_sms(language: str, kind: str) -> None:
    reply = getattr(DEFAULT_LANGUAGE_REPLIES[language], kind)

    assert reply is not None
    assert set(reply) <= GSM7, set(reply) - GSM7
    assert len(reply) <= 160


@pytest.mark.parametrize("kind", KINDS)
def test_every_built_in_language_has_every_text(kind: str) -> None:
    assert all(getattr(texts, kind) for texts in DEFAULT_LANGUAGE_REPLIES.values())


@pytest.mark.parametrize("code", ["ES", "spa", "e", "e1", "", "en"])
def test_a_language_code_is_two_lower_case_letters_and_not_english(code: str) -> None:
    with pytest.raises(ValidationError):
        Replies.model_validate({"languages": {code: {"opt_out": "Baja."}}})


@pytest.mark.parametrize("reply", ["", "x" * 321])
def test_a_reply_text_has_one_to_320_characters_in_any_language(reply: str) -> None:
    with pytest.raises(ValidationError):
        Replies.model_validate({"languages": {"es": {"opt_out": reply}}})
    with pytest.raises(ValidationError):
        Replies.model_validate({"help": reply})
    assert Replies.model_validate({"languages": {"es": {"opt_out": "x" * 320}}})


def test_an_account_update_with_a_bad_language_code_is_refused(stores) -> None:
    with pytest.raises(ValidationError):
        make_account(stores, replies={"languages": {"Spanish": {"opt_out": "Baja."}}})
