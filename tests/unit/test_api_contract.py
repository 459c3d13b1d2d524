"""The HTTP edge keeps the API contract for bad input: each case of issue 10 that once failed, named after it.

Through chalice.test.Client with in-memory fakes behind it (and, for DynamoDB's cursors, a stub client).
"""

from __future__ import annotations

import base64
import csv
import io
import json
from urllib.parse import quote, urlencode

import pytest
from chalice.test import Client
from pydantic import SecretStr

import app as application
from chalicelib import wiring
from chalicelib.adapters.carriers import twilio
from chalicelib.adapters.dynamodb import cursors
from chalicelib.domain.errors import InvalidRequest, StoreUnavailable
from chalicelib.settings import Settings
from tests.containers import fake_container

OPERATOR = "operator-secret-token"
BASE = "https://sms.example.com/api"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
SID = "AC" + "1" * 32
CONTACT = "+14155550123"
OUR_NUMBER = "+14155550100"
#: What a store's failure says (botocore's words): never shown to the caller.
BOTOCORE_TEXT = (
    "the store did not answer query: An error occurred (ValidationException) when calling the Query operation: "
    "One or more parameter values were invalid: Type mismatch for key gsi1sk expected: S actual: N"
)


def put_account(client, account_id: str = "acme", **body) -> dict:
    payload = {
        "name": "Acme",
        "issue_token": True,
        "carriers": {"twilio": {"account_sid": SID, "auth_token": AUTH_TOKEN}},
        **body,
    }
    response = operator_put(client, account_id, payload)
    assert response.status_code in (200, 201), response.body
    return json.loads(response.body)


def operator_put(client, account_id: str, body: object):
    raw = body if isinstance(body, str) else json.dumps(body)
    headers = {"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"}
    return client.http.put(f"/v1/accounts/{account_id}", headers=headers, body=raw)


@pytest.fixture
def token(client) -> str:
    return put_account(client)["token"]


def call(client, method: str, path: str, token: str, body: object | None = None, **headers: str):
    all_headers = {"Authorization": f"Bearer {token}", **headers}
    if body is not None:
        all_headers.setdefault("Content-Type", "application/json")
    raw = json.dumps(body) if body is not None and not isinstance(body, str) else body
    return client.http.request(method.upper(), path, headers=all_headers, body=raw or b"")


def signed_twilio(client, params: dict[str, str], path: str = "/webhooks/twilio/acme", base: str = BASE, **headers):
    signature = twilio.compute_signature(base + path, sorted(params.items()), AUTH_TOKEN)
    return client.http.post(
        path,
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature, **headers},
        body=urlencode(params),
    )


def sms(sid: str, body: str = "STOP", sender: str = CONTACT) -> dict[str, str]:
    return {"MessageSid": sid, "AccountSid": SID, "From": sender, "To": OUR_NUMBER, "Body": body}


def error_of(response) -> dict:
    body = json.loads(response.body)
    assert set(body) == {"error"}, body
    assert set(body["error"]) <= {"code", "message", "details"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]


def suppress(client, token: str, *phones: str) -> None:
    for phone in phones:
        response = call(client, "post", "/v1/accounts/acme/suppressions", token, {"phone": phone})
        assert response.status_code == 201, response.body


# --- (1) limits are ASCII decimal numbers --------------------------------------------------------


@pytest.mark.parametrize(
    "limit",
    [
        "%C2%B2",  # superscript two: str.isdigit() says yes, int() says no (was a 500)
        "%EF%BC%92",  # full-width two (was accepted as 2)
        "%D9%A2",  # Arabic-Indic two (was accepted as 2)
        "%E0%A5%A8",  # Devanagari two
        "+2",
        "2.0",
        "0x2",
        "",
        "0",
        "1001",
        "9" * 30,
    ],
)
def test_a_limit_that_is_not_an_ascii_decimal_number_in_range_is_400_not_500(client, token, limit) -> None:
    response = call(client, "get", f"/v1/accounts/acme/suppressions?limit={limit}", token)
    assert response.status_code == 400, response.body
    assert error_of(response)["code"] == "invalid_request"


def test_an_inbound_log_limit_of_a_superscript_digit_is_400_not_500(client, token) -> None:
    response = call(client, "get", "/v1/accounts/acme/inbound?limit=%C2%B2", token)
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_request"


def test_ascii_limits_still_page(client, token) -> None:
    suppress(client, token, "+14155550101", "+14155550102")
    response = call(client, "get", "/v1/accounts/acme/suppressions?limit=0001", token)
    assert response.status_code == 200 and len(json.loads(response.body)["numbers"]) == 1


