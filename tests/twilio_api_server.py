"""A loopback HTTP server that answers as Twilio's Messages API does, for testing the Twilio SMS provider.

    with TwilioApiServer() as twilio:
        twilio.answer("+14155550123", 400, 21610)      # that number has unsubscribed
        twilio.answer("+14155550124", 201, delay=5.0)  # accepted, but only after five seconds
        provider = TwilioSmsProvider(twilio.account_sid, twilio.auth_token, base_url=twilio.base_url)
        ...
        twilio.requests[-1].fields["Body"]

It implements `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: HTTP Basic auth (401 with error 20003 when the
credentials or the path's account are wrong), the required To/From/Body (400 with 21604/21603/21602), and a 201 with
a message resource shaped like Twilio's (sid `SM` + 32 hex, status `queued`, RFC 2822 dates, `uri`...). Any other
answer is configured per destination number. Error bodies are Twilio's: `{"code", "message", "more_info", "status"}`.
Every request is recorded, authorised or not.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any

from tests.loopback_api import LoopbackApiServer, ReceivedRequest, Reply

API_VERSION = "2010-04-01"
_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account_sid>[^/]+)/Messages\.json$")

#: Twilio's messages for the error codes tests use (https://www.twilio.com/docs/api/errors/<code>).
ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "The 'To' number is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
}


@dataclass(frozen=True)
class Answer:
    """How the server answers a text to one number: an HTTP status, a Twilio error code, and an optional delay."""

    status: int = 201
    code: int | None = None
    message: str | None = None
    #: Seconds to wait before answering (cut short when the server stops).
    delay: float = 0.0
    #: Extra response headers (a `Location`, to test that redirects are not followed).
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class TwilioApiServer(LoopbackApiServer):
    """The server, its credentials and its configuration; a context manager that starts and stops it."""

    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    #: Answers by destination number (`To`); a number not listed gets a 201.
    answers: dict[str, Answer] = field(default_factory=dict)
    #: The message resources answered with 201, in order.
    created: list[dict[str, Any]] = field(default_factory=list)

    def answer(
        self,
        to: str,
        status: int,
        code: int | None = None,
        *,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer texts to `to` with `status` and, for an error, Twilio error `code`."""
        self.answers[to] = Answer(status=status, code=code, delay=delay, headers=tuple((headers or {}).items()))

    def respond(self, request: ReceivedRequest) -> Reply:
        status, document, answer = self._respond(request)
        headers = [("Twilio-Request-Id", "RQ" + secrets.token_hex(16)), *answer.headers]
        if status == 401:
            headers.append(("WWW-Authenticate", 'Basic realm="Twilio API"'))
        if request.method != "POST":
            status, document = 405, _error_body(405, 20004, "Method not allowed")
        return Reply(status, document, tuple(headers), delay=answer.delay)

    def _respond(self, request: ReceivedRequest) -> tuple[int, dict[str, Any], Answer]:
        """The status, JSON body and answer (for its delay and headers) for one request."""
        match = _MESSAGES_PATH.match(request.path.split("?", 1)[0])
        if match is None:
            return 404, _error_body(404, 20404, f"The requested resource {request.path} was not found"), _IMMEDIATE
        if request.basic_auth != (self.account_sid, self.auth_token) or match["account_sid"] != self.account_sid:
            body = _error_body(401, 20003, ERROR_MESSAGES[20003])
            body["detail"] = "Your AccountSid or AuthToken was incorrect."
            return 401, body, _IMMEDIATE
        fields = request.fields
        for name, code in (("To", 21604), ("From", 21603), ("Body", 21602)):
            if not fields.get(name):
                return 400, _error_body(400, code, ERROR_MESSAGES[code]), _IMMEDIATE
        answer = self.answers.get(fields["To"], Answer())
        if 200 <= answer.status < 300:
            resource = self._message_resource(fields)
            with self._lock:
                self.created.append(resource)
            return answer.status, resource, answer
        message = answer.message or ERROR_MESSAGES.get(answer.code or 0) or HTTPStatus(answer.status).phrase
        return answer.status, _error_body(answer.status, answer.code, message), answer

    def _message_resource(self, fields: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC).replace(microsecond=0))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": fields["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": fields["From"],
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(_segments(fields["Body"])),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": fields["To"],
            "uri": uri,
        }


_IMMEDIATE = Answer()


def _error_body(status: int, code: int | None, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}" if code else None,
        "status": status,
    }


def _segments(body: str) -> int:
    """Roughly Twilio's count: GSM-7 texts hold 160 characters (153 a part), others 70 (67 a part)."""
    single, part = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // part)
