"""A loopback HTTP server that answers as Bandwidth's OAuth token endpoint and Messaging V2 API do.

    with BandwidthApiServer() as bandwidth:
        bandwidth.answer("+14155550123", 429, "max-message-queue-size-exceeded")  # throttled
        bandwidth.answer("+14155550124", 202, delay=5.0)                          # accepted, five seconds later
        tokens = AccessTokens(bandwidth.token_url)
        provider = BandwidthSmsProvider(..., tokens=tokens, api_url=bandwidth.api_url)
        ...
        bandwidth.requests[-1].json["text"]

It implements
- `POST /api/v1/oauth2/token`: HTTP Basic client id and secret, form `grant_type=client_credentials`; 200 with
  `{access_token, token_type, expires_in}`, or an OAuth error body (401 `invalid_client`, 400
  `unsupported_grant_type`).
- `POST /api/v2/users/{accountId}/messages`: a Bearer token it issued and has not revoked (401
  `{"type": "unauthorized", "description": "Authentication Failed"}`), the credential's account (403
  `{"type": "forbidden", "description": "Access Denied"}`), JSON (415 `unsupported-content-type`), the required
  applicationId/to/from (400 `request-validation` with `fieldErrors`), and a 202 with a message shaped like Bandwidth's
  (id, owner, applicationId, time, segmentCount, direction `out`, to, from, text, tag). Any other answer is configured
  per destination number, with Bandwidth's `{type, description}` error body.
Every request is recorded, authorised or not.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from tests.loopback_api import LoopbackApiServer, ReceivedRequest, Reply

TOKEN_PATH = "/api/v1/oauth2/token"
_MESSAGES_PATH = re.compile(r"^/api/v2/users/(?P<account_id>[^/]+)/messages$")

#: Bandwidth's descriptions for the error types tests use (https://dev.bandwidth.com/docs/messaging/errors).
ERROR_DESCRIPTIONS = {
    "request-validation": "Your request could not be accepted",
    "unauthorized": "Authentication Failed",
    "forbidden": "Access Denied",
    "unsupported-content-type": "Content type 'text/plain;charset=UTF-8' not supported. Please use 'application/json'",
    "max-message-queue-size-exceeded": (
        "The SMS queue for your account is full and cannot accept more messages right now. Your allowed rate is 60 "
        "messages per minute. The capacity of this queue is 900 messages (15 minutes). Reduce your message sending "
        "rate, or contact support to increase your allowed rate."
    ),
    "internal-server-error": "An unexpected error occurred",
}


@dataclass(frozen=True)
class Answer:
    """How the server answers a text to one number: an HTTP status, a Bandwidth error type, and an optional delay."""

    status: int = 202
    type: str | None = None
    description: str | None = None
    field_errors: tuple[dict[str, str], ...] = ()
    #: Seconds to wait before answering (cut short when the server stops).
    delay: float = 0.0
    #: Extra response headers (a `Location`, to test that redirects are not followed).
    headers: tuple[tuple[str, str], ...] = ()
    #: A body to answer instead of the JSON one (an HTML error page from a proxy).
    raw: bytes | None = None


@dataclass
class BandwidthApiServer(LoopbackApiServer):
    """The server, its credentials and its configuration; a context manager that starts and stops it."""

    account_id: str = "9900000"
    application_id: str = "93de2206-9669-4e07-948d-329f4b722ee2"
    client_id: str = field(default_factory=lambda: "cid-" + secrets.token_hex(8))
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    #: The `expires_in` of issued tokens, in seconds.
    token_lifetime: int = 3600
    #: Answers by destination number (`to[0]`); a number not listed gets a 202.
    answers: dict[str, Answer] = field(default_factory=dict)
    #: How the token endpoint answers instead of issuing a token (status, OAuth error); None issues tokens.
    token_failure: tuple[int, str] | None = None
    #: The tokens issued and not revoked.
    tokens: set[str] = field(default_factory=set)
    #: The messages answered with 202, in order.
    created: list[dict[str, Any]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v2"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}{TOKEN_PATH}"

    @property
    def token_requests(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path == TOKEN_PATH]

    @property
    def message_requests(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path != TOKEN_PATH]

    def answer(
        self,
        to: str,
        status: int,
        type: str | None = None,
        *,
        description: str | None = None,
        field_errors: list[dict[str, str]] | None = None,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        """Answer texts to `to` with `status` and, for an error, Bandwidth error `type`."""
        self.answers[to] = Answer(
            status=status,
            type=type,
            description=description,
            field_errors=tuple(field_errors or ()),
            delay=delay,
            headers=tuple((headers or {}).items()),
            raw=raw,
        )

    def revoke_tokens(self) -> None:
        """Every issued token stops working (as when a credential's secret is rotated)."""
        with self._lock:
            self.tokens.clear()

    def respond(self, request: ReceivedRequest) -> Reply:
        if request.method != "POST":
            return Reply(405, _error("method-not-allowed", "Method not allowed"))
        if request.path == TOKEN_PATH:
            return self._token(request)
        return self._message(request)

    def _token(self, request: ReceivedRequest) -> Reply:
        if request.basic_auth != (self.client_id, self.client_secret):
            return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        if parse_qs(request.body.decode("utf-8")).get("grant_type") != ["client_credentials"]:
            return Reply(400, {"error": "unsupported_grant_type"})
        if self.token_failure is not None:
            status, error = self.token_failure
            return Reply(status, {"error": error, "error_description": f"token endpoint says {error}"})
        token = secrets.token_urlsafe(32)
        with self._lock:
            self.tokens.add(token)
        document = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        return Reply(200, document, (("Cache-Control", "no-store"),))

    def _message(self, request: ReceivedRequest) -> Reply:
        match = _MESSAGES_PATH.match(request.path.split("?", 1)[0])
        if match is None:
            path = request.path
            document = {"timestamp": _now(), "status": 404, "error": "Not Found", "message": "Not Found", "path": path}
            return Reply(404, document)
        if request.bearer not in self.tokens:
            return Reply(401, _error("unauthorized"))
        if match["account_id"] != self.account_id:
            return Reply(403, _error("forbidden"))
        if not request.headers.get("content-type", "").startswith("application/json"):
            return Reply(415, _error("unsupported-content-type"))
        document = request.json
        if not isinstance(document, dict):
            return Reply(400, _error("request-validation"))
        problems = [
            {"fieldName": name, "description": f"'{name}' must not be empty"}
            for name in ("applicationId", "to", "from")
            if not document.get(name)
        ]
        if problems:
            return Reply(400, {**_error("request-validation"), "fieldErrors": problems})
        recipients = document["to"] if isinstance(document["to"], list) else [document["to"]]
        answer = self.answers.get(recipients[0], Answer())
        headers = answer.headers
        if answer.raw is not None:
            return Reply(answer.status, headers=headers, delay=answer.delay, raw=answer.raw, content_type="text/html")
        if 200 <= answer.status < 300:
            message = self._created(document, recipients)
            return Reply(answer.status, message, headers, delay=answer.delay)
        if 300 <= answer.status < 400:
            return Reply(answer.status, headers=headers, delay=answer.delay, raw=b"", content_type="text/plain")
        kind = answer.type or "request-validation"
        body = _error(kind, answer.description)
        if answer.field_errors:
            body["fieldErrors"] = list(answer.field_errors)
        return Reply(answer.status, body, headers, delay=answer.delay)

    def _created(self, document: dict[str, Any], recipients: list[str]) -> dict[str, Any]:
        text = document.get("text", "")
        message = {
            "id": f"{int(time.time() * 1000)}{secrets.token_hex(8)}",
            "owner": document["from"],
            "applicationId": document["applicationId"],
            "time": _now(),
            "segmentCount": _segments(text),
            "direction": "out",
            "to": recipients,
            "from": document["from"],
            "text": text,
        }
        if "tag" in document:
            message["tag"] = document["tag"]
        with self._lock:
            self.created.append(message)
        return message


def _error(kind: str, description: str | None = None) -> dict[str, Any]:
    return {"type": kind, "description": description or ERROR_DESCRIPTIONS.get(kind, kind)}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _segments(text: str) -> int:
    """Roughly Bandwidth's count: GSM-7 texts hold 160 characters (153 a part), others 70 (67 a part)."""
    single, part = (160, 153) if text.isascii() else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // part)
