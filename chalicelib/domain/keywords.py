"""Keyword recognition for inbound SMS (DESIGN rule 6).

A message is a keyword message when, after folding (Unicode NFKC, case folding, accents removed,
punctuation and emoji dropped), it consists only of keywords of one intent, optionally repeated,
and polite filler: "STOP", "stop stop", "Stop please", "Stop. Thank you", "PLEASE STOP!!".
Anything else, such as a keyword inside a sentence ("stop by at 5", "bus stop"), is not a keyword
message; the natural-language detector (`detector.py`) looks at those.

Matching is on whole words only, never on substrings, and uses dictionary look-ups on token
tuples, so its cost is linear in the message length with no regular-expression backtracking.

Polite filler (`FILLER`) is deliberately short and limited to words that add politeness, thanks,
greeting, acknowledgement or urgency and never change what the keyword asks for:

- English: please (pls, plz, plse, pleas, pleez, ...), thanks / thank you (thx, thanx, thnx, ty,
  tyvm, cheers), hi, hello, hey, ok, okay, k, kk, just, sorry, now, right now, asap, immediately.
- Spanish: por favor (porfavor, porfa, porfis, xfa, xfavor), gracias, muchas gracias, hola, ya, ahora.
- French: s'il vous plaît, s'il te plaît, svp, stp, merci, merci beaucoup, bonjour, salut, maintenant.

Words such as "me", "all", "it" or "texting" are not filler: "unsubscribe me" and "stop it" are
left to the detector, which recognises them as natural-language opt-outs.

A recognised keyword carries its language (`DEFAULT_KEYWORD_LANGUAGES`: BAJA is Spanish, ARRÊT French,
STOP English), so the reply can be written in it; an account's own keywords carry none.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from chalicelib.domain.models import ExtraKeywords, Intent

#: Default keywords in DESIGN order. Spellings that fold to the same words share the first one's
#: canonical name: "OPT-OUT" is reported as "OPT OUT", "ARRÊT" as "ARRET".
OPT_OUT_KEYWORDS: tuple[str, ...] = (
    "STOP",
    "STOPALL",
    "STOP ALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "OPT OUT",
    "OPT-OUT",
    "BAJA",
    "ALTO",
    "PARAR",
    "CANCELAR",
    "ARRET",
    "ARRÊT",
)
#: Keywords that always opt out of everything the account sends (DESIGN rule 8).
STOP_ALL_KEYWORDS: frozenset[str] = frozenset({"STOPALL", "STOP ALL"})
OPT_IN_KEYWORDS: tuple[str, ...] = ("START", "UNSTOP", "YES")
HELP_KEYWORDS: tuple[str, ...] = ("HELP", "INFO")
#: The language (ISO 639-1) of each default keyword: the one a reply to it is written in. An account's own
#: keywords have none (the account may give one: `Replies.languages[code].keywords`).
DEFAULT_KEYWORD_LANGUAGES: dict[str, str] = {
    **dict.fromkeys((*OPT_OUT_KEYWORDS, *OPT_IN_KEYWORDS, *HELP_KEYWORDS), "en"),
    **dict.fromkeys(("BAJA", "ALTO", "PARAR", "CANCELAR"), "es"),
    **dict.fromkeys(("ARRET", "ARRÊT"), "fr"),
}

#: Polite filler, as folded word sequences (see the module docstring).
FILLER: frozenset[tuple[str, ...]] = frozenset(
    tuple(phrase.split())
    for phrase in (
        # English
        "please",
        "pls",
        "plz",
        "plse",
        "plss",
        "plzz",
        "pleas",
        "pleez",
        "pleeze",
        "pleaz",
        "plez",
        "pretty please",
        "thanks",
        "thank you",
        "thank u",
        "thankyou",
        "thanku",
        "thank you very much",
        "thanks a lot",
        "thanx",
        "thnx",
        "thnks",
        "thx",
        "tx",
        "ty",
        "tyvm",
        "cheers",
        "hi",
        "hello",
        "hey",
        "ok",
        "okay",
        "k",
        "kk",
        "just",
        "sorry",
        "now",
        "right now",
        "asap",
        "immediately",
        # Spanish
        "por favor",
        "porfavor",
        "porfa",
        "porfis",
        "xfa",
        "xfavor",
        "gracias",
        "muchas gracias",
        "hola",
        "ya",
        "ahora",
        # French ("s'il" folds to "sil"; people also type "s il")
        "sil vous plait",
        "s il vous plait",
        "sil te plait",
        "s il te plait",
        "svp",
        "stp",
        "merci",
        "merci beaucoup",
        "bonjour",
        "salut",
        "maintenant",
    )
)
_FILLER_MAX_WORDS = max(len(phrase) for phrase in FILLER)
#: Elongated politeness ("pleeeease", "thaaanks") without listing every spelling; each `+` is on
#: a different letter, so a full match cannot backtrack.
_ELONGATED_FILLER = re.compile(r"p+l+e+a*s+e*|p+l+[sz]+|t+h+a+n+k+s+|t+h+x+|o+k+a*y*")

# --- folding -------------------------------------------------------------------------------------

#: Characters that end a clause. Folding turns them into a newline so the detector can look at
#: clauses; keyword matching treats newlines as ordinary spaces.
_CLAUSE_MARKS = frozenset(".!?;:,\n\r\v\f\x85\u2028\u2029…¡¿。！？；，、؟،؛।")
#: Apostrophes join words ("don't" -> "dont", "s'il" -> "sil") rather than splitting them.
_APOSTROPHES = frozenset("'`´ʼʻ‘’‛′")


def _fold_char(char: str) -> str:
    """What one character (already NFKC-normalised and case-folded) becomes after folding."""
    if char in _APOSTROPHES:
        return ""
    if char in _CLAUSE_MARKS:
        return "\n"
    category = unicodedata.category(char)
    if category[0] in "LN":
        # Accent folding: decompose and drop the non-spacing marks, so "ê" matches "e".
        decomposed = unicodedata.normalize("NFD", char)
        if len(decomposed) == 1:
            return char
        return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    if category == "Mc":
        # Spacing marks are part of words in Indic scripts; keep them.
        return char
    if category in ("Mn", "Me", "Cf"):
        # Stray accents, variation selectors, zero-width joiners inside emoji sequences.
        return ""
    # Whitespace, punctuation, symbols (emoji included), control and unassigned characters.
    return " "


class _FoldTable(dict[int, str]):
    """A `str.translate` table that works out each code point once, on first sight."""

    def __missing__(self, codepoint: int) -> str:
        folded = _fold_char(chr(codepoint))
        self[codepoint] = folded
        return folded


_FOLD_TABLE = _FoldTable()
# ASCII is the common case: one C-level bytes.translate call with a precomputed table.
_ASCII_TABLE = bytes(
    [ord(_fold_char(chr(i))) if len(_fold_char(chr(i))) == 1 else 32 for i in range(128)] + list(range(128, 256))
)
_ASCII_DELETE = bytes(ord(c) for c in _APOSTROPHES if ord(c) < 128)


def fold(text: str) -> str:
    """Return `text` folded for matching: NFKC, case-folded, accents removed, apostrophes dropped.

    Letters, digits and spacing marks are kept; clause punctuation (. ! ? ; : , and line breaks)
    becomes a newline; every other character (spaces, other punctuation, symbols and emoji)
    becomes a space. Splitting the result on whitespace gives the message's words.
    """
    if text.isascii():
        return text.lower().encode("ascii").translate(_ASCII_TABLE, _ASCII_DELETE).decode("ascii")
    return unicodedata.normalize("NFKC", text).casefold().translate(_FOLD_TABLE)


def words(text: str) -> list[str]:
    """The folded words of `text`, ignoring punctuation, emoji and clause breaks."""
    return fold(text).split()


# --- keyword tables ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recognition:
    """What keyword recognition made of a message."""

    intent: Intent
    #: The canonical keyword that matched, upper case ("STOP", "STOP ALL", "BAJA", "ARRET").
    keyword: str | None
    #: 1.0 for a keyword match, 0.0 otherwise.
    confidence: float
    #: Why, for people: "keyword STOP", "no keyword", ...
    reason: str
    #: STOPALL / STOP ALL: always opts out of scope `all` (DESIGN rule 8).
    is_stop_all: bool = False
    #: The keyword's language ("en", "es", "fr"); None for an account's own keyword, or no keyword. Not part
    #: of equality: it says how to answer, not what was recognised.
    language: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class _Keyword:
    intent: Intent
    canonical: str
    is_stop_all: bool
    language: str | None


@dataclass(frozen=True, slots=True)
class KeywordTable:
    """Folded keyword word sequences of one account, ready for matching."""

    entries: dict[tuple[str, ...], _Keyword]
    max_words: int
    #: Every word that occurs in a keyword: a quick test of whether a message can hold one.
    words: frozenset[str]
    #: The first word of every opt-out keyword: a message without one cannot hold an opt-out keyword.
    opt_out_heads: frozenset[str]


def _canonical(keyword: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", keyword).split()).upper()


def _build_table(groups: list[tuple[Intent, tuple[str, ...], dict[str, str]]]) -> KeywordTable:
    """Each group: an intent, its keywords and their languages (none for an account's own keywords)."""
    entries: dict[tuple[str, ...], _Keyword] = {}
    for intent, keywords, languages in groups:
        for keyword in keywords:
            key = tuple(words(keyword))
            canonical = _canonical(keyword)
            # First writer wins: groups come in priority order, so an account can never turn a
            # default opt-out keyword into something else, and defaults name their own spellings.
            if key and key not in entries:
                entries[key] = _Keyword(intent, canonical, canonical in STOP_ALL_KEYWORDS, languages.get(keyword))
    return KeywordTable(
        entries,
        max((len(key) for key in entries), default=1),
        frozenset(word for key in entries for word in key),
        frozenset(key[0] for key, keyword in entries.items() if keyword.intent is Intent.OPT_OUT),
    )


_DEFAULTS = DEFAULT_KEYWORD_LANGUAGES
_OWN: dict[str, str] = {}
_DEFAULT_TABLE = _build_table(
    [
        (Intent.OPT_OUT, OPT_OUT_KEYWORDS, _DEFAULTS),
        (Intent.OPT_IN, OPT_IN_KEYWORDS, _DEFAULTS),
        (Intent.HELP, HELP_KEYWORDS, _DEFAULTS),
    ]
)


@lru_cache(maxsize=1024)
def _account_table(extra: ExtraKeywords) -> KeywordTable:
    # Priority on conflicts: opt-out over opt-in over help; within an intent, defaults first.
    return _build_table(
        [
            (Intent.OPT_OUT, OPT_OUT_KEYWORDS, _DEFAULTS),
            (Intent.OPT_OUT, extra.opt_out, _OWN),
            (Intent.OPT_IN, OPT_IN_KEYWORDS, _DEFAULTS),
            (Intent.OPT_IN, extra.opt_in, _OWN),
            (Intent.HELP, HELP_KEYWORDS, _DEFAULTS),
            (Intent.HELP, extra.help, _OWN),
        ]
    )


def keyword_table(extra: ExtraKeywords | None = None) -> KeywordTable:
    """The keyword table for an account: the defaults plus its extra keywords (cached)."""
    if extra is None or not (extra.opt_out or extra.opt_in or extra.help):
        return _DEFAULT_TABLE
    return _account_table(extra)


# --- matching ------------------------------------------------------------------------------------

_NO_KEYWORD = Recognition(Intent.NONE, None, 0.0, "no keyword")
#: The default for accounts without keywords of their own (a frozen model, safe to share).
NO_EXTRA_KEYWORDS = ExtraKeywords()


def filler_length(tokens: list[str], start: int) -> int:
    """How many words of polite filler (`FILLER`) start at `tokens[start]` (0 when none)."""
    for length in range(min(_FILLER_MAX_WORDS, len(tokens) - start), 0, -1):
        if tuple(tokens[start : start + length]) in FILLER:
            return length
    return 1 if _ELONGATED_FILLER.fullmatch(tokens[start]) else 0


def match_keywords(tokens: list[str], table: KeywordTable = _DEFAULT_TABLE) -> Recognition:
    """Recognise already-folded words (see `words`) as a keyword message.

    The words must be keywords of one intent, repeated or not, and polite filler, in any order,
    with at least one keyword. Keywords are tried longest first, so "stop all" is STOP ALL.
    """
    found: list[_Keyword] = []
    filler = False
    entries = table.entries
    position, count = 0, len(tokens)
    while position < count:
        for length in range(min(table.max_words, count - position), 0, -1):
            keyword = entries.get(tuple(tokens[position : position + length]))
            if keyword is not None:
                found.append(keyword)
                position += length
                break
        else:
            length = filler_length(tokens, position)
            if not length:
                # Any other word makes this a sentence, not a keyword message.
                return _NO_KEYWORD
            filler = True
            position += length
    if not found:
        return _NO_KEYWORD
    first = found[0]
    names = list(dict.fromkeys(keyword.canonical for keyword in found))
    if any(keyword.intent is not first.intent for keyword in found):
        return Recognition(Intent.NONE, None, 0.0, f"keywords of different intents ({', '.join(names)})")
    reason = f"keyword {first.canonical}" if len(names) == 1 else f"keywords {', '.join(names)}"
    if len(found) > len(names):
        reason += ", repeated"
    if filler:
        reason += ", with polite filler"
    return Recognition(
        first.intent,
        first.canonical,
        1.0,
        reason,
        is_stop_all=any(keyword.is_stop_all for keyword in found),
        language=first.language,
    )


def recognise(text: str, extra: ExtraKeywords = NO_EXTRA_KEYWORDS) -> Recognition:
    """Recognise `text` as an opt-out, opt-in or help keyword message (DESIGN rule 6).

    `extra` holds the account's own keywords per intent, in any language. Returns intent NONE
    (confidence 0.0) when the message is not a keyword message, for example when a keyword is
    inside a sentence; such messages are for the natural-language detector.
    """
    return match_keywords(words(text), keyword_table(extra))
