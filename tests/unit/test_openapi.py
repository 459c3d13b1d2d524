"""The OpenAPI 3.1 document: served at /openapi.json, valid, and exactly the routes the Chalice app has."""

from __future__ import annotations

import json

import pytest
from chalice.test import Client
from openapi_spec_validator import validate

import app as application
from chalicelib import wiring
from chalicelib.api.openapi import CATCH_ALL_PATHS, OPERATIONS
from chalicelib.api.schemas import AccountView, HistoryEvent, InboundView
from chalicelib.domain.models import Account, Event, EventRecord, InboundMessage, LoggedInbound
from chalicelib.settings import Settings
from tests.containers import fake_container


@pytest.fixture(scope="module")
def document() -> dict:
    fake_container(Settings(operator_token="operator", public_base_url="https://sms.example.com"))
    try:
        with Client(application.app) as client:
            response = client.http.get("/openapi.json")
    finally:
        wiring.use(None)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    return json.loads(response.body)


def routed() -> set[tuple[str, str]]:
    """(path, method) of every route of the app, but the catch-all's."""
    return {
        (path, method)
        for path, methods in application.app.routes.items()
        if path not in CATCH_ALL_PATHS
        for method in methods
    }


def documented(document: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item}


def test_the_document_is_valid_openapi_3_1(document) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_is_documented_and_nothing_is_documented_that_is_not_routed(document) -> None:
    assert documented(document) == routed()


def test_the_catch_all_answers_every_method_on_any_path() -> None:
    for path in CATCH_ALL_PATHS:
        assert set(application.app.routes[path]) >= {"GET", "POST", "PUT", "PATCH", "DELETE"}


def test_every_admin_operation_answers_a_model_and_every_error_the_contract_body(document) -> None:
    for path, item in document["paths"].items():
        for method, entry in item.items():
            for status, answer in entry["responses"].items():
                if int(status) >= 400:
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method, status)
                elif path.startswith("/v1/"):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema["$ref"].startswith("#/components/schemas/"), (path, method, status)


def test_admin_operations_need_a_bearer_token_and_webhooks_none(document) -> None:
    for path, item in document["paths"].items():
        for entry in item.values():
            expected = [{"bearer": []}] if path.startswith("/v1/") else []
            assert entry["security"] == expected, path
            if path.startswith("/v1/"):
                assert "401" in entry["responses"], path


def test_carrier_webhooks_take_forms_json_and_sns_text_and_answer_as_carriers_expect(document) -> None:
    for path in ("/webhooks/{carrier}/{account_id}", "/webhooks/{carrier}/{account_id}/status"):
        post = document["paths"][path]["post"]
        assert set(post["requestBody"]["content"]) == {
            "application/x-www-form-urlencoded",
            "application/json",
            "text/plain",
        }
        assert {"200", "204", "401", "403", "404"} <= set(post["responses"])
        carrier = next(p for p in post["parameters"] if p["name"] == "carrier")
        assert {"twilio", "aws"} <= set(carrier["schema"]["enum"])


def test_every_operation_has_a_unique_id_and_a_summary() -> None:
    ids = [op.operation_id for op in OPERATIONS]
    assert len(ids) == len(set(ids))
    assert all(op.summary for op in OPERATIONS)


def test_limits_are_documented_as_integers_in_range(document) -> None:
    parameters = document["paths"]["/v1/accounts/{account_id}/suppressions"]["get"]["parameters"]
    limit = next(p for p in parameters if p["name"] == "limit")["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 1000)


# The answers mirror the domain's models: a field added there shows up here, or this fails.


def test_the_account_view_is_the_account_without_its_token_hashes() -> None:
    assert set(AccountView.model_fields) == set(Account.model_fields) - {"token_hashes"} | {"tokens"}


def test_a_history_event_is_the_event_without_its_keys_plus_what_it_changed() -> None:
    expected = set(Event.model_fields) - {"account_id", "phone", "only_sources"} | {"outcome", "changes"}
    assert set(HistoryEvent.model_fields) == expected
    assert {"outcome", "changes"} <= set(EventRecord.model_fields)


def test_an_inbound_view_is_the_logged_message_without_its_account() -> None:
    expected = set(InboundMessage.model_fields) - {"account_id"} | set(LoggedInbound.model_fields) - {"message"}
    assert set(InboundView.model_fields) == expected


def test_a_campaign_texts_status_lists_only_outcomes_a_record_has_no_sending(document) -> None:
    # A text being sent has no record (the log is written once, with its outcome): `sending` was listed, never seen.
    status = document["components"]["schemas"]["SendView"]["properties"]["status"]
    assert set(status["enum"]) == {"sent", "skipped", "failed", "retrying"}
