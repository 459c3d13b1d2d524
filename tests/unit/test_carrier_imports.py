"""A cold start pays only for the carriers its requests name: the registry knows every carrier by name, and a
carrier's module is imported when that carrier is first used (its webhook, its credentials form, its provider).

The import tests run in fresh interpreters (what is imported is a process's state): each builds the app's container
on the in-memory fakes, creates the account over the API and posts one signed STOP, as the carrier sends it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import BaseModel

from chalicelib.adapters.carriers.registry import CarrierRegistry
from chalicelib.domain.errors import UnknownCarrier
from tests.fakes import FixedClock
from tests.signed_webhooks import BASE_URL, CARRIERS, CERT_URL, CarrierSigner

ROOT = Path(__file__).resolve().parents[2]
CONTACT = "+14255550182"
MARKER = "CHILD-RESULT "
#: Modules of chalicelib/adapters/carriers/ that every carrier may use.
SHARED = {"registry", "wire", "rest"}
#: Each carrier's own modules there.
OWN = {
    "twilio": {"twilio", "twilio_sms"},
    "aws": {"aws", "aws_sms", "sns"},
    "telnyx": {"telnyx", "telnyx_sms"},
    "plivo": {"plivo", "plivo_sms"},
    "vonage": {"vonage", "vonage_sms"},
    "bandwidth": {"bandwidth", "bandwidth_sms"},
}
#: Carriers whose signatures are public-key ones, and the library each checks them with; the others use hmac alone.
PUBLIC_KEY_SIGNATURES = {"aws": ["rsa"], "telnyx": ["ecdsa"]}
#: The public-key signature libraries a webhook may import (cryptography is for the tests' signing only).
SIGNATURE_LIBRARIES = ("cryptography", "ecdsa", "rsa")

# The app's container on the fakes, with the registry the settings build (for aws the same carriers with the SNS
# certificate served by a stand-in for SNS's host); then the account over the API, then the webhook.
CHILD = r"""
import json, sys

spec = json.loads(sys.stdin.read())


def carrier_modules():
    prefix = "chalicelib.adapters.carriers."
    return sorted(name.removeprefix(prefix) for name in sys.modules if name.startswith(prefix))


from chalice.test import Client

import app
from chalicelib.settings import Settings
from tests.containers import fake_container, registry

parts = {}
if spec["carrier"] == "aws":
    certificate = spec["certificate"].encode()

    def fetch(url):
        from chalicelib.adapters.carriers.sns import FetchFailed

        if url != spec["cert_url"]:
            raise FetchFailed("HTTP 404", transient=False)
        return certificate

    parts["carriers"] = registry(sns_fetch=fetch)
container = fake_container(Settings(operator_token="operator", public_base_url=spec["base_url"]), **parts)
result = {"at_start": carrier_modules(), "names": sorted(container.carriers.provider_names())}
result["after_names"] = carrier_modules()
with Client(app.app) as client:
    if spec["account_carriers"] is not None:
        answer = client.http.put(
            "/v1/accounts/acme",
            headers={"Authorization": "Bearer operator", "Content-Type": "application/json"},
            body=json.dumps({"name": "Acme", "carriers": spec["account_carriers"]}),
        )
        result["put"] = answer.status_code
        result["after_put"] = carrier_modules()
    request = spec["request"]
    answer = client.http.post(request["path"], headers=request["headers"], body=request["body"])
    result["status"] = answer.status_code
    result["body"] = answer.body.decode() if isinstance(answer.body, bytes) else str(answer.body)
    result["after_webhook"] = carrier_modules()
state, _ = container.stores.numbers.load("acme", spec["sender"])
result["suppressed"] = sorted(state.suppressions)
result["signature_libraries"] = [name for name in spec["signature_libraries"] if name in sys.modules]
print("CHILD-RESULT " + json.dumps(result))
"""

SIGNER = CarrierSigner()
AT = FixedClock().now()  # the fake container's clock: when every request is received


def run_fresh(carrier: str | None, account_carriers: dict | None, request: dict) -> dict:
    spec = {
        "carrier": carrier,
        "account_carriers": account_carriers,
        "request": request,
        "sender": CONTACT,
        "base_url": BASE_URL,
        "certificate": SIGNER.certificate.decode(),
        "cert_url": CERT_URL,
        "signature_libraries": SIGNATURE_LIBRARIES,
    }
    completed = subprocess.run(
        [sys.executable, "-c", CHILD], input=json.dumps(spec), capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    (line,) = [line for line in completed.stdout.splitlines() if line.startswith(MARKER)]
    return json.loads(line.removeprefix(MARKER))


@pytest.mark.parametrize("carrier", CARRIERS)
def test_a_stop_through_a_carrier_used_first_is_applied_and_imports_no_other_carrier(carrier: str) -> None:
    signed = SIGNER.inbound(carrier, sender=CONTACT, at=AT)
    request = {"path": signed.path, "headers": signed.headers, "body": signed.body}
    result = run_fresh(carrier, SIGNER.account_carriers(carrier), request)

    # Building the container and listing the carriers imports none of them
    assert result["at_start"] == result["after_names"] == ["registry"]
    assert set(CARRIERS) <= set(result["names"])
    # Checking the account's credentials imports the carrier whose form they are, and only it
    assert result["put"] == 201
    assert carrier in result["after_put"]
    assert set(result["after_put"]) - SHARED <= OWN[carrier]
    # The STOP is applied, and serving it imported no other carrier's module
    assert result["status"] in (200, 204), result["body"]
    assert result["suppressed"] == ["all"]
    assert set(result["after_webhook"]) - SHARED <= OWN[carrier]
    assert result["signature_libraries"] == PUBLIC_KEY_SIGNATURES.get(carrier, [])


def test_an_unknown_carrier_is_404_listing_every_carrier_without_importing_any() -> None:
    request = {"path": "/webhooks/nosuch/acme", "headers": {"Content-Type": "application/json"}, "body": "{}"}
    result = run_fresh(None, None, request)

    assert result["status"] == 404
    error = json.loads(result["body"])["error"]
    assert error["code"] == "unknown_carrier"
    assert error["details"]["known"] == sorted(CARRIERS)
    assert result["after_webhook"] == ["registry"]
    assert result["suppressed"] == []


class Form(BaseModel):
    key: str = ""


def test_the_registry_builds_a_carrier_once_and_only_when_it_is_used() -> None:
    built: list[str] = []

    def factory(name: str):
        def build():
            built.append(name)
            return SimpleNamespace(name=name, credentials_form=Form)

        return build

    registry = CarrierRegistry({name: factory(name) for name in ("one", "two", "three")})

    assert registry.provider_names() == {"one", "two", "three"}
    with pytest.raises(UnknownCarrier) as refused:
        registry.get("four")
    assert refused.value.details["known"] == ["one", "three", "two"]
    assert registry.credentials_form("four") is None
    assert built == []

    assert registry.credentials_form("two") is Form
    assert registry.get("two") is registry.get("two")
    assert built == ["two"]
