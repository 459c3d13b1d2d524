"""Reading webhooks the same way for every carrier that sends them alike: form bodies, their fields, JSON bodies,
the media type, numbers, and what an error code means for the recipient.

Pure functions over bytes and strings; each carrier's module decides which of them its wire format needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from chalicelib.domain.errors import InvalidPhone, InvalidRequest, UnsupportedMediaType
from chalicelib.domain.models import Source
from chalicelib.domain.phone import to_e164
from chalicelib.domain.webhooks import WebhookRequest

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Carriers send a few dozen fields (Twilio: ten media at most); a cap keeps a hostile body from costing much.
_MAX_FORM_FIELDS = 1000


def require_content_type(request: WebhookRequest, expected: str) -> None:
    """UnsupportedMediaType (a 415) unless the request's media type is `expected`."""
    if request.content_type != expected:
        raise UnsupportedMediaType(f"send Content-Type: {expected}", received=request.content_type or None)


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """Parse an application/x-www-form-urlencoded body strictly, keeping order, blanks and repeated names.

    Raises InvalidRequest for an empty body, bytes that are not UTF-8 or a malformed field.
    """
    if not body:
        raise InvalidRequest("the form body is empty")
    try:
        text = body.decode("utf-8")
        return parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise InvalidRequest("the form body is not valid UTF-8") from None
    except ValueError as error:
        raise InvalidRequest(f"the form body is not valid application/x-www-form-urlencoded: {error}") from None


class FormFields:
    """A form's (or query string's) fields by name, refusing a repeated field we read (which one would count is
    ambiguous)."""

    def __init__(self, params: Sequence[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in params:
            self._values.setdefault(name, []).append(value)

    def optional(self, name: str) -> str | None:
        """The field's value as sent (blank included), None when absent; InvalidRequest when it is repeated."""
        values = self._values.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise InvalidRequest(f"the field {name} appears more than once", field=name)
        return values[0]

    def required(self, name: str, *fallbacks: str) -> str:
        """The first of `name` and `fallbacks` that has a non-blank value, stripped; InvalidRequest naming `name`
        when none has."""
        for candidate in (name, *fallbacks):
            value = self.optional(candidate)
            if value and value.strip():
                return value.strip()
        raise InvalidRequest(f"the field {name} is missing or empty", field=name)


def json_document(body: bytes, problem: str) -> Any:
    """The body decoded as UTF-8 JSON (any JSON value); InvalidRequest saying `problem` when it is not, including a
    document nested too deeply to decode."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest(problem) from None


def international_number(raw: str, default_region: str) -> str:
    """E.164 of a number written as international digits without `+` (`14155550100`), as Plivo and Vonage write
    them: digits alone get the `+`; anything else is read as given, national formats in `default_region`.
    InvalidPhone when it is not a number."""
    text = raw.strip()
    return to_e164("+" + text if text.isdigit() else text, default_region)


def sender_number(raw: object, default_region: str, *, read: Callable[[str, str], str] = to_e164) -> str | None:
    """Our sending number as `read` makes it E.164, or None when there is none or it is an alphanumeric sender ID:
    a report from a sender ID still counts (its error code may be an opt-out)."""
    if not isinstance(raw, str):
        return None
    try:
        return read(raw, default_region)
    except InvalidPhone:
        return None


def error_source(error_code: str | None, *, opted_out: frozenset[str], unreachable: frozenset[str]) -> Source | None:
    """What a carrier's error code means for the recipient: opted out at the carrier (`opted_out`), a number that
    cannot take texts (`unreachable`: a bounce), or nothing."""
    if error_code in opted_out:
        return Source.CARRIER
    if error_code in unreachable:
        return Source.BOUNCE
    return None
