"""Bandwidth callbacks through the HTTP edge: /webhooks/bandwidth/{account} and .../status, HTTP Basic credentials.

Bandwidth calls without credentials first and sends them after a 401 with a challenge; the payloads are the recorded
shapes under tests/events/bandwidth.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.adapters.carriers.bandwidth import BandwidthCarrier
from chalicelib.adapters.carriers.registry import CarrierRegistry
from chalicelib.adapters.carriers.twilio import TwilioCarrier
from chalicelib.domain.errors import StoreUnavailable
from chalicelib.settings import Settings
from tests.containers import fake_container

OPERATOR = "operator-secret-token"
BASE = "https://sms.example.com/api"
EVENTS = Path(__file__).parents[1] / "events" / "bandwidth"
CONTACT = "+14255550182"
OTHER_CONTACT = "+14255550183"
OUR_NUMBER = "+19195550101"
USERNAME, PASSWORD = "bw-callbacks", "acme-callback-password"
GLOBEX_USERNAME, GLOBEX_PASSWORD = "globex-callbacks", "globex-callback-password"
STOP_ID = "1795341600123xq8c4r6w2n7kz1a"


def events(name: str) -> list[dict]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def text(body: str, *, message_id: str, sender: str = CONTACT, at: str = "2026-11-22T10:00:00.000000Z") -> dict:
    """A message-received event in the recorded shape."""
    [event] = events("inbound_stop.json")
    event["message"] = {**event["message"], "id": message_id, "from": sender, "text": body, "time": at}
    return event


@pytest.fixture
def parts():
    carriers = CarrierRegistry(
        [
            TwilioCarrier(api_url="https://api.twilio.invalid"),
            BandwidthCarrier(api_url="https://messaging.bandwidth.invalid/api/v2", token_url="https://bw.invalid/t"),
        ]
    )
    yield fake_container(Settings(operator_token=OPERATOR, public_base_url=BASE), carriers=carriers)
    wiring.use(None)


def put_account(client, account_id: str, carriers: dict) -> None:
    body = {"name": account_id.title(), "issue_token": True, "carriers": carriers}
    response = client.http.put(
        f"/v1/accounts/{account_id}",
        headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
        body=json.dumps(body),
    )
    assert response.status_code == 201, response.body


@pytest.fixture
def client(parts):
    with Client(application.app) as test_client:
        bandwidth = {
            "callback_username": USERNAME,
            "callback_password": PASSWORD,
            "account_id": "9900000",
            "application_id": "93de2206-9669-4e07-948d-329f4b722ee2",
            "client_id": "acme-client",
            "client_secret": "acme-client-secret",
        }
        put_account(test_client, "acme", {"bandwidth": bandwidth})
        put_account(
            test_client,
            "globex",
            {"bandwidth": {"callback_username": GLOBEX_USERNAME, "callback_password": GLOBEX_PASSWORD}},
        )
        put_account(test_client, "initech", {"twilio": {"auth_token": "initech-twilio-token"}})
        yield test_client


def basic(username: str = USERNAME, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def post(client, payload, path: str = "/webhooks/bandwidth/acme", authorization: str | None = None, **headers):
    """POST a callback as Bandwidth does: JSON, with the callback credentials (unless `authorization=""`)."""
    sent = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "BandwidthAPI/v2", **headers}
    if authorization != "":
        sent["Authorization"] = authorization or basic()
    body = payload if isinstance(payload, bytes) else json.dumps(payload)
    return client.http.post(path, headers=sent, body=body)


def suppression(parts, phone: str = CONTACT, account_id: str = "acme"):
    state, _ = parts.stores.numbers.load(account_id, phone)
    return state.suppressions.get("all")


def nothing_written(parts) -> bool:
    return parts.stores.numbers.states == {} and parts.stores.inbound.messages == {} and parts.queue.requests == []


# --- opt-out and opt-in -------------------------------------------------------------------------------------------


def test_a_stop_in_bandwidths_payload_suppresses_and_queues_one_confirmation(client, parts) -> None:
    response = post(client, events("inbound_stop.json"))

    assert response.status_code == 204
    assert response.body in (b"", "", None)
    assert suppression(parts).source.value == "keyword"
    # The carrier's time is the message's own
    (record,) = parts.stores.history.history("acme", CONTACT)
    assert record.event.occurred_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert record.event.event_id == f"bandwidth:{STOP_ID}"
    # The confirmation goes back through Bandwidth, from the number the contact texted
    (confirmation,) = parts.queue.requests
    assert (confirmation.provider, confirmation.sender, confirmation.to) == ("bandwidth", OUR_NUMBER, CONTACT)
    assert confirmation.request_id == f"confirm:bandwidth:{STOP_ID}"


def test_start_lifts_the_opt_out(client, parts) -> None:
    assert post(client, [text("STOP", message_id="m-stop")]).status_code == 204
    assert post(client, [text("START", message_id="m-start", at="2026-11-22T10:01:00Z")]).status_code == 204

    assert suppression(parts) is None
    assert [r.request_id for r in parts.queue.requests] == ["confirm:bandwidth:m-stop", "reply:bandwidth:m-start"]


def test_stop_then_start_delivered_in_reverse_order_ends_opted_in(client, parts) -> None:
    # Given START (10:01) arrives before STOP (10:00), as a redelivery can make happen
    assert post(client, [text("START", message_id="m-start", at="2026-11-22T10:01:00Z")]).status_code == 204
    assert post(client, [text("STOP", message_id="m-stop", at="2026-11-22T10:00:00Z")]).status_code == 204

    # Then the later one by Bandwidth's time wins
    assert suppression(parts) is None


def test_the_same_message_delivered_three_times_is_one_history_event(client, parts) -> None:
    for _ in range(3):
        assert post(client, events("inbound_stop.json")).status_code == 204

    assert len(parts.stores.history.history("acme", CONTACT)) == 1
    # The confirmation is queued again under the same request id: the send path sends it once
    assert {r.request_id for r in parts.queue.requests} == {f"confirm:bandwidth:{STOP_ID}"}


def test_help_gets_the_help_text_through_the_send_path(client, parts) -> None:
    assert post(client, [text("HELP", message_id="m-help")]).status_code == 204

    (reply,) = parts.queue.requests
    assert (reply.request_id, reply.provider, reply.to) == ("reply:bandwidth:m-help", "bandwidth", CONTACT)
    assert suppression(parts) is None


# --- authentication -------------------------------------------------------------------------------------------------


def test_a_callback_without_credentials_is_challenged_then_accepted_with_them(client, parts) -> None:
    # Given Bandwidth's first attempt, without an Authorization header
    first = post(client, events("inbound_stop.json"), authorization="")

    # Then it gets the 401 and challenge it needs to send its credentials, and nothing is written
    assert first.status_code == 401
    assert first.headers["WWW-Authenticate"] == 'Basic realm="sms-optout"'
    assert nothing_written(parts)

    # When it sends them, the STOP is applied
    assert post(client, events("inbound_stop.json")).status_code == 204
    assert suppression(parts).source.value == "keyword"


@pytest.mark.parametrize(
    "authorization",
    [
        basic(USERNAME, "wrong-password"),
        basic("someone-else", PASSWORD),
        basic(GLOBEX_USERNAME, GLOBEX_PASSWORD),  # another account's credentials
        basic(USERNAME, PASSWORD + " "),
        "Basic not-base64!",
        "Basic " + base64.b64encode(USERNAME.encode()).decode(),
    ],
    ids=["wrong password", "wrong username", "other account", "tampered password", "malformed", "no password"],
)
@pytest.mark.parametrize("path", ["/webhooks/bandwidth/acme", "/webhooks/bandwidth/acme/status"])
def test_wrong_credentials_are_403_and_write_nothing(client, parts, authorization, path) -> None:
    response = post(client, events("mixed_batch.json"), path=path, authorization=authorization)

    assert response.status_code == 403
    assert json.loads(response.body)["error"]["code"] == "invalid_signature"
    assert nothing_written(parts)


def test_another_accounts_callback_is_not_taken_for_this_one(client, parts) -> None:
    # Globex's own callback to its own URL is fine; to Acme's URL it is refused
    assert (
        post(
            client, events("inbound_stop.json"), "/webhooks/bandwidth/globex", basic(GLOBEX_USERNAME, GLOBEX_PASSWORD)
        ).status_code
        == 204
    )
    assert suppression(parts, account_id="globex") is not None
    assert suppression(parts, account_id="acme") is None


def test_a_refused_callback_says_no_more_than_an_unknown_account_is_told(client) -> None:
    forged = post(client, events("inbound_stop.json"), authorization=basic(USERNAME, "guess"))
    unknown = post(client, events("inbound_stop.json"), path="/webhooks/bandwidth/nobody")
    unconfigured = post(client, events("inbound_stop.json"), path="/webhooks/bandwidth/initech")
    assert forged.status_code == unknown.status_code == unconfigured.status_code == 403
    assert forged.body == unknown.body == unconfigured.body


@pytest.mark.parametrize("account", ["nobody", "initech", "acme"])
def test_every_account_challenges_a_callback_without_credentials(client, parts, account) -> None:
    response = post(client, events("inbound_stop.json"), path=f"/webhooks/bandwidth/{account}", authorization="")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="sms-optout"'
    assert nothing_written(parts)


def test_a_malformed_callback_is_400_and_writes_nothing(client, parts) -> None:
    response = post(client, b'[{"type": "message-received", "message": {}}]')
    assert response.status_code == 400
    assert nothing_written(parts)


def test_a_callback_that_is_not_json_is_415_and_writes_nothing(client, parts) -> None:
    response = post(client, events("inbound_stop.json"), **{"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert nothing_written(parts)


# --- status callbacks -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "phone", "source"),
    [
        ("status_failed_4775.json", CONTACT, "carrier"),
        ("status_failed_4720.json", OTHER_CONTACT, "bounce"),
        ("status_delivered.json", CONTACT, None),
        ("status_sending.json", CONTACT, None),
        ("status_failed_4432.json", "+525512345678", None),
    ],
)
def test_status_events_make_the_right_suppression(client, parts, name, phone, source) -> None:
    response = post(client, events(name), path="/webhooks/bandwidth/acme/status")

    assert response.status_code == 204
    history = parts.stores.history.history("acme", phone)
    assert [r.event.source.value for r in history] == ([source] if source else [])
    if source:
        assert history[0].event.event_id.startswith("bandwidth:")
        # Bandwidth's time of the event is when it happened
        assert history[0].event.occurred_at == datetime.fromisoformat(events(name)[0]["time"])
    # A delivery report asks for no reply
    assert parts.queue.requests == []


def test_a_redelivered_failure_is_applied_once(client, parts) -> None:
    for _ in range(3):
        assert (
            post(client, events("status_failed_4775.json"), path="/webhooks/bandwidth/acme/status").status_code == 204
        )

    assert len(parts.stores.history.history("acme", CONTACT)) == 1


@pytest.mark.parametrize("path", ["/webhooks/bandwidth/acme", "/webhooks/bandwidth/acme/status"])
def test_one_callback_with_texts_and_reports_applies_each_whichever_url(client, parts, path) -> None:
    response = post(client, events("mixed_batch.json"), path=path)

    assert response.status_code == 204
    assert suppression(parts, CONTACT).source.value == "keyword"
    assert suppression(parts, OTHER_CONTACT).source.value == "bounce"
    assert suppression(parts, "+14255550184") is None
    assert [r.request_id for r in parts.queue.requests] == [f"confirm:bandwidth:{STOP_ID}"]


def test_a_store_failure_mid_callback_fails_it_and_the_retry_applies_the_rest_once(client, parts, monkeypatch) -> None:
    # Given a callback with two STOPs, and a store that fails on the second number once
    callback = [text("STOP", message_id="m-1", sender=CONTACT), text("STOP", message_id="m-2", sender=OTHER_CONTACT)]
    commit = parts.stores.numbers.commit
    failures = [OTHER_CONTACT]

    def flaky_commit(state, record, *args, **kwargs):
        if state.phone in failures:
            failures.remove(state.phone)
            raise StoreUnavailable("the table did not answer")
        return commit(state, record, *args, **kwargs)

    monkeypatch.setattr(parts.stores.numbers, "commit", flaky_commit)

    # When Bandwidth delivers it: the failure is not hidden by the first STOP's success
    first = post(client, callback)
    assert first.status_code == 503
    assert suppression(parts, CONTACT) is not None
    assert suppression(parts, OTHER_CONTACT) is None

    # When Bandwidth retries the whole callback
    assert post(client, callback).status_code == 204

    # Then each STOP is applied once
    assert suppression(parts, OTHER_CONTACT) is not None
    assert len(parts.stores.history.history("acme", CONTACT)) == 1
    assert len(parts.stores.history.history("acme", OTHER_CONTACT)) == 1
    assert {r.request_id for r in parts.queue.requests} == {"confirm:bandwidth:m-1", "confirm:bandwidth:m-2"}
