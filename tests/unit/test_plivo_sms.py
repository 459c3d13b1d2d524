"""PlivoSmsProvider against a loopback server that answers as Plivo's Message API does (no internet)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from chalicelib.adapters.carriers.plivo import PlivoCarrier
from chalicelib.adapters.carriers.plivo_sms import PlivoSmsProvider, result_of
from chalicelib.domain.models import OutboundSms
from tests.loopback_api import refusing_url
from tests.plivo_api_server import PlivoApiServer

TO = "+14155550100"
SENDER = "+14155550199"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def plivo_api() -> Iterator[PlivoApiServer]:
    with PlivoApiServer() as server:
        yield server


@pytest.fixture
def provider(plivo_api: PlivoApiServer) -> PlivoSmsProvider:
    return PlivoSmsProvider(plivo_api.auth_id, plivo_api.auth_token, base_url=plivo_api.base_url, timeout=5)


def text(to: str = TO, body: str = "Your appointment is at 10:00. Reply STOP to opt out.") -> OutboundSms:
    return OutboundSms(request_id="req-1", to=to, sender=SENDER, body=body)


def test_a_queued_message_is_sent_with_plivos_message_uuid(
    plivo_api: PlivoApiServer, provider: PlivoSmsProvider
) -> None:
    result = provider.send(text())

    assert result.status == "sent"
    assert result.provider_message_id is not None and UUID.fullmatch(result.provider_message_id)
    assert result.provider_message_id == plivo_api.queued[0]
    assert result.error_code is None


def test_the_request_is_a_json_post_with_basic_auth(plivo_api: PlivoApiServer, provider: PlivoSmsProvider) -> None:
    # Given a body with characters JSON must escape and that are not ASCII
    body = 'Café & "co": 50% off <today> ✓'

    provider.send(text(body=body))

    # Then Plivo received exactly its three fields, numbers as international digits, with the account's credentials
    [request] = plivo_api.requests
    assert request.method == "POST"
    assert request.path == f"/v1/Account/{plivo_api.auth_id}/Message/"
    assert request.headers["content-type"] == "application/json"
    assert request.basic_auth == (plivo_api.auth_id, plivo_api.auth_token)
    assert request.json == {"src": "14155550199", "dst": "14155550100", "text": body}


def test_the_status_url_is_sent_when_configured(plivo_api: PlivoApiServer) -> None:
    status_url = "https://sms.example.com/api/webhooks/plivo/acme/status"
    provider = PlivoSmsProvider(
        plivo_api.auth_id, plivo_api.auth_token, base_url=plivo_api.base_url, status_url=status_url
    )

    assert provider.send(text()).status == "sent"

    assert plivo_api.requests[0].json["url"] == status_url
    assert plivo_api.requests[0].json["method"] == "POST"


def test_the_carrier_builds_the_provider_from_the_accounts_credentials(plivo_api: PlivoApiServer) -> None:
    carrier = PlivoCarrier(api_url=plivo_api.base_url, timeout=5)
    status_url = "https://sms.example.com/api/webhooks/plivo/acme/status"
    provider = carrier.provider(
        {"auth_id": plivo_api.auth_id, "auth_token": plivo_api.auth_token, "status_url": status_url}
    )

    assert provider.send(text()).status == "sent"
    assert plivo_api.requests[0].json["url"] == status_url


def test_a_destination_plivo_finds_invalid_is_unreachable(
    plivo_api: PlivoApiServer, provider: PlivoSmsProvider
) -> None:
    # The error Plivo documents for its destination number validation
    plivo_api.answer("14155550100", 400, "14155550100 is not a valid phone number")

    result = provider.send(text())

    assert result.status == "unreachable"
    assert result.error_code == "http_400"
    assert result.detail == "14155550100 is not a valid phone number"
    assert plivo_api.queued == []


@pytest.mark.parametrize(("status", "error"), [(429, "too many requests"), (500, None), (503, "service unavailable")])
def test_throttling_and_server_errors_are_retried(
    plivo_api: PlivoApiServer, provider: PlivoSmsProvider, status: int, error: str | None
) -> None:
    plivo_api.answer("14155550100", status, error)

    result = provider.send(text())

    assert (result.status, result.error_code) == ("retry", f"http_{status}")


def test_another_client_error_fails_with_plivos_error(plivo_api: PlivoApiServer, provider: PlivoSmsProvider) -> None:
    plivo_api.answer("14155550100", 400, "src parameter is invalid for this destination")

    result = provider.send(text())

    assert (result.status, result.error_code) == ("failed", "http_400")
    assert result.detail == "src parameter is invalid for this destination"


def test_an_error_object_is_kept_as_text(plivo_api: PlivoApiServer, provider: PlivoSmsProvider) -> None:
    plivo_api.answer("14155550100", 400, {"dst": ["this field is required"]})

    result = provider.send(text())

    assert result.status == "failed"
    assert result.detail == '{"dst": ["this field is required"]}'


def test_wrong_credentials_fail(plivo_api: PlivoApiServer) -> None:
    provider = PlivoSmsProvider(plivo_api.auth_id, "not-the-token", base_url=plivo_api.base_url)

    result = provider.send(text())

    assert (result.status, result.error_code) == ("failed", "http_401")
    assert plivo_api.queued == []


def test_a_timeout_is_retried(plivo_api: PlivoApiServer) -> None:
    # Given Plivo answers only after longer than the provider waits
    plivo_api.answer("14155550100", 202, delay=30)
    provider = PlivoSmsProvider(plivo_api.auth_id, plivo_api.auth_token, base_url=plivo_api.base_url, timeout=0.2)

    result = provider.send(text())

    assert (result.status, result.error_code) == ("retry", "connection_error")


def test_a_refused_connection_is_retried() -> None:
    # Given a port that is bound but not listening, so connecting to it is refused (and nothing else can take it)
    with refusing_url() as url:
        provider = PlivoSmsProvider("MA" + "0" * 18, "token", base_url=url, timeout=2)

        result = provider.send(text())

    assert (result.status, result.error_code) == ("retry", "connection_error")
    assert result.detail is not None and "refused" in result.detail.lower()


def test_a_redirect_is_not_followed(plivo_api: PlivoApiServer, provider: PlivoSmsProvider) -> None:
    # Following it would re-send the credentials to the redirect's host, as a GET that sends nothing
    plivo_api.answer("14155550100", 302, headers={"Location": "http://127.0.0.1:9/elsewhere"})

    result = provider.send(text())

    assert (result.status, result.error_code) == ("failed", "http_302")
    assert len(plivo_api.requests) == 1


def test_a_recipient_with_plivos_list_separator_is_never_sent(
    plivo_api: PlivoApiServer, provider: PlivoSmsProvider
) -> None:
    # "<" separates recipients in `dst`: one text must reach one number
    result = provider.send(text(to="+14155550100<14155550101"))

    assert (result.status, result.error_code) == ("failed", "invalid_recipient")
    assert plivo_api.requests == []


def test_the_auth_token_is_not_in_the_providers_repr() -> None:
    provider = PlivoSmsProvider("MA" + "1" * 18, "s3cr3t-token")

    assert "s3cr3t-token" not in repr(provider)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (502, b"<html>Bad Gateway</html>", ("retry", "http_502")),
        (400, b"", ("failed", "http_400")),
        (400, b'{"api_id": "x", "error": "14155550100 is not a valid phone number"}', ("unreachable", "http_400")),
        (404, b'{"api_id": "x", "error": "14155550100 is not a valid phone number"}', ("failed", "http_404")),
        (301, b"", ("failed", "http_301")),
        (202, b"not json", ("sent", None)),
        (202, b'{"message_uuid": []}', ("sent", None)),
        (200, b'{"message_uuid": ["u-1", "u-2"]}', ("sent", None)),
    ],
)
def test_answers_are_mapped_by_status_and_body(status: int, body: bytes, expected: tuple[str, str | None]) -> None:
    result = result_of(status, body)

    assert (result.status, result.error_code) == expected


def test_the_first_message_uuid_is_the_provider_message_id() -> None:
    assert result_of(202, b'{"message_uuid": ["u-1"]}').provider_message_id == "u-1"
