"""Plivo: verify its request signatures (V3, else V2), parse inbound SMS and status callbacks, send via REST.

Wire formats, from Plivo's documentation and its official SDKs:

- Inbound messages reach the application's `message_url` as a form (POST) or query string (GET): `From`, `To` (the
  contact's and our number, international digits without `+`), `Text` (SMS; multipart texts arrive joined) or `Body`
  (MMS), `Type`, `MessageUUID`, `MessageIntent` (`optout`, `optin`, `help` when Plivo matched a standard keyword,
  else blank) and billing fields. No timestamp: the message occurred when we received it
  (https://www.plivo.com/docs/messaging/api/message/handling-incoming).
- Status callbacks go to the `url` given when sending: `MessageUUID`, `To`, `From`, `Status` (queued, sent, failed,
  delivered, undelivered), `ErrorCode` (failed or undelivered only), and `MessageTime`, `QueuedTime`, `SentTime`,
  `DeliveryReportTime` as `YYYY-mm-dd HH:MM:SS.SSSSSS` (https://www.plivo.com/docs/messaging/api/message/
  message-status-callbacks).
- Signatures. V3 (`X-Plivo-Signature-V3`, `X-Plivo-Signature-V3-Nonce`): base64(HMAC-SHA256(auth token, signed URL
  + "." + nonce)); the header may hold several signatures separated by commas, and any one may match. The signed
  URL is built as plivo-python's `validate_v3_signature` builds it (plivo/utils/signature_v3.py). V2
  (`X-Plivo-Signature-V2`, `X-Plivo-Signature-V2-Nonce`): base64(HMAC-SHA256(auth token, URL without query +
  nonce)), which Plivo's messaging docs name (https://www.plivo.com/docs/messaging/concepts/signature-validation).
  `-Ma-` headers carry the same signatures made with the main account's token. Neither version signs a time, so
  there is nothing to expire: a replay is a redelivery, applied once by its MessageUUID.
- Replies: the message URL may answer with `<Response><Message src=".." dst="..">` XML, but a Message needs our
  number and the contact's, which `answer(reply)` does not get; so replies go through the send path
  (`replies_in_answer = False`) and the webhook answers an empty `<Response/>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from chalicelib.adapters.carriers.wire import (
    FORM,
    FormFields,
    international_number,
    parse_form,
    require_content_type,
    sender_number,
)
from chalicelib.adapters.carriers.wire import error_source as source_of_error
from chalicelib.domain.errors import CarrierNotConfigured, InvalidSignature
from chalicelib.domain.models import DeliveryReport, InboundMessage, Source
from chalicelib.domain.ports import CarrierNotice, Credentials, SmsProvider
from chalicelib.domain.webhooks import WebhookAnswer, WebhookRequest

CARRIER = "plivo"
DEFAULT_API_URL = "https://api.plivo.com"

#: 200, "Source number blocked by STOP from destination number": the contact opted out at Plivo (DESIGN rule 4).
OPTED_OUT_ERROR_CODES = frozenset({"200"})
#: The number cannot take texts: a bounce an admin, or a text from the number, lifts. From Plivo's SMS error codes
#: (https://www.plivo.com/docs/messaging/troubleshooting/error-codes):
#: - 50 "Invalid destination number": not entered correctly, not SMS-enabled, or a landline.
#: - 70 "Destination permanently unavailable": the number is not active.
#: - 80 "Destination temporarily unavailable": handset off or out of coverage (like Twilio's 30003, a bounce here).
UNREACHABLE_ERROR_CODES = frozenset({"50", "70", "80"})
# Codes that say nothing about the number suppress nothing: 10 (invalid message), 20 (network error), 30 (spam),
# 40 (our source number), 60 (loop), 90 (no route), 100 (prohibited by carrier), 110 (too long), 201 (US toll-free
# to Canada), 900 (credit), 1000 (unknown).

#: MessageIntent values for which Plivo itself answers the contact (its DND service confirms STOP, answers HELP).
CARRIER_ANSWERED_INTENTS = frozenset({"optout", "optin", "help"})

V3_SIGNATURE_HEADERS = ("x-plivo-signature-v3", "x-plivo-signature-ma-v3")
V3_NONCE_HEADER = "x-plivo-signature-v3-nonce"
V2_SIGNATURE_HEADERS = ("x-plivo-signature-v2", "x-plivo-signature-ma-v2")
V2_NONCE_HEADER = "x-plivo-signature-v2-nonce"

EMPTY_RESPONSE = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# The status callback's times, latest first: the latest one present is when the message reached its status.
_STATUS_TIMES = ("DeliveryReportTime", "SentTime", "QueuedTime", "MessageTime")


# --- signatures ---------------------------------------------------------------------------------------------------


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _sign(auth_token: str, message: str) -> str:
    digest = hmac.new(auth_token.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_v2(url: str, nonce: str, auth_token: str) -> str:
    """Plivo's V2 signature: base64(HMAC-SHA256(auth_token, URL without its query + nonce)). It covers no body."""
    return _sign(auth_token, _base_url(url) + nonce)


