"""Telnyx through the HTTP edge: Ed25519-signed JSON events to /webhooks/telnyx/{account}, and replies sent back
through Telnyx's Messages API (a loopback fake of it).

Telnyx publishes no fixed signing key or vectors, so a generated key pair stands in for the account's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.adapters.carriers.registry import CarrierRegistry
from chalicelib.adapters.carriers.telnyx import TelnyxCarrier
from chalicelib.domain import sending
from chalicelib.domain.models import SendRequest
from chalicelib.settings import Settings
from tests.containers import fake_container
from tests.telnyx_api_server import TelnyxApiServer, WebhookSigner

OPERATOR = "operator-secret-token"
BASE = "https://sms.example.com/api"
EVENTS = Path(__file__).parents[1] / "events" / "telnyx"
CONTACT = "+14255550182"
OUR_NUMBER = "+12125550101"
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)  # the FixedClock's time: when we receive every request
SIGNER = WebhookSigner()


@pytest.fixture
def telnyx_api() -> Iterator[TelnyxApiServer]:
    with TelnyxApiServer() as server:
        yield server


@pytest.fixture
def parts(telnyx_api):
    carriers = CarrierRegistry([TelnyxCarrier(api_url=telnyx_api.base_url, timeout=5)])
    yield fake_container(Settings(operator_token=OPERATOR, public_base_url=BASE), carriers=carriers)
    wiring.use(None)


@pytest.fixture
def client(parts, telnyx_api) -> Iterator[Client]:
    with Client(application.app) as test_client:
        carriers = {"telnyx": {"public_key": SIGNER.public_key, "api_key": telnyx_api.api_key}}
        body = {"name": "Acme", "issue_token": True, "carriers": carriers}
        response = test_client.http.put(
            "/v1/accounts/acme",
            headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
            body=json.dumps(body),
        )
        assert response.status_code == 201, response.body
        yield test_client


def event(name: str, **changes: object) -> dict:
    """A recorded event; `changes` set fields of its payload, or of data with a `data_` prefix."""
    document = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    for field, value in changes.items():
        if field.startswith("data_"):
            document["data"][field.removeprefix("data_")] = value
        else:
            document["data"]["payload"][field] = value
    return document


def text(body: str, message_id: str, occurred_at: str = "2026-11-22T09:59:58.512Z", **changes: object) -> dict:
    """An inbound text from the contact; Telnyx answers its own keywords (`autoresponse_type`) unless told not to."""
    return event("inbound_stop.json", text=body, id=message_id, data_occurred_at=occurred_at, **changes)


def post(client, document: dict, *, path: str = "/webhooks/telnyx/acme", at: datetime = NOW, signer=SIGNER, **headers):
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return client.http.post(path, headers={**signer.headers(body, at), **headers}, body=body)


def history(parts, phone: str = CONTACT) -> list:
    return parts.stores.history.history("acme", phone)


def send_queued(parts) -> list:
    """Run every queued request through the send path (Telnyx's fake behind it), as the send function would."""
    account = parts.stores.accounts.get_account("acme")
    handled = []
    for request in parts.queue.requests:
        state, _ = parts.stores.numbers.load(request.account_id, request.to)
        handled.append(sending.send(parts.send_deps, account, request, state))
    return handled


# --- opting out and in --------------------------------------------------------------------------------------------


def test_a_signed_stop_suppresses_at_once_and_telnyxs_own_answer_is_the_only_confirmation(client, parts) -> None:
    response = post(client, text("STOP", "msg-stop", autoresponse_type="STOP"))

    assert (response.status_code, response.body) == (200, b"")
    state, _ = parts.stores.numbers.load("acme", CONTACT)
    assert state.suppressions["all"].source.value == "keyword"
    # The carrier time is the event's occurred_at, and the event id is the message id
    (record,) = history(parts)
    assert record.event.occurred_at == datetime(2026, 11, 22, 9, 59, 58, 512000, tzinfo=UTC)
    assert record.event.event_id == "telnyx:msg-stop"
    # Telnyx answered STOP itself (autoresponse_type): we send nothing
    assert parts.queue.requests == []


def test_a_stop_telnyx_does_not_know_is_confirmed_once_through_telnyx(client, parts, telnyx_api) -> None:
    # Given "Stop please", which Telnyx does not answer (it only knows a bare keyword)
    document = text("Stop please", "msg-please", autoresponse_type=None)

    # When Telnyx delivers it three times
    for _ in range(3):
        assert post(client, document).status_code == 200

    # Then one history event, and the confirmation queued under one request id
    assert len(history(parts)) == 1
    assert {r.request_id for r in parts.queue.requests} == {"confirm:telnyx:msg-please"}
    (confirmation,) = {(r.provider, r.sender, r.to, r.confirms_event) for r in parts.queue.requests}
    assert confirmation == ("telnyx", OUR_NUMBER, CONTACT, "telnyx:msg-please")
    # And the send path sends it once, through Telnyx's Messages API, from the number the contact texted
    handled = send_queued(parts)
    assert [(h.record.status, h.first_time) for h in handled] == [("sent", True), ("sent", False), ("sent", False)]
    (sent,) = telnyx_api.requests
    assert sent.json["from"] == OUR_NUMBER and sent.json["to"] == CONTACT
    assert sent.json["text"] == parts.queue.requests[0].body


def test_start_lifts_the_stop(client, parts) -> None:
    post(client, text("STOP", "msg-1", "2026-11-22T09:58:00.000Z", autoresponse_type="STOP"))
    post(client, text("START", "msg-2", "2026-11-22T09:59:00.000Z", autoresponse_type="START"))

    state, _ = parts.stores.numbers.load("acme", CONTACT)
    assert state.suppressions == {}
    assert [r.event.action.value for r in history(parts)] == ["opt_in", "opt_out"]


def test_rule5_stop_then_start_delivered_in_reverse_order_ends_opted_in(client, parts) -> None:
    # Given STOP at 09:58 and START at 09:59 (Telnyx's time), delivered START first
    start = text("START", "msg-2", "2026-11-22T09:59:00.000Z", autoresponse_type="START")
    stop = text("STOP", "msg-1", "2026-11-22T09:58:00.000Z", autoresponse_type="STOP")
    assert post(client, start).status_code == 200
    assert post(client, stop).status_code == 200

    # Then the later event by Telnyx's clock wins
    state, _ = parts.stores.numbers.load("acme", CONTACT)
    assert state.suppressions == {}


def test_rule5_a_redelivery_with_a_new_event_id_and_attempt_is_applied_once(client, parts) -> None:
    # Telnyx retries (up to 3 times per URL, then the failover URL); the message id stays, the event envelope may not
    first = text("STOP", "msg-stop", autoresponse_type="STOP")
    again = json.loads(json.dumps(first))
    again["data"]["id"] = "5c1e0b8a-retry"
    again["meta"]["attempt"] = 2

    for document in (first, again, first):
        assert post(client, document).status_code == 200

    assert len(history(parts)) == 1
    assert len(parts.stores.inbound.messages) == 1


def test_an_ordinary_reply_is_logged_with_no_intent(client, parts) -> None:
    response = post(client, event("inbound_reply.json"))

    assert response.status_code == 200
    (logged,) = parts.stores.inbound.messages.values()
    assert logged.message.body == "Running 10 min late, see you soon"
    assert logged.intent.value == "none"


# --- refused requests ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "forgery",
    ["tampered body", "signed by another account", "expired", "from the future", "no signature", "no timestamp"],
)
def test_a_forged_tampered_or_expired_request_is_403_and_writes_nothing(client, parts, forgery: str) -> None:
    document = text("STOP", "msg-stop", autoresponse_type="STOP")
    body = json.dumps(document).encode()
    headers = SIGNER.headers(body, NOW)
    if forgery == "tampered body":
        body = body.replace(b'"STOP"', b'"START"', 1)
    elif forgery == "signed by another account":
        headers = WebhookSigner().headers(body, NOW)
    elif forgery == "expired":
        headers = SIGNER.headers(body, NOW - timedelta(seconds=301))
    elif forgery == "from the future":
        headers = SIGNER.headers(body, NOW + timedelta(seconds=301))
    elif forgery == "no signature":
        del headers["telnyx-signature-ed25519"]
    else:
        del headers["telnyx-timestamp"]

    response = client.http.post("/webhooks/telnyx/acme", headers=headers, body=body)

    assert response.status_code == 403
    assert json.loads(response.body)["error"]["code"] == "invalid_signature"
    assert parts.stores.numbers.states == {} and parts.stores.inbound.messages == {}
    assert parts.queue.requests == []


