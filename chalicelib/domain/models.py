"""The business's nouns: accounts, scopes, suppressions, events and the messages that carry them.

Everything here is pure pydantic; phone numbers are already E.164 by the time they reach a model.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from chalicelib.domain.notifications import EmailTemplates
from chalicelib.domain.phone import to_e164

ACCOUNT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
GROUP_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$")
E164_PATTERN = re.compile(r"^\+[1-9][0-9]{6,14}$")
#: A carrier's message id (and a send request's id, which the send path reports under): it is part of DynamoDB
#: keys (at most 1,024 bytes a sort key), so a longer one is refused where it is read (a 400 at the webhook).
MAX_MESSAGE_ID_LENGTH = 128


class Source(StrEnum):
    """Where a suppression came from; it decides who may lift it (DESIGN rule 4)."""

    KEYWORD = "keyword"
    NATURAL_LANGUAGE = "natural_language"
    CARRIER = "carrier"
    MANUAL = "manual"
    IMPORT = "import"
    BOUNCE = "bounce"


#: The contact's own opt-outs: only the contact lifts them, by texting an opt-in keyword.
CONTACT_SOURCES = frozenset({Source.KEYWORD, Source.NATURAL_LANGUAGE, Source.CARRIER})
#: Suppressions an admin may lift.
ADMIN_LIFTABLE_SOURCES = frozenset({Source.MANUAL, Source.IMPORT, Source.BOUNCE})


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    NONE = "none"


def validate_scope(scope: str) -> str:
    """`all`, `sender:<E.164>` or `group:<id>`; anything else is a ValueError."""
    if scope == "all":
        return scope
    kind, _, value = scope.partition(":")
    if kind == "sender" and E164_PATTERN.fullmatch(value):
        return scope
    if kind == "group" and GROUP_ID_PATTERN.fullmatch(value):
        return scope
    raise ValueError("scope must be 'all', 'sender:<E.164 number>' or 'group:<id>'")


Scope = Annotated[str, AfterValidator(validate_scope)]
ALL = "all"


def sender_scope(sender: str) -> str:
    return f"sender:{sender}"


def group_scope(group: str) -> str:
    return f"group:{group}"


class Frozen(BaseModel):
    """An immutable model that refuses unknown fields. Its validator is built on first use, not at import
    (`defer_build`): a cold start builds only the models its first request uses."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Suppression(Frozen):
    """One active block of one number in one scope."""

    scope: Scope
    source: Source
    since: datetime
    event_id: str
    actor: str | None = None
    notes: str | None = None


class CampaignText(Frozen):
    """The latest text of a campaign the number was sent (kept by the send path's claim): an opt-out within
    `reports.ATTRIBUTION_WINDOW` of it counts for that campaign in the opt-out report."""

    campaign_id: str
    sent_at: datetime


class NumberState(Frozen):
    """What the service knows now about one number in one account.

    `clock` holds, per scope, the carrier time of the latest event applied to that scope, so a
    late-delivered older event cannot undo a newer one (DESIGN rule 5).
    """

    account_id: str
    phone: str
    suppressions: dict[str, Suppression] = Field(default_factory=dict)
    clock: dict[str, datetime] = Field(default_factory=dict)
    version: int = 0
    #: Read with the state, written only by the send path (never part of an event's write): see CampaignText.
    last_campaign: CampaignText | None = None
    #: The send requests claimed for this number lately (request id -> when, in seconds since the epoch): a request
    #: in here is being sent or was sent, so another delivery of it does not reach the provider. Kept beside the
    #: state, not in it: no event reads or changes it, and it is left out of every dump.
    recent_sends: dict[str, int] = Field(default_factory=dict, exclude=True)

    def blocking(self, sender: str | None = None, groups: tuple[str, ...] | list[str] = ()) -> list[Suppression]:
        """The suppressions that block a message from `sender` in `groups` (DESIGN rule 3)."""
        wanted = {ALL}
        if sender:
            wanted.add(sender_scope(sender))
        wanted.update(group_scope(group) for group in groups)
        return [s for scope, s in sorted(self.suppressions.items()) if scope in wanted]

    @property
    def suppressed(self) -> bool:
        return bool(self.suppressions)


