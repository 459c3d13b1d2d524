"""The HTTP edge through chalice.test.Client, with in-memory fakes behind it."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.adapters.carriers import twilio
from chalicelib.domain.errors import StoreUnavailable
from chalicelib.settings import Settings
from tests.containers import fake_container

OPERATOR = "operator-secret-token"
BASE = "https://sms.example.com/api"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
SID = "AC" + "1" * 32
CONTACT = "+14155550123"
OUR_NUMBER = "+14155550100"


def put_account(client, account_id: str = "acme", **body) -> dict:
    payload = {
        "name": "Acme",
        "issue_token": True,
        "carriers": {"twilio": {"account_sid": SID, "auth_token": AUTH_TOKEN}},
        **body,
    }
    response = client.http.put(
        f"/v1/accounts/{account_id}",
        headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
        body=json.dumps(payload),
    )
    assert response.status_code in (200, 201), response.body
    return json.loads(response.body)


def admin(client, method: str, path: str, token: str, body: object | None = None, **headers: str):
    all_headers = {"Authorization": f"Bearer {token}", **headers}
    if body is not None:
        all_headers.setdefault("Content-Type", "application/json")
    raw = json.dumps(body) if body is not None and not isinstance(body, str) else body
    return getattr(client.http, method)(path, headers=all_headers, body=raw or b"")


def signed_sms(client, body: str, sid: str, account_id: str = "acme", token: str = AUTH_TOKEN, **extra: str):
    params = {"MessageSid": sid, "AccountSid": SID, "From": CONTACT, "To": OUR_NUMBER, "Body": body, **extra}
    path = f"/webhooks/twilio/{account_id}"
    signature = twilio.compute_signature(BASE + path, sorted(params.items()), token)
    return client.http.post(
        path,
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        body=urlencode(params),
    )


def error_code(response) -> str:
    return json.loads(response.body)["error"]["code"]


# accounts and tokens


def test_account_tokens_are_returned_once_and_stored_only_as_hashes(client, deps, token) -> None:
    stored = deps.stores.accounts.get_account("acme")
    assert token not in stored.model_dump_json()
    assert AUTH_TOKEN not in stored.model_dump_json()
    assert deps.secrets.get("accounts/acme/twilio/auth_token") == AUTH_TOKEN
    view = json.loads(admin(client, "get", "/v1/accounts/acme", token).body)["account"]
    assert view["carriers"]["twilio"] == {"settings": {"account_sid": SID}, "secrets": ["auth_token"]}
    assert "token_hashes" not in view


def test_carrier_credentials_are_checked_against_the_carriers_form(client, token) -> None:
    operator = {"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"}
    for carriers in [
        {"nocarrier": {"x": "1"}},
        {"twilio": {"account_sid": "not-a-sid"}},
        {"twilio": {"colour": "red"}},
    ]:
        response = client.http.put("/v1/accounts/acme", headers=operator, body=json.dumps({"carriers": carriers}))
        assert response.status_code == 400, carriers
        assert error_code(response) == "invalid_request"
    view = json.loads(admin(client, "get", "/v1/accounts/acme", token).body)["account"]
    assert view["carriers"]["twilio"]["settings"] == {"account_sid": SID}


def test_one_carrier_credential_is_updated_alone_and_the_others_keep_their_value(client, deps, token) -> None:
    new_token = "fedcba9876543210fedcba9876543210"
    operator = {"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"}
    body = {"carriers": {"twilio": {"auth_token": new_token}}}
    assert client.http.put("/v1/accounts/acme", headers=operator, body=json.dumps(body)).status_code == 200
    assert deps.secrets.get("accounts/acme/twilio/auth_token") == new_token
    view = json.loads(admin(client, "get", "/v1/accounts/acme", token).body)["account"]
    assert view["carriers"]["twilio"] == {"settings": {"account_sid": SID}, "secrets": ["auth_token"]}
    assert signed_sms(client, "STOP", "SM1", token=new_token).status_code == 200


def test_sms_provider_must_name_a_known_carrier(client, token) -> None:
    operator = {"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"}
    response = client.http.put("/v1/accounts/acme", headers=operator, body=json.dumps({"sms_provider": "pigeon"}))
    assert response.status_code == 400 and error_code(response) == "invalid_request"
    for known in ("twilio", "aws", "local"):
        response = client.http.put("/v1/accounts/acme", headers=operator, body=json.dumps({"sms_provider": known}))
        assert response.status_code == 200, known


def test_only_the_operator_creates_accounts(client, token) -> None:
    response = admin(client, "put", "/v1/accounts/other", token, {"name": "Other"})
    assert response.status_code == 403 and error_code(response) == "forbidden"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "Bearer acme.wrong"])
def test_rule2_a_missing_or_wrong_token_is_401(client, token, header) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.http.get(f"/v1/accounts/acme/numbers/{CONTACT}", headers=headers)
    assert response.status_code == 401 and error_code(response) == "unauthenticated"


def test_rule2_another_accounts_token_is_403_and_learns_nothing(client, token) -> None:
    other = put_account(client, "other")["token"]
    signed_sms(client, "STOP", "SM1")
    for path in [
        f"/v1/accounts/acme/numbers/{CONTACT}",
        f"/v1/accounts/acme/numbers/{CONTACT}/history",
        "/v1/accounts/acme/suppressions",
        "/v1/accounts/acme/inbound",
        "/v1/accounts/no-such-account/inbound",
    ]:
        response = admin(client, "get", path, other)
        assert response.status_code == 403, path
        assert CONTACT not in response.body.decode()
    response = admin(client, "post", "/v1/accounts/acme/suppressions", other, {"phone": CONTACT})
    assert response.status_code == 403


def test_an_unknown_account_is_404_to_the_operator(client) -> None:
    response = client.http.get("/v1/accounts/nobody/inbound", headers={"Authorization": f"Bearer {OPERATOR}"})
    assert response.status_code == 404 and error_code(response) == "account_not_found"


def test_a_webhook_for_an_unknown_account_is_the_same_403_as_for_a_carrier_it_has_not_configured(client, token) -> None:
    # Given acme, configured for Twilio only
    unknown = signed_sms(client, "STOP", "SM1", account_id="nobody")
    # When the same kind of request names an account that does not exist, or a carrier acme has not configured
    not_configured = client.http.post(
        "/webhooks/aws/acme", headers={"Content-Type": "text/plain; charset=UTF-8"}, body=b'{"Type": "Notification"}'
    )
    unknown_aws = client.http.post(
        "/webhooks/aws/nobody", headers={"Content-Type": "text/plain; charset=UTF-8"}, body=b'{"Type": "Notification"}'
    )
    # Then all three answer alike: nothing tells which accounts exist
    assert unknown.status_code == not_configured.status_code == unknown_aws.status_code == 403
    assert unknown.body == not_configured.body == unknown_aws.body


@pytest.mark.parametrize("path", ["/webhooks/pigeon/acme", "/webhooks/pigeon/acme/status", "/webhooks/TWILIO/acme"])
def test_an_unknown_carrier_is_a_json_404(client, deps, token, path) -> None:
    response = client.http.post(path, headers={"Content-Type": "application/x-www-form-urlencoded"}, body=b"a=1")
    assert response.status_code == 404 and error_code(response) == "unknown_carrier"
    known = sorted(deps.carriers.provider_names() - {"local"})
    assert json.loads(response.body)["error"]["details"]["known"] == known and "twilio" in known


# webhooks


def test_a_signed_stop_suppresses_and_answers_with_one_confirmation(client, token) -> None:
    response = signed_sms(client, "STOP", "SM1")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml"
    assert "<Message>" in response.body.decode()
    status = json.loads(admin(client, "get", f"/v1/accounts/acme/numbers/{CONTACT}", token).body)
    assert status["sendable"] is False
    assert status["suppressions"][0]["source"] == "keyword"
    # The same webhook again (Twilio retries only when our first answer did not reach it, so its confirmation never
    # went out): the same answer, and nothing stored twice
    again = signed_sms(client, "STOP", "SM1")
    assert again.status_code == 200 and again.body == response.body
    history = json.loads(admin(client, "get", f"/v1/accounts/acme/numbers/{CONTACT}/history", token).body)
    assert len(history["events"]) == 1


def test_rule9_no_reply_when_twilio_advanced_opt_out_already_confirmed(client, token) -> None:
    response = signed_sms(client, "STOP", "SM1", OptOutType="STOP")
    assert "<Message>" not in response.body.decode()
    status = json.loads(admin(client, "get", f"/v1/accounts/acme/numbers/{CONTACT}", token).body)
    assert status["sendable"] is False


@pytest.mark.parametrize("signature", [None, "", "bogus", "RSOYDt4T1cUTdK1PDd93/VVr8B8="])
def test_a_bad_or_missing_signature_is_403_and_writes_nothing(client, deps, token, signature) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    body = urlencode({"MessageSid": "SM1", "From": CONTACT, "To": OUR_NUMBER, "Body": "STOP"})
    response = client.http.post("/webhooks/twilio/acme", headers=headers, body=body)
    assert response.status_code == 403 and error_code(response) == "invalid_signature"
    assert deps.stores.numbers.states == {} and deps.stores.inbound.messages == {}


def test_a_signature_made_with_another_token_is_403(client, deps, token) -> None:
    assert signed_sms(client, "STOP", "SM1", token="another-token-0000").status_code == 403
    assert deps.stores.numbers.states == {}


def test_status_callback_21610_makes_a_carrier_suppression_and_30003_a_bounce(client, token) -> None:
    for sid, code, phone in [("SM1", "21610", CONTACT), ("SM2", "30003", "+14155550124")]:
        params = {
            "MessageSid": sid,
            "MessageStatus": "undelivered",
            "ErrorCode": code,
            "To": phone,
            "From": OUR_NUMBER,
            "AccountSid": SID,
        }
        path = "/webhooks/twilio/acme/status"
        response = client.http.post(
            path,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": twilio.compute_signature(BASE + path, sorted(params.items()), AUTH_TOKEN),
            },
            body=urlencode(params),
        )
        assert response.status_code == 204
    sources = {
        phone: json.loads(admin(client, "get", f"/v1/accounts/acme/numbers/{phone}/history", token).body)
        for phone in (CONTACT, "+14155550124")
    }
    assert sources[CONTACT]["events"][0]["source"] == "carrier"
    assert sources["+14155550124"]["events"][0]["source"] == "bounce"


def test_rule12_an_opt_out_that_cannot_be_stored_is_a_5xx_and_not_acknowledged(client, deps, token) -> None:
    def failing_commit(*args, **kwargs):
        raise StoreUnavailable("DynamoDB did not answer")

    deps.stores.numbers.commit = failing_commit
    response = signed_sms(client, "STOP", "SM1")
    assert response.status_code == 503
    assert "<Message>" not in response.body.decode()


# admin API


def test_manual_opt_out_lift_and_history(client, token) -> None:
    created = admin(
        client,
        "post",
        "/v1/accounts/acme/suppressions",
        token,
        {"phone": "(415) 555-0123", "scope": "group:events", "notes": "asked at the desk"},
    )
    assert created.status_code == 201
    assert json.loads(created.body)["suppression"]["source"] == "manual"
    lifted = admin(client, "delete", "/v1/accounts/acme/suppressions/%2B14155550123?scope=group:events", token)
    assert lifted.status_code == 200 and json.loads(lifted.body)["sendable"] is True
    history = json.loads(admin(client, "get", "/v1/accounts/acme/numbers/4155550123/history", token).body)
    assert [e["action"] for e in history["events"]] == ["lift", "opt_out"]
    assert history["events"][1]["notes"] == "asked at the desk"


def test_rule4_lifting_the_contacts_own_opt_out_is_409_with_the_reason(client, token) -> None:
    signed_sms(client, "STOP", "SM1")
    response = admin(client, "delete", f"/v1/accounts/acme/suppressions/{CONTACT}", token)
    assert response.status_code == 409
    error = json.loads(response.body)["error"]
    assert error["code"] == "lift_refused" and "START" in error["message"]
    assert error["details"]["source"] == "keyword"


def test_check_gives_a_verdict_per_number(client, token) -> None:
    signed_sms(client, "STOP", "SM1")
    response = admin(
        client,
        "post",
        "/v1/accounts/acme/suppressions/check",
        token,
        {"phones": [CONTACT, "415-555-0124", "12"], "sender": OUR_NUMBER},
    )
    body = json.loads(response.body)
    assert [r.get("sendable") for r in body["results"]] == [False, True, None]
    assert body["results"][2]["error"]["code"] == "invalid_phone"
    too_many = admin(client, "post", "/v1/accounts/acme/suppressions/check", token, {"phones": [CONTACT] * 1001})
    assert too_many.status_code == 400


def test_list_pages_and_csv_export(client, token) -> None:
    for n in range(3):
        admin(client, "post", "/v1/accounts/acme/suppressions", token, {"phone": f"+1415555010{n + 1}"})
    first = json.loads(admin(client, "get", "/v1/accounts/acme/suppressions?limit=2", token).body)
    assert len(first["numbers"]) == 2 and first["next_cursor"]
    second = json.loads(
        admin(client, "get", f"/v1/accounts/acme/suppressions?limit=2&cursor={first['next_cursor']}", token).body
    )
    assert len(second["numbers"]) == 1 and second["next_cursor"] is None
    csv_response = admin(client, "get", "/v1/accounts/acme/suppressions", token, Accept="text/csv")
    lines = csv_response.body.decode().strip().splitlines()
    assert lines[0] == "phone,scope,source,since,actor,notes,event_id" and len(lines) == 4


def test_inbound_log_and_unsubscribe_from_message(client, token) -> None:
    signed_sms(client, "please take me off your list", "SM5")
    log = json.loads(admin(client, "get", "/v1/accounts/acme/inbound", token).body)
    assert log["messages"][0]["message_id"] == "SM5"
    response = admin(client, "post", "/v1/accounts/acme/inbound/SM5/unsubscribe", token, {"notes": "clear request"})
    assert response.status_code == 200 and json.loads(response.body)["sendable"] is False
    missing = admin(client, "post", "/v1/accounts/acme/inbound/SM404/unsubscribe", token, {})
    assert missing.status_code == 404


# rule 12: bad input changes nothing


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "invalid_request"),
        ("", "application/json", 400, "invalid_request"),
        ('{"phone": 14155550123}', "application/json", 400, "invalid_request"),
        ('{"phone": "+14155550123", "colour": "red"}', "application/json", 400, "invalid_request"),
        ('{"phone": "+14155550123", "scope": "everything"}', "application/json", 400, "invalid_request"),
        ('{"phone": "12"}', "application/json", 400, "invalid_phone"),
        ('{"phone": "+14155550123"}', "text/plain", 415, "unsupported_media_type"),
        ('{"phone": "+14155550123", "notes": "' + "x" * 70000 + '"}', "application/json", 413, "payload_too_large"),
        ("[]", "application/json", 400, "invalid_request"),
    ],
)
def test_rule12_bad_input_is_a_clear_4xx_and_changes_nothing(client, deps, token, body, content_type, status, code):
    response = client.http.post(
        "/v1/accounts/acme/suppressions",
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        body=body,
    )
    assert response.status_code == status, response.body
    assert error_code(response) == code
    assert deps.stores.numbers.states == {}


@pytest.mark.parametrize("body", [b"%%%", b"", b"a=1&a", "Body=\udcff".encode("utf-8", "surrogatepass")])
def test_rule12_a_malformed_form_body_is_400(client, token, body) -> None:
    response = client.http.post(
        "/webhooks/twilio/acme",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
        body=body,
    )
    assert response.status_code == 400


def test_rule12_an_invalid_phone_in_the_path_is_400(client, token) -> None:
    response = admin(client, "get", "/v1/accounts/acme/numbers/not-a-phone", token)
    assert response.status_code == 400 and error_code(response) == "invalid_phone"


# sends


@pytest.fixture
def queue(deps):
    return deps.queue


def test_sends_are_validated_one_by_one_and_the_valid_ones_queued(client, token, queue) -> None:
    good = {"request_id": "c1:1", "to": "(415) 555-0123", "sender": OUR_NUMBER, "body": "Hi", "campaign_id": "c1"}
    bad = [
        {"request_id": "c1:2", "to": "12", "sender": OUR_NUMBER, "body": "Hi"},
        {"request_id": "c1:3", "to": CONTACT, "sender": OUR_NUMBER, "body": ""},
        {"request_id": "c1:4", "to": CONTACT, "sender": OUR_NUMBER, "body": "Hi", "account_id": "other"},
        {"request_id": "c1:5", "to": CONTACT, "sender": OUR_NUMBER, "body": "Hi", "colour": "red"},
    ]
    response = admin(client, "post", "/v1/accounts/acme/sends", token, {"requests": [good, *bad]})
    assert response.status_code == 202
    body = json.loads(response.body)
    assert body["queued"] == ["c1:1"]
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3, 4]
    assert [r.to for r in queue.requests] == [CONTACT] and queue.requests[0].account_id == "acme"
    too_many = admin(client, "post", "/v1/accounts/acme/sends", token, {"requests": [good] * 501})
    assert too_many.status_code == 400


def test_campaign_counts_and_one_requests_outcome(client, token, queue) -> None:
    from chalicelib.domain.models import OutboundRecord, SendRequest

    outbound = wiring.container().stores.outbound
    request = SendRequest(
        request_id="c2:1", account_id="acme", to=CONTACT, sender=OUR_NUMBER, body="Hi", campaign_id="c2"
    )
    outbound.finish(
        OutboundRecord(
            request=request, status="skipped", reason="suppressed", updated_at=wiring.container().clock.now()
        )
    )
    outbound.count("acme", "c2", {"skipped:suppressed": 1})
    counts = json.loads(admin(client, "get", "/v1/accounts/acme/sends?campaign=c2", token).body)
    assert counts == {"campaign_id": "c2", "sent": 0, "skipped": {"suppressed": 1}, "failed": {}, "total": 1}
    one = json.loads(admin(client, "get", "/v1/accounts/acme/sends/c2:1", token).body)
    assert one["status"] == "skipped" and one["reason"] == "suppressed"
    assert admin(client, "get", "/v1/accounts/acme/sends/nope", token).status_code == 404
    assert admin(client, "get", "/v1/accounts/acme/sends", token).status_code == 400


def test_a_review_is_dismissed_with_a_note_over_the_api(client, token) -> None:
    signed_sms(client, "not interested", "SM7")
    queue_before = json.loads(admin(client, "get", "/v1/accounts/acme/inbound?needs_review=true", token).body)
    assert [m["message_id"] for m in queue_before["messages"]] == ["SM7"]
    response = admin(client, "post", "/v1/accounts/acme/inbound/SM7/dismiss", token, {"notes": "asking about price"})
    assert response.status_code == 200 and json.loads(response.body)["review"]["resolution"] == "dismissed"
    assert json.loads(admin(client, "get", "/v1/accounts/acme/inbound?needs_review=true", token).body)["messages"] == []
    history = json.loads(admin(client, "get", f"/v1/accounts/acme/numbers/{CONTACT}/history", token).body)
    assert history["events"][0]["action"] == "note"


def test_a_webhook_url_with_a_query_string_is_verified_with_it(client, deps, token) -> None:
    params = {"MessageSid": "SMq", "AccountSid": SID, "From": CONTACT, "To": OUR_NUMBER, "Body": "STOP"}
    path = "/webhooks/twilio/acme?source=main&tag=a%20b"
    signature = twilio.compute_signature(BASE + path, sorted(params.items()), AUTH_TOKEN)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    assert client.http.post(path, headers=headers, body=urlencode(params)).status_code == 200
    # The same signature for the URL without its query string does not verify
    assert client.http.post("/webhooks/twilio/acme", headers=headers, body=urlencode(params)).status_code == 403


# the composition root


def test_the_operator_token_is_read_through_the_secret_store() -> None:
    # Given no operator token in the settings, only in the secret store
    parts = fake_container(Settings(public_base_url=BASE))
    parts.secrets.put("operator-token", "from-the-secret-store")
    try:
        with Client(application.app) as client:
            headers = {"Authorization": "Bearer from-the-secret-store", "Content-Type": "application/json"}
            response = client.http.put("/v1/accounts/acme", headers=headers, body=json.dumps({"name": "Acme"}))
        # Then it is the operator's
        assert response.status_code == 201
    finally:
        wiring.use(None)


def test_a_secret_store_that_does_not_answer_is_a_503_not_a_500() -> None:
    class DownSecretStore:
        def get(self, name: str):
            raise StoreUnavailable("SSM did not answer")

        def put(self, name: str, value: str) -> None:
            raise StoreUnavailable("SSM did not answer")

    fake_container(Settings(public_base_url=BASE), secrets=DownSecretStore())
    try:
        with Client(application.app) as client:
            response = client.http.get("/v1/accounts/acme", headers={"Authorization": "Bearer acme.x"})
        assert response.status_code == 503 and error_code(response) == "store_unavailable"
        assert response.headers["Retry-After"]
    finally:
        wiring.use(None)


def test_rule12_a_status_callback_with_a_1000_character_status_is_400_not_a_503_forever(client, deps, token) -> None:
    params = {
        "MessageSid": "SM1",
        "MessageStatus": "x" * 1000,
        "ErrorCode": "21610",
        "To": CONTACT,
        "From": OUR_NUMBER,
        "AccountSid": SID,
    }
    path = "/webhooks/twilio/acme/status"
    response = client.http.post(
        path,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio.compute_signature(BASE + path, sorted(params.items()), AUTH_TOKEN),
        },
        body=urlencode(params),
    )
    assert response.status_code == 400 and error_code(response) == "invalid_request"
    assert deps.stores.numbers.states == {}


# self-service settings and merging (issue: lists, records and change events)


def test_an_update_of_one_reply_keeps_the_others(client, token) -> None:
    operator = {"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"}
    body = {"replies": {"opt_out": "Acme: unsubscribed. Reply START to resubscribe."}}
    assert client.http.put("/v1/accounts/acme", headers=operator, body=json.dumps(body)).status_code == 200
    body = {"replies": {"help": "Acme: reply STOP to unsubscribe."}}
    assert client.http.put("/v1/accounts/acme", headers=operator, body=json.dumps(body)).status_code == 200
    replies = json.loads(admin(client, "get", "/v1/accounts/acme", token).body)["account"]["replies"]
    assert replies["opt_out"] == "Acme: unsubscribed. Reply START to resubscribe."
    assert replies["help"] == "Acme: reply STOP to unsubscribe."


def test_an_update_of_one_language_text_keeps_the_other_texts_and_languages(client, token) -> None:
    operator = {"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"}
    body = {"replies": {"languages": {"es": {"opt_out": "Acme: baja confirmada."}}}}
    assert client.http.put("/v1/accounts/acme", headers=operator, body=json.dumps(body)).status_code == 200
    languages = json.loads(admin(client, "get", "/v1/accounts/acme", token).body)["account"]["replies"]["languages"]
    assert languages["es"]["opt_out"] == "Acme: baja confirmada."
    assert languages["es"]["opt_in"] and languages["fr"]["opt_out"]


def test_an_accounts_admin_token_changes_its_own_replies_and_thresholds(client, token) -> None:
    body = {"replies": {"help": "Acme help"}, "detector": {"review_threshold": 0.7}}
    response = admin(client, "put", "/v1/accounts/acme", token, body)
    assert response.status_code == 200, response.body
    account = json.loads(response.body)["account"]
    assert account["replies"]["help"] == "Acme help" and account["detector"]["review_threshold"] == 0.7
    assert account["detector"]["opt_out_threshold"] == 0.9


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Renamed"},
        {"sms_provider": "aws"},
        {"carriers": {"twilio": {"auth_token": "fedcba9876543210"}}},
        {"issue_token": True},
        {"revoke_tokens": True},
        {"email_sender": "x@acme.example"},
    ],
)
def test_an_accounts_admin_token_cannot_change_the_operators_fields(client, deps, token, body) -> None:
    before = deps.stores.accounts.get_account("acme")
    response = admin(client, "put", "/v1/accounts/acme", token, body)
    assert response.status_code == 403 and error_code(response) == "forbidden"
    assert deps.stores.accounts.get_account("acme") == before


def test_an_accounts_admin_token_cannot_create_or_change_another_account(client, token) -> None:
    assert admin(client, "put", "/v1/accounts/newco", token, {"name": "New"}).status_code == 403
    put_account(client, "other")
    assert admin(client, "put", "/v1/accounts/other", token, {"replies": {"help": "x"}}).status_code == 403


def test_a_number_suppressed_for_one_sender_or_group_is_not_reported_ok_to_text(client, token) -> None:
    # Given suppressions for one sender and one group only
    for scope in (f"sender:{OUR_NUMBER}", "group:newsletter"):
        body = {"phone": CONTACT, "scope": scope}
        assert admin(client, "post", "/v1/accounts/acme/suppressions", token, body).status_code == 201
    # Then, asked about no particular message, it is not "sendable": it is partly blocked
    view = json.loads(admin(client, "get", f"/v1/accounts/acme/numbers/{CONTACT}", token).body)
    assert (view["sendable"], view["status"]) == (False, "partly_blocked")
    # And asked about a message from another sender outside that group, it may go
    other = admin(client, "get", f"/v1/accounts/acme/numbers/{CONTACT}?sender=%2B14155550199&group=billing", token)
    assert json.loads(other.body)["sendable"] is True
    blocked = admin(client, "get", f"/v1/accounts/acme/numbers/{CONTACT}?group=newsletter", token)
    assert json.loads(blocked.body)["sendable"] is False
