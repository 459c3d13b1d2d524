"""Opt-outs in other words (DESIGN rule 7): message -> intent with a confidence.

The FCC's 2024 order lets a contact revoke consent "by any reasonable means". `detect` first tries
keyword recognition (DESIGN rule 6, confidence 1.0), then hand-written rules for requests in other
words, in English, Spanish and French.

How it works, and why it is built this way:

- The text is folded once (`keywords.fold`: NFKC, case folding, accents, emoji and punctuation
  removed, clause punctuation kept as line breaks), then each word is respelled: shorthand and
  common misspellings ("txt", "msgs", "stpo", "unsubscibe", "STOPPP") become the standard word.
- A clause that is a keyword once lead-in and tail words are removed ("I said stop", "stop it",
  "STOP. Who is this?") counts as a keyword in a short request.
- The other rules are regular expressions over the respelled words. A rule runs only when one of
  its trigger words is in the message, so an ordinary reply costs a few dictionary look-ups.
  Words are separated by one space and clauses by a line break, so no pattern spans two clauses;
  repeated groups only hold single distinct words, so matching cannot backtrack catastrophically.
- Rules name what is to stop (me, my number, your texts, the list), so other meanings do not
  match: "stop by at 5", "bus stop", "stop this bill", "cancel my 3pm appointment", "the end".
  The words before a match in its clause reject negations ("don't stop", "I never said stop"),
  requests about someone else ("tell him to stop texting me") and stories ("why did you stop").
- Laughter (lol, haha, 😂) lowers the confidence by 0.3: "stop it lol" is banter between friends.
- `Detection.language` is the language the request is in, for the reply: the keyword's (BAJA Spanish,
  ARRÊT French, STOP English) or that of the rule's section (the rules are grouped English, Spanish,
  French); None for an account's own keyword, which `reply_language` looks up in the account's replies.

Confidence bands the caller uses by default: >= `AUTO_THRESHOLD` (0.9) suppresses like a keyword;
`REVIEW_THRESHOLD` (0.6) up to 0.9 is flagged for review. Clear requests score 0.9-0.97;
ambiguous ones ("not interested", "go away", a lone "quit" in a longer message) 0.6-0.88.
Below `MIN_CONFIDENCE` the intent is NONE.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache

from chalicelib.domain.keywords import (
    NO_EXTRA_KEYWORDS,
    KeywordTable,
    filler_length,
    fold,
    keyword_table,
    match_keywords,
)
from chalicelib.domain.models import ExtraKeywords, Intent, Replies

AUTO_THRESHOLD = 0.9
REVIEW_THRESHOLD = 0.6
#: An opt-out rule that scores less than this is reported as intent NONE.
MIN_CONFIDENCE = 0.5
#: Laughter takes this much off a rule's confidence.
JOKE_DISCOUNT = 0.3


@dataclass(frozen=True, slots=True)
class Detection:
    """What the detector made of a message."""

    intent: Intent
    #: 0..1: how sure the detector is of `intent`; 1.0 for a keyword.
    confidence: float
    #: The rule or phrase that decided it, readable by an admin.
    reason: str
    #: The canonical keyword of a keyword message (DESIGN rule 6), or the keyword inside a short
    #: natural-language request ("I said stop" -> "STOP"); None for other natural-language rules.
    keyword: str | None = None
    #: STOPALL / STOP ALL: always scope `all` (DESIGN rule 8), in either case above.
    is_stop_all: bool = False
    #: The language the contact wrote in, as ISO 639-1 ("en", "es", "fr"): the keyword's, or that of the
    #: rule's section; None when it cannot tell (an account's own keyword, a stop-sign emoji, no request).
    #: Not part of equality: it says how to answer, not what was decided.
    language: str | None = field(default=None, compare=False)

    @property
    def by_keyword(self) -> bool:
        """True for a keyword message (suppression source `keyword`); else `natural_language`."""
        return self.keyword is not None and self.confidence == 1.0


_NOTHING = Detection(Intent.NONE, 0.0, "no opt-out request found")
_STOP_SIGN_ONLY = Detection(Intent.OPT_OUT, 0.75, "only a stop-sign emoji")

# --- spelling --------------------------------------------------------------------------------------


def _spellings(standard: str, variants: str) -> dict[str, str]:
    return dict.fromkeys(variants.split(), standard)


#: Shorthand and misspellings -> the word the rules are written with. Only spellings whose meaning
#: is not in doubt: "stoop", "spot" and "step" are words of their own and are not listed.
_SPELLING: dict[str, str] = {
    **_spellings("stop", "stpo sotp tsop stp stopp stahp sstop stopt"),
    **_spellings("stop it", "stopit"),
    **_spellings("stop texting", "stoptexting"),
    **_spellings("text", "txt textt"),
    **_spellings("texts", "txts textz txtz"),
    **_spellings(
        "texting", "txting txtin txtn txtng textin textn textng texing textiing textting textign txtting tecting"
    ),
    **_spellings("texted", "txtd txted"),
    **_spellings("message", "msg mesage mesg mssg messege msge massege"),
    **_spellings("messages", "msgs msges msgz mesages messeges mesgs mssgs messags messges"),
    **_spellings("messaging", "msging msgin msgn msgng mesaging messageing messaing messging"),
    **_spellings("sending", "sendin sendn sendng sendig"),
    **_spellings("send", "snd sned"),
    **_spellings("calling", "callin callng"),
    **_spellings("contacting", "contactin contactng"),
    **_spellings("spamming", "spaming spamin spammin"),
    **_spellings("harassing", "harrassing harasing harrasing"),
    **_spellings("please", "pls plz plse pleas plez pleez pleaz plis plss plzz pleasee plese pleeze plox"),
    **_spellings("thanks", "thx thanx thnx thnks tnx"),
    **_spellings("you", "u yu"),
    **_spellings("your", "ur yr"),
    **_spellings("number", "num numbr nmbr nr numba nbr"),
    **_spellings("again", "agn agin"),
    **_spellings("remove", "remov"),
    **_spellings("from", "frm"),
    **_spellings("dont", "dnt"),
    **_spellings("no more", "nomore"),
    **_spellings("opt out", "optout"),
    **_spellings("anymore", "anymor"),
    # Spanish
    **_spellings("mensajes", "msjs mjs mensages mnsjs msjes"),
    **_spellings("mensaje", "msj mensage"),
    **_spellings("por favor", "porfa porfavor xfa xfavor"),
}
_UNSUBSCRIBE_TYPO_MAX = len("unsubscribe") + 2
_TRIPLED = re.compile(r"(\w)\1\1")
_TRIPLED_RUN = re.compile(r"(\w)\1{2,}")
#: Any character three times in a row: the only case where elongated words need undoing.
_TRIPLE_CHARACTER = re.compile(r"(\S)\1\1")
#: "wrong #", "incorrect #".
_WRONG_HASH = re.compile(r"\b(wrong|incorrect)\s*#", re.IGNORECASE)


def _within_edits(word: str, target: str, limit: int) -> bool:
    """True when `word` is at most `limit` edits (Damerau-Levenshtein) away from `target`."""
    if abs(len(word) - len(target)) > limit:
        return False
    before_previous: list[int] = []
    previous = list(range(len(target) + 1))
    for i, char in enumerate(word, 1):
        current = [i] + [0] * len(target)
        for j, other in enumerate(target, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            if i > 1 and j > 1 and char == target[j - 2] and word[i - 2] == other:
                current[j] = min(current[j], before_previous[j - 2] + 1)
        if min(current) > limit:
            return False
        before_previous, previous = previous, current
    return previous[-1] <= limit


def _unsubscribe_typo(word: str) -> str | None:
    """'unsubscibe', 'unsuscribe', 'unsub' -> 'unsubscribe'; 'unsubscibed' -> 'unsubscribed'."""
    if word.startswith("unsub") and (len(word) == 5 or word[5] in "sc") and len(word) <= _UNSUBSCRIBE_TYPO_MAX:
        return "unsubscribed" if word.endswith("ed") else "unsubscribe"
    if 8 <= len(word) <= _UNSUBSCRIBE_TYPO_MAX and word.startswith("uns"):
        if _within_edits(word, "unsubscribe", 2):
            return "unsubscribe"
        if _within_edits(word, "unsubscribed", 2):
            return "unsubscribed"
    return None


def _standard_word(word: str, elongated: bool) -> str:
    """The standard spelling of one folded word (see `_SPELLING`); may be two words."""
    standard = _SPELLING.get(word)
    if standard is not None:
        return standard
    if elongated and _TRIPLED.search(word):
        # "STOPPPP" -> "stopp" -> "stop"; "stoooop" -> "stop": try two letters, then one.
        once = _TRIPLED_RUN.sub(r"\1", word)
        for candidate in (_TRIPLED_RUN.sub(r"\1\1", word), once):
            if candidate in _SPELLING:
                return _SPELLING[candidate]
            if candidate in _RULE_WORDS:
                return candidate
        word = once
    if word.startswith("uns") and len(word) > 4:
        typo = _unsubscribe_typo(word)
        if typo is not None:
            return typo
    return word


# --- context words ---------------------------------------------------------------------------------

#: Negation and doubt just before a request turn it around: "don't stop", "if you stop texting me".
_NEGATORS = frozenset(
    "dont not never cant cannot wont couldnt didnt doesnt wouldnt shouldnt aint isnt if unless hope no nunca "
    "jamas pas jamais".split()
)
#: The request is about someone else: "tell him to stop texting me", "my ex won't stop texting me".
_THIRD_PARTY = frozenset(
    "he she they him her them hes shes hed shed theyd ex mom mum dad sister brother bf gf boyfriend girlfriend "
    "husband wife friend friends boss everyone someone somebody people guy kids son daughter ella ellos il elle "
    "ils elles".split()
)
#: A story or a question about the past, not a request: "why did you stop texting me".
_NARRATIVE = frozenset("why did didnt".split())
#: A subject just before "don't"/"never" makes a statement, not an order: "you never text me anymore".
_SUBJECTS = frozenset("you i we they he she it people who".split())
#: Laughter and banter: "stop it lol", "Stop, you're too sweet".
_JOKING_WORDS = frozenset(
    "lol lool lolol lmao lmfao rofl haha hahaha hahah hehe hihi jk jaja jajaja jeje mdr ptdr xd xp hilarious funny "
    "blush blushing sweet cute crying dying silly".split()
)
_JOKING_PREFIXES = ("haha", "jaja", "hehe", "lmao", "lool")
_JOKING_EMOJI = re.compile(
    "[\U0001f602\U0001f923\U0001f606\U0001f605\U0001f61c\U0001f61d\U0001f61b\U0001f60a\U0001f970\U0001f60d"
    "\U0001f618\U0001f480\U0001f495\U0001f496\U0001f609\U0001f601\U0001f604\u2764]"
)
#: Words of a clause that show the contact does not want the messages; they back up a lone "stop"
#: in another clause ("STOP. Who is this?") and a bare "don't text me".
_COMPLAINT = re.compile(
    r"\bwho (?:is|are) (?:this|you)\b|\bwho (?:dis|the hell|tf)\b|\bwhos (?:this|that)\b|\bdont know (?:you|who)\b"
    r"|\bquien (?:es|eres|son)\b"
    r"|\bqui (?:est|etes)\b|\b(?:wrong|incorrect) (?:number|person)\b|\bnumero equivocado\b|\bmauvais numero\b"
    r"|\b(?:not|no longer) interested\b|\bno me interesa\b|\bpas interesse"
    r"|\b(?:didnt|did not|never) (?:sign|signed|subscribe|subscribed|ask|asked|consent|consented|agree|agreed|gave)\b"
    r"|\b(?:spam|spamming|spammer|harass|harassing|harassment|report|reported|block|blocked|stranger|annoying)\b"
    r"|\b(?:texts|messages|texting|sms|mensajes|textos|number|numero|list|lista|liste|permission|consent|privacy)\b"
    r"|\b(?:enough|already|again|basta|assez|fois)\b|\bthis (?:isnt|is not)\b|\b(?:dont|do not) want\b|\bno quiero\b"
    r"|\b(?:\d+(?:st|nd|rd|th)|second|third|fourth|fifth|tenth|hundredth|umpteenth|last|many|\d+) times?\b"
)
#: Complaints strong enough to make a keyword at one end of the same clause a request:
#: "I'm not interested stop", "STOP ya no quiero nada", "pls stop I don't want this".
_STRONG_COMPLAINT = re.compile(
    r"\b(?:not|no longer) interested\b"
    r"|\b(?:didnt|did not|never) (?:sign|signed|subscribe|subscribed|ask|asked|consent|consented|agree|agreed)\b"
    r"|\b(?:dont|do not|no longer) (?:want|need) (?:this|these|them|it|any|anything|your)\b"
    r"|\b(?:spam|spamming|harass|harassing|harassment|stranger)\b"
    r"|\bno (?:me interesa|quiero)\b|\bpas interesse|\bfois\b"
)
#: The strong complaints that are not English: a request made of one is in its language. (Capture groups in
#: `_STRONG_COMPLAINT` would slow every search of it about fourfold.)
_COMPLAINT_LANGUAGES = {"no me interesa": "es", "no quiero": "es", "pas interesse": "fr", "fois": "fr"}


@dataclass(frozen=True, slots=True)
class _Context:
    """Facts about the whole message that some rules weigh."""

    clauses: int
    complaint: bool


_Check = Callable[[list[str], re.Match[str], _Context], float | None]


@dataclass(frozen=True, slots=True)
class _Rule:
    reason: str
    #: The regular expression (re.M), compiled on first use (`pattern`): keywords and most replies run no rule, so a
    #: cold start does not compile the ~150 of them.
    source: str
    confidence: float
    #: Groups of words: the rule runs only when the message has a word of every group.
    triggers: tuple[frozenset[str], ...]
    #: Word beginnings that also trigger the rule (French elision: "m'envoyez" -> "menvoyez").
    stems: tuple[str, ...] = ()
    #: Reject a match preceded by a negation, a third party or a story in the same clause.
    guard: bool = True
    #: A further decision on the match: returns the confidence, or None to reject it.
    check: _Check | None = None
    #: The language of the words the rule matches (ISO 639-1): the reply's language.
    language: str | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compiled(self.source)


@cache
def _compiled(source: str) -> re.Pattern[str]:
    return re.compile(source, re.M)


def _rule(
    reason: str,
    pattern: str,
    confidence: float,
    triggers: str,
    *,
    stems: str = "",
    guard: bool = True,
    check: _Check | None = None,
) -> _Rule:
    groups = tuple(frozenset(group.split()) for group in triggers.split("|") if group.strip())
    return _Rule(reason, pattern, confidence, groups, tuple(stems.split()), guard, check)


def _imperative(prefix: list[str], match: re.Match[str], context: _Context) -> float | None:
    # "you never text me anymore" is a complaint about the past; "never text me again" is an order.
    if prefix[-1:] and (prefix[-1] in _SUBJECTS or _NARRATIVE.intersection(prefix)):
        return None
    return 1.0


def _imperative_alone(prefix: list[str], match: re.Match[str], context: _Context) -> float | None:
    # A bare "don't text me" may be followed by "I'm driving": sure only alone or with a complaint.
    if _imperative(prefix, match, context) is None:
        return None
    return 1.0 if context.clauses == 1 or context.complaint else 0.73


_SENDER_ITSELF = frozenset("i ive im oops we my".split())
_ADDRESSEE = frozenset("you youve yall they".split())


def _wrong_number(prefix: list[str], match: re.Match[str], context: _Context) -> float | None:
    # "I dialed the wrong number" is the sender's own mistake; "you have the wrong number" is ours.
    if not _SENDER_ITSELF.isdisjoint(prefix) and _ADDRESSEE.isdisjoint(prefix):
        return None
    if prefix[-2:] in (["is", "this"], ["is", "it"]):
        return 0.74  # "Is this a wrong number?" is a question
    if match.group("what") not in ("number", "no", "person", "persom"):
        return 0.84  # "wrong phone" is as often the sender's own device as our mistake
    return 1.0


def _said_of_themselves(prefix: list[str], match: re.Match[str], context: _Context) -> float | None:
    # "I'm not interested" refuses; "I thought you were not interested" talks about someone else.
    return None if {"you", "youre", "were", "was", "is", "are"}.intersection(prefix[-2:]) else 1.0


def _spanish_someone_else(prefix: list[str], match: re.Match[str], context: _Context) -> float | None:
    # "me equivoqué de número" (I got it wrong) is not "se equivocó de número" (you did).
    return None if match.group(0).startswith("equivoque") or prefix[-1:] == ["me"] else 1.0


def _french_negated(prefix: list[str], match: re.Match[str], context: _Context) -> float | None:
    # "ne m'envoyez plus" / "m'envoyez plus" ask to stop; "envoie-moi plus de photos" asks for more.
    return 1.0 if match.group(0)[0] in "mn" else None


# Building blocks. `_ME` and `_MSG_NOUN` say what is to stop; repeated groups hold single words only.
_ME = r"(?:me|us|my (?:phone|cell|number|phone number|cell phone|cellphone|mobile)|this (?:number|phone|phone number))"
_MSG_NOUN = (
    r"(?:texts|text messages|messages|sms|smss|spam|spam texts|promotions|promos|ads|offers|alerts|notifications|"
    r"reminders|marketing|marketing texts|emails|calls|robocalls|robotexts|junk|crap|shit|bs|communication|"
    r"communications|correspondence)"
)
_MSG_VERB = r"(?:texting|messaging|sending|contacting|calling|emailing|spamming|bothering|harassing|pestering)"
_MSG_BASE = r"(?:text|message|contact|call|email|sms|bother|spam|harass|ring)"
_DET = (
    r"(?:the|these|those|this|that|your|all|of|any|anymore|more|further|such|d|da|tha|dis|dem|them|ya|yo|my|our|"
    r"fucking|fuckin|freaking|damn|stupid|annoying|bloody|constant|endless|automated|promotional|spammy|text|sms)"
)
_DETS = rf"(?:{_DET} ){{0,4}}"
#: Words that may end a request without changing it. Multi-word items start with a word that is not
#: an item itself, so the repetition stays unambiguous.
_THEN = (
    r"(?: (?:please|thanks|thank you|now|right now|already|again|asap|immediately|ok|okay|omg|wtf|ffs|seriously|"
    r"for real|for good|forever|man|dude|bro|sir|anymore|any more|ever|period|thx|ty|lady|guys|yall))*"
)
_STOP_VERB = r"(?:stop|quit|cease|halt|discontinue)"
_LIST = (
    r"(?:list|lists|mailing list|texting list|text list|sms list|contact list|contacts|database|system|records|"
    r"registry|db|directory|roster)"
)
_FINAL = r"(?:again|anymore|any more|ever|no more|never again|period)"
_ES_WORDS = r"(?:mensajes|mensajitos|sms|textos|mas|nunca|nada|promociones|ningun|mensaje)"
_ES_MSG = r"(?:mensajes|mensajitos|sms|textos|promociones|mas mensajes|nada mas)"
_FR_MSG = r"(?:messages|sms|textos|texto|mails|notifications|promotions|pubs)"
#: What may follow "unsubscribe from" / "opt out of" for the request to be about our messages:
#: "from this", "from your list", "from texts"; not "from that newsletter" or "of dinner".
_ABOUT_US = (
    r"(?:(?:this|these|your|you|all|everything|here|it|them|any|future)\b"
    r"|(?:the |all |all the )?(?:texts|messages|list|lists|sms|alerts|promotions|marketing|notifications|"
    r"text messages|mailing list|communications|contact)\b)"
)

# Trigger words of the building blocks above.
_T_MSG_NOUNS = (
    "texts messages sms smss spam promotions promos ads offers alerts notifications reminders marketing emails calls "
    "robocalls robotexts junk crap shit bs communication communications correspondence"
)
_T_MSG_VERBS = "texting messaging sending contacting calling emailing spamming bothering harassing pestering"
_T_LISTS = "list lists contacts database system records registry db directory roster"
_T_ES_VERBS = (
    "envien envies envie envian mande manden mandes escriban escribas escriba contacten contactes contacte llamen "
    "molesten molestes textear enviar mandar escribir contactar llamar molestar"
)

#: "That's enough", in each language's section (a rule per language, so each knows its language).
_ENOUGH_LEAD = r"^(?:ok |okay |ya |already )?"

_ENGLISH_RULES: tuple[_Rule, ...] = (
    # -- English: stop the messages ---------------------------------------------------------------
    _rule(
        "asks to stop the messages",
        rf"\b{_STOP_VERB} (?:with )?{_DETS}{_MSG_NOUN}(?= from (?:you|your|this|them|yall|ya)\b|{_THEN}$)",
        0.95,
        f"stop quit cease halt discontinue | {_T_MSG_NOUNS}",
    ),
    _rule(
        "asks to stop messaging",
        rf"\b{_STOP_VERB} (?:(?:fucking|fuckin|freaking|frigging|damn|bloody|constantly|always) )?"
        rf"(?:{_MSG_VERB} (?:and|or|n) )?(?!sending\b)(?:{_MSG_VERB}|text|message|contact|email|sms)"
        rf"(?= {_ME}\b| here\b|{_THEN}$| (?:{_DET} )?{_MSG_NOUN}\b)",
        0.95,
        f"stop quit cease halt discontinue | {_T_MSG_VERBS} text message contact email sms",
    ),
    _rule(
        "asks to stop sending",
        # What is sent must be messages: not "stop sending him money", "stop sending me cat videos".
        rf"\b{_STOP_VERB} sending(?: me| us| this number| to this number| to me)?"
        rf"(?: {_DETS}{_MSG_NOUN}\b| (?:this|these|those|that|them|stuff|anything)(?= *$| (?:please|now|already|ok)\b)"
        rf"|{_THEN}$)",
        0.95,
        "sending | stop quit cease halt discontinue",
    ),
    _rule(
        "wants the messages to stop",
        rf"\b(?:these|the|your|all|this) {_DETS}{_MSG_NOUN} (?:to )?stop(?: now| please)?$",
        0.93,
        f"stop | {_T_MSG_NOUNS}",
    ),
    _rule(
        "says not to message them again",
        rf"\b(?:dont|do not|never|(?:can|could|would|will) you (?:please )?not)(?: you)?(?: ever)? "
        rf"(?:{_MSG_BASE}|send)(?: me| us| to me)?(?: this number| my number)?(?: {_MSG_NOUN}| anything| any messages)?"
        rf" {_FINAL}\b",
        0.97,
        "again anymore more ever period | dont not never "
        "| text message contact call email sms bother spam harass ring send",
        guard=False,
        check=_imperative,
    ),
    _rule(
        "says not to message them",
        rf"\b(?:dont|do not|never)(?: ever)? (?:text|message|contact|sms|email|bother|spam|harass) {_ME}"
        r"(?: please| thanks| thank you| ok| okay)*$",
        0.92,
        "text message contact sms email bother spam harass | dont not never",
        guard=False,
        check=_imperative_alone,
    ),
    _rule(
        "says not to send any more messages",
        rf"\b(?:dont|do not|never) send(?: me| us)?(?: {_DET}){{0,4}} {_MSG_NOUN}\b"
        r"(?! (?:after|before|until|til|till|at|on|in|during|while|about|to)\b)",
        0.95,
        f"{_T_MSG_NOUNS} | send | dont not never",
        guard=False,
        check=_imperative,
    ),
    _rule(
        "asks politely for the messages to stop",
        rf"\b(?:appreciate it|appreciate|be grateful) if you (?:would |could |please )?"
        rf"(?:(?:stop|stopped|quit|ceased|no longer|didnt|did not|dont|do not|never) "
        rf"(?:{_MSG_VERB}|text|texted|message|messaged|contact|contacted|call|called|email|emailed)\b|stopped$|stop$)",
        0.93,
        "appreciate grateful | if",
        guard=False,
    ),
    _rule(
        "says not to send anything else",
        r"\b(?:dont|do not|never) send (?:me |us )?(?:anything|nothing)(?: else| more)?(?: please| thanks| ok)*$",
        0.93,
        "anything nothing | send | dont not never",
        guard=False,
        check=_imperative,
    ),
    _rule("demands they cease and desist", r"\bcease and desist\b", 0.93, "desist"),
    _rule(
        "says not to call them",
        rf"\b(?:dont|do not|never) (?:call|ring|phone) {_ME}(?: please| thanks| ok)*$",
        0.8,
        "call ring phone | dont not never",
        guard=False,
        check=_imperative_alone,
    ),
    _rule(
        "does not want the messages",
        rf"\b(?:dont|do not|no longer|never)(?: really)? (?:want|wish|need|like)"
        rf"(?: to (?:receive|get|be getting|keep getting|keep receiving|have|see))?(?: {_DET}){{0,4}} {_MSG_NOUN}\b",
        0.95,
        f"{_T_MSG_NOUNS} | want wish need like | dont not never longer",
        guard=False,
    ),
    _rule(
        "does not want these",
        r"\b(?:dont|do not) (?:want|need) (?:these|this|them|any of this|any of these)$",
        0.75,
        "want need | dont not | these this them",
        guard=False,
    ),
    _rule(
        "does not want to be contacted",
        r"\b(?:dont|do not|no longer|never) (?:want|wish|consent) to (?:be )?(?:texted|contacted|messaged|called|"
        r"receive|receiving|get text|get messages|hear from you)",
        0.95,
        "want wish consent | dont not never longer",
        guard=False,
    ),
    _rule(
        "does not consent to the messages",
        r"\b(?:dont|do not|did not|didnt|never) (?:consent|consented|agree|agreed|give permission|gave permission|"
        r"gave you permission|give you permission|authorize|authorized)\b",
        0.85,
        "consent consented agree agreed permission authorize authorized | dont not didnt never",
        guard=False,
    ),
    _rule(
        "not interested in the messages",
        rf"\bnot interested in (?:receiving|getting|these|your|any)(?: {_DET}){{0,4}} {_MSG_NOUN}",
        0.95,
        f"interested | {_T_MSG_NOUNS}",
    ),
    _rule(
        "asks for no more messages",
        rf"(?:^|\b(?:please|so|ok|okay|just|and|i want|i said|i need) )(?:no more|no further) {_DETS}{_MSG_NOUN}"
        r"(?! from (?!you\b|your\b|this\b|them\b|yall\b|ya\b))",
        0.95,
        f"{_T_MSG_NOUNS} | more further | no",
    ),
    _rule("asks for no more", r"^(?:please )?no more(?: please| thanks)*$", 0.75, "more"),
    # -- English: the list ------------------------------------------------------------------------
    _rule(
        "asks to be taken off the list",
        rf"\b(?:take|get|remove|delete|erase|drop|scratch|cross|strike) (?:me|us|my (?:number|name|phone|phone number|"
        rf"cell|info|information|details|contact|contact info|email)|this number|this phone|this phone number) "
        rf"(?:off|of|out of|from)(?: of)? (?:your|the|this|that|all|ya|these|any|our|da)(?: \w+){{0,2}} {_LIST}\b",
        0.97,
        f"{_T_LISTS} | take get remove delete erase drop scratch cross strike | off of from out",
    ),
    _rule(
        "wants out of the list",
        rf"\b(?:want|get me|let me|take me) (?:out|off) (?:of |from )?(?:this|your|the|ya|that)(?: \w+)? {_LIST}\b",
        0.93,
        f"{_T_LISTS} | out off",
    ),
    _rule(
        "asks to be removed",
        r"\b(?:remove|delete|erase|unlist|unenroll|unenrol|unregister|deregister) (?:me|us|my (?:number|phone number|"
        r"phone|cell|contact info|details|info)|this number|this phone number)(?: please| thanks| now| asap| too)*$",
        0.95,
        "remove delete erase unlist unenroll unenrol unregister deregister",
    ),
    _rule(
        "asks to be taken off",
        r"\btake (?:me|us|my number|my name|this number) (?:off|of)(?: please| thanks| now| asap)*$",
        0.92,
        "take | off of",
    ),
    _rule(
        "asks to be removed from the list",
        rf"^(?:please )?(?:remove|delete|take) (?:from|off|of) (?:the |your |this |ya )?{_LIST}",
        0.92,
        f"{_T_LISTS} | remove delete take",
    ),
    _rule(
        "asks to be removed",
        r"\b(?:be|get|been|to be) (?:removed|taken off|deleted|unsubscribed|opted out|taken out)\b",
        0.95,
        "removed taken deleted unsubscribed opted",
    ),
    _rule(
        "asks them to lose the number",
        r"\b(?:lose|forget|delete|erase|remove|trash|burn) (?:my|this) (?:number|phone number|digits)\b"
        r"(?! (?:for|on|in)\b)",
        0.93,
        "lose forget delete erase remove trash burn | number digits",
    ),
    _rule(
        "asks for the do-not-contact list",
        r"\bdo not (?:call|text|contact|message|sms|email) (?:list|registry)\b",
        0.93,
        "list registry | not",
        guard=False,
    ),
    # -- English: the FCC's words in other positions ----------------------------------------------
    _rule(
        "asks to unsubscribe",
        rf"\bunsubscribe\b(?! from (?!{_ABOUT_US}))",
        0.95,
        "unsubscribe",
    ),
    _rule(
        "says they have unsubscribed",
        r"\b(?:i|ive|i have|i already|already|i just) unsubscribed\b",
        0.9,
        "unsubscribed",
    ),
    _rule(
        "asks to opt out",
        rf"\bopt(?:ing)? (?:me |us |my number |this number )?out\b(?! of (?!{_ABOUT_US}))",
        0.95,
        "opt opting | out",
    ),
    _rule(
        "revokes consent",
        r"\b(?:revoke|revoking|withdraw|withdrawing|rescind|rescinding|cancel|cancelling|canceling) "
        r"(?:my |all |any |the )?(?:consent|permission|authorization|authorisation|opt in|agreement)\b",
        0.97,
        "revoke revoking withdraw withdrawing rescind rescinding cancel cancelling canceling "
        "| consent permission authorization authorisation in agreement",
    ),
    _rule(
        "asks to cancel the messages",
        rf"\b(?:cancel|end|stop|quit|terminate)(?: {_DET}){{0,4}}(?: texting| message| messaging)? "
        rf"(?:subscription|subscriptions|{_MSG_NOUN})\b(?! (?:for|on|at|in|with)\b)",
        0.95,
        f"cancel end stop quit terminate | subscription subscriptions {_T_MSG_NOUNS}",
    ),
    _rule(
        "complains of being messaged",
        rf"\b(?:you|yall|they|why do you|why does this number|why are you|why) (?:keep|always keep|still keep) "
        rf"{_MSG_VERB} (?:me|us|this number)\b",
        0.8,
        f"keep | {_T_MSG_VERBS}",
        guard=False,
    ),
    # -- English: wrong number and refusals in other words ------------------------------------------
    _rule(
        "says it is the wrong number",
        r"\b(?:a |the |an )?(?:wrong|incorrect) "
        r"(?P<what>number|no|phone|person|persom|guy|girl|contact|cell|recipient)\b"
        # Not "wrong number for the plumber", "wrong number on the invoice", "wrong person lol".
        r"(?! (?:for|on|in|at|from|of|to|earlier|yesterday|before|last|lol|haha|lmao|jk|xd)\b)",
        0.95,
        "wrong incorrect",
        check=_wrong_number,
    ),
    _rule(
        "says the number is not theirs",
        r"\b(?:this|that|it) (?:is not|isnt|is no longer|aint) (?:\w+ )?(?:number|phone)\b"
        r"|\b(?:doesnt|does not|no longer) (?:have|has|use|uses|own|owns) this (?:number|phone)\b"
        r"|\bthis (?:number|phone) (?:doesnt|does not|no longer) belongs?\b"
        r"|\bnot (?:the right|my|his|her|their) (?:number|person)\b",
        0.88,
        "number phone person | not isnt longer aint doesnt",
        guard=False,
    ),
    _rule(
        "asks to be left alone",
        r"^(?:please |just |whoever this is |whoever you are |now )?leave (?:me|us) alone(?: please| now)*$",
        0.9,
        "alone | leave",
    ),
    _rule(
        "tells them off",
        r"^(?:(?:just|now|so|please|oh|ok|okay|and|pls|then|can you|could you|why dont you) )*"
        r"(?:(?:fuck|f|eff|piss|bugger|sod|fuk|fck|fk) off|go away|leave (?:me|us) alone)\b",
        0.8,
        "off away alone | fuck f eff piss bugger sod fuk fck fk go leave",
    ),
    _rule(
        "is not interested",
        r"\b(?:not|no longer) interested\b(?! (?:in|to|at|for|on|by|with)\b)",
        0.7,
        "interested",
        check=_said_of_themselves,
    ),
    _rule(
        "did not sign up",
        r"\b(?:didnt|did not|never|not) (?:sign|signed|subscribe|subscribed|opt|opted|ask|asked)(?: up)? "
        r"(?:for (?:this|these|that|it|them|your|any)|to (?:this|these|your|receive|get)|in)\b"
        r"|\b(?:didnt|did not|never) (?:sign|signed) up$",
        0.8,
        "sign signed subscribe subscribed opt opted ask asked | didnt not never",
        guard=False,
    ),
    _rule(
        "asks how their number was obtained",
        r"\b(?:how did you|where did you|who gave you|how do you have|why do you have) "
        r"(?:get |have |got )?(?:my|this) (?:number|phone number|info|details)\b",
        0.7,
        "number info details | how who where why",
    ),
    _rule(
        "calls it spam or harassment",
        r"^(?:this is |this is just |its )?(?:spam|harassment|harassing)$"
        r"|\breported (?:as |this as |you as |for )?spam\b"
        r"|\bthis is harassment\b",
        0.8,
        "spam harassment harassing reported",
    ),
    _rule("has had enough", rf"{_ENOUGH_LEAD}(?:enough|enough already)$", 0.65, "enough"),
)
_SPANISH_RULES: tuple[_Rule, ...] = (
    # -- Spanish ----------------------------------------------------------------------------------
    _rule(
        "pide no recibir más mensajes",
        r"\bno (?:me |nos )?(?:vuelvan a |vuelvas a |vuelva a )?(?:envien|envies|envie|envian|mande|manden|mandes|"
        r"escriban|escribas|escriba|contacten|contactes|contacte|llamen|molesten|molestes|textear|enviar|mandar|"
        rf"escribir|contactar|llamar|molestar)(?: {_ES_WORDS})+\b",
        0.95,
        f"{_T_ES_VERBS} | no",
        guard=False,
    ),
    _rule(
        "pide no recibir mensajes",
        r"\bno (?:me |nos )(?:vuelvan a |vuelvas a |vuelva a )?(?:envien|envie|manden|mande|escriban|escriba|"
        r"contacten|contacte|llamen|molesten|escribir|mandar|enviar|contactar|llamar|mandar mensajes|"
        r"enviar mensajes)(?: por favor| gracias| ya)*$",
        0.9,
        f"{_T_ES_VERBS} | no",
        guard=False,
    ),
    _rule(
        "pide que dejen de enviar mensajes",
        r"\b(?:dejen|deja|dejar|deje|paren|para|pare|parar) (?:de|d) "
        r"(?:(?:enviar|mandar|escribir|contactar|llamar|molestar|textear|mensajear)(?:me|nos)?|recibir)"
        rf"(?= *$| (?:{_ES_WORDS}|sus|tus|estos|por|ya|gracias|que|con)\b)",
        0.95,
        "dejen deja dejar deje paren para pare parar",
    ),
    _rule(
        "pide parar los mensajes",
        r"\b(?:paren|parar|pare|detengan|detener|cancelen|cancelar|cancela|cancelo|quitar|quiten) "
        r"(?:los |estos |sus |tus |mis |la |las |mi |esta |estas )?(?:mensajes|sms|textos|suscripcion|suscripciones|"
        r"alertas|notificaciones|promociones)\b",
        0.95,
        "paren parar pare detengan detener cancelen cancelar cancela cancelo quitar quiten",
    ),
    _rule(
        "no quiere más mensajes",
        r"\bno (?:quiero|deseo|necesito|queremos)(?: recibir| seguir recibiendo| mas| sus| tus| estos| ningun){0,3} "
        rf"{_ES_MSG}\b",
        0.95,
        "quiero deseo necesito queremos",
    ),
    _rule(
        "pide darse de baja",
        r"\b(?:darme|darse|dar|dame|denme|deme|doy|darnos|me doy|me dan|quiero darme|me quiero dar|den) de baja\b"
        r"(?! (?:del|de la|de el|de mi) (?!lista|listas|mensajes|sms|servicio|suscripcion|esta|este|su|sus)\w)",
        0.95,
        "baja",
    ),
    _rule(
        "pide que lo saquen de la lista",
        r"\b(?:sacame|saquenme|sacarme|saqueme|quitame|quitenme|quiteme|quitarme|borrenme|borrame|eliminenme|"
        r"eliminame|borrarme|eliminarme) (?:de )?(?:la |su |tu |esta |sus |las )?(?:lista|listas|base|contactos)\b",
        0.95,
        "sacame saquenme sacarme saqueme quitame quitenme quiteme quitarme borrenme borrame eliminenme eliminame "
        "borrarme eliminarme",
    ),
    _rule(
        "pide borrar su número",
        r"\b(?:borren|borra|borrar|eliminen|elimina|eliminar|quiten|quitar) (?:mi|este) (?:numero|telefono|contacto|"
        r"celular)\b",
        0.95,
        "borren borra borrar eliminen elimina eliminar quiten quitar",
    ),
    _rule(
        "pide no más mensajes",
        rf"(?:^|\b(?:ya|por favor) )(?:no mas|basta de|ya basta de|nada de|no quiero mas) {_ES_MSG}\b",
        0.95,
        "mas basta nada | mensajes mensajitos sms textos promociones",
        guard=False,
    ),
    _rule(
        "dice número equivocado",
        r"\b(?:numero equivocado|numero incorrecto|equivocado de numero|equivoco de numero|equivocaron de numero|"
        r"equivocada de numero|"
        r"equivocan de numero|equivoque de numero)\b(?= *$| (?:por favor|gracias|no|ya|dejen|perdon)\b)",
        0.95,
        "equivocado equivoco equivocaron equivocada equivocan equivoque incorrecto",
        check=_spanish_someone_else,
    ),
    _rule(
        "pide que lo dejen en paz",
        r"\b(?:dejenme|dejame|dejen me|deja me|dejeme|dejennos) en paz\b",
        0.9,
        "dejenme dejame dejen deja dejeme dejennos",
    ),
    _rule(
        "no le interesa",
        r"\bno (?:me interesa|estoy interesad[oa]|nos interesa)\b(?! (?:el|la|los|las|eso|ir|en)\b)",
        0.7,
        "interesa interesado interesada",
    ),
    _rule("has had enough", rf"{_ENOUGH_LEAD}(?:ya basta|basta)$", 0.65, "basta"),
)
_FRENCH_RULES: tuple[_Rule, ...] = (
    # -- French -----------------------------------------------------------------------------------
    _rule(
        "demande de ne plus envoyer de messages",
        r"\b(?:ne |n )?(?:me |m )?(?:m|n|nm)?(?:envoy|ecri|contact|appel|derang|harcel|text|spam)\w* (?:plus|jamais)\b"
        rf"(?! (?:de|d) (?!{_FR_MSG})\w)"
        r"|\bne plus (?:me |m )?m?(?:envoy|ecri|contact|appel|derang|recevoir)\w*",
        0.95,
        "plus jamais",
        guard=False,
        check=_french_negated,
    ),
    _rule(
        "demande d'arrêter les messages",
        r"\barret\w* (?:de |d )?(?:m |me |nous )?m?(?:envoy|ecri|contact|appel|harcel|spam|text|derang)\w*"
        rf"|\b(?:arret\w*|stop)(?: svp| les| vos| ces| tes| des| de| aux| a)+ {_FR_MSG}\b",
        0.95,
        "stop | messages sms textos texto mails notifications promotions pubs",
        stems="arret",
    ),
    _rule(
        "ne veut plus de messages",
        r"\bne (?:veux|souhaite|desire|voudrais|voulons|souhaitons) plus "
        rf"(?:recevoir(?: (?:de|d|vos|ces|les|des|aucun)){{0,2}}(?: {_FR_MSG}| rien)?"
        rf"|(?:(?:de|d|vos|ces|les|aucun) ){{0,2}}"
        rf"(?:{_FR_MSG}|rien)\b|etre contacte\w*)",
        0.95,
        "plus",
        guard=False,
    ),
    _rule(
        "veut se désabonner",
        r"\b(?:desabonn|desinscri|desinscription|desabonnement)\w*",
        0.95,
        "",
        stems="desabonn desinscri",
    ),
    _rule(
        "demande d'être retiré de la liste",
        r"\b(?:retirez|retire|enlevez|enleve|supprimez|supprime|effacez|efface|rayez) (?:moi|mon numero|mon nom|"
        r"mon contact|nous)\b(?! (?!de (?:la|votre|vos|ta|cette|ces|mes) (?:liste|listes|base|fichier|contacts))\w)",
        0.95,
        "retirez retire enlevez enleve supprimez supprime effacez efface rayez",
    ),
    _rule(
        "demande d'annuler l'abonnement",
        r"\b(?:annulez|annuler|annule|resiliez|resilier) (?:mon |votre |les |mes |ce |cet )?"
        r"(?:abonnement|abonnements|sms|messages|inscription|labonnement|linscription)\b",
        0.95,
        "annulez annuler annule resiliez resilier",
    ),
    _rule("demande plus de messages", rf"^(?:svp |merci )?plus de {_FR_MSG}\b", 0.92, "plus"),
    _rule(
        "dit mauvais numéro",
        r"\b(?:mauvais|faux) numero\b(?= *$| (?:svp|merci|desole|pardon|arretez|vous|stop)\b)"
        r"|\b(?:vous etes|tu tes|vous vous etes|vous vous) trompes? de numero\b|\berreur de numero\b",
        0.95,
        "numero",
    ),
    _rule(
        "demande qu'on le laisse tranquille",
        r"\b(?:laissez|laisse|fichez|foutez) (?:moi |nous )?(?:tranquille|tranquilles|en paix|la paix)\b",
        0.9,
        "laissez laisse fichez foutez",
    ),
    _rule(
        "n'est pas intéressé",
        r"\b(?:pas|plus) interess(?:e|ee|es|ees)\b(?! (?:par|pour|de)\b)",
        0.7,
        "interesse interessee interesses interessees",
    ),
    _rule("has had enough", rf"{_ENOUGH_LEAD}(?:assez|ca suffit)$", 0.65, "assez suffit"),
)


def _in_language(language: str, rules: tuple[_Rule, ...]) -> tuple[_Rule, ...]:
    """One language's section of the rules: a request they find is written in that language."""
    return tuple(replace(rule, language=language) for rule in rules)


