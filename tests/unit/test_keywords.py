"""DESIGN rule 6 (keywords) and rule 8 (STOPALL is always scope `all`): keyword recognition."""

from __future__ import annotations

import pytest

from chalicelib.domain.keywords import (
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    Recognition,
    fold,
    recognise,
    words,
)
from chalicelib.domain.models import ExtraKeywords, Intent

CANONICAL = {"OPT-OUT": "OPT OUT", "ARRÊT": "ARRET"}


@pytest.mark.parametrize("keyword", OPT_OUT_KEYWORDS)
def test_rule6_every_default_opt_out_keyword_matches(keyword: str) -> None:
    recognition = recognise(keyword)

    assert recognition.intent is Intent.OPT_OUT
    assert recognition.keyword == CANONICAL.get(keyword, keyword)
    assert recognition.confidence == 1.0


@pytest.mark.parametrize("keyword", OPT_OUT_KEYWORDS)
def test_rule6_default_opt_out_keywords_match_in_lower_case(keyword: str) -> None:
    assert recognise(keyword.lower()).intent is Intent.OPT_OUT


@pytest.mark.parametrize("keyword", OPT_IN_KEYWORDS)
def test_rule6_yes_start_unstop_are_opt_in(keyword: str) -> None:
    recognition = recognise(keyword.capitalize())

    assert recognition == Recognition(Intent.OPT_IN, keyword, 1.0, f"keyword {keyword}")


@pytest.mark.parametrize("keyword", HELP_KEYWORDS)
def test_rule6_help_and_info_are_help(keyword: str) -> None:
    recognition = recognise(f"{keyword.lower()}?")

    assert recognition.intent is Intent.HELP
    assert recognition.keyword == keyword


@pytest.mark.parametrize(
    "text",
    ["stop stop", "STOP!!! STOP", "Stop. Stop. Stop.", "stop\nstop", "STOP STOP STOP STOP"],
)
def test_rule6_repeated_keyword_matches(text: str) -> None:
    recognition = recognise(text)

    assert recognition.intent is Intent.OPT_OUT
    assert recognition.keyword == "STOP"
    assert "repeated" in recognition.reason


def test_rule6_several_opt_out_keywords_together_match() -> None:
    recognition = recognise("STOP. UNSUBSCRIBE.")

    assert recognition.intent is Intent.OPT_OUT
    assert recognition.keyword == "STOP"
    assert recognition.reason == "keywords STOP, UNSUBSCRIBE"


@pytest.mark.parametrize(
    "text",
    [
        "Stop please",
        "Stop. Thank you",
        "PLEASE STOP!!",
        "stop pls",
        "plz stop",
        "stop thanks",
        "stop thx",
        "Stop now",
        "ok stop",
        "Okay. STOP.",
        "just stop",
        "Stop right now",
        "Hi, stop please",
        "Sorry, stop",
        "pleeeease stop",
        "Stop, thank you very much!",
        "STOP ASAP",
    ],
)
def test_rule6_keyword_with_polite_filler_matches(text: str) -> None:
    recognition = recognise(text)

    assert recognition.intent is Intent.OPT_OUT
    assert recognition.keyword == "STOP"


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("Baja por favor", "BAJA"),
        ("porfa baja", "BAJA"),
        ("Parar, gracias", "PARAR"),
        ("ALTO YA", "ALTO"),
        ("Cancelar por favor", "CANCELAR"),
        ("Arrêt s'il vous plaît", "ARRET"),
        ("arret svp", "ARRET"),
        ("ARRET merci", "ARRET"),
    ],
)
def test_rule6_spanish_and_french_keywords_with_their_own_filler(text: str, keyword: str) -> None:
    recognition = recognise(text)

    assert recognition.intent is Intent.OPT_OUT
    assert recognition.keyword == keyword


@pytest.mark.parametrize("text", ["ARRET", "ARRÊT", "arrêt", "Arrèt", "ARRE\u0302T"])
def test_rule6_accents_are_folded_so_arret_and_arret_circumflex_both_match(text: str) -> None:
    assert recognise(text).keyword == "ARRET"


@pytest.mark.parametrize(
    "text",
    [
        "  STOP  ",
        "stop.",
        "¡STOP!",
        "«stop»",
        "STOP 🛑",
        "🛑🛑 stop 🛑🛑",
        "🙏🏽 stop",
        "S\u200bTOP",  # zero-width space inside the word
        "ＳＴＯＰ",  # fullwidth, NFKC
        "𝐒𝐓𝐎𝐏",  # mathematical bold, NFKC
        "sToP",
        "STOP\u00a0!",  # no-break space
        "stop\u200d",  # zero-width joiner
        "\tstop\r\n",
    ],
)
def test_rule6_nfkc_case_emoji_and_punctuation_are_ignored(text: str) -> None:
    recognition = recognise(text)

    assert recognition.intent is Intent.OPT_OUT
    assert recognition.keyword == "STOP"


