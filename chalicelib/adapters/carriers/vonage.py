"""Vonage (SMS API): verify `sig`-signed webhooks, parse inbound SMS and delivery receipts, send via REST.

The wire formats are pure functions; `VonageCarrier` puts them behind the Carrier interface.

- Webhooks arrive as a GET (fields in the query string), a form POST or a JSON POST, as the account's dashboard
  says (https://developer.vonage.com/en/messaging/sms/guides/inbound-sms). Every field is a string.
- Signing (https://developer.vonage.com/en/getting-started/concepts/signing-messages): once Vonage support enables
  signed webhooks on the account, inbound messages and delivery receipts carry `timestamp` (Unix seconds), `nonce`
  and `sig`. The signed string is `&key=value` for every field but `sig`, sorted by key, with `&` and `=` in values
  replaced by `_`; `sig` is md5(string + secret) for the dashboard's default "MD5 hash", else the hex HMAC of the
  string keyed by the signature secret (MD5, SHA-1, SHA-256 or SHA-512). Vonage sends HMACs in upper-case hex
  (the API reference's example `sig`), the SDKs compute lower case: the comparison ignores case. Unsigned
  requests are refused, so the account must have signing enabled.
- Vonage documents no freshness window for `timestamp`; its Java SDK (RequestSigning.MAX_ALLOWABLE_TIME_DELTA)
  refuses a timestamp more than 5 minutes either side of now, and so do we, by default.
- Vonage retries a webhook for 24 hours until it is answered with a 2xx (the API reference; the guides say 200 OK):
  the answer is a 200 with an empty body, and replies go through the send path.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from chalicelib.adapters.carriers.wire import FORM, JSON, international_number, json_document, parse_form, sender_number
from chalicelib.adapters.carriers.wire import error_source as source_of_error
from chalicelib.domain.errors import CarrierNotConfigured, InvalidRequest, InvalidSignature, UnsupportedMediaType
from chalicelib.domain.models import DeliveryReport, InboundMessage, MessagePart, Source
from chalicelib.domain.ports import CarrierNotice, Credentials, SmsProvider
from chalicelib.domain.webhooks import WebhookAnswer, WebhookRequest

CARRIER = "vonage"
DEFAULT_API_URL = "https://rest.nexmo.com"

#: The signature methods the Vonage dashboard offers: "MD5 hash" (its default) and four HMACs.
SignatureMethod = Literal["md5hash", "hmac-md5", "hmac-sha1", "hmac-sha256", "hmac-sha512"]
SIGNATURE_METHODS: tuple[str, ...] = get_args(SignatureMethod)
DEFAULT_SIGNATURE_METHOD = "md5hash"
_HMAC_DIGESTS = {"hmac-md5": "md5", "hmac-sha1": "sha1", "hmac-sha256": "sha256", "hmac-sha512": "sha512"}
#: How far the signed timestamp may be from when we received the request, either way.
DEFAULT_TIMESTAMP_TOLERANCE = timedelta(seconds=300)

# Delivery-receipt `err-code`s (https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts#dlr-error-codes).
#: 9 "Illegal Number": "the user has specifically requested not to receive messages from a specific service". Vonage's
#: Opt-Out Assist guide says a text to a number that opted out of the sender comes back failed or rejected with
#: err-code 9, and US toll-free carriers answer a STOP the same way: the contact's own opt-out.
OPTED_OUT_ERROR_CODES = frozenset({"9"})
#: A bounce (DESIGN rule 4): 3 "Absent Subscriber - Permanent" (the number is no longer active), 4 "Call Barred by
#: User" (permanent until the user has their operator lift the bar), 12 "Destination Unreachable" (no route to the
#: number; confirm it), 14 "Number Blocked by Carrier" (SMS is not enabled on the recipient's plan).
UNREACHABLE_ERROR_CODES = frozenset({"3", "4", "12", "14"})
# Nothing about the number: 1 unknown, 2 absent subscriber - temporary, 5 portability error, 6 anti-spam rejection
# (our content), 7 handset busy, 8 network error, 10 illegal message (our parameters), 11 unroutable (Vonage's
# routing), 13 subscriber age restriction, 15 prepaid insufficient funds (temporary), 99 general error (the route).

_TIMESTAMP = re.compile(r"^[0-9]{1,11}$")  # up to the year 5138: datetime can hold it
_MESSAGE_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
# Vonage sends about fifteen fields; the cap keeps a hostile JSON body from costing much.
_MAX_FIELDS = 1000


# --- signatures ---------------------------------------------------------------------------------------------------


def signing_string(params: Mapping[str, str]) -> str:
    """The string Vonage signs: `&key=value` for each field but `sig`, sorted by key, `&` and `=` in values as `_`."""
    return "".join(
        f"&{key}={params[key].replace('&', '_').replace('=', '_')}" for key in sorted(params) if key != "sig"
    )


def compute_signature(params: Mapping[str, str], signature_secret: str, method: str) -> str:
    """Return the lower-case hex `sig` of `params` (which must include `timestamp`) under `method`.

    `md5hash` is md5(string + secret); the `hmac-*` methods are the HMAC of the string keyed by the secret.
    Raises ValueError for a method Vonage does not offer.
    """
    base = signing_string(params).encode("utf-8")
    secret = signature_secret.encode("utf-8")
    if method == "md5hash":
        return hashlib.md5(base + secret).hexdigest()
    digest = _HMAC_DIGESTS.get(method)
    if digest is None:
        raise ValueError(f"unknown Vonage signature method {method!r}; expected one of {', '.join(SIGNATURE_METHODS)}")
    return hmac.new(secret, base, digest).hexdigest()


def is_valid_signature(params: Mapping[str, str], signature_secret: str, method: str) -> bool:
    """True when `params["sig"]` is the signature of the other fields, in either case of hex digits.

    The official SDKs disagree on blank fields: the Python, PHP and .NET ones sign them (`&key=`), the Java one
    leaves them out; both forms are accepted (a blank field means the same as an absent one to the parsers here).
    """
    signature = params.get("sig")
    if not signature or not signature_secret:
        return False
    sent = signature.strip().lower().encode("utf-8")
    candidates = [params]
    if any(not value.strip() for value in params.values()):
        candidates.append({key: value for key, value in params.items() if value.strip()})
    return any(
        hmac.compare_digest(compute_signature(candidate, signature_secret, method).encode("ascii"), sent)
        for candidate in candidates
    )


def check_signed(
    params: Mapping[str, str],
    *,
    signature_secret: str,
    method: str,
    now: datetime,
    tolerance: timedelta = DEFAULT_TIMESTAMP_TOLERANCE,
) -> None:
    """Raise InvalidSignature unless the request is signed with the secret and its timestamp is within `tolerance`.

    The message says which check failed: no `sig`, no usable `timestamp`, a signature that does not match, or a
    timestamp too far from `now` (an old request replayed, or a clock far off).
    """
    if not params.get("sig"):
        raise InvalidSignature("the request has no sig: signed webhooks are not enabled on the Vonage account")
    timestamp = params.get("timestamp", "")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise InvalidSignature("the request has no Unix timestamp to check the signature with")
    if not is_valid_signature(params, signature_secret, method):
        raise InvalidSignature(f"the sig does not match this request ({method})")
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - signed_at) > tolerance:
        raise InvalidSignature(
            f"the signed timestamp {signed_at.isoformat()} is more than {tolerance.total_seconds():.0f} s "
            f"from {now.isoformat()}"
        )


# --- reading requests ---------------------------------------------------------------------------------------------


def request_fields(request: WebhookRequest) -> dict[str, str]:
    """The webhook's fields, from the query string of a GET or the form or JSON body of a POST.

    Raises UnsupportedMediaType for a POST that is neither form nor JSON, and InvalidRequest for a malformed body,
    a field given twice (which one Vonage signed would be ambiguous) or a JSON value that is not a string or number.
    """
    if request.method.upper() == "GET":
        return _unique(request.query)
    if request.content_type == FORM:
        return _unique(parse_form(request.body))
    if request.content_type == JSON:
        return _json_fields(request.body)
    raise UnsupportedMediaType(f"send Content-Type: {FORM} or {JSON}", received=request.content_type or None)


def _unique(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise InvalidRequest(f"the field {name} appears more than once", field=name)
        fields[name] = value
    return fields


def _json_fields(body: bytes) -> dict[str, str]:
    document = json_document(body, "the body is not a JSON object")
    if not isinstance(document, dict):
        raise InvalidRequest("the body is not a JSON object")
    if len(document) > _MAX_FIELDS:
        raise InvalidRequest(f"the body has more than {_MAX_FIELDS} fields")
    fields: dict[str, str] = {}
    for name, value in document.items():
        # Vonage sends strings; a number is read as its digits, anything else has no signed form.
        if isinstance(value, str):
            fields[name] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            fields[name] = str(value)
        else:
            raise InvalidRequest(f"the field {name} is not a string", field=name)
    return fields


def parse_inbound(
    fields: Mapping[str, str], *, account_id: str, default_region: str, received_at: datetime
) -> InboundMessage:
    """Read Vonage's inbound-SMS webhook into an InboundMessage.

    Requires messageId, msisdn (the contact) and to (our number), both international numbers without `+`. The
    message occurred at `message-timestamp` (UTC, when Vonage started to push it). One part of a long message
    (`concat=true`) keeps its own messageId and text, with `part` saying which part of which message it is; the
    domain joins the parts. A binary message has no text: its body is empty.
    """
    return InboundMessage(
        carrier=CARRIER,
        message_id=_required(fields, "messageId"),
        account_id=account_id,
        from_phone=international_number(_required(fields, "msisdn"), default_region),
        to_phone=international_number(_required(fields, "to"), default_region),
        body=fields.get("text") or "",
        occurred_at=carrier_time(fields, received_at),
        received_at=received_at,
        part=message_part(fields),
    )


def parse_status(
    fields: Mapping[str, str], *, account_id: str, default_region: str, received_at: datetime
) -> DeliveryReport:
    """Read Vonage's delivery receipt into a DeliveryReport.

    Requires messageId, msisdn (the contact) and status; `to` is our sender (None when it is an alphanumeric sender
    ID), `err-code` the DLR error code. The receipt occurred at `message-timestamp` (UTC); `scts` (the carrier's
    YYMMDDHHMM, in no stated time zone) is not used.
    """
    return DeliveryReport(
        carrier=CARRIER,
        message_id=_required(fields, "messageId"),
        account_id=account_id,
        to_phone=international_number(_required(fields, "msisdn"), default_region),
        # None for an alphanumeric sender ID: the receipt still counts (err-code 9 opts out).
        from_phone=sender_number(fields.get("to"), default_region, read=international_number),
        status=_required(fields, "status"),
        error_code=(fields.get("err-code") or "").strip() or None,
        occurred_at=carrier_time(fields, received_at),
        received_at=received_at,
    )


def parse_message_timestamp(raw: str) -> datetime:
    """`message-timestamp`: `YYYY-MM-DD HH:MM:SS` in UTC (an ISO 8601 time with an offset is read too).

    Raises InvalidRequest when it is neither.
    """
    text = raw.strip()
    try:
        return datetime.strptime(text, _MESSAGE_TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest("message-timestamp is not YYYY-MM-DD HH:MM:SS", field="message-timestamp") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def carrier_time(fields: Mapping[str, str], received_at: datetime) -> datetime:
    """Vonage's time for the event: `message-timestamp`, else the signed Unix `timestamp`, else `received_at`."""
    message_timestamp = (fields.get("message-timestamp") or "").strip()
    if message_timestamp:
        return parse_message_timestamp(message_timestamp)
    timestamp = fields.get("timestamp", "")
    if _TIMESTAMP.fullmatch(timestamp):
        return datetime.fromtimestamp(int(timestamp), UTC)
    return received_at


