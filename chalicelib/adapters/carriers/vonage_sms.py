"""Send SMS through Vonage's SMS API: one form-encoded `POST /sms/json` per text, the answer mapped to an SmsResult.

Standard library only (urllib, through rest.py), as for Twilio: one POST needs nothing more.

Vonage answers HTTP 200 whether or not it took the text: `{"message-count": "N", "messages": [...]}`, one entry per
part of the text, each with a `status` ("0" = accepted, with its `message-id`) or an error `status` and
`error-text`. The status codes are at https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms
(and https://developer.vonage.com/en/api-errors/sms):

- "0" for every part: `sent`, provider_message_id = the first part's message-id (each part gets its own receipt).
- Some parts "0", some not: `sent` (sending again would repeat the parts that went out), the failure in `detail`.
- "1" Throttled, "5" Internal Error, "10" Too Many Existing Binds ("back-off and retry"): `retry`.
- "7" Number Barred ("the number ... is blacklisted and may not receive them"), "33" Number De-activated:
  `unreachable`, a bounce an admin may lift. Vonage reports a contact's own opt-out only in the delivery receipt
  (status 0 here, then err-code 9: see vonage.py), so no status here is `opted_out`.
- Anything else is `failed` with Vonage's status and error-text: 2 missing and 3 invalid parameters, 4 invalid
  credentials, 6 invalid message, 8 account barred, 9 partner quota violation (no credit: an operator must top up),
  11 account not enabled for HTTP, 12 message too long, 14 invalid signature, 15 invalid sender address, 22
  invalid network code, 23 invalid callback URL, 29 non-whitelisted destination (a demo account), 32 signature
  and API secret disallowed.
- HTTP 429 and 5xx, and no answer at all (refused, reset, timed out): `retry`; any other HTTP status: `failed`.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from chalicelib.adapters.carriers import rest
from chalicelib.domain.models import OutboundSms, SmsResult

DEFAULT_BASE_URL = "https://rest.nexmo.com"
SUCCESS = "0"
#: Throttled, internal error, too many existing binds: try again later.
RETRY_STATUSES = frozenset({"1", "5", "10"})
#: Number barred, number de-activated: the number cannot take texts (a bounce).
UNREACHABLE_STATUSES = frozenset({"7", "33"})

# GSM 03.38: the default alphabet and its extension table. A text with any other character must be sent as
# `type=unicode`, or Vonage replaces that character.
_GSM_7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà" + "\f^{}\\[~]|€"
)


def is_gsm_7(text: str) -> bool:
    """True when every character of `text` is in the GSM 7-bit alphabet (default table or extension)."""
    return all(character in _GSM_7 for character in text)


class VonageSmsProvider:
    """An SmsProvider on Vonage's SMS API (`POST {base_url}/sms/json`), authenticated by api_key and api_secret.

    `callback`, when given, is the URL Vonage sends this text's delivery receipts to instead of the dashboard's.
    `base_url` exists for tests (a loopback server answering as Vonage does); `timeout` bounds connecting and each
    read, in seconds.
    """

    name = "vonage"

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        callback: str | None = None,
    ) -> None:
        if not api_key or not api_secret:
            raise ValueError("a Vonage API key and secret are required")
        self.api_key = api_key
        self._api_secret = api_secret
        self.url = f"{base_url.rstrip('/')}/sms/json"
        self._callback = callback
        self._http = rest.Client(timeout)

    def __repr__(self) -> str:
        # Keeps the API secret out of logs and tracebacks that print the provider.
        return f"VonageSmsProvider(api_key={self.api_key!r}, url={self.url!r})"

    def send(self, message: OutboundSms) -> SmsResult:
        """Submit `message` and map Vonage's answer to an SmsResult; never raises for what Vonage or the network do.

        Numbers go as international digits without `+`. A timeout or a connection dropped after the request went out
        is `retry` although Vonage may have taken the text: the SMS API has no idempotency key, and a duplicate beats
        a text silently never sent.
        """
        form = {
            "api_key": self.api_key,
            "api_secret": self._api_secret,
            "from": message.sender.removeprefix("+"),
            "to": message.to.removeprefix("+"),
            "text": message.body,
        }
        if not is_gsm_7(message.body):
            form["type"] = "unicode"
        if self._callback:
            form["callback"] = self._callback
        request = rest.post(
            self.url,
            urllib.parse.urlencode(form).encode("utf-8"),
            content_type="application/x-www-form-urlencoded; charset=utf-8",
        )
        return self._http.send(request, result_of)


def result_of(status: int, body: bytes) -> SmsResult:
    """Map one HTTP answer from `/sms/json` (status and raw body) to an SmsResult."""
    document = rest.json_object(body)
    if not 200 <= status < 300:
        detail = _text(document.get("error-text")) or _text(document.get("title")) or f"HTTP {status}"
        return rest.retry_or_failed(status, f"http_{status}", detail)
    messages = document.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        # Vonage answers 200 to refusals too, so an unreadable 200 says nothing of whether the text went out;
        # final rather than retried, so it is not sent twice.
        return SmsResult(status="failed", error_code="unreadable_answer", detail=f"HTTP {status} without messages")
    accepted = [m for m in messages if _text(m.get("status")) == SUCCESS]
    refused = [m for m in messages if _text(m.get("status")) != SUCCESS]
    if accepted:
        message_id = _text(accepted[0].get("message-id")) or None
        if not refused:
            return SmsResult(status="sent", provider_message_id=message_id)
        return SmsResult(
            status="sent",
            provider_message_id=message_id,
            detail=f"{len(refused)} of {len(messages)} parts not sent: {_describe_refusal(refused[0])}",
        )
    code = _text(refused[0].get("status")) or "unknown"
    detail = _describe_refusal(refused[0])
    if code in RETRY_STATUSES:
        return SmsResult(status="retry", error_code=code, detail=detail)
    if code in UNREACHABLE_STATUSES:
        return SmsResult(status="unreachable", error_code=code, detail=detail)
    return SmsResult(status="failed", error_code=code, detail=detail)


def _describe_refusal(message: dict[str, Any]) -> str:
    return _text(message.get("error-text")) or f"status {_text(message.get('status')) or 'missing'}"


def _text(value: object) -> str:
    """A JSON string or number as text ('' for anything else): Vonage's statuses are strings, but be lenient."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""
