"""BandwidthSmsProvider against a loopback server that answers as Bandwidth's token endpoint and Messaging API do."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.adapters.carriers.bandwidth import BandwidthCarrier
from chalicelib.adapters.carriers.bandwidth_sms import (
    TOKEN_MARGIN_SECONDS,
    AccessTokens,
    BandwidthSmsProvider,
    result_of,
)
from chalicelib.domain.errors import CarrierNotConfigured
from chalicelib.domain.models import OutboundSms
from tests.bandwidth_api_server import ERROR_DESCRIPTIONS, BandwidthApiServer
from tests.loopback_api import refusing_url

TO = "+14255550182"
SENDER = "+19195550101"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bandwidth() -> Iterator[BandwidthApiServer]:
    with BandwidthApiServer() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tokens(bandwidth: BandwidthApiServer, clock: FakeClock) -> AccessTokens:
    return AccessTokens(bandwidth.token_url, timeout=5, clock=clock)


def provider_for(bandwidth: BandwidthApiServer, tokens: AccessTokens, **changes: object) -> BandwidthSmsProvider:
    settings: dict = {
        "account_id": bandwidth.account_id,
        "application_id": bandwidth.application_id,
        "client_id": bandwidth.client_id,
        "client_secret": bandwidth.client_secret,
        "tokens": tokens,
        "api_url": bandwidth.api_url,
        "timeout": 5,
    }
    return BandwidthSmsProvider(**(settings | changes))


@pytest.fixture
def provider(bandwidth: BandwidthApiServer, tokens: AccessTokens) -> BandwidthSmsProvider:
    return provider_for(bandwidth, tokens)


def text(to: str = TO, body: str = "Your appointment is at 10:00. Reply STOP to opt out.") -> OutboundSms:
    return OutboundSms(request_id="req-1", to=to, sender=SENDER, body=body)


# --- success --------------------------------------------------------------------------------------------------------


def test_an_accepted_message_is_sent_with_bandwidths_message_id(bandwidth, provider) -> None:
    result = provider.send(text())

    assert result.status == "sent"
    assert result.provider_message_id == bandwidth.created[0]["id"]
    assert result.error_code is None


def test_the_request_is_a_json_post_with_a_bearer_token(bandwidth, provider) -> None:
    # Given a body that is not ASCII
    body = "Café & co: 50% off = today ✓"

    provider.send(text(body=body))

    # Then Bandwidth received exactly the fields it needs, as JSON, with a token it issued
    [request] = bandwidth.message_requests
    assert request.method == "POST"
    assert request.path == f"/api/v2/users/{bandwidth.account_id}/messages"
    assert request.headers["content-type"].startswith("application/json")
    assert request.bearer in bandwidth.tokens
    assert request.json == {
        "applicationId": bandwidth.application_id,
        "to": [TO],
        "from": SENDER,
        "text": body,
        "tag": "req-1",
    }
    assert bandwidth.created[0]["text"] == body


def test_the_token_is_asked_for_with_the_client_credentials(bandwidth, provider) -> None:
    provider.send(text())

    [request] = bandwidth.token_requests
    assert request.basic_auth == (bandwidth.client_id, bandwidth.client_secret)
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.body == b"grant_type=client_credentials"


def test_one_token_serves_every_provider_of_the_carrier_until_it_is_about_to_expire(bandwidth, tokens, clock) -> None:
    # Given two providers (one per send, as the send path builds them) sharing the carrier's tokens
    first, second = provider_for(bandwidth, tokens), provider_for(bandwidth, tokens)
    assert first.send(text()).status == "sent"
    assert second.send(text()).status == "sent"
    assert len(bandwidth.token_requests) == 1

    # When the token is within its last minute
    clock.now += bandwidth.token_lifetime - TOKEN_MARGIN_SECONDS

    # Then a new one is fetched before sending
    assert first.send(text()).status == "sent"
    assert len(bandwidth.token_requests) == 2
    assert len({r.bearer for r in bandwidth.message_requests}) == 2


def test_concurrent_sends_wait_for_one_token(bandwidth, tokens) -> None:
    providers = [provider_for(bandwidth, tokens) for _ in range(8)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda provider: provider.send(text()), providers))

    assert [r.status for r in results] == ["sent"] * 8
    assert len(bandwidth.token_requests) == 1


def test_another_client_secret_gets_its_own_token(bandwidth, tokens) -> None:
    provider_for(bandwidth, tokens).send(text())
    rotated = provider_for(bandwidth, tokens, client_secret="another-secret-value")

    result = rotated.send(text())

    assert result.status == "failed"
    assert result.error_code == "oauth_invalid_client"
    assert len(bandwidth.token_requests) == 2


def test_a_revoked_token_is_replaced_and_the_text_sent_once(bandwidth, provider) -> None:
    # Given a token kept from an earlier send, then revoked at Bandwidth
    assert provider.send(text()).status == "sent"
    bandwidth.revoke_tokens()

    result = provider.send(text())

    # Then the 401 fetched a new token and the text went out once with it
    assert result.status == "sent"
    assert len(bandwidth.token_requests) == 2
    assert len(bandwidth.created) == 2
    assert len(bandwidth.message_requests) == 3


def test_a_401_with_a_fresh_token_is_not_retried(bandwidth, provider) -> None:
    bandwidth.answer(TO, 401, "unauthorized")

    result = provider.send(text())

    assert result.status == "failed"
    assert (result.error_code, result.detail) == ("unauthorized", "Authentication Failed")
    assert len(bandwidth.message_requests) == 1


def test_a_kept_token_refused_twice_fails_after_one_more_try(bandwidth, provider) -> None:
    assert provider.send(text()).status == "sent"
    bandwidth.answer(TO, 401, "unauthorized")

    result = provider.send(text())

    assert result.status == "failed"
    assert len(bandwidth.message_requests) == 3


# --- the token endpoint -----------------------------------------------------------------------------------------


def test_a_wrong_client_secret_fails_without_sending(bandwidth, tokens) -> None:
    result = provider_for(bandwidth, tokens, client_secret="not-the-secret").send(text())

    assert result.status == "failed"
    assert result.error_code == "oauth_invalid_client"
    assert result.detail == "Client authentication failed"
    assert bandwidth.message_requests == []


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_token_endpoint_that_is_throttling_or_down_is_retried(bandwidth, provider, status) -> None:
    bandwidth.token_failure = (status, "temporarily_unavailable")

    result = provider.send(text())

    assert result.status == "retry"
    assert result.error_code == "oauth_temporarily_unavailable"
    assert bandwidth.message_requests == []


def test_a_token_endpoint_that_cannot_be_reached_is_retried() -> None:
    with refusing_url() as url:
        tokens = AccessTokens(f"{url}/api/v1/oauth2/token", timeout=2)
        provider = BandwidthSmsProvider(
            account_id="9900000",
            application_id="93de2206-9669-4e07-948d-329f4b722ee2",
            client_id="cid",
            client_secret="secret-value",
            tokens=tokens,
            api_url="http://127.0.0.1:9/api/v2",
        )

        result = provider.send(text())

    assert (result.status, result.error_code) == ("retry", "connection_error")


def test_a_token_answer_without_a_token_is_retried(bandwidth, provider, monkeypatch) -> None:
    from tests.loopback_api import Reply

    monkeypatch.setattr(bandwidth, "_token", lambda request: Reply(200, {"token_type": "Bearer"}))

    result = provider.send(text())

    assert (result.status, result.error_code) == ("retry", "token_unreadable")


def test_a_token_without_a_lifetime_is_used_once(bandwidth, provider, monkeypatch) -> None:
    from tests.loopback_api import Reply

    def token(request):
        bandwidth.tokens.add("short-lived")
        return Reply(200, {"access_token": "short-lived", "token_type": "Bearer"})

    monkeypatch.setattr(bandwidth, "_token", token)

    assert provider.send(text()).status == "sent"
    assert provider.send(text()).status == "sent"
    assert len(bandwidth.token_requests) == 2


# --- errors -----------------------------------------------------------------------------------------------------


def test_a_request_validation_error_fails_with_its_field_errors(bandwidth, provider) -> None:
    field_errors = [{"fieldName": "to", "description": "'+1425' must be replaced with a valid E164 formatted number"}]
    bandwidth.answer(TO, 400, "request-validation", field_errors=field_errors)

    result = provider.send(text())

    assert result.status == "failed"
    assert result.error_code == "request-validation"
    assert result.detail == (
        "Your request could not be accepted; to: '+1425' must be replaced with a valid E164 formatted number"
    )


def test_another_bandwidth_account_is_forbidden(bandwidth, tokens) -> None:
    result = provider_for(bandwidth, tokens, account_id="9900001").send(text())

    assert (result.status, result.error_code, result.detail) == ("failed", "forbidden", "Access Denied")


def test_a_wrong_path_fails_with_the_gateways_message(bandwidth, tokens) -> None:
    result = provider_for(bandwidth, tokens, api_url=f"{bandwidth.base_url}/api/v3").send(text())

    assert (result.status, result.error_code, result.detail) == ("failed", "http_404", "Not Found")


def test_throttling_429_is_retried(bandwidth, provider) -> None:
    bandwidth.answer(TO, 429, "max-message-queue-size-exceeded")

    result = provider.send(text())

    assert result.status == "retry"
    assert result.error_code == "max-message-queue-size-exceeded"
    assert result.detail == ERROR_DESCRIPTIONS["max-message-queue-size-exceeded"]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(bandwidth, provider, status) -> None:
    bandwidth.answer(TO, status, "internal-server-error")

    assert provider.send(text()).status == "retry"


def test_a_proxys_html_error_page_is_retried_by_its_status(bandwidth, provider) -> None:
    bandwidth.answer(TO, 502, raw=b"<html><body>Bad Gateway</body></html>")

    result = provider.send(text())

    assert (result.status, result.error_code, result.detail) == ("retry", "http_502", "HTTP 502")


def test_an_accepted_message_with_an_unreadable_body_is_still_sent(bandwidth, provider) -> None:
    bandwidth.answer(TO, 202, raw=b"accepted")

    result = provider.send(text())

    assert result.status == "sent"
    assert result.provider_message_id is None


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed(bandwidth, provider, status) -> None:
    bandwidth.answer(TO, status, headers={"Location": f"{bandwidth.base_url}/elsewhere"})

    result = provider.send(text())

    assert result.status == "failed"
    assert result.error_code == f"http_{status}"
    assert [r.path for r in bandwidth.message_requests] == [f"/api/v2/users/{bandwidth.account_id}/messages"]


def test_a_slow_answer_times_out_and_is_retried(bandwidth, tokens) -> None:
    bandwidth.answer(TO, 202, delay=5.0)
    provider = provider_for(bandwidth, tokens, timeout=0.3)

    result = provider.send(text())

    assert (result.status, result.error_code) == ("retry", "connection_error")


def test_a_refused_connection_is_retried(bandwidth, tokens) -> None:
    with refusing_url() as url:
        provider = provider_for(bandwidth, tokens, api_url=f"{url}/api/v2")

        result = provider.send(text())

    assert (result.status, result.error_code) == ("retry", "connection_error")


def test_the_client_secret_stays_out_of_the_providers_repr(bandwidth, provider) -> None:
    assert bandwidth.client_secret not in repr(provider)
    assert bandwidth.client_id in repr(provider)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (202, b'{"id": "1589228074636lm4k2je7j7jklbn2"}', ("sent", None)),
        (400, b'{"type": "request-validation", "description": "bad"}', ("failed", "request-validation")),
        (415, b'{"type": "unsupported-content-type", "description": "json"}', ("failed", "unsupported-content-type")),
        (429, b"", ("retry", "http_429")),
        (500, b"[]", ("retry", "http_500")),
        (403, b"not json", ("failed", "http_403")),
    ],
)
def test_result_of_maps_status_and_body(status, body, expected) -> None:
    result = result_of(status, body)
    assert (result.status, result.error_code) == expected


# --- the carrier builds providers ---------------------------------------------------------------------------------


def test_the_carrier_needs_the_account_application_and_api_credential_to_send() -> None:
    carrier = BandwidthCarrier(api_url="http://127.0.0.1:9/api/v2", token_url="http://127.0.0.1:9/token")
    complete = {
        "account_id": "9900000",
        "application_id": "93de2206-9669-4e07-948d-329f4b722ee2",
        "client_id": "cid",
        "client_secret": "secret-value",
        "callback_username": "bw",
    }
    for missing in ("account_id", "application_id", "client_id", "client_secret"):
        with pytest.raises(CarrierNotConfigured, match=missing):
            carrier.provider({k: v for k, v in complete.items() if k != missing})
    assert carrier.provider(complete).name == "bandwidth"


def test_the_carriers_providers_share_its_tokens(bandwidth) -> None:
    carrier = BandwidthCarrier(api_url=bandwidth.api_url, token_url=bandwidth.token_url, timeout=5)
    credentials = {
        "account_id": bandwidth.account_id,
        "application_id": bandwidth.application_id,
        "client_id": bandwidth.client_id,
        "client_secret": bandwidth.client_secret,
    }

    assert carrier.provider(credentials).send(text()).status == "sent"
    assert carrier.provider(credentials).send(text()).status == "sent"

    assert len(bandwidth.token_requests) == 1