_RULES: tuple[_Rule, ...] = (
    *_in_language("en", _ENGLISH_RULES),
    *_in_language("es", _SPANISH_RULES),
    *_in_language("fr", _FRENCH_RULES),
)

# Rules are indexed by the words of their first trigger group.
_RULES_BY_WORD: dict[str, tuple[_Rule, ...]] = {}
for _each in _RULES:
    for _word in _each.triggers[0] if _each.triggers else ():
        _RULES_BY_WORD[_word] = (*_RULES_BY_WORD.get(_word, ()), _each)
_FIRST_TRIGGERS = frozenset(_RULES_BY_WORD)
_RULES_BY_STEM: dict[str, tuple[_Rule, ...]] = {}
for _each in _RULES:
    for _stem in _each.stems:
        _RULES_BY_STEM[_stem] = (*_RULES_BY_STEM.get(_stem, ()), _each)
# Some French words come in many forms ("arrête", "arrêtez", "désabonnez-moi", "désinscription"):
# those rules run on word beginnings; one search finds them all.
_STEM_SEARCH = re.compile(r"\b(" + "|".join(sorted(_RULES_BY_STEM)) + ")")
_STEMS = tuple(sorted(_RULES_BY_STEM))
#: Words the respelling may produce from an elongated word ("stoooop" -> "stop").
_RULE_WORDS = frozenset(
    {word for rule in _RULES for group in rule.triggers for word in group} | set(_SPELLING.values())
)

