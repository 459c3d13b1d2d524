"""Send SMS through Twilio's Messages REST API: one form-encoded POST per text, the answer mapped to an SmsResult.

Standard library only: neither the `twilio` package nor `requests` is a runtime dependency, and urllib does all a
single POST needs (TLS verification, timeouts, proxies from the environment).

Mapping (error codes from Twilio's JSON error body, `{"code", "message", "more_info", "status"}`):

- 2xx: `sent`, provider_message_id = the message resource's `sid`.
- 21610 (unsubscribed recipient): `opted_out`.
- 30003, 30005, 30006, 21614, 21211 (unreachable, unknown, landline, not mobile, invalid `To`): `unreachable`.
- HTTP 429 and 5xx, and no answer at all (refused, reset, timed out): `retry`.
- Anything else (other 4xx, an unexpected 3xx): `failed`, with Twilio's code and message.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from chalicelib.adapters.carriers.twilio import OPTED_OUT_ERROR_CODES, UNREACHABLE_ERROR_CODES
from chalicelib.domain.models import OutboundSms, SmsResult

API_VERSION = "2010-04-01"
DEFAULT_BASE_URL = "https://api.twilio.com"
_USER_AGENT = "sms-optout (urllib)"
# A message resource is about 1 KB; the cap only bounds what a misbehaving endpoint can make us hold.
_MAX_RESPONSE_BYTES = 1 << 20


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect.

    urllib would re-issue the POST as a GET (the text would not be sent) and carry the Authorization header to
    whatever host the redirect names. Twilio's API does not redirect, so a 3xx surfaces as an HTTPError instead.
    """

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


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
        # Sent up front: urllib's HTTPBasicAuthHandler would first send the POST without credentials and wait for
        # the 401 challenge, doubling every request.
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode("ascii")
        self._authorization = f"Basic {credentials}"
        self._timeout = timeout
        self._status_callback = status_callback
        self._opener = urllib.request.build_opener(_RefuseRedirects)

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
        request = urllib.request.Request(
            self.url,
            data=urllib.parse.urlencode(form).encode("utf-8"),
            method="POST",
            headers={
                "Authorization": self._authorization,
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "Accept": "application/json",
                "User-Agent": _USER_AGENT,
            },
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status = response.status
                body = response.read(_MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as error:
            # Caught before URLError, its base class: an HTTP error is an answer, with a status and a JSON body.
            status = error.code
            body = _read_error_body(error)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            # No usable answer: URLError wraps refused connections, DNS and connect timeouts; a read timeout
            # (socket.timeout is TimeoutError), a reset (ConnectionError) or a truncated response come bare.
            return SmsResult(status="retry", error_code="connection_error", detail=_describe(error))
        return result_of(status, body)


def result_of(status: int, body: bytes) -> SmsResult:
    """Map one HTTP answer from the Messages endpoint (status and raw body) to an SmsResult."""
    document = _json_object(body)
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
    error_code = code or f"http_{status}"
    if status == 429 or status >= 500:
        return SmsResult(status="retry", error_code=error_code, detail=detail)
    return SmsResult(status="failed", error_code=error_code, detail=detail)


def _read_error_body(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read(_MAX_RESPONSE_BYTES)
    except (http.client.HTTPException, OSError):
        # The status alone still decides retry versus failed.
        return b""
    finally:
        error.close()


def _json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or {} when it is not one (a proxy's HTML error page, an empty body)."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _describe(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    cause = reason if reason is not None else error
    return f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