# --- (2) cursors are signed, bound to their listing, and fully validated -------------------------


def _page_cursor(client, token: str, path: str = "/v1/accounts/acme/suppressions?limit=1") -> str:
    body = json.loads(call(client, "get", path, token).body)
    assert body["next_cursor"], body
    return body["next_cursor"]


def _crafted(key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


CRAFTED_KEYS = [
    # a key with a wrong type: DynamoDB answered a ValidationException, echoed in a 503
    {"gsi1pk": {"S": "SUPPRESSED#acme"}, "gsi1sk": {"N": "1"}, "pk": {"S": "x"}, "sk": {"S": "STATE"}},
    {"gsi1pk": {"S": "SUPPRESSED#acme"}, "gsi1sk": {"S": 5}, "pk": {"S": "x"}, "sk": {"S": "STATE"}},
    # a key with a missing attribute
    {"gsi1pk": {"S": "SUPPRESSED#acme"}, "gsi1sk": {"S": "+14155550101"}},
    # a key with an attribute too many
    {
        "gsi1pk": {"S": "SUPPRESSED#acme"},
        "gsi1sk": {"S": "+1"},
        "pk": {"S": "x"},
        "sk": {"S": "STATE"},
        "doc": {"S": "{}"},
    },
    ["not", "a", "key"],
    "SUPPRESSED#acme",
]


@pytest.mark.parametrize("key", CRAFTED_KEYS, ids=range(len(CRAFTED_KEYS)))
def test_a_crafted_cursor_is_400_invalid_cursor(client, token, key) -> None:
    suppress(client, token, "+14155550101", "+14155550102")
    response = call(client, "get", f"/v1/accounts/acme/suppressions?cursor={_crafted(key)}", token)
    assert response.status_code == 400, response.body
    assert error_of(response)["code"] == "invalid_cursor"


@pytest.mark.parametrize("cursor", ["not-a-cursor!", "%00", "a" * 5000, "..", "é"])
def test_a_malformed_cursor_is_400_invalid_cursor(client, token, cursor) -> None:
    response = call(client, "get", f"/v1/accounts/acme/suppressions?cursor={quote(cursor)}", token)
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_cursor"


def test_a_tampered_cursor_is_400_invalid_cursor(client, token) -> None:
    suppress(client, token, "+14155550101", "+14155550102")
    cursor = _page_cursor(client, token)
    payload, _, mac = cursor.rpartition(".")
    assert payload and mac, cursor
    for tampered in (payload + "." + mac[::-1], _crafted("x") + "." + mac, payload + "A." + mac, payload):
        response = call(client, "get", f"/v1/accounts/acme/suppressions?cursor={tampered}", token)
        assert response.status_code == 400 and error_of(response)["code"] == "invalid_cursor", tampered


def test_a_cursor_of_another_account_or_listing_is_400_invalid_cursor(client, token) -> None:
    # Given a cursor of acme's suppression list, and another account with suppressions of its own
    suppress(client, token, "+14155550101", "+14155550102")
    cursor = _page_cursor(client, token)
    put_account(client, "other")
    operator = {"Authorization": f"Bearer {OPERATOR}"}
    # When it is given to the other account's list, or to acme's inbound log, then it is refused
    for path in ("/v1/accounts/other/suppressions", "/v1/accounts/acme/inbound"):
        response = client.http.get(f"{path}?cursor={cursor}", headers=operator)
        assert response.status_code == 400 and error_of(response)["code"] == "invalid_cursor", path
    # And on its own listing it still works
    assert call(client, "get", f"/v1/accounts/acme/suppressions?cursor={cursor}", token).status_code == 200


def test_cursors_stay_valid_in_another_process_with_the_same_key(client, deps, token) -> None:
    # Given a cursor from one container
    suppress(client, token, "+14155550101", "+14155550102")
    cursor = _page_cursor(client, token)
    # When another process, with the same settings and store, reads the next page
    another_process(deps, deps.settings)
    response = call(client, "get", f"/v1/accounts/acme/suppressions?cursor={cursor}", token)
    # Then it continues the listing
    assert response.status_code == 200
    assert [n["phone"] for n in json.loads(response.body)["numbers"]] == ["+14155550102"]


def test_a_cursor_signed_with_another_key_is_refused(client, deps, token) -> None:
    suppress(client, token, "+14155550101", "+14155550102")
    cursor = _page_cursor(client, token)
    other_key = deps.settings.model_copy(update={"cursor_key": SecretStr("another-deployments-key")})
    another_process(deps, other_key)
    response = call(client, "get", f"/v1/accounts/acme/suppressions?cursor={cursor}", token)
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_cursor"


def test_the_cursor_key_is_read_from_the_secret_store_when_named(client, deps, token) -> None:
    # Given a deployment that names its cursor key in the secret store
    deps.secrets.put("cursor-key", "from-the-secret-store")
    named = deps.settings.model_copy(update={"cursor_key_secret": "cursor-key"})
    another_process(deps, named)
    suppress(client, token, "+14155550101", "+14155550102")
    cursor = _page_cursor(client, token)
    # When the secret changes, then the cursors signed with the old one are refused
    deps.secrets.put("cursor-key", "rotated")
    response = call(client, "get", f"/v1/accounts/acme/suppressions?cursor={cursor}", token)
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_cursor"


def another_process(deps: wiring.Container, settings: Settings) -> None:
    """A container with `settings` on the same fakes, as another Lambda instance of the same deployment."""
    parts = {"stores": deps.stores, "secrets": deps.secrets, "queue": deps.queue, "clock": deps.clock}
    wiring.use(wiring.Container(settings, **parts))


class RecordingDynamoDB:
    """A DynamoDB client stub: records queries, answers with nothing."""

    def __init__(self) -> None:
        self.queries: list[dict] = []

    def query(self, **kwargs):
        self.queries.append(kwargs)
        return {"Items": []}


@pytest.mark.parametrize("key", CRAFTED_KEYS, ids=range(len(CRAFTED_KEYS)))
def test_a_crafted_dynamodb_cursor_is_refused_before_any_query(key) -> None:
    client = RecordingDynamoDB()
    with pytest.raises(InvalidRequest):
        cursors.page(client, "optout", "SUPPRESSED#acme", _crafted(key), 10, forward=True)
    assert client.queries == []


def test_a_dynamodb_cursor_of_another_partition_or_an_oversized_one_is_refused() -> None:
    client = RecordingDynamoDB()
    other = {"gsi1pk": {"S": "SUPPRESSED#other"}, "gsi1sk": {"S": "+1"}, "pk": {"S": "x"}, "sk": {"S": "STATE"}}
    huge = {"gsi1pk": {"S": "SUPPRESSED#acme"}, "gsi1sk": {"S": "+" * 2000}, "pk": {"S": "x"}, "sk": {"S": "S"}}
    for key in (other, huge):
        with pytest.raises(InvalidRequest):
            cursors.page(client, "optout", "SUPPRESSED#acme", _crafted(key), 10, forward=True)
    assert client.queries == []


def test_a_dynamodb_cursor_it_returned_is_accepted() -> None:
    key = {"gsi1pk": {"S": "SUPPRESSED#acme"}, "gsi1sk": {"S": "+1"}, "pk": {"S": "NUMBER#acme#+1"}, "sk": {"S": "S"}}
    client = RecordingDynamoDB()
    cursors.page(client, "optout", "SUPPRESSED#acme", cursors._encode(key), 10, forward=True)
    assert client.queries[0]["ExclusiveStartKey"] == key


# --- (3) every key part is length-checked at the edge ---------------------------------------------


def test_a_signed_stop_with_a_992_character_message_sid_is_400_and_stores_nothing(client, deps, token) -> None:
    response = signed_twilio(client, sms("SM" + "a" * 990))
    assert response.status_code == 400, response.body
    assert error_of(response)["code"] == "invalid_request"
    assert deps.stores.numbers.states == {} and deps.stores.inbound.messages == {}


def test_a_signed_status_callback_with_a_992_character_message_sid_is_400(client, deps, token) -> None:
    params = {"MessageSid": "SM" + "a" * 990, "MessageStatus": "undelivered", "ErrorCode": "21610"}
    params |= {"To": CONTACT, "From": OUR_NUMBER, "AccountSid": SID}
    response = signed_twilio(client, params, path="/webhooks/twilio/acme/status")
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_request"
    assert deps.stores.numbers.states == {}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts/" + "a" * 64 + "/suppressions",
        "/v1/accounts/" + "a" * 3000 + "/inbound",
        "/v1/accounts/ACME/suppressions",
        "/v1/accounts/acme/inbound/" + "m" * 3000 + "/dismiss",
        "/v1/accounts/acme/inbound/" + "m" * 3000 + "/unsubscribe",
        "/v1/accounts/acme/sends/" + "r" * 3000,
        "/v1/accounts/acme/sends?campaign=" + "c" * 3000,
        "/v1/accounts/acme/numbers/%2B14155550123?group=" + "g" * 3000,
        "/v1/accounts/acme/suppressions/%2B14155550123?scope=group:" + "g" * 3000,
        "/v1/accounts/acme/suppressions/%2B14155550123?notes=" + "n" * 3000,
    ],
)
def test_an_oversized_key_part_in_a_path_or_query_is_400(client, token, path) -> None:
    method = (
        "delete" if "/suppressions/%2B" in path else "post" if path.endswith(("/dismiss", "/unsubscribe")) else "get"
    )
    response = call(client, method, path, OPERATOR)
    assert response.status_code == 400, (path[:80], response.body[:300])


