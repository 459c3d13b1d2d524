"""What the HTTP API reads and answers, as pydantic models: the views parse into these and dump these, and the
OpenAPI document (`openapi.py`) is generated from them, so the document is what the code does.

Bodies are parsed strictly (`http.parse_json`): JSON true/false for booleans, numbers for numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from chalicelib.api.http import ascii_decimal, describe_errors, parse_json_text
from chalicelib.domain import services
from chalicelib.domain.errors import InvalidPhone, InvalidRequest
from chalicelib.domain.models import (
    ACCOUNT_ID_PATTERN,
    GROUP_ID_PATTERN,
    MAX_MESSAGE_ID_LENGTH,
    REQUEST_ID_PATTERN,
    Account,
    Action,
    CarrierSettings,
    Change,
    DetectorSettings,
    EventRecord,
    ExtraKeywords,
    Frozen,
    Intent,
    LoggedInbound,
    MessagePart,
    NumberState,
    OutboundRecord,
    Outcome,
    Replies,
    Review,
    Scope,
    SendRequest,
    SendStatus,
    Source,
    Suppression,
)
from chalicelib.domain.notifications import EmailTemplates, valid_email
from chalicelib.domain.phone import to_e164
from chalicelib.domain.ports import ActivityEntry, InboundFilter, SendOutcome

# --- path parameters -----------------------------------------------------------------------------

#: Path parameters: each a JSON Schema for the document and a compiled pattern for the edge (all are key parts:
#: DynamoDB refuses keys over 1,024/2,048 bytes, so every one is bounded here).
PATH_PATTERNS: dict[str, str] = {
    "account_id": ACCOUNT_ID_PATTERN,
    "carrier": r"^[a-z0-9][a-z0-9_-]{0,31}$",
    # E.164 or a national number: digits and the punctuation people write numbers with.
    "phone": r"^[0-9+()./ -]{1,32}$",
    "message_id": rf"^[\x21-\x7e]{{1,{MAX_MESSAGE_ID_LENGTH}}}$",
    "request_id": REQUEST_ID_PATTERN,
}
PATH_DESCRIPTIONS: dict[str, str] = {
    "account_id": "the account: 1-63 lower-case letters, digits, '-' or '_'",
    "carrier": "the carrier whose scheme signs the request",
    "phone": "E.164 (`+14155550100`, `%2B14155550100`) or a national number in the account's default region",
    "message_id": "an inbound message's id, as its carrier gave it",
    "request_id": "a send request's `request_id`",
}
_COMPILED = {name: re.compile(pattern) for name, pattern in PATH_PATTERNS.items()}


def path_value(name: str, value: str) -> str:
    """A decoded path parameter, when it fits its pattern; InvalidRequest (400) otherwise."""
    if not _COMPILED[name].fullmatch(value):
        refusal = InvalidPhone if name == "phone" else InvalidRequest
        raise refusal(f"{name} is not valid: {PATH_DESCRIPTIONS[name]}", field=name)
    return value


# --- query strings -------------------------------------------------------------------------------


def _true_or_false(raw: object) -> object:
    if isinstance(raw, str):
        if raw not in ("true", "false"):
            raise ValueError("must be true or false")
        return raw == "true"
    return raw


AsciiInt = Annotated[int, BeforeValidator(ascii_decimal)]
QueryBool = Annotated[bool, BeforeValidator(_true_or_false)]
#: Checked by `cursors.unseal` (a bad one is `invalid_cursor`, whatever is wrong with it).
Cursor = str
GroupId = Annotated[str, StringConstraints(pattern=GROUP_ID_PATTERN.pattern)]


def _e164(raw: str, info: ValidationInfo) -> str:
    region = (info.context or {}).get("region", "US")
    return to_e164(raw, region)


class Query(BaseModel):
    """A query string: a name the operation does not take is a 400 (a typo such as `limt` must not pass unnoticed)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class NumberQuery(Query):
    """`?sender=&group=`: answer for a message from that sender in those groups."""

    sender: str | None = Field(default=None, max_length=32, description="the sending number, E.164 or national")
    group: list[GroupId] = Field(default_factory=list, max_length=50, description="a group the message is in")

    _sender = field_validator("sender")(lambda raw, info: None if raw is None else _e164(raw, info))


