"""Twilio: verify `X-Twilio-Signature`, parse inbound SMS and status callbacks, answer in TwiML, send via REST.

The wire formats are pure functions; `TwilioCarrier` puts them behind the Carrier interface.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from datetime import datetime
from html import escape
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from chalicelib.adapters.carriers.wire import (
    FORM,
    FormFields,
    parse_form,
    require_content_type,
    sender_number,
)
from chalicelib.adapters.carriers.wire import error_source as source_of_error
from chalicelib.domain.errors import CarrierNotConfigured, InvalidSignature
from chalicelib.domain.models import DeliveryReport, InboundMessage, Source
from chalicelib.domain.phone import to_e164
from chalicelib.domain.ports import CarrierNotice, Credentials, SmsProvider
from chalicelib.domain.webhooks import WebhookAnswer, WebhookRequest

CARRIER = "twilio"

#: Twilio refuses to send to a number that replied STOP (a carrier opt-out, DESIGN rule 4).
OPTED_OUT_ERROR_CODES = frozenset({"21610"})
#: Unreachable, unknown, landline or invalid destination: a bounce (DESIGN rule 4).
UNREACHABLE_ERROR_CODES = frozenset({"30003", "30005", "30006", "21614", "21211"})

_DEFAULT_PORTS = {"https": 443, "http": 80}
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


def parse_inbound(
    params: Sequence[tuple[str, str]], *, account_id: str, default_region: str, received_at: datetime
) -> InboundMessage:
    """Read Twilio's incoming-message webhook into an InboundMessage.

    Requires MessageSid (or SmsSid), From and To; numbers become E.164 (InvalidPhone when they are not numbers).
    Twilio's webhook has no timestamp, so the message occurred when we received it. `carrier_confirms` is set when
    Advanced Opt-Out handled the message (OptOutType present), since Twilio then sends the confirmation itself.
    """
    fields = FormFields(params)
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
    fields = FormFields(params)
    return DeliveryReport(
        carrier=CARRIER,
        message_id=fields.required("MessageSid", "SmsSid"),
        account_id=account_id,
        to_phone=to_e164(fields.required("To"), default_region),
        # None for an alphanumeric sender ID: the report still counts (21610 is an opt-out).
        from_phone=sender_number(fields.required("From"), default_region),
        status=fields.required("MessageStatus", "SmsStatus"),
        error_code=fields.optional("ErrorCode") or None,
        occurred_at=received_at,
        received_at=received_at,
    )


def error_source(error_code: str | None) -> Source | None:
    """What a Twilio error code means for the recipient: opted out at the carrier, unreachable, or nothing."""
    return source_of_error(error_code, opted_out=OPTED_OUT_ERROR_CODES, unreachable=UNREACHABLE_ERROR_CODES)


def account_sid_of(params: Sequence[tuple[str, str]]) -> str | None:
    """The request's AccountSid, or None when absent or empty (the view compares it with the account's SID)."""
    return FormFields(params).optional("AccountSid") or None


def twiml(message: str | None) -> str:
    """TwiML answering an inbound message: one `<Message>` with `message`, or an empty `<Response/>`.

    An empty message also gives an empty response: Twilio rejects a `<Message>` without a body.
    """
    if not message:
        return f"{_XML_DECLARATION}<Response/>"
    text = escape(_XML_INVALID_CHARS.sub("", message), quote=False)
    return f"{_XML_DECLARATION}<Response><Message>{text}</Message></Response>"


class TwilioCredentials(BaseModel):
    """An account's Twilio credentials (PUT /v1/accounts/{id} `carriers.twilio`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_sid: str | None = Field(default=None, pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr | None = Field(default=None, min_length=8, max_length=128)


class TwilioCarrier:
    """Twilio behind the Carrier interface: form-encoded webhooks signed with the auth token, TwiML answers."""

    name = CARRIER
    credentials_form: type[BaseModel] = TwilioCredentials
    replies_in_answer = True

    def __init__(self, *, api_url: str, timeout: float = 10.0) -> None:
        self._api_url = api_url
        self._timeout = timeout

    def verify(self, request: WebhookRequest, credentials: Credentials) -> None:
        """The signature must be the auth token's over the URL and form, and the AccountSid the account's own."""
        params = self._form(request)
        auth_token = credentials.get("auth_token")
        if not auth_token:
            raise InvalidSignature("the account has no Twilio auth token to verify the signature with")
        if not is_valid_request(
            urls=[request.url], params=params, auth_token=auth_token, signature=request.header("x-twilio-signature")
        ):
            raise InvalidSignature("the X-Twilio-Signature header does not match this request")
        expected_sid = credentials.get("account_sid")
        sent_sid = account_sid_of(params)
        if expected_sid and sent_sid and not hmac.compare_digest(expected_sid, sent_sid):
            raise InvalidSignature("the request is for another Twilio account")

    def read(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        message = parse_inbound(
            self._form(request), account_id=account_id, default_region=default_region, received_at=received_at
        )
        return CarrierNotice(messages=(message,))

    def read_status(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        report = parse_status(
            self._form(request), account_id=account_id, default_region=default_region, received_at=received_at
        )
        return CarrierNotice(reports=(report,))

    def error_source(self, error_code: str | None) -> Source | None:
        return error_source(error_code)

    def answer(self, reply: str | None) -> WebhookAnswer:
        """TwiML: the reply as a `<Message>`, or an empty `<Response/>`."""
        return WebhookAnswer(200, twiml(reply), {"Content-Type": "text/xml"})

    def provider(self, credentials: Credentials) -> SmsProvider:
        from chalicelib.adapters.carriers.twilio_sms import TwilioSmsProvider

        account_sid, auth_token = credentials.get("account_sid"), credentials.get("auth_token")
        if not account_sid or not auth_token:
            raise CarrierNotConfigured("the account has no Twilio account SID and auth token")
        return TwilioSmsProvider(account_sid, auth_token, base_url=self._api_url, timeout=self._timeout)

    @staticmethod
    def _form(request: WebhookRequest) -> list[tuple[str, str]]:
        require_content_type(request, FORM)
        return parse_form(request.body)