# --- a keyword in a clause of its own ------------------------------------------------------------

#: Words that may come before a keyword in a clause without changing it: "I said stop".
_LEAD_PHRASES = frozenset(
    tuple(phrase.split())
    for phrase in (
        "please",
        "just",
        "so",
        "ok",
        "okay",
        "hey",
        "hi",
        "hello",
        "yo",
        "omg",
        "oh my god",
        "seriously",
        "again",
        "now",
        "bro",
        "dude",
        "man",
        "sir",
        "maam",
        "guys",
        "ugh",
        "wtf",
        "ffs",
        "god",
        "jesus",
        "kindly",
        "honestly",
        "for real",
        "for the last time",
        "once again",
        "one more time",
        "i said",
        "i say",
        "i already said",
        "i just said",
        "i said to",
        "i told you",
        "i told you to",
        "i asked you",
        "i asked you to",
        "i already told you to",
        "i already asked you to",
        "ive told you",
        "ive told you to",
        "ive asked you",
        "ive asked you to",
        "ive told you before to",
        "ive asked you before to",
        "i have told you to",
        "i have asked you to",
        "i need you to",
        "i want you to",
        "i would like you to",
        "id like you to",
        "can you",
        "can you please",
        "could you",
        "could you please",
        "would you",
        "would you please",
        "will you",
        "you need to",
        "you have to",
        "you must",
        "you can",
        "you should",
        "you better",
        "how many times do i have to say",
        "ya dije",
        "te dije",
        "les dije",
        "dije",
        "por favor",
        "jai dit",
        "je vous ai dit",
        "je tai dit",
        "svp",
        "ya",
        "whoever this is",
        "whoever you are",
    )
)
#: Words that may follow a keyword in its clause: "stop it", "stop this now".
_TAIL_PHRASES = frozenset(
    tuple(phrase.split())
    for phrase in (
        "it",
        "this",
        "that",
        "these",
        "those",
        "them",
        "now",
        "right now",
        "already",
        "immediately",
        "asap",
        "all",
        "everything",
        "again",
        "please",
        "thanks",
        "thank you",
        "ok",
        "okay",
        "period",
        "for real",
        "for good",
        "forever",
        "seriously",
        "man",
        "dude",
        "bro",
        "sir",
        "yall",
        "guys",
        "me",
        "ahora",
        "ya",
        "todo",
        "eso",
        "esto",
        "maintenant",
        "tout",
        "ca",
        "svp",
        "merci",
        "thx",
        "ty",
        "omg",
        "wtf",
    )
)
_LEAD_MAX = max(len(phrase) for phrase in _LEAD_PHRASES)
_TAIL_MAX = max(len(phrase) for phrase in _TAIL_PHRASES)
#: Keywords that often mean something else ("I quit", "the end", "cancel dinner", "alto" = tall).
_WEAK_KEYWORDS = frozenset({"CANCEL", "CANCELAR", "QUIT", "END", "ALTO"})
#: Words that act as an opt-out keyword inside a clause only ("Arrêtez !", "arrête").
_CLAUSE_KEYWORDS = {"arretez": "arret", "arrete": "arret", "arreter": "arret"}
#: Of those, the familiar ones, which friends use too ("arrête, tu me fais rougir").
_CASUAL_CLAUSE_KEYWORDS = frozenset({"arrete", "arreter"})
#: Raw words from which some rule or keyword could start, respelled or not.
_RELEVANT_WORDS = (
    _FIRST_TRIGGERS
    | _CLAUSE_KEYWORDS.keys()
    | {word for word, standard in _SPELLING.items() if not _FIRST_TRIGGERS.isdisjoint(standard.split())}
    | {word for word, standard in _SPELLING.items() if standard.split()[0] in ("stop", "opt")}
)


