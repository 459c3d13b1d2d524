"""Carrier webhooks: one route pair for every carrier; the carrier's adapter checks and reads the request."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from chalice import Blueprint, Response

from chalicelib.api.http import path_param, read_body
from chalicelib.api.openapi import Answer, operation
from chalicelib.api.public_url import public_url
from chalicelib.api.schemas import path_value
from chalicelib.domain import carrier_webhooks
from chalicelib.domain.carrier_webhooks import NOT_SIGNED
from chalicelib.domain.errors import DomainError, InvalidSignature
from chalicelib.domain.webhooks import WebhookRequest
from chalicelib.observability import count, logger
from chalicelib.settings import Settings
from chalicelib.wiring import container

webhooks = Blueprint(__name__)

INBOUND_ROUTE = "/webhooks/{carrier}/{account_id}"
STATUS_ROUTE = "/webhooks/{carrier}/{account_id}/status"

#: What carriers send: a form (Twilio, Plivo, Vonage), JSON (Telnyx, Bandwidth, Vonage), or an SNS message
#: (AWS: JSON sent as text/plain). Each carrier's adapter reads its own; the document says only that much.
BODIES: dict[str, dict[str, Any]] = {
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}},
    "application/json": {"schema": {"type": ["object", "array"]}},
    "text/plain": {"schema": {"type": "string"}},
}
#: An answer with no content of its own goes out as an empty text/plain body.
EMPTY = "text/plain; charset=utf-8"
WEBHOOK_ERRORS = (400, 401, 403, 404, 413, 415, 503)


def _request(route: str, now: datetime) -> WebhookRequest:
    """The request as the carrier sent it: its public URL (what it signed), headers, raw body and query."""
    request = webhooks.current_request
    settings = container().settings
    query = _query(request.query_params)
    headers = {name.lower(): value for name, value in request.headers.items()}
    url = public_url(
        public_base_url=settings.public_base_url,
        headers=headers if _may_use_host(settings) else {},
        request_path=request.context.get("path", ""),
        route=route,
        query=urlencode(query, quote_via=quote),
    )
    if url is None:
        raise InvalidSignature(NOT_SIGNED, reason="the request has no Host to check its signature against")
    return WebhookRequest(
        method=request.method,
        url=url,
        headers=headers,
        body=read_body(request, settings.max_body_bytes),
        received_at=now,
        query=tuple(query),
    )


def _may_use_host(settings: Settings) -> bool:
    """Whether the signed URL may be rebuilt from the Host header: only where a setting says so (local runs).

    Behind API Gateway the Host is the gateway's, not what the carrier signed, and a Host a caller chooses must not
    decide what a signature is checked against: a deployment without OPTOUT_PUBLIC_BASE_URL is misconfigured.
    """
    if settings.public_base_url or settings.allow_host_url:
        return True
    logger.error(
        "configuration error: webhook refused",
        extra={"reason": "OPTOUT_PUBLIC_BASE_URL is unset and OPTOUT_ALLOW_HOST_URL is false"},
    )
    return False


def _query(params: object) -> list[tuple[str, str]]:
    """The query string's pairs in order (API Gateway hands it over parsed)."""
    if not params:
        return []
    return [(name, value) for name in params for value in params.getlist(name)]  # type: ignore[attr-defined]


def _receive(carrier_name: str, account_id: str, *, status: bool) -> Response:
    parts = container()
    route = STATUS_ROUTE if status else INBOUND_ROUTE
    now = parts.clock.now()
    carrier = parts.carriers.get(path_param(carrier_name))
    account = path_value("account_id", path_param(account_id))
    try:
        answer = carrier_webhooks.receive_webhook(
            parts.stores, parts.queue, parts.secrets, carrier, account, _request(route, now), status=status
        )
    except DomainError as refused:
        # Refusals by reason (a forged signature, a challenge, bad input, a store that did not answer), per carrier.
        count("WebhookRefused", carrier=carrier.name, reason=refused.code)
        raise
    headers: dict[str, str | list[str]] = dict(answer.headers)
    if answer.status != 204 and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = EMPTY
    return Response(body=answer.body, status_code=answer.status, headers=headers)


# GET too: some carriers (Vonage) may be set to call with the fields in the query string.
@operation(
    webhooks,
    INBOUND_ROUTE,
    methods=("POST", "GET"),
    tag="webhooks",
    answers=[
        Answer(
            200,
            "stored; the carrier's answer (Twilio: TwiML with the reply, if any; the others: empty)",
            content={"text/xml": {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}},
        ),
        Answer(204, "stored (carriers that want no body)"),
    ],
    errors=WEBHOOK_ERRORS,
    body_content=BODIES,
    secured=False,
)
def inbound(carrier: str, account_id: str) -> Response:
    """An SMS to one of the account's numbers
    Checked with the carrier's own scheme and the credentials the account set for it: when that fails, when the
    account has not configured the carrier and when there is no such account, the same 403. Answered once stored.
    """
    return _receive(carrier, account_id, status=False)


@operation(
    webhooks,
    STATUS_ROUTE,
    methods=("POST", "GET"),
    tag="webhooks",
    answers=[
        Answer(204, "stored"),
        Answer(200, "stored (SNS subscription handshakes)", content={"text/plain": {"schema": {"type": "string"}}}),
    ],
    errors=WEBHOOK_ERRORS,
    body_content=BODIES,
    secured=False,
)
def status(carrier: str, account_id: str) -> Response:
    """A delivery-status callback
    Opted-out and unreachable numbers become `carrier` and `bounce` suppressions. Checked as inbound SMS are.
    """
    return _receive(carrier, account_id, status=True)
