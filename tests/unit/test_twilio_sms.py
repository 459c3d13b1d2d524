"""TwilioSmsProvider against a loopback server that answers as Twilio's Messages API does (no internet)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from chalicelib.adapters.carriers.twilio_sms import TwilioSmsProvider, result_of
from chalicelib.domain.models import OutboundSms
from tests.loopback_api import refusing_url
from tests.twilio_api_server import ERROR_MESSAGES, TwilioApiServer

TO = "+14155550100"
SENDER = "+14155550199"


@pytest.fixture
def twilio_api() -> Iterator[TwilioApiServer]:
    with TwilioApiServer() as server:
        yield server


@pytest.fixture
def provider(twilio_api: TwilioApiServer) -> TwilioSmsProvider:
    return TwilioSmsProvider(twilio_api.account_sid, twilio_api.auth_token, base_url=twilio_api.base_url, timeout=5)


def text(to: str = TO, body: str = "Your appointment is at 10:00. Reply STOP to opt out.") -> OutboundSms:
    return OutboundSms(request_id="req-1", to=to, sender=SENDER, body=body)


def test_a_created_message_is_sent_with_twilios_sid(twilio_api: TwilioApiServer, provider: TwilioSmsProvider) -> None:
    result = provider.send(text())

    assert result.status == "sent"
    assert result.provider_message_id is not None
    assert re.fullmatch(r"SM[0-9a-f]{32}", result.provider_message_id)
    assert result.provider_message_id == twilio_api.created[0]["sid"]
    assert result.error_code is None


def test_the_request_is_a_form_encoded_post_with_basic_auth(
    twilio_api: TwilioApiServer, provider: TwilioSmsProvider
) -> None:
    # Given a body with characters that need percent-encoding and are not ASCII
    body = "Café & co: 50% off = today ✓"

    provider.send(text(body=body))

    # Then Twilio received exactly the fields it needs, form-encoded, with the account's credentials
    [request] = twilio_api.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{twilio_api.account_sid}/Messages.json"
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert request.basic_auth == (twilio_api.account_sid, twilio_api.auth_token)
    assert request.fields == {"To": TO, "From": SENDER, "Body": body}
    assert twilio_api.created[0]["body"] == body


def test_the_status_callback_is_sent_when_configured(twilio_api: TwilioApiServer) -> None:
    callback = "https://sms.example.com/prod/webhooks/twilio/acme/status"
    provider = TwilioSmsProvider(
        twilio_api.account_sid, twilio_api.auth_token, base_url=twilio_api.base_url, status_callback=callback
    )

    assert provider.send(text()).status == "sent"

    assert twilio_api.requests[0].fields["StatusCallback"] == callback


def test_a_twilio_opt_out_21610_is_opted_out(twilio_api: TwilioApiServer, provider: TwilioSmsProvider) -> None:
    twilio_api.answer(TO, 400, 21610)

    result = provider.send(text())

    assert result.status == "opted_out"
    assert result.error_code == "21610"
    assert result.detail == "Attempt to send to unsubscribed recipient"


@pytest.mark.parametrize("code", [30003, 30005, 30006, 21614, 21211])
def test_an_unreachable_destination_is_unreachable(
    twilio_api: TwilioApiServer, provider: TwilioSmsProvider, code: int
) -> None:
    twilio_api.answer(TO, 400, code)

    result = provider.send(text())

    assert result.status == "unreachable"
    assert result.error_code == str(code)
    assert result.detail == ERROR_MESSAGES[code]


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (500, 20500), (503, 20503), (503, None)])
def test_throttling_and_server_errors_are_retried(
    twilio_api: TwilioApiServer, provider: TwilioSmsProvider, status: int, code: int | None
) -> None:
    twilio_api.answer(TO, status, code)

    result = provider.send(text())

    assert result.status == "retry"
    assert result.error_code == (str(code) if code else f"http_{status}")


def test_another_client_error_fails_with_twilios_code_and_message(
    twilio_api: TwilioApiServer, provider: TwilioSmsProvider
) -> None:
    twilio_api.answer(TO, 400, 21408)

    result = provider.send(text())

    assert result.status == "failed"
    assert result.error_code == "21408"
    assert result.detail == ERROR_MESSAGES[21408]


def test_wrong_credentials_fail(twilio_api: TwilioApiServer) -> None:
    provider = TwilioSmsProvider(twilio_api.account_sid, "not-the-token", base_url=twilio_api.base_url)

    result = provider.send(text())

    assert result.status == "failed"
    assert result.error_code == "20003"
    assert result.detail == "Authenticate"
    assert twilio_api.created == []


def test_a_timeout_is_retried(twilio_api: TwilioApiServer) -> None:
    # Given Twilio answers only after longer than the provider waits
    twilio_api.answer(TO, 201, delay=30)
    provider = TwilioSmsProvider(
        twilio_api.account_sid, twilio_api.auth_token, base_url=twilio_api.base_url, timeout=0.2
    )

    result = provider.send(text())

    assert result.status == "retry"
    assert result.error_code == "connection_error"


def test_a_refused_connection_is_retried() -> None:
    # Given a port that is bound but not listening, so connecting to it is refused (and nothing else can take it)
    with refusing_url() as url:
        provider = TwilioSmsProvider("AC" + "0" * 32, "token", base_url=url, timeout=2)

        result = provider.send(text())

    assert result.status == "retry"
    assert result.error_code == "connection_error"
    assert result.detail is not None and "refused" in result.detail.lower()


def test_a_redirect_is_not_followed(twilio_api: TwilioApiServer, provider: TwilioSmsProvider) -> None:
    # Following it would re-send the credentials to the redirect's host, as a GET that sends nothing
    twilio_api.answer(TO, 302, headers={"Location": "http://127.0.0.1:9/elsewhere"})

    result = provider.send(text())

    assert (result.status, result.error_code) == ("failed", "http_302")
    assert len(twilio_api.requests) == 1


def test_the_auth_token_is_not_in_the_providers_repr() -> None:
    provider = TwilioSmsProvider("AC" + "1" * 32, "s3cr3t-token")

    assert "s3cr3t-token" not in repr(provider)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (502, b"<html>Bad Gateway</html>", ("retry", "http_502")),
        (400, b"", ("failed", "http_400")),
        (301, b"", ("failed", "http_301")),
        (201, b"not json", ("sent", None)),
    ],
)
def test_answers_without_a_twilio_body_are_mapped_by_status(
    status: int, body: bytes, expected: tuple[str, str | None]
) -> None:
    result = result_of(status, body)

    assert (result.status, result.error_code) == expected