def test_a_webhook_for_an_account_id_that_cannot_exist_is_400(client, token) -> None:
    response = signed_twilio(client, sms("SM1"), path="/webhooks/twilio/" + "a" * 3000)
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_request"


def test_an_oversized_group_in_a_check_is_400(client, token) -> None:
    body = {"phones": [CONTACT], "groups": ["g" * 3000]}
    response = call(client, "post", "/v1/accounts/acme/suppressions/check", token, body)
    assert response.status_code == 400


# --- (4) CSV export ------------------------------------------------------------------------------


@pytest.mark.parametrize("notes", ['=HYPERLINK("http://evil")', "+1+1", "-1+1", "@SUM(A1)", "\tx", "\rx", "=1"])
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(client, token, notes) -> None:
    call(client, "post", "/v1/accounts/acme/suppressions", token, {"phone": CONTACT, "notes": notes})
    response = call(client, "get", "/v1/accounts/acme/suppressions", token, Accept="text/csv")
    rows = list(csv.DictReader(io.StringIO(response.body.decode())))
    assert rows[0]["notes"] == "'" + notes
    # A phone number keeps its plus sign: it is ours, E.164, never a formula
    assert rows[0]["phone"] == CONTACT


def test_the_csv_export_is_an_attachment(client, token) -> None:
    suppress(client, token, CONTACT)
    response = call(client, "get", "/v1/accounts/acme/suppressions", token, Accept="text/csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    assert "acme" in response.headers["Content-Disposition"]


# --- (8) a 503 says retry, and never what failed --------------------------------------------------


def test_a_503_says_retry_with_a_fixed_message_and_logs_the_cause(client, deps, token, caplog) -> None:
    def failing(*args, **kwargs):
        raise StoreUnavailable(BOTOCORE_TEXT)

    deps.stores.numbers.list_suppressed = failing
    response = call(client, "get", "/v1/accounts/acme/suppressions", token)
    assert response.status_code == 503 and response.headers["Retry-After"]
    error = error_of(response)
    assert error["code"] == "store_unavailable" and "retry" in error["message"]
    assert "details" not in error
    for internal in ("ValidationException", "gsi1sk", "Query", "botocore"):
        assert internal not in response.body.decode()
    assert any("ValidationException" in str(getattr(record, "reason", "")) for record in caplog.records)


def test_a_webhook_503_echoes_nothing_either(client, deps, token) -> None:
    def failing_commit(*args, **kwargs):
        raise StoreUnavailable(BOTOCORE_TEXT)

    deps.stores.numbers.commit = failing_commit
    response = signed_twilio(client, sms("SM1"))
    assert response.status_code == 503
    assert "ValidationException" not in response.body.decode()


# --- (11) unknown routes, unsupported methods and unhandled errors answer in the contract's shape ---


@pytest.mark.parametrize("path", ["/nope", "/v1", "/favicon.ico"])
def test_an_unknown_path_is_a_contract_404(client, path) -> None:
    response = client.http.get(path)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_api_gateways_catch_all_sends_any_unknown_path_to_a_contract_404() -> None:
    # API Gateway routes every path no other resource matches to /{proxy+}, with that resource path
    fake_container(Settings(operator_token=OPERATOR, public_base_url=BASE))
    try:
        event = {
            "resource": "/{proxy+}",
            "path": "/v1/nothing/here/at/all",
            "httpMethod": "POST",
            "headers": {"content-type": "application/json"},
            "multiValueHeaders": {},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": {"proxy": "v1/nothing/here/at/all"},
            "stageVariables": None,
            "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": "POST", "path": "/api/v1/nothing/here"},
            "body": "{}",
            "isBase64Encoded": False,
        }
        response = application.app(event, None)
    finally:
        wiring.use(None)
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/v1/accounts/acme"), ("patch", "/v1/accounts/acme/suppressions"), ("put", "/webhooks/twilio/acme")],
)
def test_an_unsupported_method_is_a_contract_405_with_allow(client, token, method, path) -> None:
    response = call(client, method, path, token, {})
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert response.headers["Allow"]