def _strip_phrases(words: list[str], phrases: frozenset[tuple[str, ...]], longest: int, from_end: bool) -> list[str]:
    """Remove any run of `phrases` from the start (or the end) of `words`."""
    changed = True
    while changed and words:
        changed = False
        for length in range(min(longest, len(words)), 0, -1):
            piece = tuple(words[-length:]) if from_end else tuple(words[:length])
            if piece in phrases:
                words = words[:-length] if from_end else words[length:]
                changed = True
                break
    return words


@dataclass(frozen=True, slots=True)
class _ClauseKeyword:
    keyword: str
    is_stop_all: bool
    language: str | None
    #: A keyword that often means something else, or a familiar French form.
    weak: bool
    #: Lead-in or tail words were removed ("stop it"), rather than just a respelling ("stpo").
    trimmed: bool
    #: Only the first or last word is a keyword, next to a complaint ("I'm not interested stop").
    partial: bool


def _is_small_talk(words: list[str]) -> bool:
    """A clause of nothing but lead-in, tail and filler words ("now", "please", "omg", "thank you")."""
    core = _strip_phrases(_strip_phrases(words, _LEAD_PHRASES, _LEAD_MAX, False), _TAIL_PHRASES, _TAIL_MAX, True)
    position = 0
    while position < len(core):
        length = filler_length(core, position)
        if not length:
            return False
        position += length
    return True


