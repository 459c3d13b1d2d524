"""Send SMS through Twilio's Messages REST API: one form-encoded POST per text, the answer mapped to an SmsResult.

Standard library only: neither the `twilio` package nor `requests` is a runtime dependency; the HTTP plumbing every
sender shares (urllib, redirects refused, no answer told from an error answer) is rest.py's.

Mapping (error codes from Twilio's JSON error body, `{"code", "message", "more_info", "status"}`):

- 2xx: `sent`, provider_message_id = the message resource's `sid`.
- 21610 (unsubscribed recipient): `opted_out`.
- 30003, 30005, 30006, 21614, 21211 (unreachable, unknown, landline, not mobile, invalid `To`): `unreachable`.
- HTTP 429 and 5xx, and no answer at all (refused, reset, timed out): `retry`.
- Anything else (other 4xx, an unexpected 3xx): `failed`, with Twilio's code and message.
"""

from __future__ import annotations

import urllib.parse

from chalicelib.adapters.carriers import rest
from chalicelib.adapters.carriers.twilio import OPTED_OUT_ERROR_CODES, UNREACHABLE_ERROR_CODES
from chalicelib.domain.models import OutboundSms, SmsResult

API_VERSION = "2010-04-01"
DEFAULT_BASE_URL = "https://api.twilio.com"


class TwilioSmsProvider:
    """An SmsProvider on Twilio's Messages resource (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`).

    Authenticates with HTTP Basic (account SID, auth token). `status_callback`, when given, is sent as
    `StatusCallback` so Twilio reports delivery to our status webhook. `base_url` exists for tests (a loopback
    server that answers as Twilio does); `timeout` bounds connecting and each read, in seconds.
    """

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        status_callback: str | None = None,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("a Twilio account SID and auth token are required")
        self.account_sid = account_sid
        self.url = (
            f"{base_url.rstrip('/')}/{API_VERSION}/Accounts/{urllib.parse.quote(account_sid, safe='')}/Messages.json"
        )
        self._authorization = rest.basic_authorization(account_sid, auth_token)
        self._status_callback = status_callback
        self._http = rest.Client(timeout)

    def __repr__(self) -> str:
        # Keeps the auth token out of logs and tracebacks that print the provider.
        return f"TwilioSmsProvider(account_sid={self.account_sid!r}, url={self.url!r})"

    def send(self, message: OutboundSms) -> SmsResult:
        """Create one Message resource for `message` and map Twilio's answer to an SmsResult.

        Never raises for anything Twilio or the network does. A timeout or a connection dropped after the request
        went out is `retry` although Twilio may have accepted the text: the Messages API has no idempotency key,
        so a retry can send it twice, which beats silently never sending it.
        """
        form = {"To": message.to, "From": message.sender, "Body": message.body}
        if self._status_callback:
            form["StatusCallback"] = self._status_callback
        request = rest.post(
            self.url,
            urllib.parse.urlencode(form).encode("utf-8"),
            content_type="application/x-www-form-urlencoded; charset=utf-8",
            authorization=self._authorization,
        )
        return self._http.send(request, result_of)


def result_of(status: int, body: bytes) -> SmsResult:
    """Map one HTTP answer from the Messages endpoint (status and raw body) to an SmsResult."""
    document = rest.json_object(body)
    if 200 <= status < 300:
        sid = document.get("sid")
        if isinstance(sid, str) and sid:
            return SmsResult(status="sent", provider_message_id=sid)
        # Twilio accepted the text; sending it again because the body is unreadable would duplicate it.
        return SmsResult(status="sent", detail=f"HTTP {status} without a message sid")
    raw_code = document.get("code")
    code = str(raw_code) if isinstance(raw_code, int | str) and str(raw_code) else None
    message = document.get("message")
    detail = message if isinstance(message, str) and message else f"HTTP {status}"
    if code in OPTED_OUT_ERROR_CODES:
        return SmsResult(status="opted_out", error_code=code, detail=detail)
    if code in UNREACHABLE_ERROR_CODES:
        return SmsResult(status="unreachable", error_code=code, detail=detail)
    return rest.retry_or_failed(status, code or f"http_{status}", detail)
