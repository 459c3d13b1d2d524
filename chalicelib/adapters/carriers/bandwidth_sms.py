"""Send SMS through Bandwidth's Messaging V2 API: one JSON POST per text, with an OAuth 2.0 access token.

Standard library only (urllib, through rest.py). Authentication is OAuth 2.0 client credentials: Bandwidth's legacy
API users (HTTP Basic on the API) are decommissioned on 2026-12-02
(https://dev.bandwidth.com/docs/account/credentials/management). A token comes from
`POST https://api.bandwidth.com/api/v1/oauth2/token` (HTTP Basic client id and secret, form
`grant_type=client_credentials`, answer `{access_token, expires_in, ...}`) and is kept until shortly before it
expires.

A text is `POST {api}/users/{accountId}/messages` with `{applicationId, to: [number], from, text, tag}`; Bandwidth
answers 202 with the message (its `id` is what status callbacks name). Mapping:

- 2xx: `sent`, provider_message_id = the message's `id`.
- 401 with a kept token: the token is fetched again and the text sent once more (Bandwidth accepted nothing).
- HTTP 429 and 5xx, and no answer at all (refused, reset, timed out): `retry`.
- Anything else (400 with `{type, description, fieldErrors}`, 401, 403, 404, 415, an unexpected 3xx): `failed`, with
  Bandwidth's `type` as the error code.

Bandwidth accepts a text first and reports on its delivery later, so the create call has no "opted out" or
"unreachable" answer: those come back as `message-failed` callbacks (errorCode 4775, 4720, ...), which the status
webhook turns into suppressions.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.carriers import rest
from chalicelib.adapters.carriers.bandwidth import CARRIER, DEFAULT_API_URL, DEFAULT_TOKEN_URL
from chalicelib.domain.models import OutboundSms, SmsResult

#: A token is not used in its last minute, so it cannot expire between being read and reaching Bandwidth.
TOKEN_MARGIN_SECONDS = 60


class TokenUnavailable(Exception):
    """No access token could be had; `result` is what the send comes to (`retry` or `failed`)."""

    def __init__(self, result: SmsResult) -> None:
        super().__init__(result.detail)
        self.result = result


@dataclass(frozen=True)
class _Token:
    value: str
    #: On the `clock` of AccessTokens.
    usable_until: float


class AccessTokens:
    """Bandwidth OAuth 2.0 access tokens, fetched with client credentials and kept per credential until they expire.

    Shared by every provider of one carrier instance (a warm Lambda reuses them); safe across threads. `clock`
    (Unix seconds: a token expires by Bandwidth's clock, also across a frozen Lambda) exists for tests.
    """

    def __init__(
        self, token_url: str = DEFAULT_TOKEN_URL, *, timeout: float = 10.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.token_url = token_url
        self._clock = clock
        self._tokens: dict[tuple[str, str], _Token] = {}
        # One lock per credential: concurrent sends with one credential wait for one token instead of each asking
        # for their own, and a slow token endpoint for one account does not hold up another's sends.
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._http = rest.Client(timeout)

    def get(self, client_id: str, client_secret: str) -> tuple[str, bool]:
        """A usable access token, and whether it was kept from before; TokenUnavailable when none could be had."""
        key = _key(client_id, client_secret)
        with self._lock_of(key):
            kept = self._tokens.get(key)
            if kept is not None and kept.usable_until > self._clock():
                return kept.value, True
            token = self._fetch(client_id, client_secret)
            if token.usable_until > self._clock():
                self._tokens[key] = token
            return token.value, False

    def forget(self, client_id: str, client_secret: str, token: str) -> None:
        """Drop `token` (Bandwidth refused it) so the next `get` fetches another."""
        key = _key(client_id, client_secret)
        with self._lock_of(key):
            kept = self._tokens.get(key)
            if kept is not None and kept.value == token:
                del self._tokens[key]

    def _lock_of(self, key: tuple[str, str]) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(key, threading.Lock())

    def _fetch(self, client_id: str, client_secret: str) -> _Token:
        request = rest.post(
            self.token_url,
            b"grant_type=client_credentials",
            content_type="application/x-www-form-urlencoded",
            authorization=rest.basic_authorization(client_id, client_secret),
        )
        asked_at = self._clock()
        answer = self._http.exchange(request)
        if isinstance(answer, rest.NoAnswer):
            raise TokenUnavailable(answer.result())
        status, body = answer
        document = rest.json_object(body)
        if 200 <= status < 300:
            value = document.get("access_token")
            if not isinstance(value, str) or not value:
                raise TokenUnavailable(
                    SmsResult(status="retry", error_code="token_unreadable", detail=f"HTTP {status} without a token")
                )
            lifetime = document.get("expires_in")
            # Without a usable lifetime the token is used for this send only.
            seconds = lifetime if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) else 0
            return _Token(value, asked_at + seconds - TOKEN_MARGIN_SECONDS)
        # An OAuth error body: {"error": "invalid_client", "error_description": "..."} (RFC 6749, section 5.2).
        error = document.get("error")
        code = f"oauth_{error}" if isinstance(error, str) and error else f"token_http_{status}"
        description = document.get("error_description")
        detail = description if isinstance(description, str) and description else f"token endpoint: HTTP {status}"
        raise TokenUnavailable(rest.retry_or_failed(status, code, detail))


class BandwidthSmsProvider:
    """An SmsProvider on Bandwidth's create-message endpoint, authenticated with an access token from `tokens`.

    `api_url` exists for tests (a loopback server that answers as Bandwidth does); `timeout` bounds connecting and
    each read, in seconds.
    """

    name = CARRIER

    def __init__(
        self,
        *,
        account_id: str,
        application_id: str,
        client_id: str,
        client_secret: str,
        tokens: AccessTokens,
        api_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
    ) -> None:
        if not (account_id and application_id and client_id and client_secret):
            raise ValueError("a Bandwidth account id, application id, client id and client secret are required")
        self.account_id = account_id
        self.application_id = application_id
        self.client_id = client_id
        self._client_secret = client_secret
        self._tokens = tokens
        self.url = f"{api_url.rstrip('/')}/users/{urllib.parse.quote(account_id, safe='')}/messages"
        self._http = rest.Client(timeout)

    def __repr__(self) -> str:
        # Keeps the client secret out of logs and tracebacks that print the provider.
        return f"BandwidthSmsProvider(account_id={self.account_id!r}, client_id={self.client_id!r}, url={self.url!r})"

    def send(self, message: OutboundSms) -> SmsResult:
        """Create one message for `message` and map Bandwidth's answer to an SmsResult.

        Never raises for anything Bandwidth or the network does. A timeout or a connection dropped after the request
        went out is `retry` although Bandwidth may have accepted the text: the API has no idempotency key, so a retry
        can send it twice, which beats silently never sending it.
        """
        try:
            token, kept = self._tokens.get(self.client_id, self._client_secret)
            answer = self._post(message, token)
            if isinstance(answer, rest.Answer) and answer.status == 401 and kept:
                # Revoked or expired early: Bandwidth accepted nothing, so asking again with a new token is safe.
                self._tokens.forget(self.client_id, self._client_secret, token)
                token, _ = self._tokens.get(self.client_id, self._client_secret)
                answer = self._post(message, token)
        except TokenUnavailable as unavailable:
            return unavailable.result
        if isinstance(answer, rest.NoAnswer):
            return answer.result()
        return result_of(answer.status, answer.body)

    def _post(self, message: OutboundSms, token: str) -> rest.Answer | rest.NoAnswer:
        document = {
            "applicationId": self.application_id,
            "to": [message.to],
            "from": message.sender,
            "text": message.body,
            # Comes back in every status callback of the message: which request it was.
            "tag": message.request_id,
        }
        request = rest.post(
            self.url,
            json.dumps(document, ensure_ascii=False).encode("utf-8"),
            content_type="application/json; charset=utf-8",
            authorization=f"Bearer {token}",
        )
        return self._http.exchange(request)


def result_of(status: int, body: bytes) -> SmsResult:
    """Map one HTTP answer from the create-message endpoint (status and raw body) to an SmsResult."""
    document = rest.json_object(body)
    if 200 <= status < 300:
        message_id = document.get("id")
        if isinstance(message_id, str) and message_id:
            return SmsResult(status="sent", provider_message_id=message_id)
        # Bandwidth accepted the text; sending it again because the body is unreadable would duplicate it.
        return SmsResult(status="sent", detail=f"HTTP {status} without a message id")
    kind = document.get("type")
    error_code = kind if isinstance(kind, str) and kind else f"http_{status}"
    detail = _describe_error(document) or f"HTTP {status}"
    return rest.retry_or_failed(status, error_code, detail)


def _describe_error(document: dict[str, Any]) -> str | None:
    """Bandwidth's `description` (or a gateway's `message`), with each `fieldErrors` entry as `field: problem`."""
    parts = []
    for name in ("description", "message"):
        value = document.get(name)
        if isinstance(value, str) and value:
            parts.append(value)
            break
    field_errors = document.get("fieldErrors")
    if isinstance(field_errors, list):
        for error in field_errors:
            if isinstance(error, dict):
                parts.append(f"{error.get('fieldName', '?')}: {error.get('description', '?')}")
    return "; ".join(parts) or None


def _key(client_id: str, client_secret: str) -> tuple[str, str]:
    # The secret is part of the key (a rotated secret gets its own token) but is not kept in the clear.
    return client_id, hashlib.sha256(client_secret.encode("utf-8")).hexdigest()