def _keyword_of(words: list[str], table: KeywordTable) -> tuple[str, bool, str | None] | None:
    recognition = match_keywords([_CLAUSE_KEYWORDS.get(word, word) for word in words], table)
    if recognition.intent is not Intent.OPT_OUT or recognition.keyword is None:
        return None
    return recognition.keyword, recognition.is_stop_all, recognition.language


def _clause_keyword(words: list[str], table: KeywordTable) -> _ClauseKeyword | None:
    """A clause that is a keyword once lead-in and tail words are removed: "I said stop", "stop it"."""
    led = _strip_phrases(words, _LEAD_PHRASES, _LEAD_MAX, False)
    # Try before removing the tail, so that "I said stop all" keeps its ALL.
    found = _keyword_of(led, table) if led else None
    core = led if found is not None else _strip_phrases(led, _TAIL_PHRASES, _TAIL_MAX, True)
    if not core:
        return None
    casual = not _CASUAL_CLAUSE_KEYWORDS.isdisjoint(core)
    found = found or _keyword_of(core, table)
    partial = False
    if found is None:
        # "STOP ya no quiero nada", "I'm not interested stop": a keyword at one end and a complaint.
        complaint = _STRONG_COMPLAINT.search(" ".join(led))
        if complaint is None:
            return None
        found = _keyword_of(core[:1], table) or _keyword_of(core[-1:], table)
        if found is None:
            return None
        partial = True
        if complaint.group(0) in _COMPLAINT_LANGUAGES:
            found = (found[0], found[1], _COMPLAINT_LANGUAGES[complaint.group(0)])  # "STOP ya no quiero nada"
    keyword, is_stop_all, language = found
    weak = casual or keyword in _WEAK_KEYWORDS
    return _ClauseKeyword(keyword, is_stop_all, language, weak, core != words, partial)