class Action(StrEnum):
    OPT_OUT = "opt_out"  # suppress the event's scopes
    OPT_IN = "opt_in"  # the contact asks to be texted again
    LIFT = "lift"  # an admin lifts a suppression
    REPLY = "reply"  # any other inbound message: the number works, so bounces lift
    NOTE = "note"  # an admin's note that changes nothing (a dismissed review)


class Event(Frozen):
    """Something that happened to a number; applied once (by `event_id`) and kept forever."""

    event_id: str
    account_id: str
    phone: str
    action: Action
    scopes: tuple[Scope, ...] = ()
    source: Source | None = None
    occurred_at: datetime
    received_at: datetime
    actor: str
    notes: str | None = None
    message: str | None = None
    #: Only lift suppressions of these sources (YES lifts only a keyword opt-out).
    only_sources: tuple[Source, ...] | None = None
    #: What the contact texted that made it an opt-out or opt-in: the canonical keyword (STOP, BAJA, START, an
    #: account's own), else the detector's reason class ("asks to stop messaging"); None when no text did
    #: (an admin, an import, a carrier's report). The opt-out report counts by it.
    keyword: str | None = None
    #: The account's number the contact texted (or the carrier's report was about a text from); None for an admin's
    #: or an import's event. The opt-out report counts by it.
    sender: str | None = None


ChangeKind = Literal["suppressed", "lifted"]


class Change(Frozen):
    scope: str
    change: ChangeKind
    source: Source


Outcome = Literal["applied", "unchanged", "superseded", "duplicate"]


class EventRecord(Frozen):
    """An event as written to history, with what it changed."""

    event: Event
    outcome: Outcome
    changes: tuple[Change, ...] = ()
    #: The number's version this event produced: the order events were applied in.
    sequence: int = 0


#: A reply text: one SMS, or two at most.
ReplyText = Annotated[str, Field(min_length=1, max_length=320)]
ReplyKind = Literal["opt_out", "opt_in", "opt_in_blocked", "help"]
LANGUAGE_CODE_PATTERN = re.compile(r"^[a-z]{2}$")
#: Languages an account may give texts for, besides English: bounds the account's stored size.
MAX_REPLY_LANGUAGES = 30


class LanguageReplies(Frozen):
    """An account's reply texts in one language besides English; a text left out (None) is the built-in one
    for that language, if there is one, else the English text."""

    opt_out: ReplyText | None = None
    opt_in: ReplyText | None = None
    opt_in_blocked: ReplyText | None = None
    help: ReplyText | None = None
    #: The account's own keywords (listed under `keywords`) that are words of this language: a contact who texts
    #: one is answered in it. Listing a word here does not make it a keyword.
    keywords: tuple[Annotated[str, Field(min_length=1, max_length=64)], ...] = Field(default=(), max_length=50)


#: The built-in texts in Spanish and French: the English ones' content, each one GSM-7 SMS (no á, í, ó, ú, ç,
#: ê: those would make it a 70-character UCS-2 message).
DEFAULT_LANGUAGE_REPLIES: dict[str, LanguageReplies] = {
    "es": LanguageReplies(
        opt_out="Se ha dado de baja y ya no le enviaremos mensajes. Responda START para volver a suscribirse.",
        opt_in="Se ha vuelto a suscribir. Responda BAJA para darse de baja.",
        opt_in_blocked=(
            "Recibimos su mensaje, pero este teléfono sigue dado de baja de nuestros mensajes. "
            "Para cambiarlo, contacte con nosotros."
        ),
        help="Responda BAJA para darse de baja o START para volver a suscribirse.",
    ),
    "fr": LanguageReplies(
        opt_out=(
            "Votre désabonnement est enregistré : vous ne recevrez plus de messages de notre part. "
            "Répondez START pour vous réabonner."
        ),
        opt_in="Votre réabonnement est enregistré. Répondez STOP pour vous désabonner.",
        opt_in_blocked=(
            "Votre message nous est bien parvenu, mais ce numéro reste désabonné de nos SMS. "
            "Contactez-nous pour changer cela."
        ),
        help="Répondez STOP pour vous désabonner, START pour vous réabonner.",
    ),
}


