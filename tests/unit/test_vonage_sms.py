"""VonageSmsProvider against a loopback server that answers as Vonage's SMS API does (no internet)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from chalicelib.adapters.carriers.vonage import VonageCarrier
from chalicelib.adapters.carriers.vonage_sms import VonageSmsProvider, is_gsm_7, result_of
from chalicelib.domain.errors import CarrierNotConfigured
from chalicelib.domain.models import OutboundSms
from tests.loopback_api import refusing_url
from tests.vonage_api_server import ERROR_TEXTS, VonageApiServer

TO = "+14155550100"
TO_DIGITS = "14155550100"
SENDER = "+14155550199"


@pytest.fixture
def vonage_api() -> Iterator[VonageApiServer]:
    with VonageApiServer() as server:
        yield server


@pytest.fixture
def provider(vonage_api: VonageApiServer) -> VonageSmsProvider:
    return VonageSmsProvider(vonage_api.api_key, vonage_api.api_secret, base_url=vonage_api.base_url, timeout=5)


def text(to: str = TO, body: str = "Your appointment is at 10:00. Reply STOP to opt out.") -> OutboundSms:
    return OutboundSms(request_id="req-1", to=to, sender=SENDER, body=body)


def test_an_accepted_text_is_sent_with_vonages_message_id(
    vonage_api: VonageApiServer, provider: VonageSmsProvider
) -> None:
    result = provider.send(text())

    assert result.status == "sent"
    assert result.provider_message_id is not None
    assert uuid.UUID(result.provider_message_id)
    assert result.provider_message_id == vonage_api.accepted[0]["message-id"]
    assert (result.error_code, result.detail) == (None, None)


def test_the_request_is_a_form_post_with_the_key_and_secret_and_numbers_without_plus(
    vonage_api: VonageApiServer, provider: VonageSmsProvider
) -> None:
    provider.send(text(body="Café & co: 50% off = today"))

    [request] = vonage_api.requests
    assert (request.method, request.path) == ("POST", "/sms/json")
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    # Then every character of the body is in GSM 03.38, so no type is needed
    assert request.fields == {
        "api_key": vonage_api.api_key,
        "api_secret": vonage_api.api_secret,
        "from": SENDER.removeprefix("+"),
        "to": TO_DIGITS,
        "text": "Café & co: 50% off = today",
    }


def test_a_text_outside_gsm_7_is_sent_as_unicode(vonage_api: VonageApiServer, provider: VonageSmsProvider) -> None:
    body = "ARRÊT reçu ✓ : vous ne recevrez plus de messages."

    assert provider.send(text(body=body)).status == "sent"

    assert vonage_api.requests[0].fields["type"] == "unicode"
    assert vonage_api.accepted[0]["text"] == body


def test_a_long_text_sent_in_parts_is_sent_with_the_first_parts_id(
    vonage_api: VonageApiServer, provider: VonageSmsProvider
) -> None:
    result = provider.send(text(body="Reminder: " + "x" * 300))

    assert len(vonage_api.accepted) == 3
    assert (result.status, result.provider_message_id) == ("sent", vonage_api.accepted[0]["message-id"])


def test_a_text_partly_refused_is_sent_not_retried(vonage_api: VonageApiServer, provider: VonageSmsProvider) -> None:
    # Given Vonage took the first part and throttled the second: sending again would repeat the first
    vonage_api.answer(TO_DIGITS, parts=("0", "1"))

    result = provider.send(text(body="y" * 200))

    assert result.status == "sent"
    assert result.provider_message_id == vonage_api.accepted[0]["message-id"]
    assert result.detail == "1 of 2 parts not sent: Throttled"


@pytest.mark.parametrize("status", ["1", "5", "10"])
def test_throttled_and_internal_errors_are_retried(
    vonage_api: VonageApiServer, provider: VonageSmsProvider, status: str
) -> None:
    vonage_api.answer(TO_DIGITS, status)

    result = provider.send(text())

    assert (result.status, result.error_code, result.detail) == ("retry", status, ERROR_TEXTS[status])


@pytest.mark.parametrize("status", ["7", "33"])
def test_a_barred_or_deactivated_number_is_unreachable(
    vonage_api: VonageApiServer, provider: VonageSmsProvider, status: str
) -> None:
    vonage_api.answer(TO_DIGITS, status)

    result = provider.send(text())

    assert (result.status, result.error_code, result.detail) == ("unreachable", status, ERROR_TEXTS[status])


@pytest.mark.parametrize("status", ["3", "6", "9", "12", "15", "29"])
def test_other_refusals_fail_with_vonages_status_and_text(
    vonage_api: VonageApiServer, provider: VonageSmsProvider, status: str
) -> None:
    vonage_api.answer(TO_DIGITS, status)

    result = provider.send(text())

    assert (result.status, result.error_code, result.detail) == ("failed", status, ERROR_TEXTS[status])


def test_wrong_credentials_fail_with_status_4(vonage_api: VonageApiServer) -> None:
    provider = VonageSmsProvider(vonage_api.api_key, "not-the-secret", base_url=vonage_api.base_url)

    result = provider.send(text())

    assert (result.status, result.error_code, result.detail) == ("failed", "4", "Bad Credentials")
    assert vonage_api.accepted == []


@pytest.mark.parametrize("http_status", [429, 500, 502, 503])
def test_throttling_and_server_errors_over_http_are_retried(
    vonage_api: VonageApiServer, provider: VonageSmsProvider, http_status: int
) -> None:
    vonage_api.answer(TO_DIGITS, http_status=http_status)

    result = provider.send(text())

    assert (result.status, result.error_code) == ("retry", f"http_{http_status}")


def test_a_timeout_is_retried(vonage_api: VonageApiServer) -> None:
    # Given Vonage answers only after longer than the provider waits
    vonage_api.answer(TO_DIGITS, delay=30)
    provider = VonageSmsProvider(vonage_api.api_key, vonage_api.api_secret, base_url=vonage_api.base_url, timeout=0.2)

    result = provider.send(text())

    assert (result.status, result.error_code) == ("retry", "connection_error")


def test_a_refused_connection_is_retried() -> None:
    # Given a port that is bound but not listening, so connecting to it is refused
    with refusing_url() as url:
        provider = VonageSmsProvider("abcd1234", "secret-secret", base_url=url, timeout=2)

        result = provider.send(text())

    assert (result.status, result.error_code) == ("retry", "connection_error")
    assert result.detail is not None and "refused" in result.detail.lower()


def test_a_redirect_is_not_followed(vonage_api: VonageApiServer, provider: VonageSmsProvider) -> None:
    vonage_api.answer(TO_DIGITS, http_status=302, headers={"Location": "http://127.0.0.1:9/elsewhere"})

    result = provider.send(text())

    assert (result.status, result.error_code) == ("failed", "http_302")
    assert len(vonage_api.requests) == 1


def test_the_delivery_receipt_callback_is_sent_when_configured(vonage_api: VonageApiServer) -> None:
    callback = "https://sms.example.com/prod/webhooks/vonage/acme/status"
    provider = VonageSmsProvider(
        vonage_api.api_key, vonage_api.api_secret, base_url=vonage_api.base_url, callback=callback
    )

    assert provider.send(text()).status == "sent"

    assert vonage_api.requests[0].fields["callback"] == callback


def test_the_api_secret_is_not_in_the_providers_repr() -> None:
    assert "s3cr3t-secret" not in repr(VonageSmsProvider("abcd1234", "s3cr3t-secret"))


def test_the_carrier_builds_a_provider_from_the_accounts_credentials(vonage_api: VonageApiServer) -> None:
    carrier = VonageCarrier(api_url=vonage_api.base_url, timeout=5)

    sms = carrier.provider({"api_key": vonage_api.api_key, "api_secret": vonage_api.api_secret})

    assert sms.send(text()).status == "sent"


@pytest.mark.parametrize("credentials", [{}, {"api_key": "abcd1234"}, {"api_secret": "secret-secret"}])
def test_the_carrier_refuses_to_build_a_provider_without_key_and_secret(credentials: dict[str, str]) -> None:
    with pytest.raises(CarrierNotConfigured):
        VonageCarrier().provider(credentials)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"message-count":"1","messages":[{"status":0,"message-id":"m-1"}]}', ("sent", None)),
        (200, b'{"message-count":"1","messages":[]}', ("failed", "unreadable_answer")),
        (200, b"<html>ok</html>", ("failed", "unreadable_answer")),
        (200, b'{"messages":[{"error-text":"no status"}]}', ("failed", "unknown")),
        (
            401,
            b'{"type":"https://developer.nexmo.com/api-errors#unauthorized","title":"Unauthorized"}',
            ("failed", "http_401"),
        ),
        (502, b"<html>Bad Gateway</html>", ("retry", "http_502")),
    ],
)
def test_answers_in_other_shapes_are_mapped_safely(status: int, body: bytes, expected: tuple[str, str | None]) -> None:
    result = result_of(status, body)

    assert (result.status, result.error_code) == expected


@pytest.mark.parametrize(
    ("body", "gsm"),
    [("Reply STOP to opt out", True), ("€5 {off} [today] ~ ^ | \\", True), ("ARRÊT", False), ("hi 🙂", False)],
)
def test_gsm_7_detection(body: str, gsm: bool) -> None:
    assert is_gsm_7(body) is gsm
