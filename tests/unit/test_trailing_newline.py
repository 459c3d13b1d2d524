"""Ids and scopes end where the string ends: a value with a trailing newline is not the id it looks like, so it is
refused with a 400 in the contract's shape and changes nothing (it would otherwise be stored as a scope that blocks
nothing, or let a send past the opt-out of the group it names)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from chalicelib.domain.models import SendRequest, validate_scope
from tests.unit.test_api import CONTACT, OUR_NUMBER, admin, error_code

ACME = "/v1/accounts/acme"


@pytest.mark.parametrize("scope", ["group:gala\n", "sender:+14155550100\n", "group:gala\r\n"])
def test_a_scope_with_a_trailing_newline_is_not_a_scope(scope: str) -> None:
    with pytest.raises(ValueError):
        validate_scope(scope)


def test_a_send_requests_group_with_a_trailing_newline_is_not_a_group() -> None:
    with pytest.raises(ValidationError):
        SendRequest(request_id="r1", account_id="acme", to=CONTACT, sender=OUR_NUMBER, body="Gala", groups=("gala\n",))
    with pytest.raises(ValidationError):
        SendRequest(request_id="r1", account_id="acme", to=CONTACT, sender=OUR_NUMBER + "\n", body="Gala")


def _sendable_in_gala(client, token: str) -> bool:  # noqa: F811
    check = admin(client, "post", f"{ACME}/suppressions/check", token, {"phones": [CONTACT], "groups": ["gala"]})
    assert check.status_code == 200, check.body
    return json.loads(check.body)["results"][0]["sendable"]


def test_a_scope_or_group_id_with_a_trailing_newline_is_refused_and_stores_nothing(client, token) -> None:  # noqa: F811
    response = admin(client, "post", f"{ACME}/suppressions", token, {"phone": CONTACT, "scope": "group:gala\n"})
    assert response.status_code == 400 and error_code(response) == "invalid_request"
    assert json.loads(response.body)["error"]["details"]["errors"][0]["field"] == "scope"
    history = admin(client, "get", f"{ACME}/numbers/%2B14155550123/history", token)
    assert json.loads(history.body)["events"] == []
    assert _sendable_in_gala(client, token)


def test_a_send_in_a_group_with_a_trailing_newline_is_rejected_not_queued_past_the_groups_opt_out(
    client,  # noqa: F811
    token,  # noqa: F811
) -> None:
    suppressed = admin(client, "post", f"{ACME}/suppressions", token, {"phone": CONTACT, "scope": "group:gala"})
    assert suppressed.status_code == 201 and not _sendable_in_gala(client, token)
    send = {"request_id": "r1", "to": CONTACT, "sender": OUR_NUMBER, "body": "Gala tickets", "groups": ["gala\n"]}
    answer = json.loads(admin(client, "post", f"{ACME}/sends", token, {"requests": [send]}).body)
    assert answer["queued"] == []
    assert [(r["request_id"], r["errors"][0]["field"]) for r in answer["rejected"]] == [("r1", "groups")]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/groups/gala%0A", "group_id"),
        ("/sends/r1%0A", "request_id"),
        ("%0A/groups", "account_id"),
        ("/numbers/%2B14155550123%0A/history", "phone"),
        ("/event-endpoints/ep_abc%0A", "endpoint_id"),
        ("/suppressions/import/june%0A", "import_id"),
    ],
)
def test_a_path_id_with_a_trailing_newline_is_a_400_not_a_404(client, token, path: str, field: str) -> None:  # noqa: F811
    response = admin(client, "get", ACME + path, token)
    assert response.status_code == 400, response.body
    assert json.loads(response.body)["error"]["details"]["field"] == field


def test_a_day_with_a_trailing_newline_is_not_a_day(client, token) -> None:  # noqa: F811
    response = admin(client, "get", f"{ACME}/inbound?to=2026-11-22%0A", token)
    assert response.status_code == 400 and error_code(response) == "invalid_request"
    assert admin(client, "get", f"{ACME}/inbound?to=2026-11-22", token).status_code == 200