class LiftQuery(Query):
    scope: Scope = Field(default="all", description="`all`, `sender:<E.164>` or `group:<id>`")
    notes: str | None = Field(default=None, max_length=2000, description="why, kept in the history")


class SuppressionsQuery(Query):
    cursor: Cursor | None = Field(default=None, description="`next_cursor` of the page before")
    limit: AsciiInt = Field(default=100, ge=1, le=1000, description="numbers per page")


#: A day (`2026-11-22`) or a moment with its offset (`2026-11-22T10:00:00Z`, `...+01:00`).
MOMENT_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2}))?$"
)
_MOMENT = re.compile(MOMENT_PATTERN)
#: What a send's reason is made of (`suppressed`, `carrier_opted_out`, `provider_error`, ...).
REASON_PATTERN = r"^[a-z0-9_]{1,64}$"


def _moment(raw: str | None) -> str | None:
    """A day or a moment with an offset, as written; ValueError when it is neither (or no such day)."""
    if raw is None:
        return None
    if not _MOMENT.fullmatch(raw):
        raise ValueError("must be a day (2026-11-22) or a time with its offset (2026-11-22T10:00:00Z)")
    try:
        # Both ends in UTC: a day or an offset at the calendar's edge has none.
        _start_of(raw).astimezone(UTC), _end_of(raw).astimezone(UTC)
    except ValueError:
        raise ValueError("is not a date there is") from None
    except OverflowError:
        raise ValueError("is out of range") from None
    return raw


def _start_of(raw: str) -> datetime:
    """`from`: a day from its first moment (UTC), or the moment itself."""
    moment = datetime.fromisoformat(raw)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _end_of(raw: str) -> datetime:
    """`to`, exclusive: after the whole day (UTC), or just after the moment (`to` includes it)."""
    if len(raw) == len("2026-11-22"):
        return _start_of(raw) + timedelta(days=1)
    return _start_of(raw) + timedelta(microseconds=1)


class InboundQuery(Query):
    cursor: Cursor | None = Field(default=None, description="`next_cursor` of the page before")
    limit: AsciiInt = Field(default=50, ge=1, le=500, description="messages per page")
    needs_review: QueryBool = Field(default=False, description="only the messages awaiting an admin's review")
    phone: str | None = Field(
        default=None, max_length=32, description="only this contact's messages (E.164 or national)"
    )
    since: str | None = Field(
        default=None,
        alias="from",
        description="received on or after this day (UTC) or time: `2026-11-22` or `2026-11-22T10:00:00Z`",
    )
    to: str | None = Field(
        default=None, description="received on or before this day (UTC, the whole day) or time (included)"
    )
    intent: Intent | None = Field(default=None, description="only messages read as this intent")
    review: Literal["pending", "resolved"] | None = Field(
        default=None, description="only flagged messages awaiting review (`pending`) or reviewed (`resolved`)"
    )

    _phone = field_validator("phone")(lambda raw, info: None if raw is None else _e164(raw, info))
    _moments = field_validator("since", "to")(_moment)

    def search(self) -> InboundFilter | None:
        """The store's search; None when nothing narrows the log. InvalidRequest for a range that ends before it
        starts, or a review state the review queue cannot hold."""
        if self.needs_review and self.review == "resolved":
            raise InvalidRequest("needs_review=true lists the messages awaiting review: not review=resolved")
        since = _start_of(self.since) if self.since else None
        until = _end_of(self.to) if self.to else None
        if since is not None and until is not None and since >= until:
            raise InvalidRequest("the range ends before it starts: `to` must not be before `from`", field="to")
        found = InboundFilter(phone=self.phone, since=since, until=until, intent=self.intent, review=self.review)
        return None if found == InboundFilter() else found

    def listing(self, account_id: str) -> str:
        """The listing a cursor is signed for: the log or the review queue, and every filter."""
        base = f"{'review' if self.needs_review else 'inbound'}:{account_id}"
        narrowed = {
            name: value
            for name, value in (
                ("phone", self.phone),
                ("from", self.since),
                ("to", self.to),
                ("intent", self.intent),
                ("review", self.review),
            )
            if value is not None
        }
        return base if not narrowed else f"{base}:{json.dumps(narrowed, sort_keys=True)}"


