"""Vonage webhooks: signatures against Vonage's published vectors, the checks on a request, payload parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from chalicelib.adapters.carriers import vonage
from chalicelib.domain.errors import InvalidPhone, InvalidRequest, InvalidSignature, UnsupportedMediaType
from chalicelib.domain.models import MessagePart, Source
from chalicelib.domain.webhooks import WebhookRequest

VECTORS = json.loads(
    (Path(__file__).parents[3] / "shared" / "data" / "carrier-signature-vectors.json").read_text(encoding="utf-8")
)["vonage_sms"]
# The vectors' secret is the literal "signature_secret" (vonage-python-sdk http_client/tests/test_auth.py).
VECTOR_SECRET = VECTORS["secret"]

# The "MD5 hash" method and the SHA-1 and SHA-512 HMACs have no vector in the shared file: these come from
# vonage-python-sdk tests/test_signature.py (v3, commit 2b8d9884), secret "secret", params a=1, b=2 and this timestamp.
SDK3_PARAMS = {"a": "1", "b": "2", "timestamp": "1461605396"}
SDK3_SIGNATURES = {
    "md5hash": "6af838ef94998832dbfc29020b564830",
    "hmac-md5": "c15c21ced558c93a226c305f58f902f2",
    "hmac-sha1": "3e19a4e6880fdc2c1426bfd0587c98b9532f0210",
    "hmac-sha256": "a321e824b9b816be7c3f28859a31749a098713d39f613c80d455bbaffae1cd24",
    "hmac-sha512": "812a18f76680fa0fe1b8bd9ee1625466ceb1bd96242e4d050d2cfd9a7b40166c"
    "63ed26ec9702168781b6edcf1633db8ff95af9341701004eec3fcf9550572ee8",
}

EVENTS = Path(__file__).parents[1] / "events" / "vonage"
RECEIVED_AT = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
SECRET = "a-signature-secret-of-the-account"
API_KEY = "abcd1234"
CREDENTIALS = {"api_key": API_KEY, "signature_secret": SECRET, "signature_method": "hmac-sha256"}


def recorded(name: str) -> dict[str, str]:
    text = (EVENTS / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else dict(parse_qsl(text.rstrip("\n"), keep_blank_values=True))


def signed(fields: dict[str, str], *, secret: str = SECRET, method: str = "hmac-sha256", at: datetime = RECEIVED_AT):
    """The fields as Vonage sends them when signing is on: a fresh timestamp and the sig (upper case, as Vonage)."""
    fields = {**fields, "timestamp": str(int(at.timestamp()))}
    return {**fields, "sig": vonage.compute_signature(fields, secret, method).upper()}


def post_json(fields: dict[str, str], received_at: datetime = RECEIVED_AT) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url="https://sms.example.com/webhooks/vonage/acme",
        headers={"content-type": "application/json"},
        body=json.dumps(fields).encode(),
        received_at=received_at,
    )


def post_form(fields: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url="https://sms.example.com/webhooks/vonage/acme",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=urlencode(fields).encode(),
        received_at=RECEIVED_AT,
    )


def get(fields: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(
        method="GET",
        url="https://sms.example.com/webhooks/vonage/acme?" + urlencode(fields),
        headers={},
        body=b"",
        received_at=RECEIVED_AT,
        query=tuple(fields.items()),
    )


def inbound(fields: dict[str, str]):
    return vonage.parse_inbound(fields, account_id="acme", default_region="US", received_at=RECEIVED_AT)


def status(fields: dict[str, str]):
    return vonage.parse_status(fields, account_id="acme", default_region="US", received_at=RECEIVED_AT)


# --- signatures ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda case: f"{case['method']}-{case['sig'][:8]}")
def test_compute_signature_matches_vonages_vectors(case) -> None:
    assert vonage.compute_signature(case["params"], VECTOR_SECRET, case["method"]) == case["sig"]


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda case: f"{case['method']}-{case['sig'][:8]}")
def test_vector_validates_in_either_case(case) -> None:
    for sig in (case["sig"], case["sig"].upper()):
        assert vonage.is_valid_signature({**case["params"], "sig": sig}, VECTOR_SECRET, case["method"])


@pytest.mark.parametrize("method", list(SDK3_SIGNATURES))
def test_every_dashboard_method_matches_the_sdks_vectors(method: str) -> None:
    assert vonage.compute_signature(SDK3_PARAMS, "secret", method) == SDK3_SIGNATURES[method]


def test_the_signed_string_is_sorted_prefixed_with_ampersands_and_sanitised() -> None:
    fields = {"text": "a=b&c", "msisdn": "14155550123", "sig": "ignored", "timestamp": "1"}

    assert vonage.signing_string(fields) == "&msisdn=14155550123&text=a_b_c&timestamp=1"


def test_md5hash_appends_the_secret_and_hmacs_key_with_it() -> None:
    # Same string, same secret: the methods differ, so one account's method cannot stand in for another's
    signatures = {
        method: vonage.compute_signature(SDK3_PARAMS, "secret", method) for method in vonage.SIGNATURE_METHODS
    }
    assert len(set(signatures.values())) == len(vonage.SIGNATURE_METHODS)


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown Vonage signature method"):
        vonage.compute_signature(SDK3_PARAMS, "secret", "sha256")


def test_blank_fields_are_accepted_signed_or_left_out() -> None:
    # Given a receipt with a blank field, signed as the Python SDK does (with it) and as the Java SDK does (without)
    fields = {"messageId": "m-1", "status": "delivered", "err-code": "", "timestamp": "1795341600"}
    with_blank = vonage.compute_signature(fields, SECRET, "hmac-sha256")
    without_blank = vonage.compute_signature({k: v for k, v in fields.items() if v}, SECRET, "hmac-sha256")

    assert vonage.is_valid_signature({**fields, "sig": with_blank}, SECRET, "hmac-sha256")
    assert vonage.is_valid_signature({**fields, "sig": without_blank}, SECRET, "hmac-sha256")


# --- the checks on a request --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", vonage.SIGNATURE_METHODS)
def test_a_signed_request_passes_with_the_accounts_method(method: str) -> None:
    request = post_json(signed(recorded("inbound_stop.json"), method=method))

    vonage.VonageCarrier().verify(request, {**CREDENTIALS, "signature_method": method})


def test_the_method_defaults_to_the_dashboards_md5_hash() -> None:
    request = post_json(signed(recorded("inbound_stop.json"), method="md5hash"))

    vonage.VonageCarrier().verify(request, {"signature_secret": SECRET})


@pytest.mark.parametrize(
    ("request_for", "reason"),
    [
        ("unsigned", "no sig"),
        ("tampered", "does not match"),
        ("other secret", "does not match"),
        ("other method", "does not match"),
        ("no timestamp", "no Unix timestamp"),
        ("expired", "more than 300 s"),
        ("from the future", "more than 300 s"),
        ("other api key", "another Vonage API key"),
    ],
)
def test_a_request_not_signed_for_the_account_is_refused_saying_why(request_for: str, reason: str) -> None:
    fields = signed(recorded("inbound_stop.json"))
    if request_for == "unsigned":
        fields = recorded("inbound_stop.json")
    elif request_for == "tampered":
        fields["text"] = "START"
    elif request_for == "other secret":
        fields = signed(recorded("inbound_stop.json"), secret="another-accounts-secret")
    elif request_for == "other method":
        fields = signed(recorded("inbound_stop.json"), method="hmac-sha512")
    elif request_for == "no timestamp":
        fields.pop("timestamp")
    elif request_for == "expired":
        fields = signed(recorded("inbound_stop.json"), at=RECEIVED_AT - timedelta(seconds=301))
    elif request_for == "from the future":
        fields = signed(recorded("inbound_stop.json"), at=RECEIVED_AT + timedelta(seconds=301))
    else:
        fields = signed({**recorded("inbound_stop.json"), "api-key": "ffff9999"})

    with pytest.raises(InvalidSignature, match=reason):
        vonage.VonageCarrier().verify(post_json(fields), CREDENTIALS)


def test_a_timestamp_within_five_minutes_passes() -> None:
    fields = signed(recorded("inbound_stop.json"), at=RECEIVED_AT - timedelta(seconds=299))

    vonage.VonageCarrier().verify(post_json(fields), CREDENTIALS)


def test_the_window_is_configurable() -> None:
    fields = signed(recorded("inbound_stop.json"), at=RECEIVED_AT - timedelta(seconds=120))
    carrier = vonage.VonageCarrier(timestamp_tolerance=timedelta(seconds=60))

    with pytest.raises(InvalidSignature, match="more than 60 s"):
        carrier.verify(post_json(fields), CREDENTIALS)


@pytest.mark.parametrize(
    "credentials",
    [{}, {"api_key": API_KEY}, {"signature_secret": SECRET, "signature_method": "sha256"}],
    ids=["none", "no secret", "unknown method"],
)
def test_without_usable_credentials_every_request_is_refused(credentials: dict[str, str]) -> None:
    with pytest.raises(InvalidSignature):
        vonage.VonageCarrier().verify(post_json(signed(recorded("inbound_stop.json"))), credentials)


def test_a_request_without_api_key_is_checked_by_its_signature_alone() -> None:
    fields = recorded("inbound_stop.json")
    fields.pop("api-key")

    vonage.VonageCarrier().verify(post_json(signed(fields)), CREDENTIALS)


# --- reading requests ---------------------------------------------------------------------------------------------


def test_the_three_ways_vonage_calls_carry_the_same_fields() -> None:
    fields = signed(recorded("inbound_stop.json"))

    for request in (post_json(fields), post_form(fields), get(fields)):
        assert vonage.request_fields(request) == fields
        vonage.VonageCarrier().verify(request, CREDENTIALS)


def test_a_post_in_another_media_type_is_refused() -> None:
    request = WebhookRequest("POST", "https://x/", {"content-type": "text/plain"}, b"msisdn=1", RECEIVED_AT)

    with pytest.raises(UnsupportedMediaType):
        vonage.request_fields(request)


@pytest.mark.parametrize("body", [b"[]", b"{not json", b'{"text": ["STOP"]}', b'{"concat": true}', b"\xff"], ids=repr)
def test_a_json_body_that_is_not_an_object_of_strings_is_invalid(body: bytes) -> None:
    request = WebhookRequest("POST", "https://x/", {"content-type": "application/json"}, body, RECEIVED_AT)

    with pytest.raises(InvalidRequest):
        vonage.request_fields(request)


def test_a_field_given_twice_is_invalid() -> None:
    request = WebhookRequest(
        "GET", "https://x/?text=STOP&text=START", {}, b"", RECEIVED_AT, query=(("text", "STOP"), ("text", "START"))
    )

    with pytest.raises(InvalidRequest, match="more than once"):
        vonage.request_fields(request)


# --- inbound messages ---------------------------------------------------------------------------------------------


def test_an_inbound_stop_is_read_with_vonages_time() -> None:
    message = inbound(recorded("inbound_stop.json"))

    assert message.carrier == "vonage"
    assert message.message_id == "0A0000000123ABCD1"
    assert (message.from_phone, message.to_phone) == ("+14255550182", "+12125550101")
    assert message.body == "STOP"
    assert message.occurred_at == datetime(2026, 11, 22, 9, 59, 58, tzinfo=UTC)
    assert message.received_at == RECEIVED_AT
    assert message.part is None
    assert message.carrier_confirms is False


def test_a_unicode_form_message_keeps_its_text() -> None:
    message = inbound(recorded("inbound_unicode.form"))

    assert message.body == "Arrêt 🙏 merci"
    assert message.occurred_at == datetime(2026, 11, 22, 9, 59, 59, tzinfo=UTC)


def test_a_get_message_is_read_from_its_query() -> None:
    fields = vonage.request_fields(get(recorded("inbound_stop.query")))

    assert inbound(fields).body == "Stop"


def test_each_part_of_a_long_message_is_read_as_a_part_with_its_own_id() -> None:
    first = inbound(recorded("inbound_concat_part1.json"))
    second = inbound(recorded("inbound_concat_part2.json"))

    assert first.part == MessagePart(reference="108", number=1, total=2)
    assert second.part == MessagePart(reference="108", number=2, total=2)
    assert (first.message_id, second.message_id) == ("0A0000000123ABCD4", "0A0000000123ABCD5")
    assert first.body.endswith("so please ") and second.body == "STOP"


@pytest.mark.parametrize(
    "change",
    [{"concat-part": "x"}, {"concat-total": "0"}, {"concat-part": "256"}, {"concat-ref": ""}],
    ids=repr,
)
def test_a_malformed_part_is_invalid(change: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        inbound({**recorded("inbound_concat_part1.json"), **change})


def test_concat_fields_without_concat_true_are_an_ordinary_message() -> None:
    fields = {**recorded("inbound_concat_part1.json"), "concat": "false"}

    assert inbound(fields).part is None


def test_a_binary_message_has_an_empty_body() -> None:
    assert inbound(recorded("inbound_binary.json")).body == ""


@pytest.mark.parametrize("missing", ["messageId", "msisdn", "to"])
def test_an_inbound_message_without_a_required_field_is_invalid(missing: str) -> None:
    fields = recorded("inbound_stop.json")
    fields.pop(missing)

    with pytest.raises(InvalidRequest, match=missing):
        inbound(fields)


def test_an_inbound_message_from_something_not_a_number_is_invalid() -> None:
    with pytest.raises(InvalidPhone):
        inbound({**recorded("inbound_stop.json"), "msisdn": "12"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2020-01-01 12:00:00", datetime(2020, 1, 1, 12, tzinfo=UTC)),
        ("2020-01-01T12:00:00.000+00:00", datetime(2020, 1, 1, 12, tzinfo=UTC)),
        ("2020-01-01T14:00:00+02:00", datetime(2020, 1, 1, 12, tzinfo=UTC)),
    ],
)
def test_message_timestamps_are_read_as_utc(raw: str, expected: datetime) -> None:
    assert vonage.parse_message_timestamp(raw) == expected


def test_a_malformed_message_timestamp_is_invalid() -> None:
    with pytest.raises(InvalidRequest, match="message-timestamp"):
        inbound({**recorded("inbound_stop.json"), "message-timestamp": "yesterday"})


def test_without_message_timestamp_the_signed_timestamp_is_vonages_time() -> None:
    fields = recorded("inbound_stop.json")
    fields.pop("message-timestamp")

    assert inbound(fields).occurred_at == datetime.fromtimestamp(1795341598, UTC)


# --- delivery receipts --------------------------------------------------------------------------------------------


def test_a_delivered_receipt_is_read() -> None:
    report = status(recorded("dlr_delivered.json"))

    assert (report.carrier, report.message_id, report.status) == ("vonage", "0B00000127FDBC63", "delivered")
    assert (report.to_phone, report.from_phone) == ("+14255550182", "+12125550101")
    assert report.error_code == "0"
    assert report.occurred_at == datetime(2026, 11, 22, 9, 59, 58, tzinfo=UTC)
    assert vonage.error_source(report.error_code) is None


def test_an_opted_out_receipt_from_a_sender_id_is_a_carrier_opt_out() -> None:
    report = status(recorded("dlr_failed_opted_out.json"))

    assert (report.status, report.error_code, report.from_phone) == ("failed", "9", None)
    assert vonage.error_source(report.error_code) is Source.CARRIER


def test_an_absent_subscriber_receipt_is_a_bounce() -> None:
    report = status(recorded("dlr_failed_absent_subscriber.form"))

    assert report.error_code == "3"
    assert vonage.error_source(report.error_code) is Source.BOUNCE


@pytest.mark.parametrize(
    ("code", "source"),
    [
        ("9", Source.CARRIER),
        ("3", Source.BOUNCE),
        ("4", Source.BOUNCE),
        ("12", Source.BOUNCE),
        ("14", Source.BOUNCE),
        *((code, None) for code in ("0", "1", "2", "5", "6", "7", "8", "10", "11", "13", "15", "99", None)),
    ],
)
def test_dlr_error_codes_map_to_suppressions(code: str | None, source: Source | None) -> None:
    assert vonage.error_source(code) is source
    assert vonage.VonageCarrier().error_source(code) is source


def test_the_answer_is_an_empty_200() -> None:
    answer = vonage.VonageCarrier().answer(None)

    assert (answer.status, answer.body) == (200, "")
    assert vonage.VonageCarrier.replies_in_answer is False
