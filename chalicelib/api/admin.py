"""The admin API: parse the request, authorise it, call one service, serialise the answer."""

from __future__ import annotations

import csv
import io
from typing import Any

from chalice import Blueprint, Response
from pydantic import Field, ValidationError, ValidationInfo, field_validator

from chalicelib.api.http import (
    describe_errors,
    int_param,
    json_errors,
    json_response,
    parse_json,
    path_param,
    query_param,
)
from chalicelib.domain import accounts, services
from chalicelib.domain.accounts import AccountSettingsIn, Principal
from chalicelib.domain.errors import InvalidRequest, RequestNotFound
from chalicelib.domain.models import (
    ACCOUNT_ID_PATTERN,
    Account,
    Frozen,
    LoggedInbound,
    NumberState,
    Scope,
    SendRequest,
    validate_scope,
)
from chalicelib.domain.phone import to_e164
from chalicelib.wiring import Container, container

admin = Blueprint(__name__)

ANY = ["*/*"]
MAX_CHECK = 1000


# --- request bodies --------------------------------------------------------------------------


def _e164(raw: str, info: ValidationInfo) -> str:
    region = (info.context or {}).get("region", "US")
    return to_e164(raw, region)


class ManualOptOutIn(Frozen):
    phone: str
    scope: Scope = "all"
    notes: str | None = Field(default=None, max_length=2000)

    _phone = field_validator("phone")(_e164)


class CheckIn(Frozen):
    phones: list[str] = Field(min_length=1, max_length=MAX_CHECK)
    sender: str | None = None
    groups: list[str] = Field(default_factory=list, max_length=50)

    _sender = field_validator("sender")(lambda raw, info: None if raw is None else _e164(raw, info))


class NotesIn(Frozen):
    notes: str | None = Field(default=None, max_length=2000)


# --- helpers ---------------------------------------------------------------------------------


def _authorised(account_id: str) -> tuple[Container, Principal, Account]:
    parts = container()
    request = admin.current_request
    principal, own = accounts.authenticate(
        request.headers.get("authorization"), parts.operator_token(), parts.stores.accounts
    )
    account = accounts.authorise(principal, own, path_param(account_id), parts.stores.accounts)
    return parts, principal, account


def _phone(raw: str, account: Account) -> str:
    return to_e164(path_param(raw), account.default_region)


def _number_view(state: NumberState, sender: str | None = None, groups: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "phone": state.phone,
        "sendable": not state.blocking(sender, groups),
        "suppressions": [s.model_dump(mode="json") for s in state.suppressions.values()],
    }


def _account_view(account: Account) -> dict[str, Any]:
    return account.model_dump(mode="json", exclude={"token_hashes"}) | {"tokens": len(account.token_hashes)}


# --- accounts --------------------------------------------------------------------------------


@admin.route("/v1/accounts/{account_id}", methods=["PUT"], content_types=ANY)
@json_errors
def put_account(account_id: str) -> Response:
    """Create or update an account (operator only); `issue_token` returns a new admin token."""
    deps = container()
    request = admin.current_request
    principal, _ = accounts.authenticate(
        request.headers.get("authorization"), deps.operator_token(), deps.stores.accounts
    )
    accounts.require_operator(principal)
    account_id = path_param(account_id)
    if not _matches(ACCOUNT_ID_PATTERN, account_id):
        raise InvalidRequest("account ids are 1-63 lower-case letters, digits, '-' or '_'", account_id=account_id)
    settings = parse_json(request, AccountSettingsIn, deps.settings.max_body_bytes)
    account, token, created = accounts.upsert_account(
        deps.stores.accounts, deps.secrets, deps.carriers, account_id, settings, deps.clock.now()
    )
    body: dict[str, Any] = {"account": _account_view(account)}
    if token:
        body["token"] = token
    return json_response(body, status=201 if created else 200)


@admin.route("/v1/accounts/{account_id}", methods=["GET"], content_types=ANY)
@json_errors
def get_account(account_id: str) -> Response:
    _, _, account = _authorised(account_id)
    return json_response({"account": _account_view(account)})


def _matches(pattern: str, value: str) -> bool:
    import re

    return re.match(pattern, value) is not None


# --- numbers ---------------------------------------------------------------------------------


@admin.route("/v1/accounts/{account_id}/numbers/{phone}", methods=["GET"], content_types=ANY)
@json_errors
def get_number(account_id: str, phone: str) -> Response:
    """The number's suppressions, and whether a message (from `sender`, in `group`s) may go to it."""
    deps, _, account = _authorised(account_id)
    request = admin.current_request
    sender_raw = query_param(request, "sender")
    sender = to_e164(sender_raw, account.default_region) if sender_raw else None
    groups = (
        tuple(request.query_params.getlist("group")) if request.query_params and "group" in request.query_params else ()
    )
    state, _ = deps.stores.numbers.load(account.account_id, _phone(phone, account))
    return json_response(_number_view(state, sender, groups))