def test_a_request_refused_for_acme_says_no_more_than_an_unknown_account_is_told(client, parts) -> None:
    document = text("STOP", "msg-stop")
    forged = post(client, document, signer=WebhookSigner())
    unknown = post(client, document, path="/webhooks/telnyx/nobody")

    assert forged.status_code == unknown.status_code == 403
    assert forged.body == unknown.body
    assert parts.stores.numbers.states == {} and parts.stores.inbound.messages == {}


def test_an_event_of_another_messaging_profile_is_403_when_the_account_names_its_own(client, parts) -> None:
    # Given acme sends and receives on one messaging profile, and names it
    profile = "4001767e-ce0f-4cae-9d5f-0d5e636e7809"
    response = client.http.put(
        "/v1/accounts/acme",
        headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
        body=json.dumps({"carriers": {"telnyx": {"messaging_profile_id": profile}}}),
    )
    assert response.status_code == 200, response.body

    # When a genuine event of the same Telnyx account but another profile is posted to acme's URL
    refused = post(client, text("STOP", "msg-stop"))
    accepted = post(client, text("STOP", "msg-stop", messaging_profile_id=profile))

    assert refused.status_code == 403
    assert accepted.status_code == 200
    assert len(history(parts)) == 1


def test_a_body_that_is_not_json_is_415_after_a_valid_signature(client, parts) -> None:
    body = b"Body=STOP"
    headers = {**SIGNER.headers(body, NOW), "Content-Type": "application/x-www-form-urlencoded"}

    response = client.http.post("/webhooks/telnyx/acme", headers=headers, body=body)

    assert response.status_code == 415
    assert parts.stores.numbers.states == {}


