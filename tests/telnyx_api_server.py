"""Telnyx as tests see it: a loopback server answering as its Messages API does, and a signer of webhooks.

    with TelnyxApiServer() as telnyx:
        telnyx.answer("+14155550123", 400, "40300")     # that number texted STOP
        telnyx.answer("+14155550124", 200, delay=5.0)   # accepted, but only after five seconds
        provider = TelnyxSmsProvider(telnyx.api_key, base_url=telnyx.base_url)
        ...
        telnyx.requests[-1].json["text"]

The server implements `POST /v2/messages`: Bearer auth (401 with error 10009 when the key is wrong), the required
`to`/`text` (400 with 10004 "Missing required parameter"), and a 200 with `{"data": <message>}` shaped like Telnyx's
(a UUID id, `to[].status` "queued", ISO 8601 times, cost, ...). Any other answer is configured per destination
number. Error bodies are Telnyx's: `{"errors": [{"code": "<string>", "title", "detail", "meta": {"url"}}]}`. Every
request is recorded, authorised or not.

`WebhookSigner` holds a generated Ed25519 key pair and signs a body as Telnyx does: `telnyx-signature-ed25519` is the
base64 signature of `{telnyx-timestamp}|{body}`. Its `public_key` (base64, 32 bytes) is what an account's
`carriers.telnyx.public_key` takes. Telnyx publishes no fixed signature vectors (its SDKs' tests generate a key pair
too), so tests sign with one of these.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.loopback_api import LoopbackApiServer, ReceivedRequest, Reply

MESSAGES_PATH = "/v2/messages"

#: Telnyx's titles for the error codes tests use (https://developers.telnyx.com/docs/messaging/messages/error-codes
#: and https://developers.telnyx.com/development/api-fundamentals/api-errors).
ERROR_TITLES = {
    "10004": "Missing required parameter",
    "10007": "Unexpected error",
    "10009": "Authentication failed",
    "10011": "Too many requests",
    "40001": "Not routable",
    "40006": "Recipient server unavailable",
    "40008": "Undeliverable",
    "40012": "Invalid destination number",
    "40300": "Blocked due to STOP message",
    "40305": "Invalid 'from' address",
    "40310": "Invalid 'to' address",
    "40318": "Message queue full",
}


@dataclass(frozen=True)
class Answer:
    """How the server answers a text to one number: an HTTP status, a Telnyx error code, and an optional delay."""

    status: int = 200
    code: str | None = None
    detail: str | None = None
    #: Seconds to wait before answering (cut short when the server stops).
    delay: float = 0.0
    #: Extra response headers (a `Location`, to test that redirects are not followed).
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class TelnyxApiServer(LoopbackApiServer):
    """The server, its API key and its configuration; a context manager that starts and stops it."""

    api_key: str = field(default_factory=lambda: "KEY" + secrets.token_hex(16).upper() + "_" + secrets.token_hex(11))
    #: Answers by destination number (`to`); a number not listed gets a 200.
    answers: dict[str, Answer] = field(default_factory=dict)
    #: The messages answered with a 2xx, in order.
    created: list[dict[str, Any]] = field(default_factory=list)

    def answer(
        self,
        to: str,
        status: int,
        code: str | None = None,
        *,
        detail: str | None = None,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer texts to `to` with `status` and, for an error, Telnyx error `code`."""
        self.answers[to] = Answer(status, code, detail, delay, tuple((headers or {}).items()))

    def respond(self, request: ReceivedRequest) -> Reply:
        status, document, answer = self._respond(request)
        headers = [("x-request-id", str(uuid.uuid4())), *answer.headers]
        return Reply(status, document, tuple(headers), delay=answer.delay)

    def _respond(self, request: ReceivedRequest) -> tuple[int, dict[str, Any], Answer]:
        if request.path.split("?", 1)[0] != MESSAGES_PATH:
            return 404, error_body("10005", "Resource not found", "The requested resource was not found."), _NOW
        if request.method != "POST":
            return 405, error_body("10015", "Bad Request", "Method not allowed."), _NOW
        if request.bearer != self.api_key:
            detail = "The API key in the request is not valid."
            return 401, error_body("10009", ERROR_TITLES["10009"], detail), _NOW
        fields = request.json if isinstance(request.json, dict) else {}
        for name in ("to", "text"):
            if not fields.get(name):
                detail = f"The '{name}' parameter is required."
                return 400, error_body("10004", ERROR_TITLES["10004"], detail, pointer=f"/{name}"), _NOW
        answer = self.answers.get(fields["to"], Answer())
        if 200 <= answer.status < 300:
            message = self._message(fields)
            with self._lock:
                self.created.append(message)
            return answer.status, {"data": message}, answer
        title = ERROR_TITLES.get(answer.code or "") or HTTPStatus(answer.status).phrase
        detail = answer.detail
        if detail is None and answer.code == "40300":
            sender, to = fields.get("from"), fields["to"]
            detail = f"Messages cannot be sent from '{sender}' to '{to}' due to an existing block rule."
        return answer.status, error_body(answer.code, title, detail), answer

    def _message(self, fields: dict[str, Any]) -> dict[str, Any]:
        """A message resource as Telnyx answers a send with it (`data` of the 200)."""
        now = datetime.now(UTC)
        return {
            "record_type": "message",
            "direction": "outbound",
            "id": str(uuid.uuid4()),
            "type": "SMS",
            "messaging_profile_id": fields.get("messaging_profile_id") or "4001767e-ce0f-4cae-9d5f-0d5e636e7809",
            "organization_id": "b448f9cc-a842-4784-98e9-03c1a5872950",
            "from": {"phone_number": fields.get("from"), "carrier": "Telnyx", "line_type": "Wireless"},
            "to": [
                {
                    "phone_number": fields["to"],
                    "status": "queued",
                    "carrier": "T-MOBILE USA, INC.",
                    "line_type": "Wireless",
                }
            ],
            "cc": [],
            "text": fields["text"],
            "media": [],
            "webhook_url": fields.get("webhook_url"),
            "webhook_failover_url": None,
            "encoding": "GSM-7" if str(fields["text"]).isascii() else "UCS-2",
            "parts": 1,
            "tags": [],
            "cost": None,
            "received_at": _iso(now),
            "sent_at": None,
            "completed_at": None,
            "valid_until": _iso(now + timedelta(hours=12)),
            "errors": [],
        }