def message_part(fields: Mapping[str, str]) -> MessagePart | None:
    """Which part of a long message this is (`concat=true` with concat-ref, concat-part, concat-total), or None."""
    if (fields.get("concat") or "").strip().lower() != "true":
        return None
    try:
        return MessagePart(
            reference=_required(fields, "concat-ref"),
            number=int(_required(fields, "concat-part")),
            total=int(_required(fields, "concat-total")),
        )
    except (ValueError, ValidationError):
        raise InvalidRequest("concat-part and concat-total must be part numbers from 1 to 255") from None


def _required(fields: Mapping[str, str], name: str) -> str:
    value = (fields.get(name) or "").strip()
    if not value:
        raise InvalidRequest(f"the field {name} is missing or empty", field=name)
    return value


def error_source(error_code: str | None) -> Source | None:
    """What a delivery-receipt err-code means for the recipient: opted out, unreachable, or nothing."""
    return source_of_error(error_code, opted_out=OPTED_OUT_ERROR_CODES, unreachable=UNREACHABLE_ERROR_CODES)


# --- the carrier ----------------------------------------------------------------------------------------------------


class VonageCredentials(BaseModel):
    """An account's Vonage credentials (PUT /v1/accounts/{id} `carriers.vonage`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The account's API key: webhooks that name another (`api-key`) are refused.
    api_key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{4,32}$")
    #: For sending (POST /sms/json).
    api_secret: SecretStr | None = Field(default=None, min_length=8, max_length=128)
    #: The dashboard's signature secret: checks the `sig` of every webhook.
    signature_secret: SecretStr | None = Field(default=None, min_length=8, max_length=256)
    #: The signature method chosen in the dashboard; `md5hash` when not set.
    signature_method: SignatureMethod | None = None


class VonageCarrier:
    """Vonage's SMS API behind the Carrier interface: `sig`-signed webhooks, empty 200 answers, replies sent as texts.

    `api_url` is the SMS API's base URL (a loopback fake in tests); `timeout` bounds each send, in seconds;
    `timestamp_tolerance` is how far a webhook's signed timestamp may be from when it arrived.
    """

    name = CARRIER
    credentials_form: type[BaseModel] = VonageCredentials
    replies_in_answer = False

    def __init__(
        self,
        *,
        api_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
        timestamp_tolerance: timedelta = DEFAULT_TIMESTAMP_TOLERANCE,
    ) -> None:
        self._api_url = api_url
        self._timeout = timeout
        self._tolerance = timestamp_tolerance

    def verify(self, request: WebhookRequest, credentials: Credentials) -> None:
        """The account's signature secret must have signed the fields recently, and `api-key` be the account's own."""
        fields = request_fields(request)
        secret = credentials.get("signature_secret")
        if not secret:
            raise InvalidSignature("the account has no Vonage signature secret to verify the signature with")
        method = credentials.get("signature_method") or DEFAULT_SIGNATURE_METHOD
        if method not in SIGNATURE_METHODS:
            raise InvalidSignature(f"the account's Vonage signature method {method!r} is not one Vonage offers")
        check_signed(fields, signature_secret=secret, method=method, now=request.received_at, tolerance=self._tolerance)
        expected_key, sent_key = credentials.get("api_key"), fields.get("api-key")
        if expected_key and sent_key and not hmac.compare_digest(expected_key.encode(), sent_key.encode()):
            raise InvalidSignature("the request is for another Vonage API key")

    def read(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        """One inbound SMS, or one part of a long one."""
        message = parse_inbound(
            request_fields(request), account_id=account_id, default_region=default_region, received_at=received_at
        )
        return CarrierNotice(messages=(message,))

    def read_status(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        """One delivery receipt (a long text gets one per part)."""
        report = parse_status(
            request_fields(request), account_id=account_id, default_region=default_region, received_at=received_at
        )
        return CarrierNotice(reports=(report,))

    def error_source(self, error_code: str | None) -> Source | None:
        return error_source(error_code)

    def answer(self, reply: str | None) -> WebhookAnswer:
        """200 with an empty body: anything else makes Vonage send the webhook again, for 24 hours."""
        return WebhookAnswer(200, "")

    def provider(self, credentials: Credentials) -> SmsProvider:
        from chalicelib.adapters.carriers.vonage_sms import VonageSmsProvider

        api_key, api_secret = credentials.get("api_key"), credentials.get("api_secret")
        if not api_key or not api_secret:
            raise CarrierNotConfigured("the account has no Vonage API key and secret")
        return VonageSmsProvider(api_key, api_secret, base_url=self._api_url, timeout=self._timeout)