def test_an_unhandled_error_is_a_contract_500_without_internals(client, deps, token, caplog) -> None:
    def broken(*args, **kwargs):
        raise KeyError("internal detail: the table's gsi1sk")

    deps.stores.numbers.load = broken
    response = call(client, "get", f"/v1/accounts/acme/numbers/{CONTACT}", token)
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error" and "gsi1sk" not in response.body.decode()
    assert "gsi1sk" in caplog.text


# --- (12) lenient input is a clear 400 -----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"name": " "},
        {"name": "\x00"},
        {"name": "Acme\r\nBcc: someone@example.com"},
        {"name": "\u202eemcA"},
        {"name": "Acme", "issue_token": "yes"},
        {"name": "Acme", "issue_token": 1},
        {"name": "Acme", "revoke_tokens": "true"},
        {"name": "Acme", "email_templates": {"opt_out": {"text": "Hello $firstname, $phone opted out"}}},
        {"name": "Acme", "email_templates": {"reply": {"subject": "${nobody} replied"}}},
        {"name": "Acme", "email_templates": {"opt_in": {"subject": "Resubscribed\r\nBcc: evil@example.com"}}},
        {"name": "Acme", "email_templates": {"opt_in": {"subject": "Resubscribed\nX"}}},
        {"name": "Acme", "keywords": {"opt_out": [""]}},
        {"name": "Acme", "keywords": {"opt_out": ["   "]}},
        {"name": "Acme", "keywords": {"opt_in": ["😀"]}},
        {"name": "Acme", "keywords": {"help": ["!!!"]}},
        {"name": "Acme", "keywords": {"opt_out": ["x" * 200]}},
    ],
    ids=lambda body: json.dumps(body)[:60],
)
def test_lenient_account_settings_are_a_clear_400_and_change_nothing(client, deps, body) -> None:
    response = operator_put(client, "acme", body)
    assert response.status_code == 400, response.body
    assert error_of(response)["code"] == "invalid_request"
    assert deps.stores.accounts.get_account("acme") is None


