"""The HTTP plumbing every REST sender shares: one POST out, and its answer (or why there was none) back.

Standard library only: neither a carrier's SDK nor `requests` is a runtime dependency, and urllib does all a single
POST needs (TLS verification, timeouts, proxies from the environment). Each carrier's module builds its own request
(URL, body, credentials) and maps the answer to an SmsResult by its own error codes; what is the same for all of
them is here: redirects refused, the answer read with a cap, a missing answer told apart from an HTTP error, and
HTTP 429 and 5xx meaning "try again later".
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, NamedTuple

from chalicelib.domain.models import SmsResult

USER_AGENT = "sms-optout (urllib)"
# An answer (a message resource, a token, an error) is a few KB at most; the cap only bounds what a misbehaving
# endpoint can make us hold.
MAX_RESPONSE_BYTES = 1 << 20


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect.

    urllib would re-issue the POST as a GET (the text would not be sent) and carry the Authorization header to
    whatever host the redirect names. No carrier's API redirects, so a 3xx surfaces as an HTTPError instead: an
    answer, mapped by its status like any other.
    """

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def basic_authorization(username: str, password: str) -> str:
    """The `Authorization` value for HTTP Basic.

    Sent up front: urllib's HTTPBasicAuthHandler would first send the request without credentials and wait for the
    401 challenge, doubling every request.
    """
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {credentials}"


def post(url: str, body: bytes, *, content_type: str, authorization: str | None = None) -> urllib.request.Request:
    """A POST of `body` (already encoded, of `content_type`) that asks for JSON back, with `authorization` if any."""
    headers = {} if authorization is None else {"Authorization": authorization}
    headers |= {"Content-Type": content_type, "Accept": "application/json", "User-Agent": USER_AGENT}
    return urllib.request.Request(url, data=body, method="POST", headers=headers)


class Answer(NamedTuple):
    """An HTTP answer: its status (a 4xx or 5xx included) and its body, read up to MAX_RESPONSE_BYTES."""

    status: int
    body: bytes


class NoAnswer(NamedTuple):
    """No usable answer came: refused, DNS, connect or read timeout, reset, truncated response."""

    detail: str

    def result(self) -> SmsResult:
        """`retry`. The text may have gone out all the same (a read timeout comes after the request was sent), but
        no carrier takes an idempotency key, and a text sent twice beats a text silently never sent."""
        return SmsResult(status="retry", error_code="connection_error", detail=self.detail)


class Client:
    """How one provider talks HTTP: redirects refused, `timeout` seconds for connecting and for each read.

    Built with the provider, not on import: urllib reads the proxy settings from the environment when it builds the
    opener.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_RefuseRedirects)

    def exchange(self, request: urllib.request.Request) -> Answer | NoAnswer:
        """Send `request` and return the answer, whatever its status; NoAnswer when none came. Never raises for
        anything the network or the other end does."""
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status: int = response.status
                return Answer(status, response.read(MAX_RESPONSE_BYTES))
        except urllib.error.HTTPError as error:
            # Caught before URLError, its base class: an HTTP error is an answer, with a status and a JSON body.
            return Answer(error.code, _read_error_body(error))
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            # URLError wraps refused connections, DNS and connect timeouts; a read timeout (socket.timeout is
            # TimeoutError), a reset (ConnectionError) or a truncated response come bare.
            return NoAnswer(_describe(error))

    def send(self, request: urllib.request.Request, result_of: Callable[[int, bytes], SmsResult]) -> SmsResult:
        """Send a text's `request`: the carrier's `result_of(status, body)` of the answer, or `retry` without one."""
        answer = self.exchange(request)
        if isinstance(answer, NoAnswer):
            return answer.result()
        return result_of(answer.status, answer.body)


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or {} when it is not one (a proxy's HTML error page, an empty body, a body nested
    too deeply to decode)."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return document if isinstance(document, dict) else {}


def retry_or_failed(status: int, error_code: str, detail: str) -> SmsResult:
    """An error answer no carrier-specific code decided: `retry` for HTTP 429 and 5xx (the carrier may take the text
    later), `failed` for any other status (4xx, an unexpected 3xx)."""
    if status == 429 or status >= 500:
        return SmsResult(status="retry", error_code=error_code, detail=detail)
    return SmsResult(status="failed", error_code=error_code, detail=detail)


def _read_error_body(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read(MAX_RESPONSE_BYTES)
    except (http.client.HTTPException, OSError):
        return b""  # the status alone still decides retry versus failed
    finally:
        error.close()


def _describe(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    cause = reason if reason is not None else error
    return f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