class Replies(Frozen):
    """The texts a contact's keyword or request is answered with (DESIGN rule 9), per language.

    The English texts are the top-level fields (the shape accounts were stored in before languages);
    `languages` holds the others by ISO 639-1 code, built-in Spanish and French included. `text` picks one.
    """

    opt_out: ReplyText = (
        "You have been unsubscribed and will receive no more messages from us. Reply START to resubscribe."
    )
    opt_in: ReplyText = "You have been resubscribed. Reply STOP to unsubscribe."
    #: The answer to an opt-in that leaves the number blocked (an admin's suppression stands): never a false
    #: "you have been resubscribed".
    opt_in_blocked: ReplyText = (
        "We got your message, but this number stays unsubscribed from our texts. Contact us to change that."
    )
    help: ReplyText = "Reply STOP to unsubscribe, START to resubscribe."
    #: Texts in other languages, by two-letter ISO 639-1 code ("es", "fr", "de", ...); not "en" (the fields
    #: above are English).
    languages: dict[str, LanguageReplies] = Field(default_factory=lambda: dict(DEFAULT_LANGUAGE_REPLIES))

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, languages: dict[str, LanguageReplies]) -> dict[str, LanguageReplies]:
        if len(languages) > MAX_REPLY_LANGUAGES:
            raise ValueError(f"at most {MAX_REPLY_LANGUAGES} languages")
        for code in languages:
            if not LANGUAGE_CODE_PATTERN.fullmatch(code):
                raise ValueError(f"{code[:10]!r} is not a language code: two lower-case letters (ISO 639-1), e.g. es")
            if code == "en":
                raise ValueError("English texts are the top-level fields opt_out, opt_in, opt_in_blocked and help")
        return languages

    def text(self, kind: ReplyKind, language: str | None = None) -> str:
        """The `kind` reply in `language`: the account's text, else the built-in one, else the English text.

        Always one whole text of one language: a language without a text of this kind answers in English.
        """
        if language is not None and language != "en":
            for texts in (self.languages.get(language), DEFAULT_LANGUAGE_REPLIES.get(language)):
                chosen: str | None = getattr(texts, kind) if texts is not None else None
                if chosen is not None:
                    return chosen
        english: str = getattr(self, kind)
        return english


class ExtraKeywords(Frozen):
    opt_out: tuple[str, ...] = ()
    opt_in: tuple[str, ...] = ()
    help: tuple[str, ...] = ()


class CarrierSettings(Frozen):
    """An account's credentials for one carrier: plain settings here, secrets only by name.

    The secrets themselves live in the secret store under `carrier_secret_name`.
    """

    settings: dict[str, str] = Field(default_factory=dict)
    secrets: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_flat(cls, raw: object) -> object:
        # Accounts stored before carriers became a map kept `{"<setting>": "...", "<secret>_set": true}`.
        if isinstance(raw, dict) and not set(raw) <= {"settings", "secrets"}:
            settings = {k: v for k, v in raw.items() if isinstance(v, str)}
            secrets = tuple(k.removesuffix("_set") for k, v in raw.items() if k.endswith("_set") and v is True)
            return {"settings": settings, "secrets": secrets}
        return raw


def carrier_secret_name(account_id: str, carrier: str, field: str) -> str:
    """The secret store name of one of an account's carrier secrets."""
    return f"accounts/{account_id}/{carrier}/{field}"


