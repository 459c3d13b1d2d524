"""Plivo webhooks: V3 and V2 signatures against Plivo's own vectors, payload parsing, error codes, the answer.

The V2 vector is the shared file's (`plivo_v2`); the V3 vectors come from plivo-go's and plivo-ruby's tests (see
`tests/events/plivo/signature_v3_vectors.json`). The payloads under `tests/events/plivo/` have the fields and
formats Plivo documents for its message URL and status callbacks; their values are made up.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest

from chalicelib.adapters.carriers import plivo
from chalicelib.adapters.carriers.wire import parse_form
from chalicelib.domain.errors import (
    CarrierNotConfigured,
    InvalidPhone,
    InvalidRequest,
    InvalidSignature,
    UnsupportedMediaType,
)
from chalicelib.domain.models import Source
from chalicelib.domain.webhooks import WebhookRequest

V2 = json.loads(
    (Path(__file__).parents[3] / "shared" / "data" / "carrier-signature-vectors.json").read_text(encoding="utf-8")
)["plivo_v2"]
EVENTS = Path(__file__).parents[1] / "events" / "plivo"
V3 = json.loads((EVENTS / "signature_v3_vectors.json").read_text(encoding="utf-8"))
V3_PARAMS = list(V3["params"].items())
V3_TOKEN = V3["auth_token"]
V3_NONCE = V3["nonce"]
POST_CASES = [case for case in V3["cases"] if case["method"] == "POST"]
GET_CASES = [case for case in V3["cases"] if case["method"] == "GET"]

RECEIVED_AT = datetime(2024, 6, 12, 14, 32, 5, tzinfo=UTC)
TOKEN = "MzY1ZjRkYjQ3ODc1NzFmYjE3N2E2ZDg3NTIyYmQ1"
URL = "https://sms.example.com/api/webhooks/plivo/acme"


def recorded(name: str) -> list[tuple[str, str]]:
    # A recorded body is one line; an editor may have added a final newline, which Plivo never sends.
    return parse_form((EVENTS / name).read_bytes().rstrip(b"\n"))


def get_url(case: dict) -> str:
    """A GET vector's URL as Plivo calls it: the fields are in its query string, after the URL's own."""
    separator = "&" if "?" in case["url"] else "?"
    return case["url"] + separator + urlencode(V3_PARAMS)


def inbound(params: list[tuple[str, str]]):
    return plivo.parse_inbound(params, account_id="acme", default_region="US", received_at=RECEIVED_AT)


def status(params: list[tuple[str, str]]):
    return plivo.parse_status(params, account_id="acme", default_region="US", received_at=RECEIVED_AT)


def replace(params: list[tuple[str, str]], **fields: str) -> list[tuple[str, str]]:
    return [(name, fields.get(name, value)) for name, value in params]


def request(
    params: list[tuple[str, str]],
    headers: dict[str, str] | None = None,
    *,
    url: str = URL,
    method: str = "POST",
    content_type: str = plivo.FORM,
) -> WebhookRequest:
    """The request as the webhook layer hands it over: lower-case header names, the URL with its query."""
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    if method == "GET":
        return WebhookRequest("GET", url + "?" + urlencode(params), lowered, b"", RECEIVED_AT, tuple(params))
    lowered["content-type"] = content_type
    return WebhookRequest(method, url, lowered, urlencode(params).encode(), RECEIVED_AT)


def v3_headers(method: str, url: str, params: list[tuple[str, str]], token: str = TOKEN, nonce: str = "81723"):
    signature = plivo.signature_v3(method, url, params, nonce, token)
    return {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}


def signed(params: list[tuple[str, str]], *, method: str = "POST", token: str = TOKEN) -> WebhookRequest:
    url = URL + ("?" + urlencode(params) if method == "GET" else "")
    return request(params, v3_headers(method, url, params, token), method=method)


# --- V3 signatures ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", POST_CASES, ids=[case["url"] for case in POST_CASES])
def test_v3_signature_of_a_post_matches_plivos_vectors(case):
    assert plivo.signature_v3("POST", case["url"], V3_PARAMS, V3_NONCE, V3_TOKEN) == case["signature"]


@pytest.mark.parametrize("case", GET_CASES, ids=[case["url"] for case in GET_CASES])
def test_v3_signature_of_a_get_matches_plivos_vectors(case):
    # Given the fields in the query string, as Plivo sends them with GET (the POST fields argument is unused)
    assert plivo.signature_v3("GET", get_url(case), [], V3_NONCE, V3_TOKEN) == case["signature"]


def test_v3_signed_url_of_a_post_with_a_query_puts_a_dot_between_query_and_fields():
    assert plivo.signed_url_v3("POST", "https://h.example/p/?c=d&a=b", [("To", "1"), ("From", "2")]) == (
        "https://h.example/p/?a=b&c=d.From2To1"
    )


def test_v3_signed_url_of_a_post_without_a_query_has_a_bare_question_mark():
    assert plivo.signed_url_v3("POST", "https://h.example/p", [("To", "1")]) == "https://h.example/p?To1"


def test_v3_signed_url_of_a_post_without_fields_is_the_url_and_its_query():
    assert plivo.signed_url_v3("POST", "https://h.example/p?b=2&a=1", []) == "https://h.example/p?a=1&b=2"
    assert plivo.signed_url_v3("POST", "https://h.example/p", []) == "https://h.example/p"


def test_v3_signed_url_sorts_repeated_names_by_value_and_decodes_values():
    assert plivo.signed_url_v3("GET", "https://h.example/p?x=b&x=a&t=caf%C3%A9+ok", []) == (
        "https://h.example/p?t=café ok&x=a&x=b"
    )


def test_a_v3_signed_post_verifies():
    plivo.check_signature(signed(recorded("inbound_stop.txt")), recorded("inbound_stop.txt"), TOKEN)


def test_a_v3_signed_get_verifies():
    params = recorded("inbound_stop.txt")
    plivo.check_signature(signed(params, method="GET"), params, TOKEN)


def test_any_of_several_comma_separated_v3_signatures_may_match():
    params = recorded("inbound_stop.txt")
    good = v3_headers("POST", URL, params)
    headers = {**good, "X-Plivo-Signature-V3": f"c29tZXRoaW5nIGVsc2U=, {good['X-Plivo-Signature-V3']}"}
    plivo.check_signature(request(params, headers), params, TOKEN)


def test_the_main_account_v3_header_verifies_with_the_same_token():
    params = recorded("inbound_stop.txt")
    good = v3_headers("POST", URL, params)
    headers = {"X-Plivo-Signature-Ma-V3": good["X-Plivo-Signature-V3"], "X-Plivo-Signature-V3-Nonce": "81723"}
    plivo.check_signature(request(params, headers), params, TOKEN)


def refused(req: WebhookRequest, params: list[tuple[str, str]], token: str | None = TOKEN) -> str:
    with pytest.raises(InvalidSignature) as refusal:
        plivo.check_signature(req, params, token)
    return refusal.value.message


def test_a_v3_signature_fails_when_a_field_changes():
    params = recorded("inbound_stop.txt")
    headers = v3_headers("POST", URL, params)
    tampered = replace(params, Text="START")
    assert "does not match" in refused(request(tampered, headers), tampered)


def test_a_v3_signature_fails_when_a_field_is_added():
    params = recorded("inbound_stop.txt")
    headers = v3_headers("POST", URL, params)
    added = [*params, ("MessageIntent2", "")]
    assert "does not match" in refused(request(added, headers), added)


@pytest.mark.parametrize(
    "url",
    [
        "https://sms.example.com/api/webhooks/plivo/other",  # another account
        "https://sms.example.com/api/webhooks/plivo/acme?x=1",  # a query added
        "http://sms.example.com/api/webhooks/plivo/acme",  # scheme
        "https://evil.example/api/webhooks/plivo/acme",  # host
    ],
)
def test_a_v3_signature_fails_for_another_url(url):
    params = recorded("inbound_stop.txt")
    headers = v3_headers("POST", URL, params)
    assert "does not match" in refused(request(params, headers, url=url), params)


def test_a_v3_signature_fails_with_another_token_or_nonce():
    params = recorded("inbound_stop.txt")
    other_token = request(params, v3_headers("POST", URL, params, token="another-token-000"))
    assert "does not match" in refused(other_token, params)
    swapped = {**v3_headers("POST", URL, params), "X-Plivo-Signature-V3-Nonce": "81724"}
    assert "does not match" in refused(request(params, swapped), params)


def test_a_v3_signature_without_its_nonce_is_refused():
    params = recorded("inbound_stop.txt")
    headers = v3_headers("POST", URL, params)
    del headers["X-Plivo-Signature-V3-Nonce"]
    assert "Nonce" in refused(request(params, headers), params)


def test_a_get_signature_does_not_verify_the_same_fields_posted():
    params = recorded("inbound_stop.txt")
    get_signature = v3_headers("GET", URL + "?" + urlencode(params), params)
    assert "does not match" in refused(request(params, get_signature), params)


def test_a_bad_v3_signature_is_not_rescued_by_a_good_v2_one():
    # V2 covers no fields: were it a fallback, a tampered body with a valid V2 signature would pass
    params = recorded("inbound_stop.txt")
    headers = {
        "X-Plivo-Signature-V3": "c29tZXRoaW5nIGVsc2U=",
        "X-Plivo-Signature-V3-Nonce": "81723",
        "X-Plivo-Signature-V2": plivo.signature_v2(URL, "555", TOKEN),
        "X-Plivo-Signature-V2-Nonce": "555",
    }
    assert "V3" in refused(request(params, headers), params)


@pytest.mark.parametrize("token", [None, ""])
def test_no_auth_token_never_verifies(token):
    params = recorded("inbound_stop.txt")
    assert "auth token" in refused(signed(params, token=""), params, token=token)


def test_no_signature_header_is_refused():
    params = recorded("inbound_stop.txt")
    assert "no X-Plivo-Signature" in refused(request(params), params)


def test_a_non_ascii_signature_is_refused_not_an_error():
    params = recorded("inbound_stop.txt")
    headers = {
        "X-Plivo-Signature-V3": "k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c=王",
        "X-Plivo-Signature-V3-Nonce": "1",
    }
    assert "does not match" in refused(request(params, headers), params)


# --- V2 signatures ------------------------------------------------------------------------------------------------


def test_v2_signature_matches_plivos_vector():
    assert plivo.signature_v2(V2["uri"], V2["nonce"], V2["auth_token"]) == V2["signature"]


def test_v2_signature_fails_with_the_wrong_token_of_the_vector():
    assert plivo.signature_v2(V2["uri"], V2["nonce"], V2["wrong_token_must_fail"]) != V2["signature"]


def test_v2_signature_ignores_the_query_string():
    assert plivo.signature_v2(V2["uri"] + "?a=1", V2["nonce"], V2["auth_token"]) == V2["signature"]


def test_a_v2_signed_request_verifies_without_v3_headers():
    params = recorded("inbound_stop.txt")
    headers = {"X-Plivo-Signature-V2": plivo.signature_v2(URL, "05429567804466091622", TOKEN)}
    headers["X-Plivo-Signature-V2-Nonce"] = "05429567804466091622"
    plivo.check_signature(request(params, headers), params, TOKEN)


def test_the_main_account_v2_header_verifies_with_the_same_token():
    params = recorded("inbound_stop.txt")
    headers = {"X-Plivo-Signature-Ma-V2": plivo.signature_v2(URL, "77", TOKEN), "X-Plivo-Signature-V2-Nonce": "77"}
    plivo.check_signature(request(params, headers), params, TOKEN)


def test_a_v2_signature_fails_for_another_account_url_token_or_nonce():
    params = recorded("inbound_stop.txt")
    good = {"X-Plivo-Signature-V2": plivo.signature_v2(URL, "77", TOKEN), "X-Plivo-Signature-V2-Nonce": "77"}
    other_url = URL.replace("/acme", "/other")
    assert "V2" in refused(request(params, good, url=other_url), params)
    assert "V2" in refused(request(params, good), params, token="another-token-000")
    assert "V2" in refused(request(params, {**good, "X-Plivo-Signature-V2-Nonce": "78"}), params)
    del good["X-Plivo-Signature-V2-Nonce"]
    assert "Nonce" in refused(request(params, good), params)


# --- the request's fields -----------------------------------------------------------------------------------------


def test_fields_of_a_post_come_from_the_form():
    params = recorded("inbound_stop.txt")
    assert plivo.request_fields(request(params)) == params


def test_fields_of_a_get_come_from_the_query():
    params = recorded("inbound_stop.txt")
    assert plivo.request_fields(request(params, method="GET")) == params


def test_a_post_that_is_not_a_form_is_unsupported():
    with pytest.raises(UnsupportedMediaType):
        plivo.request_fields(request(recorded("inbound_stop.txt"), content_type="application/json"))


def test_a_malformed_form_is_invalid():
    with pytest.raises(InvalidRequest):
        plivo.request_fields(WebhookRequest("POST", URL, {"content-type": plivo.FORM}, b"Text=%FF", RECEIVED_AT))


# --- inbound messages ---------------------------------------------------------------------------------------------


def test_parse_inbound_stop_that_plivo_matched_as_optout():
    message = inbound(recorded("inbound_stop.txt"))
    assert message.carrier == "plivo"
    assert message.message_id == "2f3b0a4e-7c1d-11ef-9a5b-0242ac110002"
    assert message.account_id == "acme"
    # Plivo's numbers have no "+": they are international digits
    assert message.from_phone == "+14155550123"
    assert message.to_phone == "+14155550100"
    assert message.body == "STOP"
    assert message.occurred_at == message.received_at == RECEIVED_AT
    assert message.carrier_confirms is True
    assert message.part is None


@pytest.mark.parametrize("name", ["inbound_start.txt", "inbound_help.txt"])
def test_parse_inbound_optin_and_help_intents_mean_plivo_answers(name):
    assert inbound(recorded(name)).carrier_confirms is True


def test_parse_inbound_without_intent_does_not_confirm():
    message = inbound(recorded("inbound_stop_please.txt"))
    assert message.body == "Stop please"
    assert message.carrier_confirms is False


@pytest.mark.parametrize("intent", ["", "unknown", "OPTOUT"])
def test_parse_inbound_intent_is_read_case_insensitively_and_only_known_values_count(intent):
    assert inbound(replace(recorded("inbound_stop.txt"), MessageIntent=intent)).carrier_confirms is (intent == "OPTOUT")


def test_parse_inbound_keeps_unicode_and_markup():
    assert inbound(recorded("inbound_reply_unicode.txt")).body == "Merci, à demain 🙂 café & <b>ok</b>"


def test_parse_inbound_mms_reads_its_body():
    message = inbound(recorded("inbound_mms.txt"))
    assert message.body == "stop sending me these"
    assert message.message_id == "8fb1600e-7c1d-11ef-9a5b-0242ac110002"


def test_parse_inbound_without_text_has_an_empty_body():
    params = [(name, value) for name, value in recorded("inbound_stop.txt") if name != "Text"]
    assert inbound(params).body == ""


def test_parse_inbound_keeps_numbers_given_with_a_plus_or_in_national_format():
    params = replace(recorded("inbound_stop.txt"), From="+447911123456", To="(415) 555-0100")
    message = inbound(params)
    assert (message.from_phone, message.to_phone) == ("+447911123456", "+14155550100")


def test_parse_inbound_reads_international_digits_whatever_the_accounts_region():
    message = plivo.parse_inbound(
        replace(recorded("inbound_stop.txt"), From="447911123456"),
        account_id="acme",
        default_region="FR",
        received_at=RECEIVED_AT,
    )
    assert message.from_phone == "+447911123456"


@pytest.mark.parametrize("field", ["MessageUUID", "From", "To"])
def test_parse_inbound_without_a_required_field_names_it(field):
    params = [(name, value) for name, value in recorded("inbound_stop.txt") if name != field]
    with pytest.raises(InvalidRequest, match=field):
        inbound(params)


@pytest.mark.parametrize("field", ["MessageUUID", "From", "To"])
def test_parse_inbound_with_a_blank_required_field_names_it(field):
    with pytest.raises(InvalidRequest, match=field):
        inbound(replace(recorded("inbound_stop.txt"), **{field: " "}))


@pytest.mark.parametrize("field", ["From", "To"])
def test_parse_inbound_with_an_invalid_number_raises_invalid_phone(field):
    with pytest.raises(InvalidPhone):
        inbound(replace(recorded("inbound_stop.txt"), **{field: "1415"}))


def test_parse_inbound_refuses_a_repeated_field():
    with pytest.raises(InvalidRequest, match="Text"):
        inbound([*recorded("inbound_stop.txt"), ("Text", "START")])


# --- status callbacks ---------------------------------------------------------------------------------------------


def test_parse_status_failed_with_200_is_a_carrier_opt_out():
    report = status(recorded("status_failed_200.txt"))
    assert report.carrier == "plivo"
    assert report.message_id == "b2d3f405-7c1e-11ef-8b5c-0242ac110003"
    assert report.to_phone == "+14155550123"
    assert report.from_phone == "+14155550100"
    assert report.status == "failed"
    assert report.error_code == "200"
    assert plivo.error_source(report.error_code) is Source.CARRIER
    # The latest of Plivo's times present: it was queued, then refused
    assert report.occurred_at == datetime(2024, 6, 12, 14, 30, 1, 234567, tzinfo=UTC)
    assert report.received_at == RECEIVED_AT


def test_parse_status_undelivered_70_is_a_bounce_dated_by_its_delivery_report():
    report = status(recorded("status_undelivered_70.txt"))
    assert (report.status, report.error_code) == ("undelivered", "70")
    assert plivo.error_source(report.error_code) is Source.BOUNCE
    assert report.occurred_at == datetime(2024, 6, 12, 14, 30, 9, 456789, tzinfo=UTC)


@pytest.mark.parametrize("name", ["status_delivered.txt", "status_queued.txt"])
def test_parse_status_without_error_has_no_error_code(name):
    report = status(recorded(name))
    assert report.error_code is None
    assert plivo.error_source(report.error_code) is None


def test_parse_status_time_with_an_offset_keeps_it():
    params = replace(recorded("status_delivered.txt"), DeliveryReportTime="2024-06-12 20:00:09.000000+05:30")
    assert status(params).occurred_at == datetime(2024, 6, 12, 14, 30, 9, tzinfo=UTC)


def test_parse_status_time_is_never_later_than_its_receipt():
    # Given a time ahead of ours (another zone, a skewed clock): it would win over every later opt-in
    params = replace(recorded("status_delivered.txt"), DeliveryReportTime="2024-06-12 19:30:00.000000")
    assert status(params).occurred_at == RECEIVED_AT


def test_parse_status_without_usable_times_occurred_when_received():
    times = {name: "not a time" for name in ("MessageTime", "QueuedTime", "SentTime", "DeliveryReportTime")}
    assert status(replace(recorded("status_delivered.txt"), **times)).occurred_at == RECEIVED_AT
    assert status([(n, v) for n, v in recorded("status_delivered.txt") if n not in times]).occurred_at == RECEIVED_AT


def test_parse_status_from_an_alphanumeric_sender_still_reports_the_opt_out():
    report = status(replace(recorded("status_failed_200.txt"), From="ACMECO"))
    assert report.from_phone is None
    assert report.error_code == "200"


@pytest.mark.parametrize("field", ["MessageUUID", "Status", "To", "From"])
def test_parse_status_without_a_required_field_names_it(field):
    params = [(name, value) for name, value in recorded("status_delivered.txt") if name != field]
    with pytest.raises(InvalidRequest, match=field):
        status(params)


def test_parse_status_with_an_invalid_contact_number_raises_invalid_phone():
    with pytest.raises(InvalidPhone):
        status(replace(recorded("status_delivered.txt"), To="not a number"))


# --- error codes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "source"),
    [
        ("200", Source.CARRIER),
        ("50", Source.BOUNCE),
        ("70", Source.BOUNCE),
        ("80", Source.BOUNCE),
        ("10", None),
        ("20", None),
        ("30", None),
        ("40", None),
        ("90", None),
        ("100", None),
        ("201", None),
        ("1000", None),
        ("", None),
        (None, None),
    ],
)
def test_error_source_maps_plivos_codes(code, source):
    assert plivo.PlivoCarrier().error_source(code) is source


def test_error_code_sets_do_not_overlap():
    assert not plivo.OPTED_OUT_ERROR_CODES & plivo.UNREACHABLE_ERROR_CODES


# --- the carrier --------------------------------------------------------------------------------------------------


def test_the_carrier_verifies_with_the_accounts_token_and_refuses_empty_credentials():
    carrier = plivo.PlivoCarrier()
    params = recorded("inbound_stop.txt")
    carrier.verify(signed(params), {"auth_id": "MA" + "A" * 18, "auth_token": TOKEN})
    with pytest.raises(InvalidSignature):
        carrier.verify(signed(params), {})


def test_the_carrier_reads_a_get_request():
    notice = plivo.PlivoCarrier().read(
        signed(recorded("inbound_stop.txt"), method="GET"),
        account_id="acme",
        default_region="US",
        received_at=RECEIVED_AT,
    )
    (message,) = notice.messages
    assert message.body == "STOP"


def test_the_carrier_reads_a_status_callback():
    notice = plivo.PlivoCarrier().read_status(
        signed(recorded("status_failed_200.txt")), account_id="acme", default_region="US", received_at=RECEIVED_AT
    )
    (report,) = notice.reports
    assert report.error_code == "200"


def test_the_answer_is_an_empty_plivo_xml_response():
    carrier = plivo.PlivoCarrier()
    assert carrier.replies_in_answer is False
    answer = carrier.answer(None)
    assert (answer.status, answer.headers["Content-Type"]) == (200, "application/xml")
    assert answer.body == '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def test_the_provider_needs_auth_id_and_token():
    carrier = plivo.PlivoCarrier(api_url="https://api.plivo.invalid", timeout=3)
    for credentials in ({}, {"auth_id": "MA" + "A" * 18}, {"auth_token": TOKEN}):
        with pytest.raises(CarrierNotConfigured):
            carrier.provider(credentials)
    provider = carrier.provider({"auth_id": "MA" + "A" * 18, "auth_token": TOKEN})
    assert provider.name == "plivo"


@pytest.mark.parametrize(
    "fields",
    [
        {"auth_id": "MAXXXXXXXXXXXXXXXXXX", "auth_token": TOKEN},
        {"auth_id": "SA" + "1" * 18},
        {"auth_token": TOKEN},
        {"status_url": "https://sms.example.com/api/webhooks/plivo/acme/status"},
    ],
)
def test_credentials_form_accepts_plivo_credentials_one_field_at_a_time(fields):
    form = plivo.PlivoCredentials.model_validate(fields)
    assert TOKEN not in repr(form)


@pytest.mark.parametrize(
    "fields",
    [
        {"auth_id": "AC" + "1" * 18},
        {"auth_id": "MA123"},
        {"auth_token": "short"},
        {"status_url": "ftp://example.com/status"},
        {"colour": "red"},
    ],
)
def test_credentials_form_refuses_what_is_not_plivos(fields):
    with pytest.raises(ValueError):
        plivo.PlivoCredentials.model_validate(fields)