class CampaignQuery(Query):
    campaign: str = Field(pattern=REQUEST_ID_PATTERN, description="the campaign id")
    outcome: Literal["sent", "skipped", "failed", "retrying", "any"] | None = Field(
        default=None,
        description="list the campaign's texts of this outcome (`any`: every outcome) instead of its counts",
    )
    reason: str | None = Field(
        default=None,
        pattern=REASON_PATTERN,
        description="with `outcome`: only texts skipped or failed for this reason (`suppressed`, `unreachable`, ...)",
    )
    cursor: Cursor | None = Field(default=None, description="`next_cursor` of the page before")
    limit: AsciiInt = Field(default=100, ge=1, le=1000, description="texts per page")

    def search(self) -> tuple[SendOutcome | None, str | None] | None:
        """The outcome (None: any) and reason to list; None for the counts. InvalidRequest for paging without an
        outcome, or a reason with `any`."""
        if self.outcome is None:
            extra = [name for name in ("reason", "cursor", "limit") if name in self.model_fields_set]
            if extra:
                raise InvalidRequest(f"{', '.join(extra)} page the log of one outcome: add outcome=", field=extra[0])
            return None
        if self.outcome == "any":
            if self.reason is not None:
                raise InvalidRequest("a reason belongs to one outcome (skipped or failed), not to any", field="reason")
            return None, None
        return self.outcome, self.reason

    def listing(self, account_id: str) -> str:
        return f"sends:{account_id}:{self.campaign}:{self.outcome}:{self.reason or ''}"


class ActivityQuery(Query):
    cursor: Cursor | None = Field(default=None, description="`next_cursor` of the page before")
    limit: AsciiInt = Field(default=50, ge=1, le=500, description="entries per page")


# --- request bodies ------------------------------------------------------------------------------


class ManualOptOutIn(Frozen):
    """A manual opt-out: the number, the scope (default `all`) and why."""

    phone: str = Field(max_length=64)
    scope: Scope = "all"
    notes: str | None = Field(default=None, max_length=2000)

    _phone = field_validator("phone")(_e164)


class CheckIn(Frozen):
    """Numbers to check (up to 1,000) for a message from `sender` in `groups`."""

    phones: list[Annotated[str, StringConstraints(max_length=256)]] = Field(min_length=1, max_length=1000)
    sender: str | None = Field(default=None, max_length=32)
    groups: list[GroupId] = Field(default_factory=list, max_length=50)

    _sender = field_validator("sender")(lambda raw, info: None if raw is None else _e164(raw, info))


class NotesIn(Frozen):
    notes: str | None = Field(default=None, max_length=2000)


class SendsIn(Frozen):
    """Up to 500 send requests: each is checked alone, and the answer says which were queued and why others not."""

    def parse(self, account: Account) -> tuple[list[SendRequest], list[RejectedSend]]:
        """The requests that are valid SendRequestIns for `account`, and why each of the others is not."""
        valid: list[SendRequest] = []
        rejected: list[RejectedSend] = []
        for index, raw in enumerate(self.requests):
            raw = {"account_id": account.account_id, **raw}
            request_id = raw.get("request_id")
            if raw["account_id"] != account.account_id:
                problem = Problem(field="account_id", problem="account_id must be the account in the path")
                rejected.append(RejectedSend(index=index, request_id=request_id, errors=[problem]))
                continue
            try:
                valid.append(parse_json_text(SendRequestIn, json.dumps(raw), {"region": account.default_region}))
            except ValidationError as error:
                problems = [Problem.model_validate(item) for item in describe_errors(error)]
                rejected.append(RejectedSend(index=index, request_id=request_id, errors=problems))
            except InvalidRequest as error:
                problem = Problem(problem=error.message)
                rejected.append(RejectedSend(index=index, request_id=request_id, errors=[problem]))
        return valid, rejected

    requests: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=500,
        # Not a schema each item must meet: an item that is not a SendRequestIn is answered in `rejected`, the
        # others are queued all the same.
        json_schema_extra={"items": {"type": "object", "description": "a SendRequestIn"}},
        description="each a SendRequestIn (`account_id`: the path's); invalid ones are answered in `rejected`",
    )


