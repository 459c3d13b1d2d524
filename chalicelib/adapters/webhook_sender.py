"""WebhookSender over urllib: one POST of a signed change event to an account's endpoint, and how it went.

Standard library only. Redirects are never followed (Standard Webhooks: a 3xx is a failure; update the URL instead),
each attempt is bounded by a timeout for connecting and for each read, the answer's body is read with a small cap
(only its start goes into the delivery log), and the host's addresses are checked before connecting: an endpoint
whose name resolves to a private, loopback, link-local or otherwise non-public address is refused (server-side
request forgery), unless loopback endpoints are allowed (local runs) and the address is loopback.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from chalicelib.domain.change_events import ReceiverAnswer

USER_AGENT = "sms-optout-webhooks/1 (urllib)"
#: Only the start of a receiver's answer is kept (in the delivery log, on failure).
MAX_ANSWER_BYTES = 4096
ERROR_EXCERPT = 200


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx comes back as an HTTPError (a failed attempt), never as a second request elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class UrllibWebhookSender:
    """`timeout`: seconds to connect and to wait for each read. `allow_loopback`: loopback addresses may be called
    (a local run); every other non-public address is refused whatever it says."""

    def __init__(self, timeout: float, *, allow_loopback: bool = False) -> None:
        self._timeout = timeout
        self._allow_loopback = allow_loopback
        # No proxies from the environment: the address checked is the address connected to.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _RefuseRedirects)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> ReceiverAnswer:
        """POST `body` with `headers`; the receiver's status, or why there was none. Never raises for the network."""
        refusal = self._refusal(url)
        if refusal is not None:
            return ReceiverAnswer(status=None, error=refusal)
        request = urllib.request.Request(url, data=body, method="POST", headers={**headers, "User-Agent": USER_AGENT})
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                response.read(MAX_ANSWER_BYTES)
                return ReceiverAnswer(status=int(response.status))
        except urllib.error.HTTPError as error:
            # Before URLError, its base class: an HTTP error is an answer (a 3xx not followed, a 4xx, a 5xx).
            return _error_answer(error)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            # Refused, DNS, connect or read timeout, reset, a truncated or malformed answer.
            reason = getattr(error, "reason", None) or error
            return ReceiverAnswer(status=None, error=f"no answer: {type(reason).__name__}: {reason}"[:ERROR_EXCERPT])

    def _refusal(self, url: str) -> str | None:
        """Why `url`'s host may not be called now, or None."""
        parts = urlsplit(url)
        host = parts.hostname
        if not host or parts.scheme not in ("http", "https"):
            return "not an http(s) URL"
        if parts.scheme == "http" and not self._allow_loopback:
            return "plain http is refused: the URL must start with https://"
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            addresses = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
        except (OSError, ValueError) as error:
            return f"no address for {host}: {error}"[:ERROR_EXCERPT]
        for address in addresses:
            ip = ipaddress.ip_address(str(address).split("%", 1)[0])
            if ip.is_loopback and self._allow_loopback:
                continue
            if parts.scheme == "http" or not ip.is_global:
                return f"{host} resolves to {ip}, which is not a public address"
        return None


def _error_answer(error: urllib.error.HTTPError) -> ReceiverAnswer:
    try:
        excerpt = error.read(MAX_ANSWER_BYTES)[:ERROR_EXCERPT].decode("utf-8", "replace")
    except (http.client.HTTPException, OSError):
        excerpt = ""
    finally:
        error.close()
    retry_after = (error.headers.get("Retry-After") or "").strip() if error.headers else ""
    detail = f"HTTP {error.code}" + (f": {excerpt.strip()}" if excerpt.strip() else "")
    if 300 <= error.code < 400:
        detail = f"HTTP {error.code}: redirects are not followed; give the endpoint's final URL"
    return ReceiverAnswer(
        status=error.code,
        error=detail[:ERROR_EXCERPT],
        retry_after=int(retry_after) if retry_after.isascii() and retry_after.isdigit() else None,
    )
