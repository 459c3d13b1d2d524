"""Plivo's webhooks through the HTTP edge (chalice.test.Client), in Plivo's payload shapes, signed as Plivo signs.

Requests are signed with V3 unless a test says otherwise; the signing itself is checked against Plivo's vectors in
test_plivo.py. Plivo signs no timestamp, so there is no expired request to refuse: a replay is a redelivery, and
redeliveries are applied once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.adapters.carriers import plivo
from chalicelib.adapters.carriers.registry import CarrierRegistry
from chalicelib.adapters.carriers.wire import parse_form
from chalicelib.settings import Settings
from tests.containers import fake_container

OPERATOR = "operator-secret-token"
BASE = "https://sms.example.com/api"
EVENTS = Path(__file__).parents[1] / "events" / "plivo"
AUTH_ID = "MAODU1ZJE4NWQ3ZJYWNJ"
AUTH_TOKEN = "ZDQ4N2RhYjQzNmQ2MjFiYjU0ZDRlZDk3NTUwZmNk"
OTHER_TOKEN = "OTU0ZjI5NTRhNDk0MTFkZmU2OGQ1ZjYyYmY3ZDNh"
CONTACT = "+14155550123"
OUR_NUMBER = "+14155550100"


@pytest.fixture
def parts():
    carriers = CarrierRegistry([plivo.PlivoCarrier(api_url="https://api.plivo.invalid")])
    yield fake_container(Settings(operator_token=OPERATOR, public_base_url=BASE), carriers=carriers)
    wiring.use(None)


def put_account(client, account_id: str, token: str) -> None:
    body = {"name": account_id, "issue_token": True, "carriers": {"plivo": {"auth_id": AUTH_ID, "auth_token": token}}}
    response = client.http.put(
        f"/v1/accounts/{account_id}",
        headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
        body=json.dumps(body),
    )
    assert response.status_code == 201, response.body


@pytest.fixture
def client(parts):
    with Client(application.app) as test_client:
        put_account(test_client, "acme", AUTH_TOKEN)
        put_account(test_client, "other", OTHER_TOKEN)
        yield test_client


def recorded(name: str, **fields: str) -> list[tuple[str, str]]:
    params = parse_form((EVENTS / name).read_bytes().rstrip(b"\n"))
    return [(key, fields.get(key, value)) for key, value in params] + [
        (key, value) for key, value in fields.items() if key not in dict(params)
    ]


def sms(text: str, uuid: str, intent: str = "") -> list[tuple[str, str]]:
    return recorded("inbound_stop.txt", Text=text, MessageUUID=uuid, MessageIntent=intent)


def v3(method: str, path: str, params: list[tuple[str, str]], token: str = AUTH_TOKEN, nonce: str = "19283746"):
    signature = plivo.signature_v3(method, BASE + path, params, nonce, token)
    return {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}


def post(client, params, *, path: str = "/webhooks/plivo/acme", headers: dict[str, str] | None = None, **sign):
    signed = v3("POST", path, params, **sign) if headers is None else headers
    return client.http.post(
        path, headers={"Content-Type": plivo.FORM, **signed}, body=urlencode(params).encode("utf-8")
    )


def state(parts, phone: str = CONTACT):
    return parts.stores.numbers.load("acme", phone)[0]


def nothing_written(parts) -> bool:
    return parts.stores.numbers.states == {} and parts.stores.inbound.messages == {} and parts.queue.requests == []


# --- inbound messages ---------------------------------------------------------------------------------------------


def test_a_signed_stop_suppresses_the_number_and_queues_one_confirmation(client, parts) -> None:
    response = post(client, sms("Stop please", "uuid-1"))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml"
    assert response.body.decode() == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert state(parts).suppressions["all"].source.value == "keyword"
    # The confirmation goes back through Plivo's API, from the number the contact texted
    (confirmation,) = parts.queue.requests
    assert confirmation.request_id == "confirm:plivo:uuid-1"
    assert (confirmation.provider, confirmation.sender, confirmation.to) == ("plivo", OUR_NUMBER, CONTACT)
    assert confirmation.confirms_event == "plivo:uuid-1"


def test_a_stop_plivo_matched_suppresses_without_a_second_confirmation(client, parts) -> None:
    # Plivo's DND service has confirmed the opt-out itself (MessageIntent=optout)
    assert post(client, recorded("inbound_stop.txt")).status_code == 200

    assert state(parts).suppressions["all"].source.value == "keyword"
    assert parts.queue.requests == []


def test_start_lifts_the_keyword_opt_out(client, parts) -> None:
    post(client, sms("STOP", "uuid-1"))
    parts.clock.advance(60)

    assert post(client, sms("START", "uuid-2", intent="optin")).status_code == 200

    assert state(parts).suppressions == {}
    # Plivo answered the START itself: only the STOP's confirmation was queued
    assert [r.request_id for r in parts.queue.requests] == ["confirm:plivo:uuid-1"]


def test_help_gets_the_accounts_help_text_unless_plivo_answered_it(client, parts) -> None:
    post(client, sms("HELP", "uuid-h1", intent="help"))
    assert parts.queue.requests == []

    post(client, sms("info", "uuid-h2"))

    (reply,) = parts.queue.requests
    assert (reply.request_id, reply.provider) == ("reply:plivo:uuid-h2", "plivo")
    assert reply.confirms_event is None


def test_the_same_message_delivered_three_times_is_one_history_event(client, parts) -> None:
    params = sms("STOP", "uuid-1")
    for nonce in ("1", "2", "3"):  # each delivery is signed afresh, as Plivo does
        assert post(client, params, nonce=nonce).status_code == 200

    assert len(parts.stores.history.history("acme", CONTACT)) == 1
    # The confirmation is queued again under the same request id: the send path sends it once
    assert {r.request_id for r in parts.queue.requests} == {"confirm:plivo:uuid-1"}


def test_a_replayed_stop_does_not_undo_a_later_start(client, parts) -> None:
    stop = sms("STOP", "uuid-1")
    stop_headers = v3("POST", "/webhooks/plivo/acme", stop)
    post(client, stop, headers=stop_headers)
    parts.clock.advance(60)
    post(client, sms("START", "uuid-2"))

    # The captured STOP request, replayed byte for byte
    assert post(client, stop, headers=stop_headers).status_code == 200

    assert state(parts).suppressions == {}


def test_a_get_webhook_with_the_fields_in_the_query_is_verified_and_read(client, parts) -> None:
    params = sms("STOP", "uuid-g")
    path = "/webhooks/plivo/acme?" + urlencode(params)

    response = client.http.get(path, headers=v3("GET", path, []))

    assert response.status_code == 200
    assert state(parts).suppressions["all"].source.value == "keyword"


def test_a_v2_signed_webhook_is_accepted(client, parts) -> None:
    # Plivo's messaging docs name the V2 headers; V2 signs the URL and nonce only
    headers = {
        "X-Plivo-Signature-V2": plivo.signature_v2(BASE + "/webhooks/plivo/acme", "05429567804466091622", AUTH_TOKEN),
        "X-Plivo-Signature-V2-Nonce": "05429567804466091622",
    }

    assert post(client, sms("STOP", "uuid-1"), headers=headers).status_code == 200

    assert state(parts).suppressions["all"].source.value == "keyword"


# --- refused requests ---------------------------------------------------------------------------------------------


def forged(kind: str) -> tuple[list[tuple[str, str]], dict[str, str], str]:
    """A STOP request that Plivo did not sign for acme: its fields, headers and path."""
    params, path = sms("STOP", "uuid-1"), "/webhooks/plivo/acme"
    if kind == "unsigned":
        return params, {}, path
    if kind == "bad signature":
        return params, {"X-Plivo-Signature-V3": "c29tZXRoaW5nIGVsc2U=", "X-Plivo-Signature-V3-Nonce": "1"}, path
    if kind == "tampered body":
        return sms("STOP", "uuid-1", intent="optout"), v3("POST", path, params), path
    if kind == "tampered body with a valid V2 signature beside":
        headers = {
            **v3("POST", path, params),
            "X-Plivo-Signature-V2": plivo.signature_v2(BASE + path, "7", AUTH_TOKEN),
            "X-Plivo-Signature-V2-Nonce": "7",
        }
        return sms("STOP", "uuid-1", intent="optout"), headers, path
    if kind == "swapped nonce":
        return params, {**v3("POST", path, params), "X-Plivo-Signature-V3-Nonce": "19283747"}, path
    if kind == "signed for another account's URL":
        return params, v3("POST", "/webhooks/plivo/other", params), path
    if kind == "signed with another account's token":
        return params, v3("POST", path, params, token=OTHER_TOKEN), path
    if kind == "V2 without its nonce":
        return params, {"X-Plivo-Signature-V2": plivo.signature_v2(BASE + path, "7", AUTH_TOKEN)}, path
    raise AssertionError(kind)


FORGERIES = [
    "unsigned",
    "bad signature",
    "tampered body",
    "tampered body with a valid V2 signature beside",
    "swapped nonce",
    "signed for another account's URL",
    "signed with another account's token",
    "V2 without its nonce",
]


@pytest.mark.parametrize("kind", FORGERIES)
def test_a_forged_webhook_is_403_and_writes_nothing(client, parts, kind: str) -> None:
    params, headers, path = forged(kind)

    response = post(client, params, path=path, headers=headers)

    assert response.status_code == 403
    assert json.loads(response.body)["error"]["code"] == "invalid_signature"
    assert nothing_written(parts)


def test_a_forged_status_callback_is_403_and_writes_nothing(client, parts) -> None:
    params = recorded("status_failed_200.txt")
    path = "/webhooks/plivo/acme/status"
    headers = v3("POST", path, recorded("status_delivered.txt"))

    assert post(client, params, path=path, headers=headers).status_code == 403
    assert nothing_written(parts)


def test_a_refused_webhook_says_no_more_than_an_unknown_account_is_told(client, parts) -> None:
    params, headers, path = forged("signed with another account's token")
    refused = post(client, params, path=path, headers=headers)
    unknown = post(client, params, path="/webhooks/plivo/nobody")

    assert refused.status_code == unknown.status_code == 403
    assert refused.body == unknown.body
    assert nothing_written(parts)


def test_an_account_without_plivo_credentials_is_refused(client, parts) -> None:
    client.http.put(
        "/v1/accounts/bare",
        headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
        body=json.dumps({"name": "Bare"}),
    )

    assert post(client, sms("STOP", "uuid-1"), path="/webhooks/plivo/bare").status_code == 403
    assert parts.stores.numbers.states == {}


# --- status callbacks ---------------------------------------------------------------------------------------------


def status(client, name: str, **fields: str):
    params = recorded(name, **fields)
    return post(client, params, path="/webhooks/plivo/acme/status")


@pytest.mark.parametrize(
    ("name", "fields", "source"),
    [
        ("status_failed_200.txt", {}, "carrier"),
        ("status_undelivered_70.txt", {}, "bounce"),
        ("status_undelivered_70.txt", {"ErrorCode": "50"}, "bounce"),
        ("status_undelivered_70.txt", {"ErrorCode": "80"}, "bounce"),
        ("status_undelivered_70.txt", {"ErrorCode": "30"}, None),
        ("status_delivered.txt", {}, None),
    ],
)
def test_status_codes_become_the_right_suppressions(client, parts, name, fields, source) -> None:
    response = status(client, name, **fields)

    assert response.status_code == 204
    history = parts.stores.history.history("acme", CONTACT)
    assert [record.event.source.value for record in history] == ([source] if source else [])


def test_a_status_report_is_dated_by_plivos_time(client, parts) -> None:
    status(client, "status_failed_200.txt", MessageTime="2026-11-22 09:59:00.000000", QueuedTime="")

    (record,) = parts.stores.history.history("acme", CONTACT)
    assert record.event.occurred_at == datetime(2026, 11, 22, 9, 59, tzinfo=UTC)
    assert record.event.received_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_a_late_opt_out_report_loses_to_the_contacts_later_start(client, parts) -> None:
    # Given Plivo refused a text at 09:59 (error 200), and the contact texted START at 10:00
    post(client, sms("START", "uuid-2"))
    parts.clock.advance(300)

    # When the 09:59 report arrives last
    status(client, "status_failed_200.txt", MessageTime="2026-11-22 09:59:00.000000", QueuedTime="")

    # Then the later event by Plivo's time, the START, wins
    assert state(parts).suppressions == {}


def test_a_redelivered_status_callback_is_applied_once(client, parts) -> None:
    for _ in range(3):
        assert status(client, "status_failed_200.txt").status_code == 204

    assert len(parts.stores.history.history("acme", CONTACT)) == 1