def _clause_keyword_confidence(
    found: _ClauseKeyword, alone: bool, complaint_elsewhere: bool, respelled: bool
) -> tuple[float, str]:
    """How sure a keyword clause makes us, given whether it is `alone` or the rest complains."""
    if found.partial:
        return (0.75 if found.weak else 0.9), "keyword next to a complaint"
    if alone:
        if found.weak:
            # "quit it" is a request; "end it" and "cancel it" may be about something else.
            return (0.9 if found.keyword == "QUIT" or not found.trimmed else 0.8), "keyword in a short request"
        if respelled and not found.trimmed:
            return 0.93, "misspelt keyword"
        return 0.95, "keyword in a short request"
    if complaint_elsewhere:
        return (0.75 if found.weak else 0.93), "keyword with a complaint"
    return (0.65 if found.weak else 0.8), "keyword in a longer message"


# --- detection -----------------------------------------------------------------------------------


def _has_un_word(folded: str) -> bool:
    """A word starting with "uns": perhaps an "unsubscribe" typo."""
    return folded.startswith("uns") or " uns" in folded or "\nuns" in folded


def _may_need_respelling(folded: str) -> bool:
    """Elongated words ("stoooop") or words starting with "un" need more than a dictionary look-up."""
    return _has_un_word(folded) or _TRIPLE_CHARACTER.search(folded) is not None