class SendRequestIn(SendRequest):
    """A send request as the API takes it: a SendRequest whose email addresses are addresses, and which confirms
    nothing (the confirmation of an opt-out, the one text that may reach a suppressed number, is the service's own)."""

    confirms_event: None = Field(default=None, description="not taken: set only on the service's own confirmations")

    @field_validator("user_email", "contact_email")
    @classmethod
    def _email(cls, address: str | None) -> str | None:
        if address is not None and not valid_email(address):
            raise ValueError("not a valid email address")
        return address


# --- answers -------------------------------------------------------------------------------------


class ErrorDetail(Frozen):
    code: str = Field(description="machine-readable: invalid_request, unauthenticated, store_unavailable, ...")
    message: str = Field(description="for people")
    details: dict[str, Any] | None = Field(default=None, description="what was wrong, when there is more to say")


class ErrorBody(Frozen):
    """Every error: `{"error": {"code", "message", "details"?}}`."""

    error: ErrorDetail


class AccountView(Frozen):
    """An account's settings; carrier secrets only by name, API tokens only counted."""

    account_id: str
    name: str
    default_region: str
    opt_out_scope: Literal["all", "sender"]
    sms_provider: str | None
    detector: DetectorSettings
    replies: Replies
    keywords: ExtraKeywords
    carriers: dict[str, CarrierSettings]
    email_sender: str | None
    compliance_email: str | None
    email_templates: EmailTemplates
    created_at: datetime
    updated_at: datetime
    tokens: int = Field(description="how many API tokens are valid")

    @classmethod
    def of(cls, account: Account) -> AccountView:
        fields = {name: getattr(account, name) for name in cls.model_fields if name != "tokens"}
        return cls.model_validate(fields | {"tokens": len(account.token_hashes)})


class AccountAnswer(Frozen):
    account: AccountView
    token: str | None = Field(default=None, description="a new API token: only when `issue_token` asked for one")


class NumberView(Frozen):
    """A number's active suppressions, and whether a message may go to it.

    With a `sender` or `group`s, `sendable` answers for a message from that sender in those groups. Without them it
    answers for any message: a number suppressed for one sender or one group is not "ok to text".
    """

    phone: str
    sendable: bool
    #: `sendable` (nothing blocks), `blocked` (blocked for everything) or `partly_blocked` (some senders or groups).
    status: Literal["sendable", "blocked", "partly_blocked"]
    suppressions: list[Suppression]

    @classmethod
    def of(cls, state: NumberState, sender: str | None = None, groups: tuple[str, ...] = ()) -> NumberView:
        if not state.suppressed:
            status: Literal["sendable", "blocked", "partly_blocked"] = "sendable"
        else:
            status = "blocked" if state.blocking() else "partly_blocked"
        asked = sender is not None or bool(groups)
        return cls(
            phone=state.phone,
            sendable=not state.blocking(sender, groups) if asked else not state.suppressed,
            status=status,
            suppressions=list(state.suppressions.values()),
        )


class SuppressionCreated(Frozen):
    phone: str
    suppression: Suppression


class HistoryEvent(Frozen):
    """One event of a number's history: what, scope, source, when, who, why, and what it changed."""

    event_id: str
    action: Action
    scopes: tuple[str, ...]
    source: Source | None
    occurred_at: datetime
    received_at: datetime
    actor: str
    notes: str | None
    message: str | None
    keyword: str | None = Field(
        default=None, description="the keyword, or the detector's reason class, that made it an opt-out or opt-in"
    )
    sender: str | None = Field(default=None, description="the account's number the contact texted")
    outcome: Outcome
    changes: list[Change]

    @classmethod
    def of(cls, record: EventRecord) -> HistoryEvent:
        event = record.event
        fields = {name: getattr(event, name) for name in cls.model_fields if name not in ("outcome", "changes")}
        return cls(**fields, outcome=record.outcome, changes=list(record.changes))


