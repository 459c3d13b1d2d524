"""Twilio webhooks: signature checks against Twilio's published vectors, URL rebuilding, payload parsing, TwiML."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.adapters.carriers import twilio
from chalicelib.domain.errors import InvalidPhone, InvalidRequest
from chalicelib.domain.models import Source

VECTORS = json.loads(
    (Path(__file__).parents[3] / "shared" / "data" / "carrier-signature-vectors.json").read_text(encoding="utf-8")
)["twilio"]
TOKEN = VECTORS["auth_token"]
PARAMS = list(VECTORS["params"].items())
CASES = VECTORS["cases"]
DUPLICATES = VECTORS["duplicate_keys_case"]
JSON_BODY = VECTORS["json_body_case"]
# The first case is the canonical one: https, no port.
URL = CASES[0]["url"]
SIGNATURE = CASES[0]["signature"]

EVENTS = Path(__file__).parents[1] / "events" / "twilio"
RECEIVED_AT = datetime(2024, 6, 12, 14, 32, 5, tzinfo=UTC)


def recorded(name: str) -> list[tuple[str, str]]:
    # A recorded body is one line; an editor may have added a final newline, which Twilio never sends.
    return twilio.parse_form((EVENTS / name).read_bytes().rstrip(b"\n"))


def valid(
    urls: list[str], params: list[tuple[str, str]], token: str = TOKEN, signature: str | None = SIGNATURE
) -> bool:
    return twilio.is_valid_request(urls=urls, params=params, auth_token=token, signature=signature)


def inbound(params: list[tuple[str, str]]):
    return twilio.parse_inbound(params, account_id="acme", default_region="US", received_at=RECEIVED_AT)


def status(params: list[tuple[str, str]]):
    return twilio.parse_status(params, account_id="acme", default_region="US", received_at=RECEIVED_AT)


# --- signatures ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case["url"] for case in CASES])
def test_compute_signature_matches_twilio_vectors(case):
    assert twilio.compute_signature(case["url"], PARAMS, TOKEN) == case["signature"]


@pytest.mark.parametrize("case", CASES, ids=[case["url"] for case in CASES])
def test_vector_validates(case):
    assert valid([case["url"]], PARAMS, signature=case["signature"])


def test_signature_does_not_depend_on_parameter_order():
    assert valid([URL], list(reversed(PARAMS)))


def test_repeated_keys_are_sorted_by_value_and_deduplicated_as_twilio_does():
    params = [tuple(pair) for pair in DUPLICATES["params_in_order"]]
    assert twilio.compute_signature(DUPLICATES["url"], params, TOKEN) == DUPLICATES["signature"]
    assert valid([DUPLICATES["url"]], params, signature=DUPLICATES["signature"])


def test_json_body_validates_against_its_body_hash():
    assert twilio.is_valid_request(
        urls=[JSON_BODY["signed_url"]],
        params=[],
        auth_token=TOKEN,
        signature=JSON_BODY["signature"],
        body=JSON_BODY["body"].encode("utf-8"),
    )


def test_json_body_fails_when_body_differs_from_its_hash():
    assert not twilio.is_valid_request(
        urls=[JSON_BODY["signed_url"]],
        params=[],
        auth_token=TOKEN,
        signature=JSON_BODY["signature"],
        body=JSON_BODY["body"].encode("utf-8") + b" ",
    )


def test_json_body_fails_without_body():
    assert not twilio.is_valid_request(
        urls=[JSON_BODY["signed_url"]], params=[], auth_token=TOKEN, signature=JSON_BODY["signature"]
    )


def test_json_body_signature_does_not_validate_the_url_without_hash():
    assert not twilio.is_valid_request(
        urls=[JSON_BODY["url_without_hash"]],
        params=[],
        auth_token=TOKEN,
        signature=JSON_BODY["signature"],
        body=JSON_BODY["body"].encode("utf-8"),
    )


@pytest.mark.parametrize("index", range(len(PARAMS)))
def test_fails_when_a_parameter_value_changes(index):
    params = list(PARAMS)
    name, value = params[index]
    params[index] = (name, value + "0")
    assert not valid([URL], params)


def test_fails_when_a_parameter_is_added():
    assert not valid([URL], [*PARAMS, ("Body", "")])


def test_fails_when_a_parameter_is_removed():
    assert not valid([URL], PARAMS[1:])


@pytest.mark.parametrize(
    "url",
    [
        "https://mycompany.com/myapp.php?foo=1&bar=3",  # query
        "https://mycompany.com/myapp.php?foo=1",  # query
        "https://mycompany.com/myapp.php",  # query
        "https://mycompany.com/myapp.php/?foo=1&bar=2",  # path
        "https://mycompany.com/other.php?foo=1&bar=2",  # path
        "https://evil.example/myapp.php?foo=1&bar=2",  # host
        "http://mycompany.com/myapp.php?foo=1&bar=2",  # scheme
        "https://mycompany.com:8443/myapp.php?foo=1&bar=2",  # port
    ],
)
def test_fails_when_the_url_changes(url):
    assert not valid([url], PARAMS)


def test_fails_with_another_token():
    assert not valid([URL], PARAMS, token="54321")


@pytest.mark.parametrize("signature", [None, ""])
def test_fails_without_signature(signature):
    assert not valid([URL], PARAMS, signature=signature)


def test_fails_with_empty_token_even_for_its_own_signature():
    assert not valid([URL], PARAMS, token="", signature=twilio.compute_signature(URL, PARAMS, ""))


def test_fails_with_a_non_ascii_signature():
    assert not valid([URL], PARAMS, signature="RSOYDt4T1cUTdK1PDd93/VVr8B8=王")


def test_validates_when_any_candidate_url_matches():
    assert valid(["https://elsewhere.example/hook", URL], PARAMS)


def test_fails_without_candidate_urls():
    assert not valid([], PARAMS)


# --- URL variants -------------------------------------------------------------------------------------------------


def test_url_variants_add_the_default_port_when_absent():
    assert twilio.url_variants("https://mycompany.com/myapp.php?foo=1&bar=2") == [
        "https://mycompany.com/myapp.php?foo=1&bar=2",
        "https://mycompany.com:443/myapp.php?foo=1&bar=2",
    ]


def test_url_variants_remove_the_default_port_when_present():
    assert twilio.url_variants("http://mycompany.com:80/myapp.php?foo=1&bar=2") == [
        "http://mycompany.com:80/myapp.php?foo=1&bar=2",
        "http://mycompany.com/myapp.php?foo=1&bar=2",
    ]


def test_url_variants_keep_a_non_default_port_alone():
    assert twilio.url_variants("http://mycompany.com:1234/myapp.php?foo=1&bar=2") == [
        "http://mycompany.com:1234/myapp.php?foo=1&bar=2"
    ]


def test_url_variants_keep_path_and_query_exactly():
    url = "https://mycompany.com/a%2Fb//c/?x=%2B1&y=&y=2"
    assert twilio.url_variants(url)[1] == "https://mycompany.com:443/a%2Fb//c/?x=%2B1&y=&y=2"


def test_signature_with_default_port_validates_the_url_without_it():
    # Given Twilio signed the URL with :443 (vector), When we only know the URL without the port, Then it validates.
    with_port = next(case for case in CASES if ":443" in case["url"])
    assert valid(["https://mycompany.com/myapp.php?foo=1&bar=2"], PARAMS, signature=with_port["signature"])


def test_signature_without_default_port_validates_the_url_with_it():
    assert valid(["https://mycompany.com:443/myapp.php?foo=1&bar=2"], PARAMS, signature=SIGNATURE)


def test_http_signature_with_port_80_validates_the_url_without_it():
    with_port = next(case for case in CASES if ":80/" in case["url"])
    assert valid(["http://mycompany.com/myapp.php?foo=1&bar=2"], PARAMS, signature=with_port["signature"])


# --- form bodies --------------------------------------------------------------------------------------------------


def test_parse_form_keeps_order_blanks_repeats_and_decodes_utf8():
    assert twilio.parse_form(b"Body=&To=%2B14155550100&Digits=2&Digits=1&Text=caf%C3%A9+ok") == [
        ("Body", ""),
        ("To", "+14155550100"),
        ("Digits", "2"),
        ("Digits", "1"),
        ("Text", "café ok"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"Body",  # a field without '='
        b"Body=hi&&To=x",  # an empty field
        b"Body=hi&",  # a trailing separator
        b"Body=%FF",  # percent-encoded bytes that are not UTF-8
        "Body=café".encode("latin-1"),  # raw bytes that are not UTF-8
    ],
)
def test_parse_form_rejects_malformed_bodies(body):
    with pytest.raises(InvalidRequest):
        twilio.parse_form(body)


# --- inbound messages ---------------------------------------------------------------------------------------------


def test_parse_inbound_stop():
    message = inbound(recorded("inbound_stop.txt"))
    assert message.carrier == "twilio"
    assert message.message_id == "SM1a2b3c4d5e6f708192a3b4c5d6e7f801"
    assert message.account_id == "acme"
    assert message.from_phone == "+14155550123"
    assert message.to_phone == "+14155550100"
    assert message.body == "STOP"
    assert message.occurred_at == message.received_at == RECEIVED_AT
    assert message.carrier_confirms is False


def test_parse_inbound_with_opt_out_type_means_twilio_confirms():
    message = inbound(recorded("inbound_opt_out_type_stop.txt"))
    assert message.body == "Stop"
    assert message.carrier_confirms is True


def test_parse_inbound_with_empty_opt_out_type_does_not_confirm():
    message = inbound([*recorded("inbound_stop.txt"), ("OptOutType", "")])
    assert message.carrier_confirms is False


def test_parse_inbound_keeps_unicode_and_emoji():
    message = inbound(recorded("inbound_reply_unicode.txt"))
    assert message.body == "Merci, à demain 🙂 café & <b>ok</b>"


def test_parse_inbound_mms_without_text_has_empty_body():
    assert inbound(recorded("inbound_mms_without_body.txt")).body == ""


def test_parse_inbound_without_body_field_has_empty_body():
    params = [(name, value) for name, value in recorded("inbound_stop.txt") if name != "Body"]
    assert inbound(params).body == ""


def test_parse_inbound_falls_back_to_sms_sid():
    params = [(name, value) for name, value in recorded("inbound_stop.txt") if name != "MessageSid"]
    assert inbound(params).message_id == "SM1a2b3c4d5e6f708192a3b4c5d6e7f801"


def test_parse_inbound_normalises_national_numbers_in_the_default_region():
    params = [(name, "(415) 555-0123" if name == "From" else value) for name, value in recorded("inbound_stop.txt")]
    assert inbound(params).from_phone == "+14155550123"


@pytest.mark.parametrize("field", ["MessageSid", "From", "To"])
def test_parse_inbound_without_a_required_field_names_it(field):
    # SmsSid is Twilio's older name for MessageSid, so both must be absent.
    params = [(name, value) for name, value in recorded("inbound_stop.txt") if name not in {field, "SmsSid"}]
    with pytest.raises(InvalidRequest, match=field):
        inbound(params)


@pytest.mark.parametrize("field", ["From", "To"])
def test_parse_inbound_with_an_empty_number_is_invalid(field):
    params = [(name, "" if name == field else value) for name, value in recorded("inbound_stop.txt")]
    with pytest.raises(InvalidRequest, match=field):
        inbound(params)


@pytest.mark.parametrize("field", ["From", "To"])
def test_parse_inbound_with_an_invalid_number_raises_invalid_phone(field):
    params = [(name, "+1415" if name == field else value) for name, value in recorded("inbound_stop.txt")]
    with pytest.raises(InvalidPhone):
        inbound(params)


def test_parse_inbound_refuses_a_repeated_sender():
    with pytest.raises(InvalidRequest, match="From"):
        inbound([*recorded("inbound_stop.txt"), ("From", "+14155550199")])


def test_account_sid_of_recorded_inbound():
    assert twilio.account_sid_of(recorded("inbound_stop.txt")) == "AC8f2d1e6b7a9c4e3f5a1b2c3d4e5f6a7b"


@pytest.mark.parametrize("params", [[], [("AccountSid", "")]])
def test_account_sid_of_missing_or_empty_is_none(params):
    assert twilio.account_sid_of(params) is None


# --- status callbacks ---------------------------------------------------------------------------------------------


def test_parse_status_failed_with_21610_is_an_opt_out():
    report = status(recorded("status_failed_21610.txt"))
    assert report.carrier == "twilio"
    assert report.message_id == "SM5e6f708192a3b4c5d6e7f8019a2b3c4d"
    assert report.to_phone == "+14155550123"
    assert report.from_phone == "+14155550100"
    assert report.status == "failed"
    assert report.error_code == "21610"
    assert report.error_code in twilio.OPTED_OUT_ERROR_CODES
    assert report.occurred_at == report.received_at == RECEIVED_AT


def test_parse_status_undelivered_with_30003_is_unreachable():
    report = status(recorded("status_undelivered_30003.txt"))
    assert report.status == "undelivered"
    assert report.error_code == "30003"
    assert report.error_code in twilio.UNREACHABLE_ERROR_CODES


def test_parse_status_delivered_has_no_error_code():
    report = status(recorded("status_delivered.txt"))
    assert report.status == "delivered"
    assert report.error_code is None


def test_parse_status_with_empty_error_code_has_none():
    assert status([*recorded("status_delivered.txt"), ("ErrorCode", "")]).error_code is None


def test_parse_status_falls_back_to_sms_status():
    params = [(name, value) for name, value in recorded("status_delivered.txt") if name != "MessageStatus"]
    assert status(params).status == "delivered"


@pytest.mark.parametrize("field", ["MessageSid", "MessageStatus", "To", "From"])
def test_parse_status_without_a_required_field_names_it(field):
    older_name = {"MessageSid": "SmsSid", "MessageStatus": "SmsStatus"}.get(field)
    params = [(name, value) for name, value in recorded("status_delivered.txt") if name not in {field, older_name}]
    with pytest.raises(InvalidRequest, match=field):
        status(params)


def test_parse_status_with_an_invalid_contact_number_raises_invalid_phone():
    params = [(name, "not a number" if name == "To" else value) for name, value in recorded("status_delivered.txt")]
    with pytest.raises(InvalidPhone):
        status(params)


def test_error_code_sets_do_not_overlap():
    assert not twilio.OPTED_OUT_ERROR_CODES & twilio.UNREACHABLE_ERROR_CODES


# --- TwiML --------------------------------------------------------------------------------------------------------


def test_twiml_escapes_the_message():
    assert twilio.twiml("Reply <STOP> & we stop > now") == (
        '<?xml version="1.0" encoding="UTF-8"?>'
        "<Response><Message>Reply &lt;STOP&gt; &amp; we stop &gt; now</Message></Response>"
    )


def test_twiml_without_message_is_an_empty_response():
    assert twilio.twiml(None) == '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def test_twiml_keeps_unicode():
    assert "<Message>Désabonné 👋</Message>" in twilio.twiml("Désabonné 👋")


def test_parse_status_from_an_alphanumeric_sender_still_reports_the_opt_out():
    params = [(name, "ACMECO" if name == "From" else value) for name, value in recorded("status_failed_21610.txt")]
    report = status(params)
    assert report.from_phone is None
    assert twilio.error_source(report.error_code) is Source.CARRIER


@pytest.mark.parametrize(
    ("code", "source"),
    [
        ("21610", Source.CARRIER),
        ("30003", Source.BOUNCE),
        ("30005", Source.BOUNCE),
        ("30006", Source.BOUNCE),
        ("21614", Source.BOUNCE),
        ("21211", Source.BOUNCE),
        ("30007", None),
        (None, None),
    ],
)
def test_error_source_maps_twilio_codes(code, source):
    assert twilio.error_source(code) is source