def _respell(folded: str) -> tuple[str, list[list[str]], bool]:
    """Respelled clauses of a folded message: (clauses as lines of words, clauses, anything respelled)."""
    # Most words need one dictionary look-up; elongated words and "un..." words (possible
    # "unsubscribe" typos) need more work, so that only runs when the message has one.
    elongated = _TRIPLE_CHARACTER.search(folded) is not None
    odd = elongated or _has_un_word(folded)
    spelling = _SPELLING
    clauses: list[list[str]] = []
    respelled = False
    for line in folded.split("\n"):
        words = line.split()
        if not words:
            continue
        if odd:
            standard = [_standard_word(word, elongated) for word in words]
        else:
            standard = [spelling.get(word, word) for word in words]
        if standard != words:
            respelled = True
            standard = " ".join(standard).split()
        clauses.append(standard)
    return "\n".join(" ".join(words) for words in clauses), clauses, respelled


def _by_confidence(rule: _Rule) -> float:
    return rule.confidence


def _candidates(words: set[str], text: str) -> list[_Rule]:
    """The rules whose trigger words are all in `words`, strongest first (once one matches,
    weaker ones need not run)."""
    found: dict[int, _Rule] = {}
    for word in _FIRST_TRIGGERS.intersection(words):
        for rule in _RULES_BY_WORD[word]:
            if all(not group.isdisjoint(words) for group in rule.triggers[1:]):
                found[id(rule)] = rule
    if any(stem in text for stem in _STEMS):
        for stem in _STEM_SEARCH.findall(text):
            for rule in _RULES_BY_STEM[stem]:
                found[id(rule)] = rule
    return sorted(found.values(), key=_by_confidence, reverse=True) if found else []


