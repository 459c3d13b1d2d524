"""The admin API: each view parses its input into a model, calls one use case (or one store read), and answers
with a response model (`schemas.py`); `operation` routes it and records it for the OpenAPI document."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api import cursors, edge
from chalicelib.api.access import authorised
from chalicelib.api.http import (
    ConfigurationError,
    InvalidCursor,
    json_response,
    parse_json,
    parse_query,
    path_param,
)
from chalicelib.api.openapi import ADMIN_ERRORS, EXTRA_MODELS, Answer, operation
from chalicelib.api.schemas import (
    AccountAnswer,
    AccountView,
    ActivityPage,
    ActivityQuery,
    CampaignCounts,
    CampaignQuery,
    CheckIn,
    CheckView,
    HistoryEvent,
    HistoryView,
    InboundPage,
    InboundQuery,
    InboundView,
    LiftQuery,
    ManualOptOutIn,
    NotesIn,
    NumberQuery,
    NumberView,
    SendRequestIn,
    SendsAnswer,
    SendsIn,
    SendsPage,
    SendsQueued,
    SendView,
    SuppressedPage,
    SuppressionCreated,
    SuppressionsQuery,
    path_value,
)
from chalicelib.domain import accounts, services
from chalicelib.domain.accounts import AccountSettingsIn, Principal
from chalicelib.domain.errors import InvalidRequest, RequestNotFound
from chalicelib.domain.models import E164_PATTERN, Account, LoggedInbound, NumberState, OutboundRecord
from chalicelib.domain.phone import to_e164
from chalicelib.wiring import Container, container

admin = Blueprint(__name__)

EXTRA_MODELS.append((SendRequestIn, "validation"))
CSV = "text/csv; charset=utf-8"

# --- helpers ---------------------------------------------------------------------------------


def _authorised(account_id: str) -> tuple[Container, Principal, Account]:
    return authorised(admin.current_request, account_id)


def _phone(raw: str, account: Account) -> str:
    return to_e164(path_value("phone", path_param(raw)), account.default_region)


def _listing_cursor(deps: Container, listing: str, cursor: str | None) -> tuple[bytes, str | None]:
    """The cursor key, and the store's cursor `cursor` carries for `listing` (InvalidCursor when it carries none)."""
    key = cursors.cursor_key(deps)
    return key, cursors.unseal(key, listing, cursor)


def _json_body(model: type[Any], deps: Container, context: dict[str, Any] | None = None) -> Any:
    return parse_json(admin.current_request, model, deps.settings.max_body_bytes, context)


# --- accounts --------------------------------------------------------------------------------


@operation(
    admin,
    "/v1/accounts/{account_id}",
    methods=("PUT",),
    tag="accounts",
    body=AccountSettingsIn,
    answers=[Answer(200, "updated", AccountAnswer), Answer(201, "created", AccountAnswer)],
    errors=(400, 401, 403, 413, 415, 503),
)
def put_account(account_id: str) -> Response:
    """Create or update an account
    The operator creates accounts and changes anything; an account's own admin token changes its own replies,
    keywords, detector thresholds, email templates, compliance address and opt-out scope (403 for the rest).
    Omitted fields keep their value; nested maps merge field by field; `issue_token` returns a new admin token.
    """
    deps = container()
    request = admin.current_request
    principal, own = accounts.authenticate(
        request.headers.get("authorization"), deps.operator_token(), deps.stores.accounts
    )
    account_id = path_value("account_id", path_param(account_id))
    if not principal.operator:
        accounts.authorise(principal, own, account_id, deps.stores.accounts)
    settings = _json_body(AccountSettingsIn, deps)
    accounts.check_self_service(principal, settings)
    account, token, created = accounts.upsert_account(
        deps.stores.accounts, deps.secrets, deps.carriers, account_id, settings, deps.clock.now()
    )
    answer = AccountAnswer(account=AccountView.of(account), token=token)
    return json_response(answer, status=201 if created else 200, exclude=None if token else {"token"})


@operation(admin, "/v1/accounts/{account_id}", tag="accounts", answers=[Answer(200, "the account", AccountAnswer)])
def get_account(account_id: str) -> Response:
    """An account's settings
    Carrier secrets only by name; API tokens only counted."""
    _, _, account = _authorised(account_id)
    return json_response(AccountAnswer(account=AccountView.of(account)), exclude={"token"})


