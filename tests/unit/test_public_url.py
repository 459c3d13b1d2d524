"""The public URL a carrier called (what it signed), rebuilt from what API Gateway or `chalice local` tell us."""

from __future__ import annotations

import json
from pathlib import Path

from chalicelib.adapters.carriers import twilio
from chalicelib.api.public_url import public_url

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "shared/data/carrier-signature-vectors.json").read_text())
INBOUND = "/webhooks/{carrier}/{account_id}"
STATUS = "/webhooks/{carrier}/{account_id}/status"
API_GATEWAY_HEADERS = {
    "host": "abc123.execute-api.us-east-1.amazonaws.com",
    "x-forwarded-for": "54.172.60.1",
    "x-forwarded-port": "443",
    "x-forwarded-proto": "https",
}


def url(request_path: str, *, base: str | None = None, headers=None, route: str = INBOUND, query: str = ""):
    return public_url(public_base_url=base, headers=headers or {}, request_path=request_path, route=route, query=query)


def test_with_a_public_base_the_stage_is_dropped_from_the_request_path():
    got = url("/api/webhooks/twilio/acme", base="https://sms.example.com/prod", headers=API_GATEWAY_HEADERS)
    assert got == "https://sms.example.com/prod/webhooks/twilio/acme"


def test_with_a_public_base_and_a_request_path_without_stage():
    got = url("/webhooks/twilio/acme/status", base="https://sms.example.com/", route=STATUS)
    assert got == "https://sms.example.com/webhooks/twilio/acme/status"


def test_with_a_public_base_the_query_is_kept():
    got = url("/api/webhooks/twilio/acme", base="https://sms.example.com", query="src=console&x=%2B1")
    assert got == "https://sms.example.com/webhooks/twilio/acme?src=console&x=%2B1"


def test_a_stage_named_webhooks_is_not_taken_for_the_route():
    assert url("/webhooks/webhooks/twilio/acme", base="https://sms.example.com") == (
        "https://sms.example.com/webhooks/twilio/acme"
    )
    assert url("/webhooks/webhooks/aws/acme/status", base="https://sms.example.com", route=STATUS) == (
        "https://sms.example.com/webhooks/aws/acme/status"
    )


def test_behind_api_gateway_the_forwarded_port_is_part_of_the_host():
    got = url("/api/webhooks/twilio/acme", headers=API_GATEWAY_HEADERS)
    assert got == "https://abc123.execute-api.us-east-1.amazonaws.com:443/api/webhooks/twilio/acme"


def test_https_is_assumed_behind_a_proxy_that_gives_no_protocol():
    got = url("/webhooks/twilio/acme", headers={"host": "sms.example.com", "x-forwarded-for": "54.172.60.1"})
    assert got == "https://sms.example.com/webhooks/twilio/acme"


def test_chalice_local_uses_http_and_the_host_port():
    assert (
        url("/webhooks/twilio/acme", headers={"host": "localhost:8000"}) == "http://localhost:8000/webhooks/twilio/acme"
    )


def test_a_host_that_has_a_port_gets_no_forwarded_port():
    headers = {"host": "sms.example.com:8443", "x-forwarded-proto": "https", "x-forwarded-port": "443"}
    assert url("/webhooks/twilio/acme", headers=headers) == "https://sms.example.com:8443/webhooks/twilio/acme"


def test_the_query_is_appended():
    got = url("/myapp.php", headers={"host": "mycompany.com", "x-forwarded-proto": "https"}, query="foo=1&bar=2")
    assert got == "https://mycompany.com/myapp.php?foo=1&bar=2"


def test_the_rebuilt_url_validates_twilios_vector_request():
    # Given Twilio signed https://mycompany.com/myapp.php?foo=1&bar=2, When API Gateway delivers it, Then it validates
    headers = {"host": "mycompany.com", "x-forwarded-proto": "https", "x-forwarded-port": "443"}
    rebuilt = url("/myapp.php", headers=headers, query="foo=1&bar=2")
    vectors = VECTORS["twilio"]
    assert twilio.is_valid_request(
        urls=[rebuilt],
        params=sorted(vectors["params"].items()),
        auth_token=vectors["auth_token"],
        signature=vectors["cases"][0]["signature"],
    )


def test_without_a_host_there_is_no_url_to_validate():
    assert url("/webhooks/twilio/acme") is None