def test_known_placeholders_literal_dollars_and_keywords_with_letters_are_accepted(client) -> None:
    body = {
        "name": "Acme Café",
        "email_templates": {"opt_out": {"subject": "$phone left ${account_name}", "text": "Costs $$5. $when"}},
        "keywords": {"opt_out": ["DESINSCRIBIR", "stop 🛑"]},
        "issue_token": True,
    }
    assert operator_put(client, "acme", body).status_code == 201


def test_a_send_whose_user_email_is_not_an_email_is_rejected_not_queued(client, deps, token) -> None:
    good = {"request_id": "c1:1", "to": CONTACT, "sender": OUR_NUMBER, "body": "Hi", "user_email": "ana@example.com"}
    bad = [
        {**good, "request_id": "c1:2", "user_email": "not-email"},
        {**good, "request_id": "c1:3", "contact_email": "also not"},
    ]
    response = call(client, "post", "/v1/accounts/acme/sends", token, {"requests": [good, *bad]})
    assert response.status_code == 202
    body = json.loads(response.body)
    assert body["queued"] == ["c1:1"]
    assert [(r["index"], r["errors"][0]["field"]) for r in body["rejected"]] == [
        (1, "user_email"),
        (2, "contact_email"),
    ]
    assert [request.request_id for request in deps.queue.requests] == ["c1:1"]


# --- (10) the signed URL is rebuilt from Host only where a setting allows it -----------------------


def test_without_a_public_base_url_a_webhook_is_403_unless_host_urls_are_allowed(caplog) -> None:
    # Given no public base URL and no permission to trust the Host header
    fake_container(Settings(operator_token=OPERATOR))
    try:
        with Client(application.app) as client:
            put_account(client)
            # When Twilio signs the URL the Host header names
            response = signed_twilio(client, sms("SM1"), base="http://sms.example.com", Host="sms.example.com")
    finally:
        wiring.use(None)
    # Then it is refused as any unsigned request is, and the log says why
    assert response.status_code == 403 and error_of(response)["code"] == "invalid_signature"
    assert "configuration error" in caplog.text


def test_with_host_urls_allowed_the_url_is_rebuilt_from_the_host() -> None:
    deps = fake_container(Settings(operator_token=OPERATOR, allow_host_url=True))
    try:
        with Client(application.app) as client:
            put_account(client)
            response = signed_twilio(client, sms("SM1"), base="http://sms.example.com", Host="sms.example.com")
    finally:
        wiring.use(None)
    assert response.status_code == 200, response.body
    assert deps.stores.numbers.states