class DetectorSettings(Frozen):
    """Confidence at or above `opt_out_threshold` opts out; from `review_threshold` up, an admin reviews."""

    opt_out_threshold: float = Field(default=0.9, ge=0.5, le=1.0)
    review_threshold: float = Field(default=0.6, ge=0.5, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> DetectorSettings:
        if self.review_threshold > self.opt_out_threshold:
            raise ValueError("review_threshold must not be above opt_out_threshold")
        return self


class Account(Frozen):
    account_id: str = Field(pattern=ACCOUNT_ID_PATTERN)
    name: str
    default_region: str = "US"
    opt_out_scope: Literal["all", "sender"] = "all"
    #: Who sends this account's texts: a carrier of the registry, or `local` (the recorder of `make run`);
    #: None: the carrier the account has credentials for.
    sms_provider: str | None = None
    detector: DetectorSettings = DetectorSettings()
    replies: Replies = Replies()
    keywords: ExtraKeywords = ExtraKeywords()
    #: Credentials per carrier name: only carriers listed here may call the account's webhooks.
    carriers: dict[str, CarrierSettings] = Field(default_factory=dict)
    #: The address alert emails come from (an SES-verified identity).
    email_sender: str | None = None
    #: Also told of every opt-out and opt-in, e.g. a compliance officer's mailbox.
    compliance_email: str | None = None
    email_templates: EmailTemplates = EmailTemplates()
    token_hashes: tuple[str, ...] = ()
    created_at: datetime
    updated_at: datetime


class MessagePart(Frozen):
    """One part of a long SMS the carrier delivered in pieces: they are joined before anything reads them."""

    #: The carrier's id shared by every part of the message.
    reference: str = Field(min_length=1, max_length=128)
    number: int = Field(ge=1, le=255)
    total: int = Field(ge=1, le=255)


class InboundMessage(Frozen):
    """An SMS a contact sent to one of the account's numbers, as a carrier reported it."""

    carrier: str
    message_id: str = Field(min_length=1, max_length=MAX_MESSAGE_ID_LENGTH)
    account_id: str
    from_phone: str
    to_phone: str
    body: str
    #: Carrier time when the carrier gives one, else when we received it.
    occurred_at: datetime
    received_at: datetime
    #: The carrier confirmed the opt-out itself (e.g. an advanced opt-out feature): we send no confirmation.
    carrier_confirms: bool = False
    #: Set when this is one part of a longer message (its `body` is that part's text alone).
    part: MessagePart | None = None


class Review(Frozen):
    """How an admin resolved a message the detector was unsure about."""

    resolution: Literal["unsubscribed", "dismissed"]
    actor: str
    at: datetime
    notes: str | None = None


class LoggedInbound(Frozen):
    """An inbound message as kept in the account's inbound log, with what the service made of it."""

    message: InboundMessage
    intent: Intent
    reason: str | None = None
    confidence: float | None = None
    #: The detector thought it might be an opt-out, but not surely enough to act alone (DESIGN rule 7).
    needs_review: bool = False
    review: Review | None = None


class DeliveryReport(Frozen):
    """A carrier's delivery-status callback for a message we sent."""

    carrier: str
    message_id: str = Field(min_length=1, max_length=MAX_MESSAGE_ID_LENGTH)
    account_id: str
    #: The contact the message went to.
    to_phone: str
    #: The account's number it was sent from; None for an alphanumeric sender ID.
    from_phone: str | None
    #: Part of the event's key with the message id: bounded, so a hostile callback is a 400, not a key too long.
    status: str = Field(max_length=64)
    error_code: str | None = Field(default=None, max_length=64)
    occurred_at: datetime
    received_at: datetime


class OutboundSms(Frozen):
    """One text for a provider to send."""

    request_id: str
    to: str
    sender: str
    body: str


SmsStatus = Literal["sent", "opted_out", "unreachable", "retry", "failed"]


class SmsResult(Frozen):
    """What a provider made of one text.

    `opted_out` (the carrier's own opt-out list) and `unreachable` become suppressions; `retry`
    (throttled, provider down) goes back to the queue; `failed` is final.
    """

    status: SmsStatus
    provider_message_id: str | None = None
    error_code: str | None = None
    detail: str | None = None


REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}$"