@admin.route("/v1/accounts/{account_id}/numbers/{phone}/history", methods=["GET"], content_types=ANY)
@json_errors
def get_history(account_id: str, phone: str) -> Response:
    """Every event of the number, newest first: what, scope, source, when, who, why."""
    deps, _, account = _authorised(account_id)
    number = _phone(phone, account)
    records = deps.stores.history.history(account.account_id, number)
    events = [
        record.event.model_dump(mode="json", exclude={"account_id", "phone", "only_sources"})
        | {"outcome": record.outcome, "changes": [c.model_dump(mode="json") for c in record.changes]}
        for record in records
    ]
    return json_response({"phone": number, "events": events})


# --- suppressions ----------------------------------------------------------------------------


@admin.route("/v1/accounts/{account_id}/suppressions", methods=["POST"], content_types=ANY)
@json_errors
def post_suppression(account_id: str) -> Response:
    """A manual opt-out with a scope and notes."""
    deps, principal, account = _authorised(account_id)
    body = parse_json(
        admin.current_request, ManualOptOutIn, deps.settings.max_body_bytes, {"region": account.default_region}
    )
    suppression = services.opt_out_manually(
        deps.stores, deps.queue, account, body.phone, body.scope, body.notes, principal.label, deps.clock.now()
    )
    return json_response({"phone": body.phone, "suppression": suppression.model_dump(mode="json")}, status=201)


@admin.route("/v1/accounts/{account_id}/suppressions/{phone}", methods=["DELETE"], content_types=ANY)
@json_errors
def delete_suppression(account_id: str, phone: str) -> Response:
    """Lift a manual, import or bounce suppression (`?scope=`, default `all`); 409 for the contact's own."""
    deps, principal, account = _authorised(account_id)
    request = admin.current_request
    scope = validate_scope_param(query_param(request, "scope") or "all")
    notes = query_param(request, "notes")
    state = services.lift(
        deps.stores, deps.queue, account, _phone(phone, account), scope, notes, principal.label, deps.clock.now()
    )
    return json_response(_number_view(state))


def validate_scope_param(raw: str) -> str:
    try:
        return validate_scope(path_param(raw))
    except ValueError as error:
        raise InvalidRequest(str(error), field="scope") from None


@admin.route("/v1/accounts/{account_id}/suppressions/check", methods=["POST"], content_types=ANY)
@json_errors
def check_suppressions(account_id: str) -> Response:
    """A verdict per number for a message from `sender` in `groups` (up to 1,000 numbers)."""
    deps, _, account = _authorised(account_id)
    body = parse_json(admin.current_request, CheckIn, deps.settings.max_body_bytes, {"region": account.default_region})
    for group in body.groups:
        validate_scope_param(f"group:{group}")
    verdicts = services.check_numbers(deps.stores, account, body.phones, body.sender, body.groups)
    results: list[dict[str, Any]] = []
    for verdict in verdicts:
        if verdict.error is not None:
            results.append({"input": verdict.input, "error": {"code": "invalid_phone", "message": verdict.error}})
        else:
            results.append(
                {
                    "input": verdict.input,
                    "phone": verdict.phone,
                    "sendable": verdict.sendable,
                    "blocked_by": [s.model_dump(mode="json") for s in verdict.blocked_by],
                }
            )
    sendable = sum(1 for v in verdicts if v.sendable)
    return json_response({"results": results, "sendable": sendable, "blocked": len(verdicts) - sendable})


CSV_COLUMNS = ["phone", "scope", "source", "since", "actor", "notes", "event_id"]


@admin.route("/v1/accounts/{account_id}/suppressions", methods=["GET"], content_types=ANY)
@json_errors
def list_suppressions(account_id: str) -> Response:
    """Suppressed numbers page by page (`cursor`, `limit`); `Accept: text/csv` exports the page as CSV."""
    deps, _, account = _authorised(account_id)
    request = admin.current_request
    limit = int_param(request, "limit", default=100, low=1, high=1000)
    states, cursor = deps.stores.numbers.list_suppressed(account.account_id, query_param(request, "cursor"), limit)
    if "text/csv" in (request.headers.get("accept") or ""):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for state in states:
            for s in state.suppressions.values():
                writer.writerow(
                    [state.phone, s.scope, s.source.value, s.since.isoformat(), s.actor, s.notes, s.event_id]
                )
        headers: dict[str, str | list[str]] = {"Content-Type": "text/csv; charset=utf-8"}
        if cursor:
            headers["X-Next-Cursor"] = cursor
        return Response(body=out.getvalue(), status_code=200, headers=headers)
    return json_response({"numbers": [_number_view(state) for state in states], "next_cursor": cursor})


# --- inbound log -----------------------------------------------------------------------------