class HistoryView(Frozen):
    phone: str
    events: list[HistoryEvent] = Field(description="newest first")


class Verdict(Frozen):
    input: str
    phone: str
    sendable: bool
    blocked_by: list[Suppression]


class VerdictError(Frozen):
    input: str
    error: ErrorDetail


class CheckView(Frozen):
    results: list[Verdict | VerdictError] = Field(description="one per number asked about, in order")
    sendable: int
    blocked: int

    @classmethod
    def of(cls, verdicts: Sequence[services.Verdict]) -> CheckView:
        results: list[Verdict | VerdictError] = []
        for verdict in verdicts:
            if verdict.error is not None or verdict.phone is None or verdict.sendable is None:
                error = ErrorDetail(code="invalid_phone", message=verdict.error or "not a phone number")
                results.append(VerdictError(input=verdict.input, error=error))
            else:
                blocked_by = list(verdict.blocked_by)
                results.append(
                    Verdict(input=verdict.input, phone=verdict.phone, sendable=verdict.sendable, blocked_by=blocked_by)
                )
        sendable = sum(1 for verdict in verdicts if verdict.sendable)
        return cls(results=results, sendable=sendable, blocked=len(verdicts) - sendable)


class SuppressedPage(Frozen):
    numbers: list[NumberView]
    next_cursor: str | None = Field(description="the next page's `cursor`; null on the last page")


class InboundView(Frozen):
    """An inbound message as the inbound log keeps it, with what the service made of it."""

    carrier: str
    message_id: str
    from_phone: str
    to_phone: str
    body: str
    occurred_at: datetime
    received_at: datetime
    carrier_confirms: bool
    part: MessagePart | None
    intent: Intent
    reason: str | None
    confidence: float | None
    needs_review: bool
    review: Review | None

    @classmethod
    def of(cls, logged: LoggedInbound) -> InboundView:
        sources = (logged.message, logged)
        return cls.model_validate(
            {
                name: getattr(source, name)
                for source in sources
                for name in type(source).model_fields
                if name in cls.model_fields
            }
        )


class InboundPage(Frozen):
    messages: list[InboundView]
    next_cursor: str | None = Field(description="the next page's `cursor`; null on the last page")


class Problem(Frozen):
    field: str | None = None
    problem: str


class RejectedSend(Frozen):
    index: int | None = Field(default=None, description="its place in `requests`; none when the queue refused it")
    request_id: Any = None
    errors: list[Problem]


class SendsQueued(Frozen):
    queued: list[str] = Field(description="the request ids queued")
    rejected: list[RejectedSend]

    @classmethod
    def of(cls, valid: list[SendRequest], rejected: list[RejectedSend], not_queued: Mapping[str, str]) -> SendsQueued:
        """The answer: `valid` queued but those in `not_queued` (request id: why the queue refused it)."""
        refused = [
            RejectedSend(request_id=request_id, errors=[Problem(problem=f"not queued: {reason}")])
            for request_id, reason in not_queued.items()
        ]
        queued = [request.request_id for request in valid if request.request_id not in not_queued]
        return cls(queued=queued, rejected=[*rejected, *refused])


class CampaignCounts(Frozen):
    campaign_id: str
    sent: int
    skipped: dict[str, int] = Field(description="by reason: suppressed, carrier_opted_out, ...")
    failed: dict[str, int] = Field(description="by reason: unreachable, provider_error, ...")
    total: int

    @classmethod
    def of(cls, campaign_id: str, counts: dict[str, int]) -> CampaignCounts:
        skipped: dict[str, int] = {}
        failed: dict[str, int] = {}
        for name, count in counts.items():
            status, _, reason = name.partition(":")
            if status == "skipped":
                skipped[reason or "unknown"] = count
            elif status == "failed":
                failed[reason or "unknown"] = count
        return cls(
            campaign_id=campaign_id,
            sent=counts.get("sent", 0),
            skipped=skipped,
            failed=failed,
            total=sum(counts.values()),
        )


