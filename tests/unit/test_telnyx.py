"""Telnyx webhooks: the Ed25519 signature, the recorded event shapes, the checks `verify` makes, error codes.

Telnyx publishes no fixed signature vectors (telnyx-python, telnyx-node and telnyx-ruby test with a key pair they
generate, as `/work/shared/data/carrier-signature-vectors.json` notes), so these tests sign with a generated key.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from chalicelib.adapters.carriers import telnyx
from chalicelib.adapters.carriers.telnyx import TelnyxCarrier, TelnyxCredentials
from chalicelib.adapters.carriers.telnyx_sms import TelnyxSmsProvider
from chalicelib.domain.errors import (
    CarrierNotConfigured,
    InvalidPhone,
    InvalidRequest,
    InvalidSignature,
    UnsupportedMediaType,
)
from chalicelib.domain.models import Source
from chalicelib.domain.webhooks import WebhookRequest
from tests.telnyx_api_server import WebhookSigner

EVENTS = Path(__file__).parents[1] / "events" / "telnyx"
VECTORS = json.loads(
    (Path(__file__).parents[3] / "shared" / "data" / "carrier-signature-vectors.json").read_text(encoding="utf-8")
)["telnyx"]
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
PROFILE = "40017f0f-92d8-4318-9f8a-e0e2a92c3f60"
SIGNER = WebhookSigner()
URL = "https://sms.example.com/api/webhooks/telnyx/acme"


def recorded(name: str) -> bytes:
    # The recorded file is pretty-printed JSON; Telnyx's bodies are compact, and the signature covers either as sent.
    return (EVENTS / name).read_bytes()


def request(body: bytes, headers: dict[str, str], received_at: datetime = NOW) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=URL,
        headers={name.lower(): value for name, value in headers.items()},
        body=body,
        received_at=received_at,
    )


def signed(body: bytes, at: datetime = NOW, signer: WebhookSigner = SIGNER) -> WebhookRequest:
    return request(body, signer.headers(body, at))


def credentials(**extra: str) -> dict[str, str]:
    return {"public_key": SIGNER.public_key, "api_key": "KEYtest_0123456789", **extra}


def notice(name: str):
    return telnyx.notice_of(recorded(name), account_id="acme", default_region="US", received_at=NOW)


# --- the signature ------------------------------------------------------------------------------------------------


def test_the_signed_payload_is_the_timestamp_a_bar_and_the_raw_body() -> None:
    assert telnyx.signed_payload("1795341600", b'{"data":{}}') == b'1795341600|{"data":{}}'
    assert "timestamp + '|' + raw_body" in VECTORS["algorithm"]


def test_a_body_signed_with_the_accounts_key_verifies() -> None:
    body = recorded("inbound_stop.json")
    headers = SIGNER.headers(body, NOW)
    telnyx.verify_signature(
        body=body,
        timestamp=headers["telnyx-timestamp"],
        signature=headers["telnyx-signature-ed25519"],
        public_key=SIGNER.public_key,
        received_at=NOW,
    )


def test_a_signature_made_independently_of_our_helpers_verifies() -> None:
    # Given a signature made the way Telnyx's SDK tests make theirs: sign(timestamp + "|" + payload), base64
    body = b'{"data":{"event_type":"message.received"}}'
    signature = base64.b64encode(SIGNER.private_key.sign(b"1795341600|" + body)).decode()

    telnyx.verify_signature(
        body=body,
        timestamp="1795341600",
        signature=signature,
        public_key=SIGNER.public_key,
        received_at=datetime.fromtimestamp(1795341600, UTC),
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("body", "does not match"),
        ("timestamp", "does not match"),
        ("other key", "does not match"),
        ("no signature", "header is missing"),
        ("no timestamp", "header is missing"),
        ("signature not base64", "not base64"),
        ("signature too short", "64-byte"),
        ("timestamp not a number", "not Unix time"),
        ("timestamp negative", "not Unix time"),
    ],
)
def test_a_tampered_or_incomplete_request_is_refused_saying_which_check_failed(change: str, reason: str) -> None:
    body = recorded("inbound_stop.json")
    timestamp = str(int(NOW.timestamp()))
    signature = SIGNER.signature(body, timestamp)
    if change == "body":
        body = body.replace(b"STOP", b"START")
    elif change == "timestamp":
        timestamp = str(int(timestamp) + 1)
    elif change == "other key":
        signature = WebhookSigner().signature(body, timestamp)
    elif change == "no signature":
        signature = ""
    elif change == "no timestamp":
        timestamp = ""
    elif change == "signature not base64":
        signature = "not base64!"
    elif change == "signature too short":
        signature = base64.b64encode(b"\0" * 32).decode()
    elif change == "timestamp not a number":
        timestamp = "1.7e9"
    else:
        timestamp = "-" + timestamp

    with pytest.raises(InvalidSignature, match=reason):
        telnyx.verify_signature(
            body=body, timestamp=timestamp, signature=signature, public_key=SIGNER.public_key, received_at=NOW
        )


@pytest.mark.parametrize("seconds", [301, -301, 86400])
def test_a_timestamp_more_than_300_seconds_from_receipt_is_refused_as_a_replay(seconds: int) -> None:
    body = recorded("inbound_stop.json")
    headers = SIGNER.headers(body, NOW - timedelta(seconds=seconds))

    with pytest.raises(InvalidSignature, match="expired or replayed"):
        telnyx.verify_signature(
            body=body,
            timestamp=headers["telnyx-timestamp"],
            signature=headers["telnyx-signature-ed25519"],
            public_key=SIGNER.public_key,
            received_at=NOW,
        )


@pytest.mark.parametrize("seconds", [300, -300, 0])
def test_a_timestamp_within_300_seconds_is_accepted(seconds: int) -> None:
    body = recorded("inbound_stop.json")
    telnyx_at = NOW - timedelta(seconds=seconds)
    TelnyxCarrier().verify(signed(body, telnyx_at), credentials())


@pytest.mark.parametrize("public_key", ["not base64!", base64.b64encode(b"\1" * 31).decode()])
def test_an_unusable_stored_public_key_refuses_rather_than_raises(public_key: str) -> None:
    body = recorded("inbound_stop.json")
    with pytest.raises(InvalidSignature, match="public key is unusable"):
        TelnyxCarrier().verify(signed(body), {"public_key": public_key})


# --- what verify checks -------------------------------------------------------------------------------------------


def test_verify_refuses_cleanly_without_credentials() -> None:
    # The use case calls verify with {} for an unknown account or one without Telnyx
    with pytest.raises(InvalidSignature, match="no Telnyx public key"):
        TelnyxCarrier().verify(signed(recorded("inbound_stop.json")), {})


def test_a_request_signed_by_another_telnyx_account_is_refused() -> None:
    body = recorded("inbound_stop.json")
    with pytest.raises(InvalidSignature, match="does not match"):
        TelnyxCarrier().verify(signed(body, signer=WebhookSigner()), credentials())


def test_an_event_for_another_messaging_profile_is_refused_when_the_account_names_its_own() -> None:
    body = recorded("inbound_stop.json")
    other_profile = "0f512bda-ae1e-4597-8e11-e5f5686b97d3"

    TelnyxCarrier().verify(signed(body), credentials(messaging_profile_id=PROFILE))
    TelnyxCarrier().verify(signed(body), credentials(messaging_profile_id=PROFILE.upper()))
    TelnyxCarrier().verify(signed(body), credentials())
    with pytest.raises(InvalidSignature, match="another Telnyx messaging profile"):
        TelnyxCarrier().verify(signed(body), credentials(messaging_profile_id=other_profile))


def test_the_tolerance_is_the_carriers_to_set() -> None:
    body = recorded("inbound_stop.json")
    with pytest.raises(InvalidSignature, match="over 60 s"):
        TelnyxCarrier(tolerance=60).verify(signed(body, NOW - timedelta(seconds=61)), credentials())


# --- inbound texts ------------------------------------------------------------------------------------------------


def test_a_stop_telnyx_answered_itself_is_read_with_carrier_confirms() -> None:
    (message,) = notice("inbound_stop.json").messages

    assert message.carrier == "telnyx"
    # The message id, not the event id: it is what a redelivery is recognised by
    assert message.message_id == "84cca175-9755-4859-b67f-4730d7f58aa3"
    assert (message.from_phone, message.to_phone, message.body) == ("+14255550182", "+12125550101", "STOP")
    assert message.occurred_at == datetime(2026, 11, 22, 9, 59, 58, 512000, tzinfo=UTC)
    assert message.received_at == NOW
    assert message.carrier_confirms is True


def test_a_stop_in_other_words_telnyx_did_not_answer_is_ours_to_confirm() -> None:
    (message,) = notice("inbound_stop_please.json").messages
    assert message.body == "Stop please"
    assert message.carrier_confirms is False


def test_an_ordinary_reply_is_read() -> None:
    (message,) = notice("inbound_reply.json").messages
    assert message.body == "Running 10 min late, see you soon"
    assert message.message_id == "49bbfe3c-7fb3-496d-ac59-6e80c708a526"
    assert message.carrier_confirms is False
    assert message.part is None


def test_an_mms_without_text_has_an_empty_body() -> None:
    (message,) = notice("inbound_mms_without_text.json").messages
    assert message.body == ""


def test_a_redelivery_under_a_new_event_id_is_the_same_message() -> None:
    document = json.loads(recorded("inbound_stop.json"))
    document["data"]["id"] = "a-new-event-id"
    document["meta"]["attempt"] = 2
    again = telnyx.notice_of(json.dumps(document).encode(), account_id="acme", default_region="US", received_at=NOW)
    assert again.messages[0].message_id == notice("inbound_stop.json").messages[0].message_id


@pytest.mark.parametrize(
    ("occurred_at", "expected"),
    [
        ("2026-11-22T09:59:58.512Z", datetime(2026, 11, 22, 9, 59, 58, 512000, tzinfo=UTC)),
        ("2026-11-22T09:59:58.512992Z", datetime(2026, 11, 22, 9, 59, 58, 512992, tzinfo=UTC)),
        ("2026-11-22T10:59:58+01:00", datetime(2026, 11, 22, 9, 59, 58, tzinfo=UTC)),
        ("2026-11-22T09:59:58", datetime(2026, 11, 22, 9, 59, 58, tzinfo=UTC)),
        (None, NOW),
    ],
)
def test_the_events_occurred_at_is_the_carrier_time(occurred_at: str | None, expected: datetime) -> None:
    document = json.loads(recorded("inbound_stop.json"))
    if occurred_at is None:
        del document["data"]["occurred_at"]
    else:
        document["data"]["occurred_at"] = occurred_at
    (message,) = telnyx.notice_of(
        json.dumps(document).encode(), account_id="acme", default_region="US", received_at=NOW
    ).messages
    assert message.occurred_at == expected


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (("data", "payload", "id"), "", InvalidRequest),
        (("data", "payload", "from"), None, InvalidRequest),
        (("data", "payload", "from", "phone_number"), "", InvalidRequest),
        (("data", "payload", "to"), [], InvalidRequest),
        (("data", "payload", "to"), ["+12125550101"], InvalidRequest),
        (("data", "payload", "text"), 42, InvalidRequest),
        (("data", "occurred_at"), "yesterday", InvalidRequest),
        (("data", "payload", "from", "phone_number"), "not a number", InvalidPhone),
    ],
)
def test_a_malformed_inbound_event_is_a_bad_request(path: tuple[str, ...], value: object, error: type) -> None:
    document = json.loads(recorded("inbound_stop.json"))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(error):
        telnyx.notice_of(json.dumps(document).encode(), account_id="acme", default_region="US", received_at=NOW)


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b'{"meta": {}}', b'{"data": []}', b'{"data": {"id": "x"}}', b"\xff\xfe"]
)
def test_a_body_that_is_no_telnyx_event_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(InvalidRequest):
        telnyx.notice_of(body, account_id="acme", default_region="US", received_at=NOW)


def test_another_event_type_is_acknowledged_with_a_200_and_stores_nothing() -> None:
    result = notice("other_event_call_initiated.json")
    assert result.messages == () and result.reports == ()
    assert result.answer is not None and (result.answer.status, result.answer.body) == (200, "")


def test_read_wants_json() -> None:
    body = recorded("inbound_stop.json")
    form = request(body, {"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(UnsupportedMediaType):
        TelnyxCarrier().read(form, account_id="acme", default_region="US", received_at=NOW)
    charset = request(body, {"Content-Type": "application/json; charset=utf-8"})
    assert TelnyxCarrier().read(charset, account_id="acme", default_region="US", received_at=NOW).messages


def test_both_routes_read_every_event_kind() -> None:
    # A messaging profile has one webhook URL: inbound texts and delivery events may arrive on either route
    carrier = TelnyxCarrier()
    for name, kind in (("inbound_stop.json", "messages"), ("status_delivery_failed_40001.json", "reports")):
        req = request(recorded(name), {"Content-Type": "application/json"})
        for read in (carrier.read, carrier.read_status):
            assert getattr(read(req, account_id="acme", default_region="US", received_at=NOW), kind)


# --- delivery events ----------------------------------------------------------------------------------------------


def test_a_sent_event_is_a_report_without_error() -> None:
    (report,) = notice("status_sent.json").reports
    assert (report.status, report.error_code) == ("sent", None)
    assert report.message_id == "40385f64-5717-4562-b3fc-2c963f66afa6"
    assert (report.to_phone, report.from_phone) == ("+14255550182", "+12125550101")
    assert report.occurred_at == datetime(2026, 11, 22, 9, 59, 0, 301000, tzinfo=UTC)


def test_a_delivered_text_is_a_report_without_error() -> None:
    (report,) = notice("status_delivered.json").reports
    assert (report.status, report.error_code) == ("delivered", None)


@pytest.mark.parametrize(
    ("name", "status", "code", "source"),
    [
        ("status_delivery_failed_40001.json", "delivery_failed", "40001", Source.BOUNCE),
        ("status_sending_failed_40300.json", "sending_failed", "40300", Source.CARRIER),
        ("status_delivery_failed_40006.json", "delivery_failed", "40006", None),
    ],
)
def test_a_failed_text_reports_its_error_code(name: str, status: str, code: str, source: Source | None) -> None:
    (report,) = notice(name).reports
    assert (report.status, report.error_code) == (status, code)
    assert TelnyxCarrier().error_source(report.error_code) is source


def test_the_most_telling_error_is_reported_and_none_for_a_delivered_recipient() -> None:
    document = json.loads(recorded("status_delivery_failed_40001.json"))
    document["data"]["payload"]["errors"] = [{"code": "40004", "title": "Rejected by destination"}, {"code": "40300"}]
    document["data"]["payload"]["to"].append({"phone_number": "+14255550183", "status": "delivered"})
    first, second = telnyx.notice_of(
        json.dumps(document).encode(), account_id="acme", default_region="US", received_at=NOW
    ).reports
    assert (first.to_phone, first.error_code) == ("+14255550182", "40300")
    assert (second.to_phone, second.status, second.error_code) == ("+14255550183", "delivered", None)


def test_an_alphanumeric_sender_is_no_phone_but_the_report_counts() -> None:
    document = json.loads(recorded("status_sending_failed_40300.json"))
    document["data"]["payload"]["from"]["phone_number"] = "ACME"
    (report,) = telnyx.notice_of(
        json.dumps(document).encode(), account_id="acme", default_region="US", received_at=NOW
    ).reports
    assert (report.from_phone, report.error_code) == (None, "40300")


# --- error codes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "source"),
    [
        ("40300", Source.CARRIER),
        ("40001", Source.BOUNCE),
        ("40008", Source.BOUNCE),
        ("40012", Source.BOUNCE),
        ("40310", Source.BOUNCE),
        ("40006", None),
        ("40002", None),
        ("40305", None),
        ("", None),
        (None, None),
    ],
)
def test_error_codes_map_to_suppression_sources(code: str | None, source: Source | None) -> None:
    assert telnyx.error_source(code) is source


def test_coded_errors_keep_codes_as_text_and_skip_errors_without_one() -> None:
    errors = [{"code": 40300, "title": "Blocked", "detail": "block rule"}, {"title": "no code"}, "junk", {"code": True}]
    assert telnyx.coded_errors(errors) == [("40300", "Blocked: block rule")]
    assert telnyx.coded_errors(None) == []


# --- credentials and the carrier ----------------------------------------------------------------------------------


def test_the_credentials_form_validates_the_public_key_and_keeps_the_api_key_secret() -> None:
    form = TelnyxCredentials.model_validate(
        {"public_key": f" {SIGNER.public_key} ", "api_key": "KEYtest_0123456789", "messaging_profile_id": PROFILE}
    )
    assert form.public_key == SIGNER.public_key
    assert form.api_key is not None and form.api_key.get_secret_value() == "KEYtest_0123456789"
    assert "KEYtest" not in repr(form)
    # Every field is optional: an update may send one alone
    assert TelnyxCredentials.model_validate({}).public_key is None


@pytest.mark.parametrize(
    "raw",
    [
        {"public_key": "not base64!"},
        {"public_key": base64.b64encode(b"\1" * 31).decode()},
        {"public_key": base64.b64encode(b"\1" * 33).decode()},
        {"messaging_profile_id": "profile-1"},
        {"api_key": "short"},
        {"auth_token": "x" * 20},
    ],
)
def test_the_credentials_form_refuses_what_cannot_work(raw: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        TelnyxCredentials.model_validate(raw)


def test_the_carrier_answers_an_empty_200_and_replies_through_the_send_path() -> None:
    carrier = TelnyxCarrier()
    assert carrier.replies_in_answer is False
    answer = carrier.answer("You have been unsubscribed.")
    assert (answer.status, answer.body) == (200, "")


def test_the_provider_needs_an_api_key_and_carries_the_messaging_profile() -> None:
    carrier = TelnyxCarrier(api_url="http://127.0.0.1:9", timeout=3)
    with pytest.raises(CarrierNotConfigured):
        carrier.provider({"public_key": SIGNER.public_key})
    provider = carrier.provider(credentials(messaging_profile_id=PROFILE))
    assert isinstance(provider, TelnyxSmsProvider)
    assert provider.url == "http://127.0.0.1:9/v2/messages"
    assert provider.messaging_profile_id == PROFILE
    assert "KEYtest" not in repr(provider)
    assert TelnyxCarrier().provider(credentials()).url == "https://api.telnyx.com/v2/messages"


# --- Ed25519 as RFC 8032 verifies it ------------------------------------------------------------------------------

#: The order of Ed25519's base point (RFC 8032 5.1): a signature's S must be below it.
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493


def test_a_signature_whose_s_is_not_reduced_fails() -> None:
    """The same signature with S + L in place of S satisfies the group equation; RFC 8032 requires S < L."""
    body = recorded("inbound_stop.json")
    headers = SIGNER.headers(body, NOW)
    raw = base64.b64decode(headers["telnyx-signature-ed25519"])
    s = int.from_bytes(raw[32:], "little") + ED25519_ORDER
    headers["telnyx-signature-ed25519"] = base64.b64encode(raw[:32] + s.to_bytes(32, "little")).decode()

    with pytest.raises(InvalidSignature, match="does not match"):
        TelnyxCarrier().verify(request(body, headers), credentials())


def test_a_stored_key_that_is_no_point_of_the_curve_refuses_rather_than_raises() -> None:
    # y = 2 has no x on edwards25519: 32 bytes of the right length that are no public key.
    not_a_point = base64.b64encode((2).to_bytes(32, "little")).decode()
    with pytest.raises(InvalidSignature, match="does not match"):
        TelnyxCarrier().verify(signed(recorded("inbound_stop.json")), {"public_key": not_a_point})
