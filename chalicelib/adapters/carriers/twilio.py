"""Twilio webhooks: verify `X-Twilio-Signature`, parse inbound SMS and status callbacks, answer in TwiML.

Pure functions: no I/O, no boto3, no Chalice. The webhook view reads the request, the auth token and the account,
and calls these.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from urllib.parse import parse_qs, parse_qsl, urlsplit
from xml.sax.saxutils import escape

from chalicelib.domain.errors import InvalidPhone, InvalidRequest
from chalicelib.domain.models import DeliveryReport, InboundMessage, Source
from chalicelib.domain.phone import to_e164

CARRIER = "twilio"

#: Twilio refuses to send to a number that replied STOP (a carrier opt-out, DESIGN rule 4).
OPTED_OUT_ERROR_CODES = frozenset({"21610"})
#: Unreachable, unknown, landline or invalid destination: a bounce (DESIGN rule 4).
UNREACHABLE_ERROR_CODES = frozenset({"30003", "30005", "30006", "21614", "21211"})

_DEFAULT_PORTS = {"https": 443, "http": 80}
# Twilio sends a few dozen fields (ten media at most); a cap keeps a hostile body from costing much.
_MAX_FORM_FIELDS = 1000
_BODY_HASH_PARAMETER = "bodySHA256"
# Characters XML 1.0 cannot carry even escaped; Twilio rejects TwiML that contains them.
_XML_INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def compute_signature(url: str, params: Sequence[tuple[str, str]], auth_token: str) -> str:
    """Return Twilio's signature of a request: base64(HMAC-SHA1(auth_token, url + names and values)).

    The parameters are sorted by name, then by value for a repeated name, and a name/value pair that occurs more
    than once counts once: twilio-python's RequestValidator sorts and de-duplicates a multi-valued form that way
    (its `duplicate_keys_case` vector signs `Digits=5678&Digits=1234&Digits=1234` as `Digits1234Digits5678`).
    """
    signed = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> list[str]:
    """Return `url` and the same URL with its scheme's default port added (when absent) or removed (when present).

    Twilio signs some requests with the port and some without, so its validators accept both. Only the host part
    changes: path and query stay byte for byte as given. A non-default port, a scheme other than http(s) or a
    malformed port leave only `url`.
    """
    parts = urlsplit(url)
    default_port = _DEFAULT_PORTS.get(parts.scheme)
    if default_port is None or not parts.hostname:
        return [url]
    try:
        port = parts.port
    except ValueError:
        return [url]
    # Splice the new host into the original text rather than re-joining the parts, which could alter the URL.
    host_start = url.index("//") + 2
    host_end = host_start + len(parts.netloc)
    if port is None:
        netloc = f"{parts.netloc}:{default_port}"
    elif port == default_port:
        netloc = parts.netloc.rsplit(":", 1)[0]
    else:
        return [url]
    return [url, url[:host_start] + netloc + url[host_end:]]


def is_valid_request(
    *,
    urls: Sequence[str],
    params: Sequence[tuple[str, str]],
    auth_token: str,
    signature: str | None,
    body: bytes | None = None,
) -> bool:
    """True when `signature` is Twilio's signature of the request at any of `urls`, with or without default port.

    A URL carrying a `bodySHA256` query parameter is Twilio's JSON-body form: the body's SHA-256 must equal it, and
    the signature covers the URL alone (no parameters). A missing signature or auth token never validates.
    """
    if not signature or not auth_token:
        return False
    expected = signature.encode("utf-8")
    for url in urls:
        signed_params = params
        body_hashes = parse_qs(urlsplit(url).query).get(_BODY_HASH_PARAMETER)
        if body_hashes is not None:
            if body is None:
                continue
            actual_hash = hashlib.sha256(body).hexdigest().encode("ascii")
            if not hmac.compare_digest(actual_hash, body_hashes[0].encode("utf-8")):
                continue
            signed_params = ()
        for variant in url_variants(url):
            candidate = compute_signature(variant, signed_params, auth_token).encode("ascii")
            if hmac.compare_digest(candidate, expected):
                return True
    return False


def rebuild_url(*, public_base_url: str | None, headers: Mapping[str, str], request_path: str, query: str) -> list[str]:
    """Return the public URLs Twilio may have signed this request against (each with and without default port).

    With `public_base_url` (e.g. `https://sms.example.com/prod`), the URL is that base plus the route, i.e. the part
    of `request_path` from `/webhooks/` on: API Gateway reports the path with the stage (`/api/webhooks/...`) while
    `chalice local` reports it without. Otherwise it is rebuilt from the request: scheme from `x-forwarded-proto`
    (https when behind API Gateway, http otherwise), host from `host`, port from `x-forwarded-port`. `headers` has
    lower-case keys. Without a host to rebuild from, the list is empty, so nothing validates.
    """
    suffix = f"?{query}" if query else ""
    if public_base_url:
        url = public_base_url.rstrip("/") + _route_part(request_path) + suffix
    else:
        host = headers.get("host", "").strip()
        if not host:
            return []
        forwarded_proto = headers.get("x-forwarded-proto", "")
        # A proxy chain may list several protocols; the first is the one the client (Twilio) used.
        scheme = forwarded_proto.split(",")[0].strip().lower()
        if not scheme:
            scheme = "https" if "x-forwarded-for" in headers else "http"
        port = headers.get("x-forwarded-port", "").split(",")[0].strip()
        if port and not _has_port(host):
            host = f"{host}:{port}"
        url = f"{scheme}://{host}{request_path}{suffix}"
    return list(dict.fromkeys(url_variants(url)))


def _route_part(request_path: str) -> str:
    # Prefer the Twilio route itself, so a stage that happens to be named "webhooks" is not taken for the route.
    for marker in ("/webhooks/twilio/", "/webhooks/"):
        start = request_path.find(marker)
        if start >= 0:
            return request_path[start:]
    return request_path


def _has_port(host: str) -> bool:
    # "[::1]:3000" has a port; "[::1]" has colons but none.
    return ":" in host.rsplit("]", 1)[-1]


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


def parse_inbound(
    params: Sequence[tuple[str, str]], *, account_id: str, default_region: str, received_at: datetime
) -> InboundMessage:
    """Read Twilio's incoming-message webhook into an InboundMessage.

    Requires MessageSid (or SmsSid), From and To; numbers become E.164 (InvalidPhone when they are not numbers).
    Twilio's webhook has no timestamp, so the message occurred when we received it. `carrier_confirms` is set when
    Advanced Opt-Out handled the message (OptOutType present), since Twilio then sends the confirmation itself.
    """
    fields = _Fields(params)
    return InboundMessage(
        carrier=CARRIER,
        message_id=fields.required("MessageSid", "SmsSid"),
        account_id=account_id,
        from_phone=to_e164(fields.required("From"), default_region),
        to_phone=to_e164(fields.required("To"), default_region),
        # An MMS with only media has no Body at all.
        body=fields.optional("Body") or "",
        occurred_at=received_at,
        received_at=received_at,
        carrier_confirms=bool(fields.optional("OptOutType")),
    )


def parse_status(
    params: Sequence[tuple[str, str]], *, account_id: str, default_region: str, received_at: datetime
) -> DeliveryReport:
    """Read Twilio's message status callback into a DeliveryReport.

    Requires MessageSid (or SmsSid), MessageStatus (or SmsStatus), To (the contact) and From (our sender). ErrorCode
    is absent or empty unless the message failed. The callback has no timestamp usable for ordering, so the report
    occurred when we received it.
    """
    fields = _Fields(params)
    return DeliveryReport(
        carrier=CARRIER,
        message_id=fields.required("MessageSid", "SmsSid"),
        account_id=account_id,
        to_phone=to_e164(fields.required("To"), default_region),
        from_phone=_sender(fields.required("From"), default_region),
        status=fields.required("MessageStatus", "SmsStatus"),
        error_code=fields.optional("ErrorCode") or None,
        occurred_at=received_at,
        received_at=received_at,
    )


def _sender(raw: str, default_region: str) -> str | None:
    """Our sending number, or None for an alphanumeric sender ID: the report still counts (21610 is an opt-out)."""
    try:
        return to_e164(raw, default_region)
    except InvalidPhone:
        return None


def error_source(error_code: str | None) -> Source | None:
    """What a Twilio error code means for the recipient: opted out at the carrier, unreachable, or nothing."""
    if error_code in OPTED_OUT_ERROR_CODES:
        return Source.CARRIER
    if error_code in UNREACHABLE_ERROR_CODES:
        return Source.BOUNCE
    return None


def account_sid_of(params: Sequence[tuple[str, str]]) -> str | None:
    """The request's AccountSid, or None when absent or empty (the view compares it with the account's SID)."""
    return _Fields(params).optional("AccountSid") or None


def twiml(message: str | None) -> str:
    """TwiML answering an inbound message: one `<Message>` with `message`, or an empty `<Response/>`.

    An empty message also gives an empty response: Twilio rejects a `<Message>` without a body.
    """
    if not message:
        return f"{_XML_DECLARATION}<Response/>"
    text = escape(_XML_INVALID_CHARS.sub("", message))
    return f"{_XML_DECLARATION}<Response><Message>{text}</Message></Response>"


class _Fields:
    """The form fields by name, refusing a repeated field we read (which one would count is ambiguous)."""

    def __init__(self, params: Sequence[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in params:
            self._values.setdefault(name, []).append(value)

    def optional(self, name: str) -> str | None:
        values = self._values.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise InvalidRequest(f"the field {name} appears more than once", field=name)
        return values[0]

    def required(self, name: str, *fallbacks: str) -> str:
        """The first of `name` and `fallbacks` that has a non-blank value."""
        for candidate in (name, *fallbacks):
            value = self.optional(candidate)
            if value and value.strip():
                return value.strip()
        raise InvalidRequest(f"the field {name} is missing or empty", field=name)
