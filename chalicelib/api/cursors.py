"""Listing cursors as the API hands them out: the store's cursor, signed for one listing of one account.

A store's cursor (DynamoDB's LastEvaluatedKey, encoded) goes out as `<store cursor>.<mac>`, the mac an
HMAC-SHA256 under the deployment's cursor key over the listing's name and the store cursor. A cursor this
deployment did not sign for this listing (forged, tampered, another account's or another listing's, signed with a
rotated key) is a 400 `invalid_cursor` before the store sees it.

The key: `OPTOUT_CURSOR_KEY` (plain text, local use); else the secret `OPTOUT_CURSOR_KEY_SECRET` names in the
secret store; else one derived from the operator token (a per-deployment secret every stage has), so a deployment
needs nothing more. Rotating it only makes outstanding cursors refused: callers start their listing again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from chalicelib.api.http import ConfigurationError, InvalidCursor
from chalicelib.wiring import Container

#: The longest cursor accepted (a store cursor is a few hundred characters).
MAX_CURSOR_LENGTH = 2048
_SEALED = re.compile(r"[A-Za-z0-9_-]{1,2000}\.[A-Za-z0-9_-]{43}")
#: Labels the key derived from the operator token: it signs cursors and nothing else.
_DERIVATION_LABEL = b"sms-optout listing cursors v1"


def cursor_key(parts: Container) -> bytes:
    """This deployment's cursor key; ConfigurationError (a 500, logged) when it has none at all."""
    settings = parts.settings
    if settings.cursor_key is not None:
        return settings.cursor_key.get_secret_value().encode()
    if settings.cursor_key_secret:
        secret = parts.secrets.get(settings.cursor_key_secret)
        if not secret:
            raise ConfigurationError(f"the cursor key secret {settings.cursor_key_secret!r} is not set")
        return secret.encode()
    operator_token = parts.operator_token()
    if not operator_token:
        raise ConfigurationError("no cursor key: set OPTOUT_CURSOR_KEY(_SECRET) or the operator token")
    return hmac.new(operator_token.encode(), _DERIVATION_LABEL, hashlib.sha256).digest()


def seal(key: bytes, listing: str, cursor: str | None) -> str | None:
    """The store's `cursor` signed for `listing` (e.g. `suppressions:acme`); None stays None (the last page)."""
    if cursor is None:
        return None
    return f"{cursor}.{_mac(key, listing, cursor)}"


def unseal(key: bytes, listing: str, sealed: str | None) -> str | None:
    """The store's cursor in `sealed`; InvalidCursor unless this key signed it for `listing`."""
    if sealed is None:
        return None
    if len(sealed) > MAX_CURSOR_LENGTH or not _SEALED.fullmatch(sealed):
        raise InvalidCursor("the cursor is not one this service returned for this listing", field="cursor")
    cursor, _, mac = sealed.rpartition(".")
    if not hmac.compare_digest(mac, _mac(key, listing, cursor)):
        raise InvalidCursor("the cursor is not one this service returned for this listing", field="cursor")
    return cursor


def _mac(key: bytes, listing: str, cursor: str) -> str:
    digest = hmac.new(key, f"{listing}\n{cursor}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
