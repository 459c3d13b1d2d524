"""A loopback HTTP server that answers as Vonage's SMS API does, for testing the Vonage SMS provider.

    with VonageApiServer() as vonage:
        vonage.answer("14155550123", "7")                     # that number is barred
        vonage.answer("14155550124", "0", delay=5.0)          # accepted, but only after five seconds
        vonage.answer("14155550125", parts=("0", "1"))        # two parts: the first accepted, the second throttled
        vonage.answer("14155550126", http_status=503)         # the gateway is down
        provider = VonageSmsProvider(vonage.api_key, vonage.api_secret, base_url=vonage.base_url)
        ...
        vonage.requests[-1].fields["text"]

It implements `POST /sms/json` as the SMS API reference describes it: the credentials as `api_key` and `api_secret`
fields of a form or JSON body (or HTTP Basic, as the newest SDK sends them); HTTP 200 with
`{"message-count", "messages": [...]}` whatever happened, one message per part of the text; status "0" with a
`message-id`, `remaining-balance`, `message-price` and `network`, or an error status with `error-text` (status 4
"Bad Credentials" for wrong credentials, 2 "Missing <field> param" for a missing field). Numbers are international
digits without `+`. Answers per destination are configurable. Every request is recorded.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from tests.loopback_api import LoopbackApiServer, ReceivedRequest, Reply

#: Vonage's error-text for the statuses tests use (as its API answers them, or the troubleshooting table's words).
ERROR_TEXTS = {
    "1": "Throttled",
    "2": "Missing to param",
    "3": "Invalid to param",
    "4": "Bad Credentials",
    "5": "Internal Error",
    "6": "Invalid Message",
    "7": "Number barred.",
    "8": "Partner account barred",
    "9": "Partner quota exceeded",
    "10": "Too many existing binds",
    "12": "Message too long",
    "15": "Illegal Sender Address - rejected",
    "29": "Non White-listed Destination - rejected",
    "33": "Number de-activated",
}

_GSM_SINGLE, _GSM_PART = 160, 153
_UCS2_SINGLE, _UCS2_PART = 70, 67


@dataclass(frozen=True)
class Answer:
    """How the server answers a text to one number."""

    #: Vonage's status for each part ("0" accepted); None: one status for every part.
    parts: tuple[str, ...] | None = None
    status: str = "0"
    http_status: int = 200
    #: Seconds to wait before answering (cut short when the server stops).
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    #: A raw body instead of Vonage's JSON (an HTML error page, garbage).
    raw: bytes | None = None


@dataclass
class VonageApiServer(LoopbackApiServer):
    """The server, its credentials and its configuration; a context manager that starts and stops it."""

    api_key: str = field(default_factory=lambda: secrets.token_hex(4))
    api_secret: str = field(default_factory=lambda: secrets.token_hex(8))
    #: Answers by destination (`to`, digits); a number not listed gets every part accepted.
    answers: dict[str, Answer] = field(default_factory=dict)
    #: The messages answered with status "0", in order.
    accepted: list[dict[str, Any]] = field(default_factory=list)

    def answer(
        self,
        to: str,
        status: str = "0",
        *,
        parts: tuple[str, ...] | None = None,
        http_status: int = 200,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        """Answer texts to `to` (digits, without `+`) with `status` for every part, or `parts` one by one."""
        self.answers[to] = Answer(
            parts=parts,
            status=status,
            http_status=http_status,
            delay=delay,
            headers=tuple((headers or {}).items()),
            raw=raw,
        )

    def respond(self, request: ReceivedRequest) -> Reply:
        if request.path.split("?", 1)[0] != "/sms/json":
            return Reply(404, {"type": "https://developer.nexmo.com/api-errors#not-found", "title": "Not Found"})
        if request.method != "POST":
            return Reply(405, {"title": "Method Not Allowed"})
        fields = self._fields(request)
        if not self._authorised(request, fields):
            return Reply(200, _refusal("4", to=fields.get("to")))
        for name in ("from", "to", "text"):
            if not fields.get(name):
                return Reply(200, _refusal("2", text=f"Missing {name} param"))
        answer = self.answers.get(fields["to"], Answer())
        if answer.raw is not None or not 200 <= answer.http_status < 300:
            raw = answer.raw if answer.raw is not None else HTTPStatus(answer.http_status).phrase.encode()
            return Reply(
                answer.http_status, raw=raw, headers=answer.headers, delay=answer.delay, content_type="text/html"
            )
        statuses = answer.parts or (answer.status,) * _parts(fields["text"], fields.get("type"))
        messages = [self._message(fields, status) for status in statuses]
        document = {"message-count": str(len(messages)), "messages": messages}
        return Reply(200, document, answer.headers, delay=answer.delay)

    def _fields(self, request: ReceivedRequest) -> dict[str, str]:
        if request.headers.get("content-type", "").startswith("application/json"):
            document = request.json
            return {str(k): str(v) for k, v in document.items()} if isinstance(document, dict) else {}
        return request.fields

    def _authorised(self, request: ReceivedRequest, fields: dict[str, str]) -> bool:
        if request.basic_auth is not None:
            return request.basic_auth == (self.api_key, self.api_secret)
        return (fields.get("api_key"), fields.get("api_secret")) == (self.api_key, self.api_secret)

    def _message(self, fields: dict[str, str], status: str) -> dict[str, Any]:
        if status != "0":
            return {"status": status, "error-text": ERROR_TEXTS.get(status, "Unknown error"), "to": fields["to"]}
        message = {
            "to": fields["to"],
            "message-id": str(uuid.uuid4()),
            "status": "0",
            "remaining-balance": "15.53590000",
            "message-price": "0.00790000",
            "network": "310260",
        }
        with self._lock:
            self.accepted.append({**message, "text": fields["text"], "from": fields["from"]})
        return message


def _refusal(status: str, *, to: str | None = None, text: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"status": status, "error-text": text or ERROR_TEXTS[status]}
    if to:
        message["to"] = to
    return {"message-count": "1", "messages": [message]}


def _parts(text: str, kind: str | None) -> int:
    """How many parts Vonage splits a text into: 160 GSM characters (153 a part), 70 for unicode (67 a part)."""
    single, part = (_UCS2_SINGLE, _UCS2_PART) if kind == "unicode" else (_GSM_SINGLE, _GSM_PART)
    return 1 if len(text) <= single else -(-len(text) // part)