class SendRequest(Frozen):
    """One text a producer wants sent. `request_id` is the producer's idempotency key."""

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    account_id: str = Field(pattern=ACCOUNT_ID_PATTERN)
    to: str
    sender: str
    body: str = Field(min_length=1, max_length=1600)
    groups: tuple[str, ...] = Field(default=(), max_length=50)
    campaign_id: str | None = Field(default=None, pattern=REQUEST_ID_PATTERN)
    user_email: str | None = Field(default=None, max_length=254)
    contact_email: str | None = Field(default=None, max_length=254)
    tags: dict[str, str] = Field(default_factory=dict, max_length=20)
    #: The carrier to send through instead of the account's `sms_provider` (a reply goes back the way it came).
    provider: str | None = Field(default=None, max_length=32)
    #: The opt-out event this text confirms: the one kind of text that may reach a suppressed number,
    #: and only for an opt-out of that number that is in its history (DESIGN rule 9).
    confirms_event: str | None = Field(default=None, max_length=256)

    @field_validator("to")
    @classmethod
    def _recipient(cls, raw: str, info: ValidationInfo) -> str:
        # Always normalised, off the queue too: producers may put requests on it directly, and an E.164-shaped
        # `to` may still be another spelling of a suppressed number (`+49015112345678` is `+4915112345678`).
        context = info.context or {}
        return to_e164(raw, context.get("region", "US"))

    @field_validator("sender")
    @classmethod
    def _sender(cls, raw: str) -> str:
        if not E164_PATTERN.fullmatch(raw):
            raise ValueError("sender must be an E.164 number such as +14155550100")
        return raw

    @field_validator("groups")
    @classmethod
    def _groups(cls, groups: tuple[str, ...]) -> tuple[str, ...]:
        for group in groups:
            if not GROUP_ID_PATTERN.fullmatch(group):
                raise ValueError(f"group {group!r} is not a valid group id")
        return groups

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        if any(len(key) > 64 or len(value) > 256 for key, value in tags.items()):
            raise ValueError("tag keys are at most 64 characters and values at most 256")
        return tags


#: A send request's outcome. A text being sent has no record yet: the log is written once, with its outcome (or
#: `retrying`), so there is no in-flight status.
SendStatus = Literal["sent", "skipped", "failed", "retrying"]


class OutboundRecord(Frozen):
    """The outbound log's entry for one send request: what happened to it and why."""

    request: SendRequest
    status: SendStatus
    #: skipped: `suppressed` or `carrier_opted_out`; failed: `unreachable`, `provider_error`, ...
    reason: str | None = None
    blocked_by: tuple[Suppression, ...] = ()
    provider: str | None = None
    provider_message_id: str | None = None
    error_code: str | None = None
    detail: str | None = None
    updated_at: datetime

    @property
    def counter(self) -> str:
        """The campaign counter this outcome adds to: `sent`, `skipped:<reason>`, `failed:<reason>`."""
        return self.status if self.reason is None else f"{self.status}:{self.reason}"


class Email(Frozen):
    """One email for the mailer to send: a plain-text and an HTML body."""

    to: str
    sender: str
    subject: str
    text: str
    html: str
    #: Tags the SES configuration set can report on (e.g. the notification kind).
    tags: dict[str, str] = Field(default_factory=dict)


class NotificationJob(Frozen):
    """An email alert to send about one number, queued on the send queue beside send requests."""

    kind: Literal["notification"] = "notification"
    #: One job per event (and per inbound reply): the email's idempotency key with each recipient.
    job_id: str
    account_id: str
    phone: str
    topic: Literal["opt_out", "opt_in", "reply"]
    #: The history event it tells about (none for a reply).
    event_id: str | None = None
    source: Source | None = None
    scopes: tuple[str, ...] = ()
    occurred_at: datetime
    message: str | None = None
    message_id: str | None = None


class Contact(Frozen):
    """What the send path remembers of a number: who last texted it, and the contact's email."""

    last_user_email: str | None = None
    contact_email: str | None = None