@pytest.mark.parametrize("text", ["opt-out", "Opt out", "OPT OUT!", "opt—out", "optout"])
def test_rule6_opt_out_spellings_match(text: str) -> None:
    assert recognise(text).intent is Intent.OPT_OUT


@pytest.mark.parametrize(
    "text",
    [
        "stop by at 5",
        "bus stop",
        "we must STOP this bill",
        "Yup next stop.",
        "Stop the story.",
        "don't stop",
        "the end",
        "end of the month",
        "cancel my 3pm appointment",
        "I quit my job",
        "yes I will be there",
        "help me move on Saturday",
        "info about the party?",
        "start time is 6",
        "Ok..",
        "thank you",
    ],
)
def test_rule6_keyword_inside_sentence_is_not_a_match(text: str) -> None:
    recognition = recognise(text)

    assert recognition.intent is Intent.NONE
    assert recognition.keyword is None
    assert recognition.confidence == 0.0


@pytest.mark.parametrize("text", ["stopping", "stops", "nonstop", "unstoppable", "STOPS!", "trend", "yesterday"])
def test_rule6_never_substring_match(text: str) -> None:
    assert recognise(text).intent is Intent.NONE


@pytest.mark.parametrize("text", ["", "   ", "!!!", "🛑", "..."])
def test_rule6_empty_or_symbol_only_message_is_not_a_keyword(text: str) -> None:
    assert recognise(text).intent is Intent.NONE


def test_rule6_keywords_of_different_intents_together_are_not_a_match() -> None:
    recognition = recognise("STOP START")

    assert recognition.intent is Intent.NONE
    assert "different intents" in recognition.reason


def test_rule6_unstop_is_opt_in_not_a_substring_of_stop() -> None:
    assert recognise("UNSTOP").intent is Intent.OPT_IN
    assert recognise("unstop please").intent is Intent.OPT_IN


def test_rule6_yes_with_filler_is_opt_in() -> None:
    assert recognise("Yes please").intent is Intent.OPT_IN


def test_rule6_account_extra_keywords_in_another_language_match_per_intent() -> None:
    # Given an account with its own keywords in Russian, Chinese, Hindi, German and Spanish
    extra = ExtraKeywords(opt_out=("Стоп", "停止", "रोको", "NO MÁS"), opt_in=("ANMELDEN",), help=("AYUDA",))

    # Then each matches with its intent, folded like the defaults
    assert recognise("стоп!", extra).keyword == "СТОП"
    assert recognise("停止", extra).intent is Intent.OPT_OUT
    assert recognise("रोको 🙏", extra).intent is Intent.OPT_OUT
    assert recognise("no mas por favor", extra).keyword == "NO MÁS"
    assert recognise("Anmelden", extra).intent is Intent.OPT_IN
    assert recognise("ayuda", extra).intent is Intent.HELP
    # And the defaults still apply
    assert recognise("STOP", extra).intent is Intent.OPT_OUT
    # And another account does not get them
    assert recognise("стоп").intent is Intent.NONE


def test_rule6_extra_keyword_inside_sentence_is_not_a_match() -> None:
    extra = ExtraKeywords(opt_out=("Стоп",))

    assert recognise("стоп машина", extra).intent is Intent.NONE


def test_rule6_an_account_cannot_turn_a_default_opt_out_keyword_into_an_opt_in() -> None:
    extra = ExtraKeywords(opt_in=("STOP",), help=("CANCEL",))

    assert recognise("stop", extra).intent is Intent.OPT_OUT
    assert recognise("cancel", extra).intent is Intent.OPT_OUT


def test_rule6_empty_extra_keyword_is_ignored() -> None:
    extra = ExtraKeywords(opt_out=("🛑", "  "))

    assert recognise("🛑", extra).intent is Intent.NONE
    assert recognise("stop", extra).intent is Intent.OPT_OUT


@pytest.mark.parametrize("text", ["STOPALL", "stop all", "STOP ALL!!", "Stop all please", "stopall stopall"])
def test_rule8_stopall_and_stop_all_are_flagged_stop_all(text: str) -> None:
    recognition = recognise(text)

    assert recognition.intent is Intent.OPT_OUT
    assert recognition.is_stop_all is True


@pytest.mark.parametrize("text", ["STOP", "UNSUBSCRIBE", "stop stop", "BAJA"])
def test_rule8_other_opt_out_keywords_are_not_stop_all(text: str) -> None:
    assert recognise(text).is_stop_all is False


def test_rule6_a_long_message_is_recognised_quickly_and_correctly() -> None:
    # 1,600 characters: the maximum a concatenated SMS carries.
    assert recognise(("stop " * 320).strip()).intent is Intent.OPT_OUT
    assert recognise("stop by " * 200).intent is Intent.NONE


def test_fold_drops_accents_apostrophes_and_marks_clause_ends() -> None:
    assert fold("Don't STOP… ça va? 😀") == "dont stop\n\n\n ca va\n  "
    assert words("Don't STOP… ça va? 😀") == ["dont", "stop", "ca", "va"]
