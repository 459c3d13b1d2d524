"""Named groups through the HTTP edge (chalice.test.Client, in-memory fakes): the contract's shapes, search by name,
clear 400s and 409s that change nothing, and a suppression for a group that keeps scope `group:<id>`."""

from __future__ import annotations

import json

import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.settings import Settings
from tests.containers import fake_container

OPERATOR = "operator-secret-token"
GROUPS = "/v1/accounts/acme/groups"


@pytest.fixture
def client():
    fake_container(Settings(operator_token=OPERATOR, public_base_url="https://sms.example.com/api"))
    try:
        with Client(application.app) as test_client:
            yield test_client
    finally:
        wiring.use(None)


def call(client, method: str, path: str, token: str, body: object | None = None):
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    response = getattr(client.http, method)(path, headers=headers, body=json.dumps(body) if body is not None else b"")
    return response.status_code, json.loads(response.body) if response.body else None


@pytest.fixture
def token(client) -> str:
    status, answer = call(client, "put", "/v1/accounts/acme", OPERATOR, {"name": "Acme", "issue_token": True})
    assert status == 201
    return answer["token"]


def create(client, token: str, kind: str, group_id: str, name: str) -> dict:
    status, answer = call(client, "post", GROUPS, token, {"kind": kind, "id": group_id, "name": name})
    assert status == 201, answer
    return answer


def test_a_group_is_created_read_renamed_and_removed_in_the_contracts_shape(client, token) -> None:
    created = create(client, token, "event", "gala-2026", "Annual Charity Gala")
    assert set(created) == {"kind", "id", "name", "created_at", "updated_at"}
    assert (created["kind"], created["id"], created["name"]) == ("event", "gala-2026", "Annual Charity Gala")
    assert call(client, "get", f"{GROUPS}/gala-2026", token) == (200, created)

    status, renamed = call(client, "put", f"{GROUPS}/gala-2026", token, {"kind": "event", "name": "Winter Gala"})
    assert status == 200 and renamed["name"] == "Winter Gala" and renamed["id"] == "gala-2026"

    status, removed = call(client, "delete", f"{GROUPS}/gala-2026", token)
    assert status == 200 and removed["name"] == "Winter Gala"
    status, answer = call(client, "get", f"{GROUPS}/gala-2026", token)
    assert status == 404 and answer["error"]["code"] == "group_not_found"


def test_an_id_taken_is_a_409_that_changes_nothing(client, token) -> None:
    create(client, token, "event", "gala-2026", "Annual Charity Gala")
    status, answer = call(client, "post", GROUPS, token, {"kind": "topic", "id": "gala-2026", "name": "Other"})
    assert status == 409 and answer["error"]["code"] == "group_exists"
    assert call(client, "get", f"{GROUPS}/gala-2026", token)[1]["name"] == "Annual Charity Gala"


def test_groups_are_found_by_the_beginnings_of_their_names_words(client, token) -> None:
    create(client, token, "event", "gala-2026", "Annual Charity Gala")
    create(client, token, "employee", "emp-42", "Zoë Ånnström")
    create(client, token, "organisation", "acme-corp", "ACME Corporation")
    status, page = call(client, "get", f"{GROUPS}?q=ANN", token)
    assert status == 200 and [g["id"] for g in page["groups"]] == ["emp-42", "gala-2026"]
    assert [g["id"] for g in call(client, "get", f"{GROUPS}?q=zoe", token)[1]["groups"]] == ["emp-42"]
    assert [g["id"] for g in call(client, "get", f"{GROUPS}?q=ann&kind=event", token)[1]["groups"]] == ["gala-2026"]
    status, page = call(client, "get", f"{GROUPS}?limit=2", token)
    assert [g["id"] for g in page["groups"]] == ["acme-corp", "emp-42"] and page["next_cursor"]
    status, rest = call(client, "get", f"{GROUPS}?limit=2&cursor={page['next_cursor']}", token)
    assert [g["id"] for g in rest["groups"]] == ["gala-2026"] and rest["next_cursor"] is None
    # A cursor of one listing is not one of another (another search, here)
    status, answer = call(client, "get", f"{GROUPS}?q=ann&limit=2&cursor={page['next_cursor']}", token)
    assert status == 400 and answer["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "party", "id": "x", "name": "X"},
        {"kind": "event", "id": "has space", "name": "X"},
        {"kind": "event", "id": "x", "name": "   "},
        {"kind": "event", "id": "x", "name": "line\nbreak"},
        {"kind": "event", "id": "x", "name": "!!!"},
        {"kind": "event", "id": "x", "name": "X", "extra": 1},
    ],
)
def test_a_bad_group_is_a_400_that_stores_nothing(client, token, body) -> None:
    status, answer = call(client, "post", GROUPS, token, body)
    assert status == 400 and answer["error"]["code"] == "invalid_request"
    assert call(client, "get", GROUPS, token)[1]["groups"] == []


def test_a_query_of_no_word_is_a_400(client, token) -> None:
    status, answer = call(client, "get", f"{GROUPS}?q=%21%21", token)
    assert status == 400 and answer["error"]["code"] == "invalid_request"


def test_another_accounts_token_cannot_see_the_groups(client, token) -> None:
    create(client, token, "event", "gala-2026", "Annual Charity Gala")
    other = call(client, "put", "/v1/accounts/other", OPERATOR, {"name": "Other", "issue_token": True})[1]["token"]
    status, answer = call(client, "get", GROUPS, other)
    assert status == 403


def test_a_suppression_for_a_named_group_keeps_scope_group_id_and_blocks_that_group_only(client, token) -> None:
    create(client, token, "event", "gala-2026", "Annual Charity Gala")
    body = {"phone": "+14155550123", "scope": "group:gala-2026", "notes": "asked at the desk"}
    assert call(client, "post", "/v1/accounts/acme/suppressions", token, body)[0] == 201
    number = "/v1/accounts/acme/numbers/%2B14155550123"
    assert call(client, "get", f"{number}?group=gala-2026", token)[1]["sendable"] is False
    assert call(client, "get", f"{number}?group=spring-fair", token)[1]["sendable"] is True
    assert [s["scope"] for s in call(client, "get", number, token)[1]["suppressions"]] == ["group:gala-2026"]
