"""Vonage SMS API webhooks through the HTTP edge: signed inbound messages and delivery receipts, as Vonage sends them.

Vonage signs with the account's signature secret; here the account uses the SHA-256 HMAC, and the tests sign each
request with a timestamp at the fake clock, as Vonage does when signed webhooks are enabled.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.adapters.carriers import vonage
from chalicelib.adapters.carriers.registry import CarrierRegistry
from chalicelib.domain import sending
from chalicelib.settings import Settings
from tests.containers import fake_container
from tests.vonage_api_server import VonageApiServer

OPERATOR = "operator-secret-token"
BASE = "https://sms.example.com/api"
EVENTS = Path(__file__).parents[1] / "events" / "vonage"
SECRET = "a-signature-secret-of-the-account"
METHOD = "hmac-sha256"
CREDENTIALS = {
    "api_key": "abcd1234",
    "api_secret": "an-api-secret-123",
    "signature_secret": SECRET,
    "signature_method": METHOD,
}
CONTACT = "+14255550182"
OUR_NUMBER = "+12125550101"
INBOUND = "/webhooks/vonage/acme"
STATUS = "/webhooks/vonage/acme/status"


def event(name: str) -> dict[str, str]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture
def vonage_api():
    with VonageApiServer(api_key=CREDENTIALS["api_key"], api_secret=CREDENTIALS["api_secret"]) as server:
        yield server


@pytest.fixture
def parts(vonage_api):
    carriers = CarrierRegistry([vonage.VonageCarrier(api_url=vonage_api.base_url, timeout=5)])
    yield fake_container(Settings(operator_token=OPERATOR, public_base_url=BASE), carriers=carriers)
    wiring.use(None)


@pytest.fixture
def client(parts):
    with Client(application.app) as test_client:
        body = {"name": "Acme", "issue_token": True, "carriers": {"vonage": CREDENTIALS}}
        response = test_client.http.put(
            "/v1/accounts/acme",
            headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
            body=json.dumps(body),
        )
        assert response.status_code == 201, response.body
        yield test_client


def sign(fields: dict[str, str], at: datetime, *, secret: str = SECRET, method: str = METHOD) -> dict[str, str]:
    """Sign as Vonage does: a Unix timestamp, then the sig over every field (upper-case hex, as Vonage sends it)."""
    fields = {**fields, "timestamp": str(int(at.timestamp()))}
    return {**fields, "sig": vonage.compute_signature(fields, secret, method).upper()}


def post_json(client, fields: dict[str, str], path: str = INBOUND):
    return client.http.post(path, headers={"Content-Type": "application/json"}, body=json.dumps(fields))


def post_form(client, fields: dict[str, str], path: str = INBOUND):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return client.http.post(path, headers=headers, body=urlencode(fields))


def message(text: str, message_id: str, at: str = "2026-11-22 09:59:58") -> dict[str, str]:
    keyword = text.split()[0].upper() if text.split() else ""
    return {
        **event("inbound_stop.json"),
        "text": text,
        "keyword": keyword,
        "messageId": message_id,
        "message-timestamp": at,
    }


def nothing_written(parts) -> bool:
    return parts.stores.numbers.states == {} and parts.stores.inbound.messages == {} and parts.queue.requests == []


def test_a_signed_stop_suppresses_the_number_and_queues_one_confirmation(client, parts) -> None:
    now = parts.clock.now()

    response = post_json(client, sign(event("inbound_stop.json"), now))

    # Then Vonage gets the 200 with an empty body it waits for, and the opt-out is stored at Vonage's time
    assert (response.status_code, response.body) == (200, b"")
    state, _ = parts.stores.numbers.load("acme", CONTACT)
    assert state.suppressions["all"].source.value == "keyword"
    (record,) = parts.stores.history.history("acme", CONTACT)
    assert record.event.event_id == "vonage:0A0000000123ABCD1"
    assert record.event.occurred_at == datetime(2026, 11, 22, 9, 59, 58, tzinfo=UTC)
    # And the confirmation goes back through Vonage, from the number the contact texted, once
    (confirmation,) = parts.queue.requests
    assert (confirmation.provider, confirmation.sender, confirmation.to) == ("vonage", OUR_NUMBER, CONTACT)
    assert confirmation.confirms_event == "vonage:0A0000000123ABCD1"


def test_start_after_stop_lifts_it_in_any_of_vonages_three_shapes(client, parts) -> None:
    now = parts.clock.now()
    assert post_json(client, sign(message("STOP", "m-stop", "2026-11-22 09:59:00"), now)).status_code == 200

    # When START comes a minute later as a form POST
    response = post_form(client, sign(message("START", "m-start", "2026-11-22 09:59:59"), now))

    assert response.status_code == 200
    state, _ = parts.stores.numbers.load("acme", CONTACT)
    assert state.suppressions == {}
    # And a STOP sent as a GET with the fields in the query string suppresses again
    stop_again = sign(message("STOP", "m-stop-2", "2026-11-22 10:00:01"), parts.clock.advance(2))
    assert client.http.get(f"{INBOUND}?{urlencode(stop_again)}").status_code == 200
    state, _ = parts.stores.numbers.load("acme", CONTACT)
    assert "all" in state.suppressions


def test_start_and_stop_delivered_in_reverse_order_end_opted_in(client, parts) -> None:
    now = parts.clock.now()
    post_json(client, sign(message("START", "m-start", "2026-11-22 09:59:59"), now))
    post_json(client, sign(message("STOP", "m-stop", "2026-11-22 09:59:00"), now))

    state, _ = parts.stores.numbers.load("acme", CONTACT)
    assert state.suppressions == {}


def test_the_same_message_delivered_three_times_is_one_event(client, parts) -> None:
    # Given Vonage re-sends a message it thinks we missed, signed afresh each time
    for delay in (0, 30, 60):
        parts.clock.advance(delay)
        assert post_json(client, sign(event("inbound_stop.json"), parts.clock.now())).status_code == 200

    assert len(parts.stores.history.history("acme", CONTACT)) == 1
    assert len(parts.stores.inbound.messages) == 1
    # The confirmation is queued again under the same request id: the send path sends it once
    assert {r.request_id for r in parts.queue.requests} == {"confirm:vonage:0A0000000123ABCD1"}


def test_the_confirmation_goes_out_through_vonages_api_once(client, parts, vonage_api) -> None:
    # Given a STOP delivered twice, so its confirmation is queued twice
    for _ in range(2):
        assert post_json(client, sign(event("inbound_stop.json"), parts.clock.now())).status_code == 200
    account = parts.stores.accounts.get_account("acme")

    # When the send path takes each queued request
    for request in parts.queue.requests:
        state, _ = parts.stores.numbers.load("acme", request.to)
        sending.send(parts.send_deps, account, request, state)

    # Then Vonage got one text, to the contact, from the number the contact texted
    (sent,) = vonage_api.accepted
    assert (sent["to"], sent["from"]) == (CONTACT.removeprefix("+"), OUR_NUMBER.removeprefix("+"))
    assert sent["text"] == account.replies.opt_out


@pytest.mark.parametrize(
    "forgery",
    ["unsigned", "tampered", "other secret", "other method", "expired", "replayed later", "other api key"],
)
def test_a_forged_request_is_403_and_writes_nothing(client, parts, forgery: str) -> None:
    now = parts.clock.now()
    fields = sign(event("inbound_stop.json"), now)
    if forgery == "unsigned":
        fields = event("inbound_stop.json")
    elif forgery == "tampered":
        fields["msisdn"] = "14155550123"
    elif forgery == "other secret":
        fields = sign(event("inbound_stop.json"), now, secret="another-accounts-secret")
    elif forgery == "other method":
        fields = sign(event("inbound_stop.json"), now, method="md5hash")
    elif forgery == "expired":
        fields = sign(event("inbound_stop.json"), now - timedelta(seconds=301))
    elif forgery == "replayed later":
        parts.clock.advance(600)
    else:
        fields = sign({**event("inbound_stop.json"), "api-key": "ffff9999"}, now)

    response = post_json(client, fields)

    assert response.status_code == 403
    assert json.loads(response.body)["error"]["code"] == "invalid_signature"
    assert nothing_written(parts)


def test_a_refused_request_says_no_more_than_an_unknown_account_is_told(client, parts) -> None:
    now = parts.clock.now()
    forged = post_json(client, sign(event("inbound_stop.json"), now, secret="another-accounts-secret"))
    unknown = post_json(client, sign(event("inbound_stop.json"), now), path="/webhooks/vonage/nobody")

    assert forged.status_code == unknown.status_code == 403
    assert forged.body == unknown.body


def test_the_parts_of_a_long_stop_suppress_once_both_have_come(client, parts) -> None:
    now = parts.clock.now()
    second = {**event("inbound_concat_part2.json"), "text": "STOP"}
    first = {**event("inbound_concat_part1.json"), "text": "Please "}

    # When the second part arrives first, nothing happens yet
    assert post_json(client, sign(second, now)).status_code == 200
    state, _ = parts.stores.numbers.load("acme", CONTACT)
    assert state.suppressions == {}

    # Then the first part completes "Please STOP"
    assert post_json(client, sign(first, now)).status_code == 200
    state, _ = parts.stores.numbers.load("acme", CONTACT)
    assert state.suppressions["all"].source.value == "keyword"


@pytest.mark.parametrize(
    ("err_code", "source"),
    [("9", "carrier"), ("3", "bounce"), ("12", "bounce"), ("0", None), ("2", None)],
)
def test_a_delivery_receipt_makes_a_carrier_opt_out_a_bounce_or_nothing(client, parts, err_code, source) -> None:
    receipt = {
        **event("dlr_failed_opted_out.json"),
        "err-code": err_code,
        "status": "failed" if source else "delivered",
    }

    response = post_form(client, sign(receipt, parts.clock.now()), path=STATUS)

    # Vonage takes 200 or 204 as received
    assert response.status_code in (200, 204)
    history = parts.stores.history.history("acme", CONTACT)
    assert [r.event.source.value for r in history] == ([source] if source else [])


def test_an_unsigned_delivery_receipt_is_403_and_writes_nothing(client, parts) -> None:
    response = post_json(client, event("dlr_failed_opted_out.json"), path=STATUS)

    assert response.status_code == 403
    assert nothing_written(parts)