def signed_url_v3(method: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """The text V3 signs before ".<nonce>": the URL without its query, then the query and the POST fields, sorted.

    GET: `?` and the query's `name=value` pairs sorted and joined with `&` (the fields are in the query). POST: `?`
    and the sorted query, then `.` when there are both a query and fields, then the fields sorted and concatenated
    as `namevalue`; with neither, the URL alone. Repeated names sort by value. Values are decoded (UTF-8), as
    plivo-python and plivo-go compare them.
    """
    query = sorted(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    base = _base_url(url)
    if method.upper() == "GET":
        return base + ("?" + "&".join(f"{name}={value}" for name, value in query) if query else "")
    signed_query = "&".join(f"{name}={value}" for name, value in query)
    if signed_query or params:
        base += "?" + signed_query
    if signed_query and params:
        base += "."
    return base + "".join(name + value for name, value in sorted(params))


def signature_v3(method: str, url: str, params: Sequence[tuple[str, str]], nonce: str, auth_token: str) -> str:
    """Plivo's V3 signature of a request: base64(HMAC-SHA256(auth_token, signed URL + "." + nonce))."""
    return _sign(auth_token, f"{signed_url_v3(method, url, params)}.{nonce}")


def _matches(expected: str, header: str) -> bool:
    """True when any of the header's comma-separated signatures is `expected` (compared in constant time)."""
    wanted = expected.encode("ascii")
    return any(hmac.compare_digest(wanted, candidate.strip().encode("utf-8")) for candidate in header.split(","))


def check_signature(request: WebhookRequest, params: Sequence[tuple[str, str]], auth_token: str | None) -> None:
    """Raise InvalidSignature unless Plivo signed `request` with `auth_token`, saying which check failed.

    V3 decides when its headers are present (it covers the fields; V2 covers only the URL, so a V2 fallback would
    let a tampered body through); otherwise V2. `params` are the request's fields (the form of a POST).
    """
    if not auth_token:
        raise InvalidSignature("the account has no Plivo auth token to verify the signature with")
    v3 = [value for name in V3_SIGNATURE_HEADERS if (value := request.header(name))]
    if v3:
        nonce = request.header(V3_NONCE_HEADER)
        if not nonce:
            raise InvalidSignature("the X-Plivo-Signature-V3-Nonce header is missing")
        expected = signature_v3(request.method, request.url, params, nonce, auth_token)
        if not any(_matches(expected, header) for header in v3):
            raise InvalidSignature("the X-Plivo-Signature-V3 header does not match this request")
        return
    v2 = [value for name in V2_SIGNATURE_HEADERS if (value := request.header(name))]
    if not v2:
        raise InvalidSignature("the request has no X-Plivo-Signature-V3 or X-Plivo-Signature-V2 header")
    nonce = request.header(V2_NONCE_HEADER)
    if not nonce:
        raise InvalidSignature("the X-Plivo-Signature-V2-Nonce header is missing")
    expected = signature_v2(request.url, nonce, auth_token)
    if not any(_matches(expected, header) for header in v2):
        raise InvalidSignature("the X-Plivo-Signature-V2 header does not match this request")


# --- payloads -----------------------------------------------------------------------------------------------------


def parse_inbound(
    params: Sequence[tuple[str, str]], *, account_id: str, default_region: str, received_at: datetime
) -> InboundMessage:
    """Read Plivo's incoming-message webhook into an InboundMessage.

    Requires MessageUUID, From and To. The text is `Text` (SMS) or `Body` (MMS), empty when neither is there.
    `carrier_confirms` is set when Plivo matched a standard keyword (MessageIntent), since Plivo then answers the
    contact itself. The webhook has no timestamp, so the message occurred when we received it.
    """
    fields = FormFields(params)
    intent = (fields.optional("MessageIntent") or "").strip().lower()
    return InboundMessage(
        carrier=CARRIER,
        message_id=fields.required("MessageUUID"),
        account_id=account_id,
        from_phone=international_number(fields.required("From"), default_region),
        to_phone=international_number(fields.required("To"), default_region),
        body=fields.optional("Text") or fields.optional("Body") or "",
        occurred_at=received_at,
        received_at=received_at,
        carrier_confirms=intent in CARRIER_ANSWERED_INTENTS,
    )


def parse_status(
    params: Sequence[tuple[str, str]], *, account_id: str, default_region: str, received_at: datetime
) -> DeliveryReport:
    """Read Plivo's message status callback into a DeliveryReport.

    Requires MessageUUID, Status, To (the contact) and From (our sender; None for an alphanumeric sender ID).
    ErrorCode is absent or blank unless the message failed. The report occurred at the latest of Plivo's times
    (`carrier_time`), never later than we received it.
    """
    fields = FormFields(params)
    return DeliveryReport(
        carrier=CARRIER,
        message_id=fields.required("MessageUUID"),
        account_id=account_id,
        to_phone=international_number(fields.required("To"), default_region),
        # None for an alphanumeric sender ID: the report still counts (200 is an opt-out).
        from_phone=sender_number(fields.required("From"), default_region, read=international_number),
        status=fields.required("Status").lower(),
        error_code=(fields.optional("ErrorCode") or "").strip() or None,
        occurred_at=carrier_time(fields, received_at),
        received_at=received_at,
    )


def carrier_time(fields: FormFields, received_at: datetime) -> datetime:
    """The latest of the callback's times that parses, else `received_at`; capped at `received_at`.

    Plivo does not say which zone its `YYYY-mm-dd HH:MM:SS.SSSSSS` times are in: one with an offset keeps it, one
    without is read as UTC. The cap keeps a clock or zone mismatch from dating a report after we had it (a report
    from the future would win over every later opt-in).
    """
    times = [parsed for name in _STATUS_TIMES if (parsed := _timestamp(fields.optional(name))) is not None]
    return min(max(times), received_at) if times else received_at


def _timestamp(raw: str | None) -> datetime | None:
    if not raw or not raw.strip():
        return None
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None  # a malformed time must not lose the report: it falls back to when we received it
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def error_source(error_code: str | None) -> Source | None:
    """What a Plivo error code means for the recipient: opted out at the carrier, unreachable, or nothing."""
    return source_of_error(error_code, opted_out=OPTED_OUT_ERROR_CODES, unreachable=UNREACHABLE_ERROR_CODES)


def request_fields(request: WebhookRequest) -> list[tuple[str, str]]:
    """The fields Plivo sent: the query string of a GET, the form body of a POST (415 for another body)."""
    if request.method.upper() == "GET":
        return list(request.query)
    require_content_type(request, FORM)
    return parse_form(request.body)


# --- the carrier --------------------------------------------------------------------------------------------------


class PlivoCredentials(BaseModel):
    """An account's Plivo credentials (PUT /v1/accounts/{id} `carriers.plivo`).

    `auth_id` names the (sub)account texts are sent from; `auth_token` signs webhooks and authenticates sends.
    `status_url`, when set, is sent with every text as the URL Plivo reports its delivery to (Plivo has no
    account-wide setting for it): `https://<api>/webhooks/plivo/<account_id>/status`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth_id: str | None = Field(default=None, pattern=r"^(MA|SA)[A-Za-z0-9]{18}$")
    auth_token: SecretStr | None = Field(default=None, min_length=8, max_length=128)
    status_url: str | None = Field(default=None, pattern=r"^https?://[^\s<>\"]+$", max_length=2000)


class PlivoCarrier:
    """Plivo behind the Carrier interface: signed form (or query) webhooks, replies sent as texts."""

    name = CARRIER
    credentials_form: type[BaseModel] = PlivoCredentials
    replies_in_answer = False

    def __init__(self, *, api_url: str = DEFAULT_API_URL, timeout: float = 10.0) -> None:
        self._api_url = api_url
        self._timeout = timeout

    def verify(self, request: WebhookRequest, credentials: Credentials) -> None:
        """The V3 signature (or, without one, the V2 signature) must be the account's auth token's."""
        check_signature(request, request_fields(request), credentials.get("auth_token"))

    def read(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        message = parse_inbound(
            request_fields(request), account_id=account_id, default_region=default_region, received_at=received_at
        )
        return CarrierNotice(messages=(message,))

    def read_status(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        report = parse_status(
            request_fields(request), account_id=account_id, default_region=default_region, received_at=received_at
        )
        return CarrierNotice(reports=(report,))

    def error_source(self, error_code: str | None) -> Source | None:
        return error_source(error_code)

    def answer(self, reply: str | None) -> WebhookAnswer:
        """An empty Plivo XML `<Response/>`: Plivo expects XML from a message URL; replies go as texts."""
        return WebhookAnswer(200, EMPTY_RESPONSE, {"Content-Type": "application/xml"})

    def provider(self, credentials: Credentials) -> SmsProvider:
        from chalicelib.adapters.carriers.plivo_sms import PlivoSmsProvider

        auth_id, auth_token = credentials.get("auth_id"), credentials.get("auth_token")
        if not auth_id or not auth_token:
            raise CarrierNotConfigured("the account has no Plivo auth ID and auth token")
        return PlivoSmsProvider(
            auth_id,
            auth_token,
            base_url=self._api_url,
            timeout=self._timeout,
            status_url=credentials.get("status_url") or None,
        )
