"""TelnyxSmsProvider against a loopback server that answers as Telnyx's Messages API does (no internet)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from chalicelib.adapters.carriers.telnyx_sms import TelnyxSmsProvider, result_of
from chalicelib.domain.models import OutboundSms
from tests.loopback_api import refusing_url
from tests.telnyx_api_server import ERROR_TITLES, TelnyxApiServer, error_body

TO = "+14155550100"
SENDER = "+14155550199"
PROFILE = "40017f0f-92d8-4318-9f8a-e0e2a92c3f60"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def telnyx_api() -> Iterator[TelnyxApiServer]:
    with TelnyxApiServer() as server:
        yield server


@pytest.fixture
def provider(telnyx_api: TelnyxApiServer) -> TelnyxSmsProvider:
    return TelnyxSmsProvider(telnyx_api.api_key, base_url=telnyx_api.base_url, timeout=5)


def text(to: str = TO, body: str = "Your appointment is at 10:00. Reply STOP to opt out.") -> OutboundSms:
    return OutboundSms(request_id="req-1", to=to, sender=SENDER, body=body)


def test_an_accepted_message_is_sent_with_telnyxs_message_id(
    telnyx_api: TelnyxApiServer, provider: TelnyxSmsProvider
) -> None:
    result = provider.send(text())

    assert result.status == "sent"
    assert result.provider_message_id is not None and UUID.fullmatch(result.provider_message_id)
    assert result.provider_message_id == telnyx_api.created[0]["id"]
    assert result.error_code is None


def test_the_request_is_a_json_post_with_the_api_key_as_bearer(
    telnyx_api: TelnyxApiServer, provider: TelnyxSmsProvider
) -> None:
    # Given a body with characters that JSON must escape and that are not ASCII
    body = 'Café "quoted" & co: 50% off\ntoday ✓'

    provider.send(text(body=body))

    # Then Telnyx received exactly from, to and text as JSON, with the account's API key
    [request] = telnyx_api.requests
    assert (request.method, request.path) == ("POST", "/v2/messages")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert request.bearer == telnyx_api.api_key
    assert request.json == {"from": SENDER, "to": TO, "text": body}
    assert telnyx_api.created[0]["text"] == body


def test_the_messaging_profile_and_webhook_url_are_sent_when_configured(telnyx_api: TelnyxApiServer) -> None:
    webhook = "https://sms.example.com/prod/webhooks/telnyx/acme/status"
    provider = TelnyxSmsProvider(
        telnyx_api.api_key, messaging_profile_id=PROFILE, webhook_url=webhook, base_url=telnyx_api.base_url
    )

    assert provider.send(text()).status == "sent"

    assert telnyx_api.requests[0].json == {
        "from": SENDER,
        "to": TO,
        "text": text().body,
        "messaging_profile_id": PROFILE,
        "webhook_url": webhook,
    }


@pytest.mark.parametrize("status", [400, 403, 422])
def test_a_telnyx_stop_block_40300_is_opted_out(
    telnyx_api: TelnyxApiServer, provider: TelnyxSmsProvider, status: int
) -> None:
    # Third-party reports show 40300 with 400, 403 and 422: the code decides, whatever the status
    telnyx_api.answer(TO, status, "40300")

    result = provider.send(text())

    assert result.status == "opted_out"
    assert result.error_code == "40300"
    assert result.detail is not None and result.detail.startswith("Blocked due to STOP message: Messages cannot")


@pytest.mark.parametrize("code", ["40001", "40008", "40012", "40310"])
def test_an_unreachable_destination_is_unreachable(
    telnyx_api: TelnyxApiServer, provider: TelnyxSmsProvider, code: str
) -> None:
    telnyx_api.answer(TO, 400, code)

    result = provider.send(text())

    assert (result.status, result.error_code, result.detail) == ("unreachable", code, ERROR_TITLES[code])


@pytest.mark.parametrize(("status", "code"), [(429, "10011"), (500, "10007"), (503, None), (502, None), (400, "40318")])
def test_throttling_server_errors_and_a_full_queue_are_retried(
    telnyx_api: TelnyxApiServer, provider: TelnyxSmsProvider, status: int, code: str | None
) -> None:
    telnyx_api.answer(TO, status, code)

    result = provider.send(text())

    assert result.status == "retry"
    assert result.error_code == (code or f"http_{status}")


@pytest.mark.parametrize("code", ["40305", "40006", "10004"])
def test_another_client_error_fails_with_telnyxs_code_and_title(
    telnyx_api: TelnyxApiServer, provider: TelnyxSmsProvider, code: str
) -> None:
    telnyx_api.answer(TO, 400, code, detail="what Telnyx says")

    result = provider.send(text())

    assert (result.status, result.error_code) == ("failed", code)
    assert result.detail == f"{ERROR_TITLES[code]}: what Telnyx says"


def test_a_missing_text_is_telnyxs_missing_parameter(telnyx_api: TelnyxApiServer) -> None:
    # The model never lets an empty body through; the fake still answers as Telnyx would
    provider = TelnyxSmsProvider(telnyx_api.api_key, base_url=telnyx_api.base_url)
    message = text().model_copy(update={"body": ""})

    result = provider.send(message)

    assert (result.status, result.error_code) == ("failed", "10004")
    assert telnyx_api.created == []


def test_a_wrong_api_key_fails(telnyx_api: TelnyxApiServer) -> None:
    provider = TelnyxSmsProvider("KEY-not-the-key", base_url=telnyx_api.base_url)

    result = provider.send(text())

    assert (result.status, result.error_code) == ("failed", "10009")
    assert result.detail is not None and result.detail.startswith("Authentication failed")
    assert telnyx_api.created == []


def test_a_timeout_is_retried(telnyx_api: TelnyxApiServer) -> None:
    # Given Telnyx answers only after longer than the provider waits
    telnyx_api.answer(TO, 200, delay=30)
    provider = TelnyxSmsProvider(telnyx_api.api_key, base_url=telnyx_api.base_url, timeout=0.2)

    result = provider.send(text())

    assert (result.status, result.error_code) == ("retry", "connection_error")


def test_a_refused_connection_is_retried() -> None:
    # Given a port that is bound but not listening, so connecting to it is refused (and nothing else can take it)
    with refusing_url() as url:
        provider = TelnyxSmsProvider("KEYtest", base_url=url, timeout=2)

        result = provider.send(text())

    assert (result.status, result.error_code) == ("retry", "connection_error")
    assert result.detail is not None and "refused" in result.detail.lower()


def test_a_redirect_is_not_followed(telnyx_api: TelnyxApiServer, provider: TelnyxSmsProvider) -> None:
    # Following it would re-send the API key to the redirect's host, as a GET that sends nothing
    telnyx_api.answer(TO, 302, headers={"Location": "http://127.0.0.1:9/elsewhere"})

    result = provider.send(text())

    assert (result.status, result.error_code) == ("failed", "http_302")
    assert len(telnyx_api.requests) == 1


def test_the_api_key_is_not_in_the_providers_repr() -> None:
    provider = TelnyxSmsProvider("KEYs3cr3t_key", messaging_profile_id=PROFILE)

    assert "s3cr3t" not in repr(provider)
    assert provider.url == "https://api.telnyx.com/v2/messages"


def test_an_empty_api_key_is_refused() -> None:
    with pytest.raises(ValueError):
        TelnyxSmsProvider("")


def test_the_opt_out_wins_over_other_errors_in_one_answer() -> None:
    body = {"errors": [*error_body("40004", "Rejected")["errors"], *error_body("40300", "Blocked")["errors"]]}

    result = result_of(400, json.dumps(body).encode())

    assert (result.status, result.error_code, result.detail) == ("opted_out", "40300", "Blocked")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (502, b"<html>Bad Gateway</html>", ("retry", "http_502")),
        (400, b"", ("failed", "http_400")),
        (401, b'{"errors": "nope"}', ("failed", "http_401")),
        (301, b"", ("failed", "http_301")),
        (200, b"not json", ("sent", None)),
        (200, b'{"data": {"id": ""}}', ("sent", None)),
    ],
)
def test_answers_without_a_telnyx_body_are_mapped_by_status(
    status: int, body: bytes, expected: tuple[str, str | None]
) -> None:
    result = result_of(status, body)

    assert (result.status, result.error_code) == expected