class SendView(Frozen):
    """One text of a campaign as its log keeps it: what became of it and why."""

    request_id: str
    to: str
    status: SendStatus
    reason: str | None = Field(description="skipped or failed: why (`suppressed`, `unreachable`, ...)")
    blocked_by: list[Suppression] = Field(description="skipped as `suppressed`: the suppressions that blocked it")
    provider: str | None
    error_code: str | None
    detail: str | None
    updated_at: datetime

    @classmethod
    def of(cls, record: OutboundRecord) -> SendView:
        return cls(
            request_id=record.request.request_id,
            to=record.request.to,
            status=record.status,
            reason=record.reason,
            blocked_by=list(record.blocked_by),
            provider=record.provider,
            error_code=record.error_code,
            detail=record.detail,
            updated_at=record.updated_at,
        )


class SendsPage(Frozen):
    """A page of a campaign's texts of one outcome: by outcome, reason, then request id."""

    campaign_id: str
    sends: list[SendView]
    next_cursor: str | None = Field(description="the next page's `cursor`; null on the last page")


class SendsAnswer(RootModel[CampaignCounts | SendsPage]):
    """Without `outcome`, the campaign's counts; with it, a page of its texts of that outcome."""


class SentEntry(Frozen):
    """A text to the number (`sent`, or what else became of it: skipped, failed, retrying)."""

    at: datetime = Field(description="when its outcome was recorded")
    kind: Literal["sent"] = "sent"
    request_id: str
    status: SendStatus
    reason: str | None
    blocked_by: list[Suppression]
    sender: str
    body: str
    campaign_id: str | None
    user_email: str | None
    provider: str | None
    error_code: str | None
    detail: str | None

    @classmethod
    def of(cls, record: OutboundRecord) -> SentEntry:
        request = record.request
        return cls(
            at=record.updated_at,
            request_id=request.request_id,
            status=record.status,
            reason=record.reason,
            blocked_by=list(record.blocked_by),
            sender=request.sender,
            body=request.body,
            campaign_id=request.campaign_id,
            user_email=request.user_email,
            provider=record.provider,
            error_code=record.error_code,
            detail=record.detail,
        )


class ReplyEntry(Frozen):
    """A message the number sent, with what the service made of it."""

    at: datetime = Field(description="when it was received")
    kind: Literal["reply"] = "reply"
    message_id: str
    carrier: str
    to_phone: str
    body: str
    intent: Intent
    reason: str | None
    needs_review: bool
    review: Review | None

    @classmethod
    def of(cls, logged: LoggedInbound) -> ReplyEntry:
        message = logged.message
        return cls(
            at=message.received_at,
            message_id=message.message_id,
            carrier=message.carrier,
            to_phone=message.to_phone,
            body=message.body,
            intent=logged.intent,
            reason=logged.reason,
            needs_review=logged.needs_review,
            review=logged.review,
        )


class ChangeEntry(HistoryEvent):
    """An event of the number's history, as `.../history` shows it, placed on the timeline by when it was received."""

    at: datetime = Field(description="when it was received")
    kind: Literal["change"] = "change"

    @classmethod
    def of(cls, record: EventRecord) -> ChangeEntry:
        view = HistoryEvent.of(record)
        return cls(at=view.received_at, **dict(view))


class ActivityPage(Frozen):
    """A page of the number's timeline, newest first."""

    phone: str
    activity: list[Annotated[SentEntry | ReplyEntry | ChangeEntry, Field(discriminator="kind")]]
    next_cursor: str | None = Field(description="the next page's `cursor`; null on the last page")

    @classmethod
    def of(cls, phone: str, entries: Sequence[ActivityEntry], next_cursor: str | None) -> ActivityPage:
        views: list[SentEntry | ReplyEntry | ChangeEntry] = []
        for entry in entries:
            if isinstance(entry, OutboundRecord):
                views.append(SentEntry.of(entry))
            elif isinstance(entry, LoggedInbound):
                views.append(ReplyEntry.of(entry))
            else:
                views.append(ChangeEntry.of(entry))
        return cls(phone=phone, activity=views, next_cursor=next_cursor)