@admin.route("/v1/accounts/{account_id}/inbound", methods=["GET"], content_types=ANY)
@json_errors
def list_inbound(account_id: str) -> Response:
    """The inbound log, newest first, page by page; `?needs_review=true` gives the review queue."""
    deps, _, account = _authorised(account_id)
    request = admin.current_request
    limit = int_param(request, "limit", default=50, low=1, high=500)
    review_only = (query_param(request, "needs_review") or "false").lower()
    if review_only not in ("true", "false"):
        raise InvalidRequest("needs_review must be true or false", field="needs_review")
    logged, cursor = deps.stores.inbound.list_inbound(
        account.account_id, query_param(request, "cursor"), limit, needs_review=review_only == "true"
    )
    return json_response({"messages": [_inbound_view(entry) for entry in logged], "next_cursor": cursor})


def _inbound_view(entry: LoggedInbound) -> dict[str, Any]:
    return entry.message.model_dump(mode="json", exclude={"account_id"}) | entry.model_dump(
        mode="json", exclude={"message"}
    )


@admin.route("/v1/accounts/{account_id}/inbound/{message_id}/dismiss", methods=["POST"], content_types=ANY)
@json_errors
def dismiss_review(account_id: str, message_id: str) -> Response:
    """An admin decides a flagged message is not an opt-out; the note goes into the number's history."""
    deps, principal, account = _authorised(account_id)
    request = admin.current_request
    body = parse_json(request, NotesIn, deps.settings.max_body_bytes) if request.raw_body else NotesIn()
    logged = services.dismiss_review(
        deps.stores, deps.queue, account, path_param(message_id), body.notes, principal.label, deps.clock.now()
    )
    return json_response(_inbound_view(logged))


@admin.route("/v1/accounts/{account_id}/inbound/{message_id}/unsubscribe", methods=["POST"], content_types=ANY)
@json_errors
def unsubscribe_from_message(account_id: str, message_id: str) -> Response:
    """Read an inbound message as the contact asking to stop: their own opt-out, from that message."""
    deps, principal, account = _authorised(account_id)
    request = admin.current_request
    body = parse_json(request, NotesIn, deps.settings.max_body_bytes) if request.raw_body else NotesIn()
    state = services.unsubscribe_from_message(
        deps.stores, deps.queue, account, path_param(message_id), body.notes, principal.label, deps.clock.now()
    )
    return json_response(_number_view(state))


# --- sends -----------------------------------------------------------------------------------

MAX_SENDS = 500


class SendsIn(Frozen):
    requests: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_SENDS)


@admin.route("/v1/accounts/{account_id}/sends", methods=["POST"], content_types=ANY)
@json_errors
def post_sends(account_id: str) -> Response:
    """Queue up to 500 send requests; each is validated, and the answer says which were queued."""
    deps, _, account = _authorised(account_id)
    body = parse_json(admin.current_request, SendsIn, deps.settings.max_body_bytes * 16)
    valid: list[SendRequest] = []
    rejected: list[dict[str, Any]] = []
    for index, raw in enumerate(body.requests):
        raw = {"account_id": account.account_id, **raw}
        try:
            if raw["account_id"] != account.account_id:
                raise InvalidRequest("account_id must be the account in the path")
            valid.append(SendRequest.model_validate(raw, context={"region": account.default_region}))
        except ValidationError as error:
            rejected.append({"index": index, "request_id": raw.get("request_id"), "errors": describe_errors(error)})
        except InvalidRequest as error:
            rejected.append(
                {"index": index, "request_id": raw.get("request_id"), "errors": [{"problem": error.message}]}
            )
    not_queued = deps.queue.enqueue(valid) if valid else {}
    for request_id, reason in not_queued.items():
        rejected.append({"request_id": request_id, "errors": [{"problem": f"not queued: {reason}"}]})
    queued = [request.request_id for request in valid if request.request_id not in not_queued]
    return json_response({"queued": queued, "rejected": rejected}, status=202)


@admin.route("/v1/accounts/{account_id}/sends", methods=["GET"], content_types=ANY)
@json_errors
def get_sends(account_id: str) -> Response:
    """A campaign's counts: sent, skipped by reason, failed by reason."""
    deps, _, account = _authorised(account_id)
    campaign = query_param(admin.current_request, "campaign")
    if not campaign:
        raise InvalidRequest("give ?campaign=<campaign id>", field="campaign")
    counts = deps.stores.outbound.campaign_counts(account.account_id, campaign)
    summary: dict[str, Any] = {"campaign_id": campaign, "sent": counts.get("sent", 0), "skipped": {}, "failed": {}}
    for name, count in counts.items():
        status, _, reason = name.partition(":")
        if status in ("skipped", "failed"):
            summary[status][reason or "unknown"] = count
    summary["total"] = sum(counts.values())
    return json_response(summary)


@admin.route("/v1/accounts/{account_id}/sends/{request_id}", methods=["GET"], content_types=ANY)
@json_errors
def get_send(account_id: str, request_id: str) -> Response:
    """What happened to one send request: sent, skipped and why, failed and why."""
    deps, _, account = _authorised(account_id)
    record = deps.stores.outbound.get(account.account_id, path_param(request_id))
    if record is None:
        raise RequestNotFound(f"no send request {path_param(request_id)}", request_id=path_param(request_id))
    return json_response(record.model_dump(mode="json"))
