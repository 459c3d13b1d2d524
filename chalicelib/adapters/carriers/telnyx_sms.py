"""Send SMS through Telnyx's Messages API: one JSON POST per text, the answer mapped to an SmsResult.

Standard library only (urllib, through rest.py): the `telnyx` package is not a runtime dependency, and one
POST needs no more than TLS verification, timeouts and no redirects.

`POST {api_url}/v2/messages` with `Authorization: Bearer <API key>` and `{"from", "to", "text"}` (plus
`messaging_profile_id` and `webhook_url` when set) answers 200 with `{"data": {"id", "to": [{"status": "queued"}],
...}}`, or an error status with `{"errors": [{"code", "title", "detail"}]}` (codes are strings). Mapping:

- 2xx: `sent`, provider_message_id = `data.id`.
- 40300 (blocked by the contact's STOP at Telnyx): `opted_out`.
- 40001, 40008, 40012, 40310 (not routable, undeliverable, invalid destination, invalid `to`): `unreachable`.
- HTTP 429 and 5xx, 40318 (Telnyx's message queue is full), and no answer at all: `retry`.
- Anything else (other 4xx such as 10009 authentication failed or 40305 invalid `from`, an unexpected 3xx): `failed`.
"""

from __future__ import annotations

import json

from chalicelib.adapters.carriers import rest
from chalicelib.adapters.carriers.telnyx import (
    DEFAULT_API_URL,
    OPTED_OUT_ERROR_CODES,
    UNREACHABLE_ERROR_CODES,
    coded_errors,
)
from chalicelib.domain.models import OutboundSms, SmsResult, SmsStatus

MESSAGES_PATH = "/v2/messages"
#: Error codes that say "not now": the text may go through later.
RETRY_ERROR_CODES = frozenset({"10011", "40318"})  # too many requests; message queue full


class TelnyxSmsProvider:
    """An SmsProvider on Telnyx's Messages API.

    `messaging_profile_id` is sent with every text when given (Telnyx needs it for number pools and alphanumeric
    senders); `webhook_url`, when given, is where Telnyx reports this text's delivery (else the profile's URL).
    `base_url` exists for tests (a loopback server that answers as Telnyx does); `timeout` bounds connecting and each
    read, in seconds.
    """

    name = "telnyx"

    def __init__(
        self,
        api_key: str,
        *,
        messaging_profile_id: str | None = None,
        webhook_url: str | None = None,
        base_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
    ) -> None:
        if not api_key:
            raise ValueError("a Telnyx API key is required")
        self.url = base_url.rstrip("/") + MESSAGES_PATH
        self.messaging_profile_id = messaging_profile_id
        self._authorization = f"Bearer {api_key}"
        self._webhook_url = webhook_url
        self._http = rest.Client(timeout)

    def __repr__(self) -> str:
        # Keeps the API key out of logs and tracebacks that print the provider.
        return f"TelnyxSmsProvider(url={self.url!r}, messaging_profile_id={self.messaging_profile_id!r})"

    def send(self, message: OutboundSms) -> SmsResult:
        """Send `message` and map Telnyx's answer to an SmsResult; never raises for anything Telnyx or the network does.

        A timeout or a connection dropped after the request went out is `retry` although Telnyx may have accepted
        the text: the Messages API takes no idempotency key, and a duplicate beats a text never sent.
        """
        document: dict[str, str] = {"from": message.sender, "to": message.to, "text": message.body}
        if self.messaging_profile_id:
            document["messaging_profile_id"] = self.messaging_profile_id
        if self._webhook_url:
            document["webhook_url"] = self._webhook_url
        request = rest.post(
            self.url,
            json.dumps(document).encode("utf-8"),
            content_type="application/json",
            authorization=self._authorization,
        )
        return self._http.send(request, result_of)


def result_of(status: int, body: bytes) -> SmsResult:
    """Map one HTTP answer from the Messages endpoint (status and raw body) to an SmsResult."""
    document = rest.json_object(body)
    if 200 <= status < 300:
        data = document.get("data")
        message_id = data.get("id") if isinstance(data, dict) else None
        if isinstance(message_id, str) and message_id:
            return SmsResult(status="sent", provider_message_id=message_id)
        # Telnyx accepted the text; sending it again because the body is unreadable would duplicate it.
        return SmsResult(status="sent", detail=f"HTTP {status} without a message id")
    errors = coded_errors(document.get("errors"))
    outcomes: tuple[tuple[SmsStatus, frozenset[str]], ...] = (
        ("opted_out", OPTED_OUT_ERROR_CODES),
        ("unreachable", UNREACHABLE_ERROR_CODES),
    )
    for outcome, wanted in outcomes:
        for code, text in errors:
            if code in wanted:
                return SmsResult(status=outcome, error_code=code, detail=text or f"HTTP {status}")
    code, text = errors[0] if errors else (f"http_{status}", None)
    detail = text or f"HTTP {status}"
    if code in RETRY_ERROR_CODES:
        return SmsResult(status="retry", error_code=code, detail=detail)
    return rest.retry_or_failed(status, code, detail)
