"""Event endpoints: where an account's change events are POSTed, signed the Standard Webhooks way; their delivery
logs; replays. The account's admin token (or the operator's) manages them. Each view parses its input, calls one use
case of `chalicelib/domain/change_events.py`, and answers with a model of `event_schemas.py`."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.api import cursors
from chalicelib.api.access import authorised
from chalicelib.api.event_schemas import (
    DeliveriesPage,
    DeliveriesQuery,
    DeliveryView,
    EndpointCreated,
    EndpointIn,
    EndpointList,
    EndpointView,
    ReplayAnswer,
    ReplayQuery,
    endpoint_id_value,
)
from chalicelib.api.http import InvalidCursor, json_response, parse_json, parse_query, path_param
from chalicelib.api.openapi import ADMIN_ERRORS, Answer, operation
from chalicelib.domain import change_events
from chalicelib.domain.accounts import Principal
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import Account
from chalicelib.wiring import Container

event_endpoints = Blueprint(__name__)

TAG = "events"
BASE = "/v1/accounts/{account_id}/event-endpoints"


def _authorised(account_id: str) -> tuple[Container, Principal, Account]:
    return authorised(event_endpoints.current_request, account_id)


def _endpoint_id(raw: str) -> str:
    return endpoint_id_value(path_param(raw))


def _json_body(model: type[Any], deps: Container) -> Any:
    return parse_json(event_endpoints.current_request, model, deps.settings.max_body_bytes)


@operation(
    event_endpoints,
    BASE,
    methods=("POST",),
    tag=TAG,
    body=EndpointIn,
    answers=[Answer(201, "the endpoint, and its signing secret (shown this once)", EndpointCreated)],
    errors=(*ADMIN_ERRORS, 413, 415),
)
def create_event_endpoint(account_id: str) -> Response:
    """Add an event endpoint
    Every applied change of the account's suppressions (opt-out, opt-in, lift, bounce, import) is POSTed to it as
    `suppression.created` or `suppression.lifted`, signed the Standard Webhooks way with the secret this answer
    shows once. https:// to a public host; at most 10 endpoints an account."""
    deps, principal, account = _authorised(account_id)
    body = _json_body(EndpointIn, deps)
    created = change_events.create_endpoint(
        deps.stores.endpoints,
        deps.secrets,
        account.account_id,
        body.url,
        description=body.description,
        types=body.types,
        actor=principal.label,
        now=deps.clock.now(),
        allow_loopback=deps.settings.allow_loopback_endpoints,
    )
    answer = EndpointCreated(endpoint=EndpointView.of(created.endpoint), secret=created.secret)
    return json_response(answer, status=201)


@operation(event_endpoints, BASE, tag=TAG, answers=[Answer(200, "the account's event endpoints", EndpointList)])
def list_event_endpoints(account_id: str) -> Response:
    """The account's event endpoints
    Oldest first; secrets are never shown again."""
    deps, _, account = _authorised(account_id)
    endpoints, _ = deps.stores.endpoints.load_endpoints(account.account_id)
    views = [EndpointView.of(endpoint) for endpoint in endpoints if endpoint.deleted_at is None]
    return json_response(EndpointList(endpoints=views))


@operation(event_endpoints, BASE + "/{endpoint_id}", tag=TAG, answers=[Answer(200, "the endpoint", EndpointView)])
def get_event_endpoint(account_id: str, endpoint_id: str) -> Response:
    """One event endpoint
    Whether it is active, and why not when disabled."""
    deps, _, account = _authorised(account_id)
    endpoint = change_events.get_endpoint(deps.stores.endpoints, account.account_id, _endpoint_id(endpoint_id))
    return json_response(EndpointView.of(endpoint))


@operation(
    event_endpoints,
    BASE + "/{endpoint_id}",
    methods=("DELETE",),
    tag=TAG,
    answers=[Answer(200, "the endpoint, deleted", EndpointView)],
)
def delete_event_endpoint(account_id: str, endpoint_id: str) -> Response:
    """Delete an event endpoint
    Nothing more is sent to it; deliveries not yet made are cancelled."""
    deps, principal, account = _authorised(account_id)
    endpoint = change_events.delete_endpoint(
        deps.stores.endpoints,
        account.account_id,
        _endpoint_id(endpoint_id),
        actor=principal.label,
        now=deps.clock.now(),
    )
    return json_response(EndpointView.of(endpoint))


@operation(
    event_endpoints,
    BASE + "/{endpoint_id}/deliveries",
    tag=TAG,
    query=DeliveriesQuery,
    answers=[Answer(200, "a page of the endpoint's delivery log, newest first", DeliveriesPage)],
)
def list_event_deliveries(account_id: str, endpoint_id: str) -> Response:
    """An endpoint's delivery log
    Each change event sent to it: attempts, status, the receiver's last status and error, when."""
    deps, _, account = _authorised(account_id)
    query = parse_query(event_endpoints.current_request, DeliveriesQuery)
    wanted = change_events.get_endpoint(deps.stores.endpoints, account.account_id, _endpoint_id(endpoint_id))
    listing = f"deliveries:{account.account_id}:{wanted.endpoint_id}"
    key = cursors.cursor_key(deps)
    start = cursors.unseal(key, listing, query.cursor)
    try:
        deliveries, after = deps.stores.endpoints.list_deliveries(
            account.account_id, wanted.endpoint_id, start, query.limit
        )
    except InvalidRequest as refused:
        raise InvalidCursor(refused.message, field="cursor") from None
    page = DeliveriesPage(
        deliveries=[DeliveryView.of(delivery) for delivery in deliveries],
        next_cursor=cursors.seal(key, listing, after),
    )
    return json_response(page)


@operation(
    event_endpoints,
    BASE + "/{endpoint_id}/replay",
    methods=("POST",),
    tag=TAG,
    query=ReplayQuery,
    answers=[Answer(202, "the change events queued for the endpoint again", ReplayAnswer)],
)
def replay_event_deliveries(account_id: str, endpoint_id: str) -> Response:
    """Send change events to an endpoint again
    `?since=` replays every event its log holds from then on, oldest first (`limit` at a time; `after` continues);
    `?event_id=` replays one. Each keeps its id (`webhook-id`) and gets a new day of retries."""
    deps, _, account = _authorised(account_id)
    query = parse_query(event_endpoints.current_request, ReplayQuery)
    replayed = change_events.replay(
        deps.stores.endpoints,
        deps.delivery_queue,
        account.account_id,
        _endpoint_id(endpoint_id),
        since=query.since,
        event_id=query.event_id,
        after=query.after,
        limit=query.limit,
        now=deps.clock.now(),
    )
    return json_response(ReplayAnswer(replayed=list(replayed.event_ids), next_after=replayed.next_after), status=202)
