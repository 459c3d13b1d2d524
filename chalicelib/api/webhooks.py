"""Carrier webhooks: one route pair for every carrier; the carrier's adapter checks and reads the request."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlencode

from chalice import Blueprint, Response

from chalicelib.api.http import json_errors, path_param, read_body
from chalicelib.api.public_url import public_url
from chalicelib.domain import carrier_webhooks
from chalicelib.domain.errors import InvalidSignature
from chalicelib.domain.webhooks import WebhookRequest
from chalicelib.wiring import container

webhooks = Blueprint(__name__)

INBOUND_ROUTE = "/webhooks/{carrier}/{account_id}"
STATUS_ROUTE = "/webhooks/{carrier}/{account_id}/status"


def _request(route: str, now: datetime) -> WebhookRequest:
    """The request as the carrier sent it: its public URL (what it signed), headers, raw body and query."""
    request = webhooks.current_request
    settings = container().settings
    query = _query(request.query_params)
    headers = {name.lower(): value for name, value in request.headers.items()}
    url = public_url(
        public_base_url=settings.public_base_url,
        headers=headers,
        request_path=request.context.get("path", ""),
        route=route,
        query=urlencode(query, quote_via=quote),
    )
    if url is None:
        raise InvalidSignature("the request has no Host to check its signature against")
    return WebhookRequest(
        method=request.method,
        url=url,
        headers=headers,
        body=read_body(request, settings.max_body_bytes),
        received_at=now,
        query=tuple(query),
    )


def _query(params: object) -> list[tuple[str, str]]:
    """The query string's pairs in order (API Gateway hands it over parsed)."""
    if not params:
        return []
    return [(name, value) for name in params for value in params.getlist(name)]  # type: ignore[attr-defined]


def _receive(carrier: str, account_id: str, *, status: bool) -> Response:
    parts = container()
    route = STATUS_ROUTE if status else INBOUND_ROUTE
    now = parts.clock.now()
    answer = carrier_webhooks.receive_webhook(
        parts.stores,
        parts.queue,
        parts.secrets,
        parts.carriers.get(path_param(carrier)),
        path_param(account_id),
        _request(route, now),
        status=status,
    )
    return Response(body=answer.body, status_code=answer.status, headers=dict(answer.headers))


# GET too: some carriers (Vonage) may be set to call with the fields in the query string.
@webhooks.route(INBOUND_ROUTE, methods=["POST", "GET"], content_types=["*/*"])
@json_errors
def inbound(carrier: str, account_id: str) -> Response:
    """An SMS to one of the account's numbers; the answer (a reply, for some carriers) once it is stored."""
    return _receive(carrier, account_id, status=False)


@webhooks.route(STATUS_ROUTE, methods=["POST", "GET"], content_types=["*/*"])
@json_errors
def status(carrier: str, account_id: str) -> Response:
    """A delivery-status callback: opted-out and unreachable numbers become suppressions."""
    return _receive(carrier, account_id, status=True)
