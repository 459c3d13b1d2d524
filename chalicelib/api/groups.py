"""Named groups: an account's catalogue of groups, events, organisations, employees and topics, searchable by name.
Each view parses its input, calls one use case of `chalicelib/domain/groups.py`, and answers with a model of
`group_schemas.py`. The operator or the account's own admin token manages them."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api import cursors
from chalicelib.api.access import authorised
from chalicelib.api.group_schemas import GroupChangeIn, GroupIn, GroupsPage, GroupsQuery, GroupView, group_id_value
from chalicelib.api.http import ConfigurationError, InvalidCursor, json_response, parse_json, parse_query, path_param
from chalicelib.api.openapi import ADMIN_ERRORS, Answer, operation
from chalicelib.domain import groups
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import Account
from chalicelib.domain.ports import Groups
from chalicelib.wiring import Container

groups_blueprint = Blueprint(__name__)

TAG = "groups"
BASE = "/v1/accounts/{account_id}/groups"


def _authorised(account_id: str) -> tuple[Container, Groups, Account]:
    parts, _, account = authorised(groups_blueprint.current_request, account_id)
    if parts.stores.groups is None:
        raise ConfigurationError("the stores have no named groups")
    return parts, parts.stores.groups, account


@operation(
    groups_blueprint,
    BASE,
    methods=("POST",),
    tag=TAG,
    body=GroupIn,
    answers=[Answer(201, "the group", GroupView)],
    errors=(*ADMIN_ERRORS, 409, 413, 415),
)
def create_group(account_id: str) -> Response:
    """Add a named group
    A group, event, organisation, employee or topic: its id is what `group:<id>` suppressions and send requests'
    `groups` name; its name is what people search. An id the account has already is a 409 `group_exists`."""
    deps, store, account = _authorised(account_id)
    body = parse_json(groups_blueprint.current_request, GroupIn, deps.settings.max_body_bytes)
    group = groups.create_group(store, account.account_id, body.kind, body.id, body.name, deps.clock.now())
    return json_response(GroupView.of(group), status=201)


@operation(
    groups_blueprint,
    BASE,
    tag=TAG,
    query=GroupsQuery,
    answers=[Answer(200, "a page of the account's named groups", GroupsPage)],
)
def list_groups(account_id: str) -> Response:
    """The account's named groups, or those a search finds
    By id; with `q`, those whose name has, for every word of `q`, a word it begins (case and accents aside)."""
    deps, store, account = _authorised(account_id)
    query = parse_query(groups_blueprint.current_request, GroupsQuery)
    listing = f"groups:{account.account_id}:{query.kind or ''}:{(query.q or '').strip()}"
    key = cursors.cursor_key(deps)
    start = cursors.unseal(key, listing, query.cursor)
    try:
        found, after = groups.find_groups(store, account.account_id, query.q, query.kind, start, query.limit)
    except InvalidRequest as refused:
        if refused.details.get("field") == "q":
            raise
        raise InvalidCursor(refused.message, field="cursor") from None
    page = GroupsPage(groups=[GroupView.of(group) for group in found], next_cursor=cursors.seal(key, listing, after))
    return json_response(page)


@operation(groups_blueprint, BASE + "/{group_id}", tag=TAG, answers=[Answer(200, "the group", GroupView)])
def get_group(account_id: str, group_id: str) -> Response:
    """One named group"""
    _, store, account = _authorised(account_id)
    group = groups.get_group(store, account.account_id, group_id_value(path_param(group_id)))
    return json_response(GroupView.of(group))


@operation(
    groups_blueprint,
    BASE + "/{group_id}",
    methods=("PUT",),
    tag=TAG,
    body=GroupChangeIn,
    answers=[Answer(200, "the group, changed", GroupView)],
    errors=(*ADMIN_ERRORS, 409, 413, 415),
)
def update_group(account_id: str, group_id: str) -> Response:
    """Rename a named group or change its kind
    Its id stays (suppressions name it); a group the account does not have is a 404 `group_not_found`."""
    deps, store, account = _authorised(account_id)
    wanted = group_id_value(path_param(group_id))
    body = parse_json(groups_blueprint.current_request, GroupChangeIn, deps.settings.max_body_bytes)
    group = groups.update_group(store, account.account_id, wanted, body.kind, body.name, deps.clock.now())
    return json_response(GroupView.of(group))


@operation(
    groups_blueprint,
    BASE + "/{group_id}",
    methods=("DELETE",),
    tag=TAG,
    answers=[Answer(200, "the group, removed from the catalogue", GroupView)],
)
def delete_group(account_id: str, group_id: str) -> Response:
    """Remove a named group from the catalogue
    Suppressions in its scope stay as they are: they name its id, and still block messages in that group."""
    _, store, account = _authorised(account_id)
    group = groups.delete_group(store, account.account_id, group_id_value(path_param(group_id)))
    return json_response(GroupView.of(group))
