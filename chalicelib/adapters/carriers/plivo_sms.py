"""Send SMS through Plivo's Message API: one JSON POST per text, the answer mapped to an SmsResult.

Standard library only (rest.py), as for Twilio: neither the `plivo` package nor `requests` is a runtime dependency.

`POST https://api.plivo.com/v1/Account/{auth_id}/Message/` with HTTP Basic (auth ID, auth token) and
`{"src", "dst", "text"}` (plus `url` and `method` for the status callback). Plivo queues the text and answers 202
`{"api_id", "message": "message(s) queued", "message_uuid": ["..."]}`; an error is `{"api_id", "error": "..."}`
with an HTTP status and no error code (https://www.plivo.com/docs/messaging/api/response). Mapping:

- 2xx: `sent`, provider_message_id = the first `message_uuid`.
- 400 whose error says the destination is not a valid (or not an SMS-enabled) phone number: `unreachable`. Plivo
  documents `"<number> is not a valid phone number"` for a destination its number validation rejects
  (https://www.plivo.com/docs/messaging/concepts/destination-number-validation).
- HTTP 429 and 5xx, and no answer at all (refused, reset, timed out): `retry`.
- Anything else (other 4xx, an unexpected 3xx): `failed`, with `http_<status>` and Plivo's error text.

An opted-out contact is not refused here: Plivo queues the text, then fails it with error 200 in the status
callback, which `PlivoCarrier.error_source` reads as a carrier opt-out.
"""

from __future__ import annotations

import json
import re
import urllib.parse

from chalicelib.adapters.carriers import rest
from chalicelib.domain.models import OutboundSms, SmsResult

DEFAULT_BASE_URL = "https://api.plivo.com"
# Plivo's words for a destination its number validation rejects; only the first is documented verbatim.
_INVALID_DESTINATION = re.compile(r"\bis not an? (?:valid|sms[ -]enabled) phone number\b", re.IGNORECASE)


class PlivoSmsProvider:
    """An SmsProvider on Plivo's Message API, authenticated with the account's auth ID and auth token.

    `status_url`, when given, goes with each text as `url` (POST), so Plivo reports delivery to our status webhook.
    `base_url` exists for tests (a loopback server that answers as Plivo does); `timeout` bounds connecting and
    each read, in seconds.
    """

    name = "plivo"

    def __init__(
        self,
        auth_id: str,
        auth_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        status_url: str | None = None,
    ) -> None:
        if not auth_id or not auth_token:
            raise ValueError("a Plivo auth ID and auth token are required")
        self.auth_id = auth_id
        self.url = f"{base_url.rstrip('/')}/v1/Account/{urllib.parse.quote(auth_id, safe='')}/Message/"
        self._authorization = rest.basic_authorization(auth_id, auth_token)
        self._status_url = status_url
        self._http = rest.Client(timeout)

    def __repr__(self) -> str:
        # Keeps the auth token out of logs and tracebacks that print the provider.
        return f"PlivoSmsProvider(auth_id={self.auth_id!r}, url={self.url!r})"

    def send(self, message: OutboundSms) -> SmsResult:
        """Queue one text with Plivo and map its answer to an SmsResult; never raises for Plivo or the network.

        A timeout after the request went out is `retry` although Plivo may have queued the text: the Message API
        has no idempotency key, so a retry can send it twice, which beats never sending it.
        """
        if "<" in message.to or "<" in message.sender:
            # `dst` separates several recipients with "<": one text must never go to more than its recipient.
            return SmsResult(status="failed", error_code="invalid_recipient", detail="a number contains '<'")
        document: dict[str, str] = {"src": _digits(message.sender), "dst": _digits(message.to), "text": message.body}
        if self._status_url:
            document |= {"url": self._status_url, "method": "POST"}
        request = rest.post(
            self.url,
            json.dumps(document).encode("utf-8"),
            content_type="application/json",
            authorization=self._authorization,
        )
        return self._http.send(request, result_of)


def result_of(status: int, body: bytes) -> SmsResult:
    """Map one HTTP answer from the Message endpoint (status and raw body) to an SmsResult."""
    document = rest.json_object(body)
    if 200 <= status < 300:
        uuids = document.get("message_uuid")
        if isinstance(uuids, list) and uuids and isinstance(uuids[0], str) and uuids[0]:
            return SmsResult(status="sent", provider_message_id=uuids[0])
        # Plivo queued the text; sending it again because the body is unreadable would duplicate it.
        return SmsResult(status="sent", detail=f"HTTP {status} without a message_uuid")
    error = document.get("error")
    if isinstance(error, str) and error:
        detail = error
    elif error:
        detail = json.dumps(error, ensure_ascii=False)  # some Plivo APIs give an object of field errors
    else:
        detail = f"HTTP {status}"
    error_code = f"http_{status}"
    if status == 400 and _INVALID_DESTINATION.search(detail):
        return SmsResult(status="unreachable", error_code=error_code, detail=detail)
    return rest.retry_or_failed(status, error_code, detail)


def _digits(number: str) -> str:
    """Plivo's canonical number form: country code and number, without `+` (it strips one anyway)."""
    return number.removeprefix("+")