# --- numbers ---------------------------------------------------------------------------------


@operation(
    admin,
    "/v1/accounts/{account_id}/numbers/{phone}",
    tag="suppressions",
    query=NumberQuery,
    answers=[Answer(200, "the number's suppressions and whether it may be texted", NumberView)],
)
def get_number(account_id: str, phone: str) -> Response:
    """A number's suppressions
    And whether a message may go to it: from `sender`, in each `group` given."""
    deps, _, account = _authorised(account_id)
    query = parse_query(admin.current_request, NumberQuery, {"region": account.default_region})
    state, _ = deps.stores.numbers.load(account.account_id, _phone(phone, account))
    return json_response(NumberView.of(state, query.sender, tuple(query.group)))


@operation(
    admin,
    "/v1/accounts/{account_id}/numbers/{phone}/history",
    tag="suppressions",
    answers=[Answer(200, "every event of the number, newest first", HistoryView)],
)
def get_history(account_id: str, phone: str) -> Response:
    """A number's history
    Every event, newest first: what, scope, source, when, who, why, and what it changed."""
    deps, _, account = _authorised(account_id)
    number = _phone(phone, account)
    records = deps.stores.history.history(account.account_id, number)
    return json_response(HistoryView(phone=number, events=[HistoryEvent.of(record) for record in records]))


# --- suppressions ----------------------------------------------------------------------------


@operation(
    admin,
    "/v1/accounts/{account_id}/suppressions",
    methods=("POST",),
    tag="suppressions",
    body=ManualOptOutIn,
    answers=[Answer(201, "the suppression", SuppressionCreated)],
    errors=(*ADMIN_ERRORS, 413, 415),
)
def post_suppression(account_id: str) -> Response:
    """Opt a number out by hand
    With a scope (`all`, `sender:<E.164>`, `group:<id>`) and notes; source `manual`."""
    deps, principal, account = _authorised(account_id)
    body = _json_body(ManualOptOutIn, deps, {"region": account.default_region})
    suppression = services.opt_out_manually(
        deps.stores, deps.queue, account, body.phone, body.scope, body.notes, principal.label, deps.clock.now()
    )
    return json_response(SuppressionCreated(phone=body.phone, suppression=suppression), status=201)


@operation(
    admin,
    "/v1/accounts/{account_id}/suppressions/{phone}",
    methods=("DELETE",),
    tag="suppressions",
    query=LiftQuery,
    answers=[Answer(200, "the number after the lift", NumberView)],
    errors=(*ADMIN_ERRORS, 409),
)
def delete_suppression(account_id: str, phone: str) -> Response:
    """Lift a suppression
    A manual, import or bounce suppression of `scope` (default `all`); the contact's own opt-out is a 409."""
    deps, principal, account = _authorised(account_id)
    query = parse_query(admin.current_request, LiftQuery)
    state = services.lift(
        deps.stores,
        deps.queue,
        account,
        _phone(phone, account),
        query.scope,
        query.notes,
        principal.label,
        deps.clock.now(),
    )
    return json_response(NumberView.of(state))


@operation(
    admin,
    "/v1/accounts/{account_id}/suppressions/check",
    methods=("POST",),
    tag="suppressions",
    body=CheckIn,
    answers=[Answer(200, "a verdict per number", CheckView)],
    errors=(*ADMIN_ERRORS, 413, 415),
)
def check_suppressions(account_id: str) -> Response:
    """Check up to 1,000 numbers
    A verdict per number for a message from `sender` in `groups` (for imports and recipient counts)."""
    deps, _, account = _authorised(account_id)
    body = _json_body(CheckIn, deps, {"region": account.default_region})
    verdicts = services.check_numbers(deps.stores, account, body.phones, body.sender, body.groups)
    return json_response(CheckView.of(verdicts))


