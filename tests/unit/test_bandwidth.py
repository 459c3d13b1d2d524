"""Bandwidth callbacks: HTTP Basic checks, recorded callback shapes, error-code mapping, the credentials form."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from chalicelib.adapters.carriers import bandwidth
from chalicelib.adapters.carriers.bandwidth import BandwidthCarrier, BandwidthCredentials
from chalicelib.domain.errors import (
    CredentialsRequired,
    InvalidPhone,
    InvalidRequest,
    InvalidSignature,
    UnsupportedMediaType,
)
from chalicelib.domain.models import Source
from chalicelib.domain.ports import CarrierNotice
from chalicelib.domain.webhooks import WebhookRequest

EVENTS = Path(__file__).parents[1] / "events" / "bandwidth"
RECEIVED_AT = datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC)
CONTACT = "+14255550182"
OUR_NUMBER = "+19195550101"
CREDENTIALS = {"callback_username": "bw-callbacks", "callback_password": "s3cret:with-colon"}


def recorded(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def notice(body: bytes):
    return bandwidth.parse_callback(body, account_id="acme", default_region="US", received_at=RECEIVED_AT)


def events_with(**changes) -> bytes:
    """The recorded STOP with top-level fields changed (None removes one)."""
    [event] = json.loads(recorded("inbound_stop.json"))
    for name, value in changes.items():
        if value is None:
            event.pop(name, None)
        else:
            event[name] = value
    return json.dumps([event]).encode()


def message_with(**changes) -> bytes:
    """The recorded STOP with fields of its `message` changed (None removes one)."""
    [event] = json.loads(recorded("inbound_stop.json"))
    for name, value in changes.items():
        if value is None:
            event["message"].pop(name, None)
        else:
            event["message"][name] = value
    return json.dumps([event]).encode()


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def request(authorization: str | None, body: bytes = b"[]", content_type: str = "application/json; charset=utf-8"):
    headers = {"content-type": content_type, "user-agent": "BandwidthAPI/v2"}
    if authorization is not None:
        headers["authorization"] = authorization
    return WebhookRequest(
        method="POST",
        url="https://sms.example.com/api/webhooks/bandwidth/acme",
        headers=headers,
        body=body,
        received_at=RECEIVED_AT,
    )


# --- HTTP Basic ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # RFC 7617, section 2: the example of the Basic scheme.
        ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame")),
        # RFC 7617, section 2.1: UTF-8 credentials (user "test", password "123£").
        ("Basic dGVzdDoxMjPCow==", ("test", "123£")),
        # Bandwidth's own example header (https://dev.bandwidth.com/docs/account/applications).
        ("Basic dXNlcm5hbWU6cGFzc3dvcmQ=", ("username", "password")),
        # The scheme is case-insensitive; a password may contain colons (only the first one splits).
        ("basic " + base64.b64encode(b"bw:a:b:c").decode(), ("bw", "a:b:c")),
    ],
)
def test_basic_credentials_decode_the_published_examples(header, expected) -> None:
    assert bandwidth.basic_credentials(header) == expected


@pytest.mark.parametrize("header", [None, "", "Bearer abc", "Digest username=bw", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="])
def test_no_basic_credentials_asks_for_them_with_a_challenge(header) -> None:
    with pytest.raises(CredentialsRequired) as raised:
        bandwidth.basic_credentials(header)
    assert raised.value.challenge == 'Basic realm="sms-optout"'


@pytest.mark.parametrize(
    "header",
    ["Basic", "Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic //79/w=="],
)
def test_malformed_basic_credentials_are_refused(header) -> None:
    with pytest.raises(InvalidSignature):
        bandwidth.basic_credentials(header)


def test_the_accounts_credentials_pass() -> None:
    bandwidth.check_credentials(
        ("bw-callbacks", "s3cret:with-colon"), username="bw-callbacks", password="s3cret:with-colon"
    )


@pytest.mark.parametrize(
    "presented",
    [("bw-callbacks", "wrong"), ("someone", "s3cret:with-colon"), ("", ""), ("bw-callbacks", "s3cret:with-colo")],
)
def test_other_credentials_are_refused(presented) -> None:
    with pytest.raises(InvalidSignature, match="not the account's"):
        bandwidth.check_credentials(presented, username="bw-callbacks", password="s3cret:with-colon")


@pytest.mark.parametrize(("username", "password"), [(None, None), ("bw-callbacks", None), (None, "s3cret-value")])
def test_an_account_without_callback_credentials_refuses_everything(username, password) -> None:
    with pytest.raises(InvalidSignature, match="no Bandwidth callback"):
        bandwidth.check_credentials(("", ""), username=username, password=password)


def test_username_and_password_are_both_compared_in_constant_time(monkeypatch) -> None:
    compared = []

    def compare_digest(a, b):
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(bandwidth.hmac, "compare_digest", compare_digest)
    # A wrong username still compares the password too
    with pytest.raises(InvalidSignature):
        bandwidth.check_credentials(("someone", "s3cret"), username="bw-callbacks", password="s3cret")
    assert compared == [(b"someone", b"bw-callbacks"), (b"s3cret", b"s3cret")]


def test_verify_takes_the_authorization_header() -> None:
    carrier = BandwidthCarrier()
    carrier.verify(request(basic("bw-callbacks", "s3cret:with-colon")), CREDENTIALS)
    with pytest.raises(InvalidSignature):
        carrier.verify(request(basic("bw-callbacks", "guess")), CREDENTIALS)
    with pytest.raises(CredentialsRequired):
        carrier.verify(request(None), CREDENTIALS)


def test_verify_for_an_unknown_account_challenges_or_refuses() -> None:
    # The webhook layer passes {} when the account does not exist or has not configured Bandwidth
    carrier = BandwidthCarrier()
    with pytest.raises(CredentialsRequired):
        carrier.verify(request(None), {})
    with pytest.raises(InvalidSignature):
        carrier.verify(request(basic("bw-callbacks", "s3cret:with-colon")), {})


# --- callbacks ----------------------------------------------------------------------------------------------------


def test_an_inbound_text_is_read_with_bandwidths_time() -> None:
    [message] = notice(recorded("inbound_sms.json")).messages

    assert message.carrier == "bandwidth"
    assert message.message_id == "1736178214000kw2fuqty55yp2b2"
    assert (message.from_phone, message.to_phone) == (CONTACT, OUR_NUMBER)
    assert message.body == "Is my appointment still at 3pm? Café downstairs?"
    # The message's own time (when Bandwidth received it), not the callback's
    assert message.occurred_at == datetime(2025, 1, 6, 15, 43, 34, tzinfo=UTC)
    assert message.received_at == RECEIVED_AT
    assert message.carrier_confirms is False
    assert message.part is None


def test_an_inbound_stop_is_read() -> None:
    result = notice(recorded("inbound_stop.json"))

    [message] = result.messages
    assert result.reports == ()
    assert (message.message_id, message.body) == ("1795341600123xq8c4r6w2n7kz1a", "STOP")


def test_a_group_mms_belongs_to_the_number_of_its_copy() -> None:
    [message] = notice(recorded("inbound_group_mms.json")).messages

    # Bandwidth sends each of our recipient numbers its own event: the top-level `to` says which
    assert message.to_phone == "+19195550102"
    assert message.body == ""
    assert message.occurred_at == datetime(2024, 9, 14, 18, 20, 45, 160744, tzinfo=UTC)


def test_the_owner_stands_in_for_a_missing_top_level_to() -> None:
    [message] = notice(events_with(to=None)).messages
    assert message.to_phone == OUR_NUMBER


def test_the_events_time_stands_in_for_a_missing_message_time() -> None:
    [message] = notice(message_with(time=None)).messages
    assert message.occurred_at == datetime(2026, 11, 22, 10, 0, 0, 731204, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "status", "error_code", "to_phone", "occurred_at"),
    [
        ("status_sending.json", "message-sending", None, CONTACT, datetime(2024, 6, 25, 18, 42, 36, 979456, UTC)),
        ("status_delivered.json", "message-delivered", None, CONTACT, datetime(2024, 9, 14, 18, 20, 11, 160744, UTC)),
        ("status_failed_4775.json", "message-failed", "4775", CONTACT, datetime(2026, 11, 22, 10, 5, 0, 118230, UTC)),
        (
            "status_failed_4720.json",
            "message-failed",
            "4720",
            "+14255550183",
            datetime(2026, 11, 22, 10, 6, tzinfo=UTC),
        ),
        # A group message: the event is about one recipient, named by the top-level `to`
        (
            "status_failed_4432.json",
            "message-failed",
            "4432",
            "+525512345678",
            datetime(2024, 12, 18, 16, 51, 27, 704450, UTC),
        ),
    ],
)
def test_status_events_are_read_with_the_events_time(name, status, error_code, to_phone, occurred_at) -> None:
    result = notice(recorded(name))

    [report] = result.reports
    assert result.messages == ()
    assert report.carrier == "bandwidth"
    assert (report.status, report.error_code, report.to_phone) == (status, error_code, to_phone)
    assert report.from_phone == OUR_NUMBER
    assert report.occurred_at == occurred_at


def test_one_callback_may_carry_texts_and_reports_together() -> None:
    result = notice(recorded("mixed_batch.json"))

    assert [m.message_id for m in result.messages] == ["1795341600123xq8c4r6w2n7kz1a"]
    assert [(r.status, r.error_code) for r in result.reports] == [
        ("message-delivered", None),
        ("message-failed", "4720"),
    ]


def test_a_lone_event_object_is_read_as_an_array_of_one() -> None:
    [event] = json.loads(recorded("inbound_stop.json"))
    [message] = notice(json.dumps(event).encode()).messages
    assert message.body == "STOP"


def test_other_event_types_are_acknowledged_and_skipped() -> None:
    [stop] = json.loads(recorded("inbound_stop.json"))
    suggestion = {**stop, "type": "suggestion-response", "message": {**stop["message"], "id": "rbm-1"}}
    result = notice(json.dumps([suggestion, stop, {**stop, "type": "message-from-the-future"}]).encode())
    assert [m.message_id for m in result.messages] == [stop["message"]["id"]]
    assert result.reports == ()
    assert notice(b"[]") == CarrierNotice()


def test_a_delivered_event_carries_no_error_code() -> None:
    [event] = json.loads(recorded("status_delivered.json"))
    [report] = notice(json.dumps([{**event, "errorCode": 4720}]).encode()).reports
    assert report.error_code is None


def test_an_error_code_sent_as_digits_is_read_the_same() -> None:
    [event] = json.loads(recorded("status_failed_4775.json"))
    [report] = notice(json.dumps([{**event, "errorCode": "4775"}]).encode()).reports
    assert report.error_code == "4775"


def test_an_alphanumeric_sender_still_reports() -> None:
    [event] = json.loads(recorded("status_failed_4775.json"))
    event["message"]["from"] = "ACME"
    [report] = notice(json.dumps([event]).encode()).reports
    assert report.from_phone is None
    assert report.to_phone == CONTACT


def test_a_status_event_without_a_top_level_to_uses_the_only_recipient() -> None:
    [event] = json.loads(recorded("status_failed_4775.json"))
    del event["to"]
    [report] = notice(json.dumps([event]).encode()).reports
    assert report.to_phone == CONTACT


def test_a_time_without_an_offset_is_utc() -> None:
    [message] = notice(message_with(time="2026-11-22T10:00:00")).messages
    assert message.occurred_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b'"a string"',
        b"[1, 2]",
        b"[[]]",
        events_with(type=None),
        events_with(type=7),
        events_with(message=None),
        events_with(message="1795341600123xq8c4r6w2n7kz1a"),
        message_with(id=None),
        message_with(id=""),
        message_with(id=12345),
        message_with(**{"from": None}),
        message_with(text=["STOP"]),
        message_with(time="yesterday"),
        message_with(time="2026-11-22"),
        events_with(to=None, message={"id": "m1", "from": CONTACT, "time": "2026-11-22T10:00:00Z"}),
    ],
)
def test_malformed_callbacks_are_invalid_requests(body) -> None:
    with pytest.raises(InvalidRequest):
        notice(body)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps([{**json.loads(recorded("status_failed_4775.json"))[0], "errorCode": "opted-out"}]).encode(),
        json.dumps([{**json.loads(recorded("status_failed_4432.json"))[0], "to": None}]).encode(),
    ],
)
def test_malformed_status_events_are_invalid_requests(body) -> None:
    with pytest.raises(InvalidRequest):
        notice(body)


def test_one_malformed_event_refuses_the_whole_callback() -> None:
    # Nothing is half-applied: the domain gets nothing, Bandwidth gets a 4xx
    [good] = json.loads(recorded("inbound_stop.json"))
    bad = {**good, "message": {**good["message"], "id": ""}}
    with pytest.raises(InvalidRequest):
        notice(json.dumps([good, bad]).encode())


@pytest.mark.parametrize("field", ["from", "to"])
def test_numbers_that_are_not_phone_numbers_are_invalid_phones(field) -> None:
    body = message_with(**{"from": "12345"}) if field == "from" else events_with(to="not a number")
    with pytest.raises(InvalidPhone):
        notice(body)


def test_the_carrier_reads_json_only() -> None:
    carrier = BandwidthCarrier()
    kwargs = {"account_id": "acme", "default_region": "US", "received_at": RECEIVED_AT}
    with pytest.raises(UnsupportedMediaType):
        carrier.read(request(None, recorded("inbound_stop.json"), "application/x-www-form-urlencoded"), **kwargs)
    # Either URL takes either kind of event
    body = recorded("mixed_batch.json")
    assert carrier.read(request(None, body), **kwargs) == carrier.read_status(request(None, body), **kwargs)


def test_the_answer_is_an_empty_204() -> None:
    answer = BandwidthCarrier().answer("You have been unsubscribed")
    assert (answer.status, answer.body) == (204, "")
    assert BandwidthCarrier.replies_in_answer is False


# --- error codes ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "source"),
    [
        ("4775", Source.CARRIER),  # destination-rejected-due-to-user-opt-out
        ("4720", Source.BOUNCE),  # invalid-destination-address
        ("4721", Source.BOUNCE),  # destination-tn-deactivated
        ("4701", Source.BOUNCE),  # destination-service-unavailable
        ("4702", Source.BOUNCE),  # destination-subscriber-unavailable
        ("4770", None),  # destination-spam-detected: a verdict on our content, not the contact's opt-out
        ("4432", None),  # rejected-forbidden-country
        ("5620", None),  # destination-app-error
        ("9902", None),  # delivery-receipt-expired
        (None, None),
    ],
)
def test_error_codes_map_to_suppression_sources(code, source) -> None:
    assert bandwidth.error_source(code) is source
    assert BandwidthCarrier().error_source(code) is source


# --- credentials form ---------------------------------------------------------------------------------------------


def test_the_credentials_form_keeps_passwords_and_secrets_secret() -> None:
    form = BandwidthCredentials.model_validate(
        {
            "callback_username": "bw-callbacks",
            "callback_password": "s3cret:with-colon",
            "account_id": "9900000",
            "application_id": "93de2206-9669-4e07-948d-329f4b722ee2",
            "client_id": "a1b2c3d4-client",
            "client_secret": "client-secret-value",
        }
    )
    assert isinstance(form.callback_password, SecretStr)
    assert isinstance(form.client_secret, SecretStr)
    assert "s3cret" not in repr(form) and "client-secret-value" not in repr(form)
    assert [name for name, f in type(form).model_fields.items() if f.annotation == SecretStr | None] == [
        "callback_password",
        "client_secret",
    ]
    # Every field is optional: an update may send one alone
    assert BandwidthCredentials.model_validate({"callback_username": "bw"}).callback_password is None


@pytest.mark.parametrize(
    "fields",
    [
        {"callback_username": "bw:callbacks"},
        {"callback_username": ""},
        {"callback_password": "short"},
        {"account_id": "99-00"},
        {"application_id": "not-a-uuid"},
        {"client_id": "has space"},
        {"client_secret": "short"},
        {"api_password": "legacy-basic-auth"},
    ],
)
def test_the_credentials_form_refuses_malformed_values(fields) -> None:
    with pytest.raises(ValidationError):
        BandwidthCredentials.model_validate(fields)