def _may_hold_keyword(words: set[str], table: KeywordTable) -> bool:
    """Whether some clause could be an opt-out keyword with a lead-in or tail ("I said stop")."""
    return not table.opt_out_heads.isdisjoint(words) or not words.isdisjoint(_CLAUSE_KEYWORDS)


def _prefix(text: str, start: int) -> list[str]:
    """The words before `start` in its clause."""
    return text[text.rfind("\n", 0, start) + 1 : start].split()


def _guarded(prefix: list[str]) -> bool:
    """True when the words before a match make it something other than a request."""
    return (
        not _NEGATORS.isdisjoint(prefix[-3:])
        or not _THIRD_PARTY.isdisjoint(prefix)
        or not _NARRATIVE.isdisjoint(prefix)
    )


def _joking(words: set[str], text: str) -> bool:
    """Laughter or banter anywhere in the message."""
    if not _JOKING_WORDS.isdisjoint(words) or any(word.startswith(_JOKING_PREFIXES) for word in words):
        return True
    return not text.isascii() and _JOKING_EMOJI.search(text) is not None


def detect(text: str, extra: ExtraKeywords = NO_EXTRA_KEYWORDS) -> Detection:
    """Decide whether `text` asks to stop the messages (DESIGN rules 6 and 7).

    A keyword message (see `keywords.recognise`, with the account's `extra` keywords) returns its
    intent with confidence 1.0. Otherwise natural-language rules look for an opt-out request in
    English, Spanish or French and return intent OPT_OUT with a confidence: >= 0.9 for a clear
    request ("please stop texting me", "take me off your list", "wrong number"), 0.6-0.9 for an
    ambiguous one to review ("not interested"), or intent NONE when nothing asks to stop.
    `reason` names the rule and quotes the words that decided it.
    """
    folded = fold(text)
    words = folded.split()
    if not words:
        return _STOP_SIGN_ONLY if "\U0001f6d1" in text else _NOTHING
    table = keyword_table(extra)
    if not table.words.isdisjoint(words):
        recognition = match_keywords(words, table)
        if recognition.intent is not Intent.NONE:
            return Detection(
                recognition.intent,
                recognition.confidence,
                recognition.reason,
                recognition.keyword,
                recognition.is_stop_all,
                recognition.language,
            )

    if "#" in text and _WRONG_HASH.search(text):
        # "wrong #" is common shorthand; '#' is otherwise dropped with the punctuation.
        folded = fold(_WRONG_HASH.sub(r"\1 number", text))
        words = folded.split()
    elif _RELEVANT_WORDS.isdisjoint(words) and table.opt_out_heads.isdisjoint(words):
        if not _may_need_respelling(folded) and not any(stem in folded for stem in _STEMS):
            # The common case: an ordinary reply with no word any rule or keyword could start from.
            return _NOTHING
    elif not _may_need_respelling(folded):
        # Decide on the words alone whether any rule can run, before splitting clauses.
        standard_words = set(words)
        if not _SPELLING.keys().isdisjoint(standard_words):
            standard_words = {part for word in standard_words for part in _SPELLING.get(word, word).split()}
        if not _candidates(standard_words, folded) and not _may_hold_keyword(standard_words, table):
            return _NOTHING

    normalised, clauses, respelled = _respell(folded)
    message_words = set(normalised.split())
    candidates = _candidates(message_words, normalised)
    has_keyword = _may_hold_keyword(message_words, table)
    if not candidates and not has_keyword:
        return _NOTHING

    joking = _joking(message_words, text)
    best: Detection | None = None
    word_count = sum(len(clause) for clause in clauses)

    # 1. A clause that is a keyword with a lead-in or a tail: "I said stop", "Stop it", "STOP. Who is this?"
    if has_keyword:
        complaints = [_COMPLAINT.search(" ".join(clause)) is not None for clause in clauses]
        complaining_clauses = sum(complaints)
        # "STOP IT!!! NOW!!!": clauses of nothing but "now", "please", "seriously" add nothing.
        substantial = [index for index, clause in enumerate(clauses) if not _is_small_talk(clause)]
        for index, clause in enumerate(clauses):
            found = _clause_keyword(clause, table)
            if found is None:
                continue
            alone = substantial in ([], [index])
            complaint_elsewhere = complaining_clauses - complaints[index] > 0
            confidence, how = _clause_keyword_confidence(found, alone, complaint_elsewhere, respelled)
            if word_count > 25 and not alone and index not in (0, len(clauses) - 1):
                confidence = min(confidence, 0.75)  # buried in a long message
            if joking:
                confidence = round(confidence - JOKE_DISCOUNT, 2)
            if best is None or confidence > best.confidence:
                reason = f'{how}: "{" ".join(clause)}"'
                best = Detection(Intent.OPT_OUT, confidence, reason, found.keyword, found.is_stop_all, found.language)
                if confidence >= 0.95:
                    break  # nothing later can beat a keyword in a short request

    # 2. The natural-language rules whose trigger words are in the message.
    if candidates:
        context = _Context(len(clauses), _COMPLAINT.search(normalised) is not None)
        for rule in candidates:
            if best is not None and rule.confidence <= best.confidence:
                break
            for match in rule.pattern.finditer(normalised):
                prefix = _prefix(normalised, match.start())
                if rule.guard and _guarded(prefix):
                    continue
                confidence = rule.confidence
                if rule.check is not None:
                    factor = rule.check(prefix, match, context)
                    if factor is None:
                        continue
                    confidence = round(confidence * factor, 2)
                if word_count > 40 and normalised.count("\n", 0, match.start()) not in (0, len(clauses) - 1):
                    confidence = min(confidence, 0.85)  # a phrase in the middle of a long personal message
                if joking:
                    confidence = round(confidence - JOKE_DISCOUNT, 2)
                if best is None or confidence > best.confidence:
                    reason = f'{rule.reason}: "{match.group(0).strip()}"'
                    best = Detection(Intent.OPT_OUT, confidence, reason, None, False, rule.language)
                break

    if best is None:
        return _NOTHING
    if best.confidence < MIN_CONFIDENCE:
        return Detection(Intent.NONE, 0.0, f"not an opt-out ({best.confidence}): {best.reason}")
    return best


def reply_language(detection: Detection, replies: Replies) -> str | None:
    """The language to answer `detection` in (ISO 639-1), or None for the account's English texts.

    The detector's own language when it has one; for a keyword of the account's own, the language the
    account listed it under (`replies.languages[code].keywords`, compared folded; codes in order when two
    list it).
    """
    if detection.language is not None or detection.keyword is None:
        return detection.language
    keyword = fold(detection.keyword).split()
    for code, texts in sorted(replies.languages.items()):
        if any(fold(listed).split() == keyword for listed in texts.keywords):
            return code
    return None
