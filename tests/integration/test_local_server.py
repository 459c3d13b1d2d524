"""The running local server (`chalice local`) over HTTP, with the embedded AWS endpoint behind it."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

import pytest
import requests

from chalicelib.adapters.carriers import twilio

CONTACT = "+14155550123"
OUR_NUMBER = "+14155550100"
SID = "AC" + "2" * 32


@pytest.fixture
def account(local_api):
    """A fresh account on the running server: (account id, admin token, Twilio auth token)."""
    account_id = f"e2e-{secrets.token_hex(4)}"
    auth_token = secrets.token_hex(16)
    response = requests.put(
        f"{local_api.url}/v1/accounts/{account_id}",
        headers={"Authorization": f"Bearer {local_api.operator_token}"},
        json={
            "name": "End to end",
            "issue_token": True,
            "carriers": {"twilio": {"account_sid": SID, "auth_token": auth_token}},
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return account_id, response.json()["token"], auth_token


def send_sms(local_api, account_id: str, auth_token: str, body: str, sid: str) -> requests.Response:
    url = f"{local_api.url}/webhooks/twilio/{account_id}"
    params = {"MessageSid": sid, "AccountSid": SID, "From": CONTACT, "To": OUR_NUMBER, "Body": body}
    signature = twilio.compute_signature(url, sorted(params.items()), auth_token)
    return requests.post(
        url,
        data=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        timeout=10,
    )


def test_stop_lift_refused_start_over_http(local_api, account) -> None:
    account_id, token, auth_token = account
    admin = {"Authorization": f"Bearer {token}"}
    number_url = f"{local_api.url}/v1/accounts/{account_id}/numbers/%2B14155550123"

    # Given a signed STOP from the contact
    stop = send_sms(local_api, account_id, auth_token, "STOP", "SM" + "a" * 32)
    assert stop.status_code == 200 and "<Message>" in stop.text

    # Then the number is unsendable and its history shows the keyword opt-out
    assert requests.get(number_url, headers=admin, timeout=10).json()["sendable"] is False
    history = requests.get(f"{number_url}/history", headers=admin, timeout=10).json()["events"]
    assert [(e["action"], e["source"]) for e in history] == [("opt_out", "keyword")]

    # And an admin cannot lift it
    lift = requests.delete(
        f"{local_api.url}/v1/accounts/{account_id}/suppressions/%2B14155550123?scope=all", headers=admin, timeout=10
    )
    assert lift.status_code == 409 and lift.json()["error"]["code"] == "lift_refused"

    # When the contact texts START
    start = send_sms(local_api, account_id, auth_token, "START", "SM" + "b" * 32)
    assert start.status_code == 200

    # Then the number is sendable again and history keeps both events
    assert requests.get(number_url, headers=admin, timeout=10).json()["sendable"] is True
    history = requests.get(f"{number_url}/history", headers=admin, timeout=10).json()["events"]
    assert [e["action"] for e in history] == ["opt_in", "opt_out"]


def test_a_forged_webhook_is_refused_over_http(local_api, account) -> None:
    account_id, token, _ = account
    forged = send_sms(local_api, account_id, "not-the-auth-token", "STOP", "SM" + "c" * 32)
    assert forged.status_code == 403
    number = requests.get(
        f"{local_api.url}/v1/accounts/{account_id}/numbers/{CONTACT}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    assert number["sendable"] is True


def test_rule7_opt_outs_in_other_words_and_the_review_queue_over_http(local_api, account) -> None:
    account_id, token, auth_token = account
    admin = {"Authorization": f"Bearer {token}"}
    base = f"{local_api.url}/v1/accounts/{account_id}"

    # A clear request in other words suppresses at once, as the contact's own opt-out
    assert send_sms(local_api, account_id, auth_token, "please stop texting me", "SM" + "d" * 32).status_code == 200
    number = requests.get(f"{base}/numbers/%2B14155550123", headers=admin, timeout=10).json()
    assert [s["source"] for s in number["suppressions"]] == ["natural_language"]

    # A likely opt-out below the threshold waits in the review queue, from another number
    url = f"{local_api.url}/webhooks/twilio/{account_id}"
    params = {
        "MessageSid": "SM" + "e" * 32,
        "AccountSid": SID,
        "From": "+14155550124",
        "To": OUR_NUMBER,
        "Body": "not interested",
    }
    signature = twilio.compute_signature(url, sorted(params.items()), auth_token)
    requests.post(
        url,
        data=urlencode(params),
        timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )
    queue = requests.get(f"{base}/inbound?needs_review=true", headers=admin, timeout=10).json()["messages"]
    assert [m["message_id"] for m in queue] == ["SM" + "e" * 32] and queue[0]["reason"]

    # One call unsubscribes it, and the queue is empty
    done = requests.post(f"{base}/inbound/{'SM' + 'e' * 32}/unsubscribe", headers=admin, timeout=10)
    assert done.status_code == 200 and done.json()["sendable"] is False
    assert requests.get(f"{base}/inbound?needs_review=true", headers=admin, timeout=10).json()["messages"] == []
