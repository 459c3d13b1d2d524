"""A loopback HTTP server that answers as Plivo's Message API does, for testing the Plivo SMS provider.

    with PlivoApiServer() as plivo:
        plivo.answer("14155550123", 400, "14155550123 is not a valid phone number")
        plivo.answer("14155550124", 202, delay=5.0)  # queued, but only after five seconds
        provider = PlivoSmsProvider(plivo.auth_id, plivo.auth_token, base_url=plivo.base_url)
        ...
        plivo.requests[-1].json["text"]

It implements `POST /v1/Account/{auth_id}/Message/`: HTTP Basic auth (401 when the credentials or the path's auth ID
are wrong), a JSON body with `src`, `dst` and `text` (400 when one is missing), and a 202 shaped like Plivo's:
`{"api_id", "message": "message(s) queued", "message_uuid": ["<uuid>"]}`. Errors are Plivo's `{"api_id", "error"}`
(https://www.plivo.com/docs/messaging/api/response); only the invalid-number text is documented verbatim, the
others are stand-ins. Any other answer is configured per destination (`dst`, digits as sent). Every request is
recorded, authorised or not.
"""

from __future__ import annotations

import re
import secrets
import string
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from tests.loopback_api import LoopbackApiServer, ReceivedRequest, Reply

_MESSAGE_PATH = re.compile(r"^/v1/Account/(?P<auth_id>[^/]+)/Message/$")


def new_auth_id() -> str:
    """A main-account auth ID as Plivo issues them: `MA` and 18 upper-case letters and digits."""
    return "MA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(18))


@dataclass(frozen=True)
class Answer:
    """How the server answers a text to one destination: an HTTP status, Plivo's error text, an optional delay."""

    status: int = 202
    error: Any = None
    #: Seconds to wait before answering (cut short when the server stops).
    delay: float = 0.0
    #: Extra response headers (a `Location`, to test that redirects are not followed).
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class PlivoApiServer(LoopbackApiServer):
    """The server, its credentials and its configuration; a context manager that starts and stops it."""

    auth_id: str = field(default_factory=new_auth_id)
    auth_token: str = field(default_factory=lambda: secrets.token_urlsafe(30)[:40])
    #: Answers by destination (`dst` as sent); one not listed gets a 202.
    answers: dict[str, Answer] = field(default_factory=dict)
    #: The message UUIDs answered with 202, in order.
    queued: list[str] = field(default_factory=list)

    def answer(
        self, dst: str, status: int, error: Any = None, *, delay: float = 0.0, headers: dict[str, str] | None = None
    ) -> None:
        """Answer texts to `dst` with `status` and, for an error, Plivo's `error` (text, or an object)."""
        self.answers[dst] = Answer(status=status, error=error, delay=delay, headers=tuple((headers or {}).items()))

    def respond(self, request: ReceivedRequest) -> Reply:
        status, document, answer = self._respond(request)
        if request.method != "POST" and status != 404:
            status, document, answer = 405, _error("Method Not Allowed"), _IMMEDIATE
        return Reply(status, document, answer.headers, delay=answer.delay)

    def _respond(self, request: ReceivedRequest) -> tuple[int, dict[str, Any], Answer]:
        match = _MESSAGE_PATH.match(request.path.split("?", 1)[0])
        if match is None:
            return 404, _error("not found"), _IMMEDIATE
        if request.basic_auth != (self.auth_id, self.auth_token) or match["auth_id"] != self.auth_id:
            return 401, _error("authentication failed"), _IMMEDIATE
        body = request.json
        if not isinstance(body, dict):
            return 400, _error("invalid JSON body"), _IMMEDIATE
        for name in ("src", "dst", "text"):
            if not body.get(name):
                return 400, _error(f"{name} parameter is missing"), _IMMEDIATE
        answer = self.answers.get(body["dst"], Answer())
        if 200 <= answer.status < 300:
            message_uuid = str(uuid.uuid4())
            with self._lock:
                self.queued.append(message_uuid)
            document = {"api_id": str(uuid.uuid4()), "message": "message(s) queued", "message_uuid": [message_uuid]}
            return answer.status, document, answer
        return answer.status, _error(answer.error or HTTPStatus(answer.status).phrase), answer


_IMMEDIATE = Answer()


def _error(error: Any) -> dict[str, Any]:
    return {"api_id": str(uuid.uuid4()), "error": error}