_NOW = Answer()


def error_body(code: str | None, title: str, detail: str | None = None, pointer: str | None = None) -> dict[str, Any]:
    """Telnyx's error document: `{"errors": [{"code", "title", "detail", "meta": {"url"}}]}`."""
    error: dict[str, Any] = {"code": code, "title": title}
    if detail is not None:
        error["detail"] = detail
    if pointer is not None:
        error["source"] = {"pointer": pointer}
    if code:
        error["meta"] = {"url": f"https://developers.telnyx.com/docs/overview/errors/{code}"}
    return {"errors": [error]}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- webhooks -----------------------------------------------------------------------------------------------------


@dataclass
class WebhookSigner:
    """A Telnyx account's signing key: signs webhook bodies as Telnyx does (a fresh key pair unless one is given)."""

    private_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @classmethod
    def from_private_key(cls, private_key_base64: str) -> WebhookSigner:
        """The signer of a base64 32-byte private key (as `private_key_base64` prints it)."""
        return cls(Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key_base64, validate=True)))

    @property
    def public_key(self) -> str:
        """The base64 raw public key, as the Telnyx portal shows an account's."""
        raw = self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")

    @property
    def private_key_base64(self) -> str:
        raw = self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return base64.b64encode(raw).decode("ascii")

    def signature(self, body: bytes, timestamp: int | str) -> str:
        """The base64 Ed25519 signature of `{timestamp}|{body}`."""
        return base64.b64encode(self.private_key.sign(f"{timestamp}|".encode("ascii") + body)).decode("ascii")

    def headers(self, body: bytes, at: datetime | int) -> dict[str, str]:
        """The headers Telnyx sends with `body` signed at `at` (a datetime or Unix seconds)."""
        timestamp = str(int(at.timestamp()) if isinstance(at, datetime) else at)
        return {
            "Content-Type": "application/json",
            "telnyx-timestamp": timestamp,
            "telnyx-signature-ed25519": self.signature(body, timestamp),
        }


if __name__ == "__main__":
    # A key pair for a local demo: the public key goes into the account, the private key into the signing script.
    signer = WebhookSigner()
    print(f"public_key={signer.public_key}\nprivate_key={signer.private_key_base64}")