CSV_COLUMNS = ["phone", "scope", "source", "since", "actor", "notes", "event_id"]
#: OWASP's CSV injection rule: a cell that starts with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """`value` as a CSV cell a spreadsheet shows as text: a leading formula character gets a single quote.

    An E.164 number is left as it is: a plus and digits alone is a number to a spreadsheet, never a formula that
    runs anything, and the export's numbers must read back as they were written.
    """
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not E164_PATTERN.fullmatch(text):
        return "'" + text
    return text


@operation(
    admin,
    "/v1/accounts/{account_id}/suppressions",
    tag="suppressions",
    query=SuppressionsQuery,
    answers=[
        Answer(
            200,
            "a page of suppressed numbers; with `Accept: text/csv`, the page as a CSV attachment (the next page's "
            "cursor in `X-Next-Cursor`)",
            SuppressedPage,
            content={CSV.split(";")[0]: {"schema": {"type": "string"}}},
        )
    ],
)
def list_suppressions(account_id: str) -> Response:
    """The suppressed numbers, page by page
    `Accept: text/csv` exports the page as CSV (cells a spreadsheet would run as formulas are quoted)."""
    deps, _, account = _authorised(account_id)
    request = admin.current_request
    query = parse_query(request, SuppressionsQuery)
    listing = f"suppressions:{account.account_id}"
    key, start = _listing_cursor(deps, listing, query.cursor)
    try:
        states, after = deps.stores.numbers.list_suppressed(account.account_id, start, query.limit)
    except InvalidRequest as refused:
        raise InvalidCursor(refused.message, field="cursor") from None
    next_cursor = cursors.seal(key, listing, after)
    if wants_csv(request):
        return _csv(account, states, next_cursor)
    return json_response(SuppressedPage(numbers=[NumberView.of(state) for state in states], next_cursor=next_cursor))


def _csv(account: Account, states: list[NumberState], next_cursor: str | None) -> Response:
    rows: list[list[object]] = [
        [state.phone, s.scope, s.source.value, s.since.isoformat(), s.actor, s.notes, s.event_id]
        for state in states
        for s in state.suppressions.values()
    ]
    return csv_attachment(CSV_COLUMNS, rows, f"suppressions-{account.account_id}.csv", next_cursor)


# --- inbound log -----------------------------------------------------------------------------


@operation(
    admin,
    "/v1/accounts/{account_id}/inbound",
    tag="inbound",
    query=InboundQuery,
    answers=[
        Answer(
            200,
            "a page of the inbound log, newest first; with `Accept: text/csv`, the page as a CSV attachment (the next "
            "page's cursor in `X-Next-Cursor`)",
            InboundPage,
            content={CSV.split(";")[0]: {"schema": {"type": "string"}}},
        )
    ],
)
def list_inbound(account_id: str) -> Response:
    """The inbound log, newest first, page by page
    `?needs_review=true` gives the review queue: messages the detector was unsure about. `phone`, `from`, `to`,
    `intent` and `review` narrow it; a narrowed page may hold fewer than `limit` messages (the service reads at most
    1,000 a call): go on with `next_cursor` until it is null. `Accept: text/csv` exports the page."""
    deps, _, account = _authorised(account_id)
    request = admin.current_request
    query = parse_query(request, InboundQuery, {"region": account.default_region})
    search = query.search()
    listing = query.listing(account.account_id)
    key, start = _listing_cursor(deps, listing, query.cursor)
    try:
        logged, after = deps.stores.inbound.list_inbound(
            account.account_id, start, query.limit, needs_review=query.needs_review, search=search
        )
    except InvalidRequest as refused:
        raise InvalidCursor(refused.message, field="cursor") from None
    next_cursor = cursors.seal(key, listing, after)
    if wants_csv(admin.current_request):
        rows = [_inbound_row(entry) for entry in logged]
        return csv_attachment(INBOUND_CSV_COLUMNS, rows, f"inbound-{account.account_id}.csv", next_cursor)
    return json_response(InboundPage(messages=[InboundView.of(entry) for entry in logged], next_cursor=next_cursor))


INBOUND_CSV_COLUMNS = [
    "received_at",
    "message_id",
    "carrier",
    "from_phone",
    "to_phone",
    "body",
    "intent",
    "reason",
    "confidence",
    "needs_review",
    "review",
    "reviewed_by",
    "reviewed_at",
    "review_notes",
]


def _inbound_row(logged: LoggedInbound) -> list[object]:
    message, review = logged.message, logged.review
    return [
        message.received_at.isoformat(),
        message.message_id,
        message.carrier,
        message.from_phone,
        message.to_phone,
        message.body,
        logged.intent.value,
        logged.reason,
        logged.confidence,
        "true" if logged.needs_review else "false",
        review.resolution if review else None,
        review.actor if review else None,
        review.at.isoformat() if review else None,
        review.notes if review else None,
    ]


def wants_csv(request: Request) -> bool:
    """The caller asks for CSV (`Accept: text/csv`) rather than JSON."""
    return "text/csv" in (request.headers.get("accept") or "")


def csv_attachment(columns: list[str], rows: list[list[object]], filename: str, next_cursor: str | None) -> Response:
    """Rows as a CSV attachment, every cell neutralised (`csv_cell`), the next page's cursor in X-Next-Cursor."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])
    headers: dict[str, str | list[str]] = {
        "Content-Type": CSV,
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
    return Response(body=out.getvalue(), status_code=200, headers=headers)


def _notes(deps: Container) -> NotesIn:
    request = admin.current_request
    return _json_body(NotesIn, deps) if request.raw_body else NotesIn()


def _message_id(raw: str) -> str:
    return path_value("message_id", path_param(raw))


@operation(
    admin,
    "/v1/accounts/{account_id}/inbound/{message_id}/dismiss",
    methods=("POST",),
    tag="inbound",
    body=NotesIn,
    body_required=False,
    answers=[Answer(200, "the message, resolved", InboundView)],
    errors=(*ADMIN_ERRORS, 413, 415),
)
def dismiss_review(account_id: str, message_id: str) -> Response:
    """Dismiss a flagged message
    The admin decides it is not an opt-out; the note goes into the number's history."""
    deps, principal, account = _authorised(account_id)
    message = _message_id(message_id)
    body = _notes(deps)
    logged = services.dismiss_review(
        deps.stores, deps.queue, account, message, body.notes, principal.label, deps.clock.now()
    )
    return json_response(InboundView.of(logged))


@operation(
    admin,
    "/v1/accounts/{account_id}/inbound/{message_id}/unsubscribe",
    methods=("POST",),
    tag="inbound",
    body=NotesIn,
    body_required=False,
    answers=[Answer(200, "the number, opted out", NumberView)],
    errors=(*ADMIN_ERRORS, 413, 415),
)
def unsubscribe_from_message(account_id: str, message_id: str) -> Response:
    """Unsubscribe a number from one of its messages
    The message is read as the contact asking to stop: their own opt-out, from that message."""
    deps, principal, account = _authorised(account_id)
    message = _message_id(message_id)
    body = _notes(deps)
    state = services.unsubscribe_from_message(
        deps.stores, deps.queue, account, message, body.notes, principal.label, deps.clock.now()
    )
    return json_response(NumberView.of(state))


# --- sends -----------------------------------------------------------------------------------


@operation(
    admin,
    "/v1/accounts/{account_id}/sends",
    methods=("POST",),
    tag="sends",
    body=SendsIn,
    answers=[Answer(202, "which requests were queued, and why the others were not", SendsQueued)],
    errors=(*ADMIN_ERRORS, 413, 415),
)
def post_sends(account_id: str) -> Response:
    """Queue up to 500 send requests
    Each is checked alone (a SendRequestIn); the answer lists those queued and why the others were not."""
    deps, _, account = _authorised(account_id)
    body = parse_json(admin.current_request, SendsIn, deps.settings.max_body_bytes * 16)
    valid, rejected = body.parse(account)
    not_queued = deps.queue.enqueue(valid) if valid else {}
    return json_response(SendsQueued.of(valid, rejected, not_queued), status=202)


@operation(
    admin,
    "/v1/accounts/{account_id}/sends",
    tag="sends",
    query=CampaignQuery,
    answers=[
        Answer(
            200,
            "without `outcome`, the campaign's counts; with it, a page of its texts of that outcome (by outcome, "
            "reason, then request id); with `outcome` and `Accept: text/csv`, the page as a CSV attachment (the next "
            "page's cursor in `X-Next-Cursor`)",
            SendsAnswer,
            content={CSV.split(";")[0]: {"schema": {"type": "string"}}},
        )
    ],
)
def get_sends(account_id: str) -> Response:
    """A campaign's counts, or its texts of one outcome
    Without `outcome`: sent, skipped by reason, failed by reason. With `outcome` (`sent`, `skipped`, `failed`,
    `retrying`, `any`) and optionally `reason`: which texts, and why, page by page (a text still being sent is
    listed once its outcome is known). `Accept: text/csv` exports the page."""
    deps, _, account = _authorised(account_id)
    query = parse_query(admin.current_request, CampaignQuery)
    search = query.search()
    if search is None:
        counts = deps.stores.outbound.campaign_counts(account.account_id, query.campaign)
        return json_response(SendsAnswer(CampaignCounts.of(query.campaign, counts)))
    outcome, reason = search
    listing = query.listing(account.account_id)
    key, start = _listing_cursor(deps, listing, query.cursor)
    try:
        records, after = deps.stores.outbound.campaign_log(
            account.account_id, query.campaign, outcome, reason, start, query.limit
        )
    except InvalidRequest as refused:
        raise InvalidCursor(refused.message, field="cursor") from None
    next_cursor = cursors.seal(key, listing, after)
    if wants_csv(admin.current_request):
        rows = [_send_row(record) for record in records]
        filename = f"sends-{account.account_id}-{_filename_part(query.campaign)}.csv"
        return csv_attachment(SENDS_CSV_COLUMNS, rows, filename, next_cursor)
    page = SendsPage(campaign_id=query.campaign, sends=[SendView.of(r) for r in records], next_cursor=next_cursor)
    return json_response(SendsAnswer(page))


SENDS_CSV_COLUMNS = [
    "request_id",
    "to",
    "status",
    "reason",
    "blocked_by",
    "provider",
    "error_code",
    "detail",
    "updated_at",
]


def _send_row(record: OutboundRecord) -> list[object]:
    return [
        record.request.request_id,
        record.request.to,
        record.status,
        record.reason,
        " ".join(s.scope for s in record.blocked_by) or None,
        record.provider,
        record.error_code,
        record.detail,
        record.updated_at.isoformat(),
    ]


def _filename_part(campaign_id: str) -> str:
    """A campaign id as part of a file name: its characters a file name may hold (`:`, `/`, `@`, `+`, `=` are `_`)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", campaign_id)


@operation(
    admin,
    "/v1/accounts/{account_id}/sends/{request_id}",
    tag="sends",
    answers=[Answer(200, "the request and its outcome", OutboundRecord)],
)
def get_send(account_id: str, request_id: str) -> Response:
    """One send request's outcome
    Sent, skipped and why, failed and why."""
    deps, _, account = _authorised(account_id)
    wanted = path_value("request_id", path_param(request_id))
    record = deps.stores.outbound.get(account.account_id, wanted)
    if record is None:
        raise RequestNotFound(f"no send request {wanted}", request_id=wanted)
    return json_response(record)


# --- a number's activity -----------------------------------------------------------------------


@operation(
    admin,
    "/v1/accounts/{account_id}/numbers/{phone}/activity",
    tag="suppressions",
    query=ActivityQuery,
    answers=[Answer(200, "a page of the number's texts, replies and changes, newest first", ActivityPage)],
)
def get_activity(account_id: str, phone: str) -> Response:
    """A number's activity
    One timeline, newest first: texts sent to it (`sent`, with what became of each), messages it sent (`reply`) and
    changes of its suppressions (`change`), page by page."""
    deps, _, account = _authorised(account_id)
    query = parse_query(admin.current_request, ActivityQuery)
    number = _phone(phone, account)
    listing = f"activity:{account.account_id}:{number}"
    key, start = _listing_cursor(deps, listing, query.cursor)
    activity = deps.stores.activity
    if activity is None:
        raise ConfigurationError("no activity log in this deployment's stores")
    try:
        entries, after = activity.activity(account.account_id, number, start, query.limit)
    except InvalidRequest as refused:
        raise InvalidCursor(refused.message, field="cursor") from None
    return json_response(ActivityPage.of(number, entries, cursors.seal(key, listing, after)))


edge.install(admin)