def test_other_event_types_are_acknowledged_and_store_nothing(client, parts) -> None:
    for path in ("/webhooks/telnyx/acme", "/webhooks/telnyx/acme/status"):
        response = post(client, event("other_event_call_initiated.json"), path=path)
        assert (response.status_code, response.body) == (200, b"")
    assert parts.stores.numbers.states == {} and parts.stores.inbound.messages == {}


# --- delivery events and send results -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("status_sending_failed_40300.json", "carrier"),
        ("status_delivery_failed_40001.json", "bounce"),
        ("status_delivery_failed_40006.json", None),
        ("status_delivered.json", None),
        ("status_sent.json", None),
    ],
)
@pytest.mark.parametrize("path", ["/webhooks/telnyx/acme/status", "/webhooks/telnyx/acme"])
def test_delivery_events_make_the_right_suppression(client, parts, name: str, source: str | None, path: str) -> None:
    # The messaging profile's one webhook URL gets delivery events too: both routes take them
    response = post(client, event(name), path=path)

    assert response.status_code in (200, 204)
    assert [r.event.source.value for r in history(parts)] == ([source] if source else [])
    if source:
        assert history(parts)[0].event.occurred_at == datetime.fromisoformat(event(name)["data"]["occurred_at"])


def test_a_redelivered_delivery_event_is_applied_once(client, parts) -> None:
    for _ in range(3):
        post(client, event("status_delivery_failed_40001.json"), path="/webhooks/telnyx/acme/status")
    assert len(history(parts)) == 1


@pytest.mark.parametrize(
    ("code", "outcome", "source"),
    [("40300", ("skipped", "carrier_opted_out"), "carrier"), ("40001", ("failed", "unreachable"), "bounce")],
)
def test_a_send_telnyx_refuses_suppresses_the_number(
    client, parts, telnyx_api, code: str, outcome: tuple[str, str], source: str
) -> None:
    # Given Telnyx refuses texts to the contact with `code`
    telnyx_api.answer(CONTACT, 400, code)
    parts.queue.requests.append(
        SendRequest(request_id="campaign-1:1", account_id="acme", to=CONTACT, sender=OUR_NUMBER, body="Sale today!")
    )

    # When the send path sends a campaign text through Telnyx
    (handled,) = send_queued(parts)

    # Then the outbound log says why, and the number is suppressed with the matching source
    assert (handled.record.status, handled.record.reason, handled.record.error_code) == (*outcome, code)
    assert [r.event.source.value for r in history(parts)] == [source]
