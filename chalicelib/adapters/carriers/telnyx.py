"""Telnyx (API v2): verify the Ed25519 webhook signature, read message events, send via the Messages API.

- Signature (https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks; the algorithm of
  team-telnyx/telnyx-python `src/telnyx/lib/webhook_verification.py`): Ed25519 over `{telnyx-timestamp}|{raw body}`
  with the account's public key (base64, 32 bytes, from the portal), the signature base64 in
  `telnyx-signature-ed25519`, the timestamp in Unix seconds in `telnyx-timestamp`; Telnyx's SDKs refuse a timestamp
  more than 300 s away.
- Events (`{"data": {"event_type", "id", "occurred_at", "payload": {...}}, "meta": {"attempt", "delivered_to"}}`):
  `message.received` is an inbound text; `message.sent` and `message.finalized` report on a text we sent, per
  recipient in `payload.to[]` (`status`), with `payload.errors[]` (`code`, `title`, `detail`). `data.id` names one
  event (message.sent and message.finalized of one text differ); `payload.id` names the message, so it is the id
  a redelivery is recognised by. A messaging profile has one webhook URL for all of them, so both of our routes read
  every kind. Any other event type is acknowledged with a 200 and stores nothing.
- Telnyx answers STOP, START and HELP itself by default and keeps its own block list per messaging profile
  (https://developers.telnyx.com/docs/messaging/messages/advanced-opt-in-out); such an inbound webhook carries
  `autoresponse_type`, so we send no confirmation of our own (`carrier_confirms`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from chalicelib.adapters.carriers.wire import JSON, json_document, require_content_type, sender_number
from chalicelib.adapters.carriers.wire import error_source as source_of_error
from chalicelib.domain.errors import CarrierNotConfigured, InvalidRequest, InvalidSignature
from chalicelib.domain.models import DeliveryReport, InboundMessage, Source
from chalicelib.domain.phone import to_e164
from chalicelib.domain.ports import CarrierNotice, Credentials, SmsProvider
from chalicelib.domain.webhooks import WebhookAnswer, WebhookRequest

CARRIER = "telnyx"
DEFAULT_API_URL = "https://api.telnyx.com"

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
#: Seconds the signed timestamp may be away from when we received the request (Telnyx's SDKs allow 300).
TIMESTAMP_TOLERANCE = 300

INBOUND_EVENT = "message.received"
STATUS_EVENTS = frozenset({"message.sent", "message.finalized"})

# Codes from Telnyx's messaging error reference (https://developers.telnyx.com/docs/messaging/messages/error-codes).
#: 40300 "Blocked due to STOP message": the contact texted STOP and Telnyx's block rule refuses our texts; the API
#: answers a send with it, and a queued text can finalize with it. A carrier opt-out (DESIGN rule 4).
OPTED_OUT_ERROR_CODES = frozenset({"40300"})
#: The number cannot take texts: a bounce, lifted by an admin or a text from the number (DESIGN rule 4).
#: 40001 "Not routable" (a landline or non-routable number), 40008 "Undeliverable" (the recipient's carrier did not
#: accept it; "check number validity"), 40012 "Invalid destination number" (the carrier rejected the number),
#: 40310 "Invalid 'to' address" (the API refused the number).
UNREACHABLE_ERROR_CODES = frozenset({"40001", "40008", "40012", "40310"})
# Deliberately not a bounce: 40006 "Recipient server unavailable" (the recipient's carrier is down, "may be a
# temporary issue", "retry with exponential backoff": nothing about the number), 40004 (rejected for an unknown
# reason), 40002/40003/40015 (spam filters: our content or sender), 40005/40014 (expired), 40009 (our body).

#: A recipient status that says the text arrived: an error listed with it says nothing against the number.
_DELIVERED = "delivered"
_UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


# --- signature ----------------------------------------------------------------------------------------------------


def decode_public_key(public_key: str) -> bytes:
    """The raw 32-byte Ed25519 key of a base64 public key as the Telnyx portal shows it; ValueError otherwise."""
    try:
        raw = base64.b64decode(public_key.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the public key is not base64") from None
    if len(raw) != 32:
        raise ValueError(f"the public key is {len(raw)} bytes, not the 32 of an Ed25519 key")
    return raw


def signed_payload(timestamp: str, body: bytes) -> bytes:
    """What Telnyx signs: the timestamp header, a `|`, and the raw body byte for byte."""
    return timestamp.encode("ascii") + b"|" + body


def verify_signature(
    *,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    public_key: str,
    received_at: datetime,
    tolerance: int = TIMESTAMP_TOLERANCE,
) -> None:
    """Raise InvalidSignature unless `signature` is the key's Ed25519 signature of `{timestamp}|{body}`, signed within
    `tolerance` seconds of `received_at` (before or after: a replay or a clock far off both fail).

    The message says which check failed, for the logs.
    """
    if not signature:
        raise InvalidSignature(f"the {SIGNATURE_HEADER} header is missing")
    if not timestamp:
        raise InvalidSignature(f"the {TIMESTAMP_HEADER} header is missing")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise InvalidSignature(f"the {TIMESTAMP_HEADER} header is not Unix time in seconds")
    if abs(received_at.timestamp() - int(timestamp)) > tolerance:
        raise InvalidSignature(f"the {TIMESTAMP_HEADER} is over {tolerance} s from our receipt (expired or replayed)")
    try:
        key = decode_public_key(public_key)
    except ValueError as problem:
        raise InvalidSignature(f"the account's Telnyx public key is unusable: {problem}") from None
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature(f"the {SIGNATURE_HEADER} header is not base64") from None
    if len(raw_signature) != 64:
        raise InvalidSignature(f"the {SIGNATURE_HEADER} header is not a 64-byte Ed25519 signature")
    # ecdsa (pure Python Ed25519, RFC 8032) costs tens of milliseconds to import: only requests that get this far pay.
    from ecdsa import BadSignatureError, Ed25519, VerifyingKey
    from ecdsa.errors import MalformedPointError

    try:
        VerifyingKey.from_string(key, curve=Ed25519).verify(raw_signature, signed_payload(timestamp, body))
    except (BadSignatureError, MalformedPointError):
        # A key that is no point of the curve verifies nothing.
        raise InvalidSignature("the Ed25519 signature does not match the timestamp and body") from None


# --- events -------------------------------------------------------------------------------------------------------


def parse_event(body: bytes) -> Mapping[str, Any]:
    """The `data` object of a webhook body; InvalidRequest when the body is not a Telnyx event."""
    document = json_document(body, "the body is not UTF-8 JSON")
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise InvalidRequest("the body has no `data` object", field="data")
    if not isinstance(data.get("event_type"), str):
        raise InvalidRequest("the field data.event_type is missing", field="data.event_type")
    return data


def notice_of(body: bytes, *, account_id: str, default_region: str, received_at: datetime) -> CarrierNotice:
    """What one webhook says: an inbound text, delivery reports, or (any other event type) only a 200 to give."""
    data = parse_event(body)
    event_type = data["event_type"]
    if event_type == INBOUND_EVENT:
        message = parse_inbound(data, account_id=account_id, default_region=default_region, received_at=received_at)
        return CarrierNotice(messages=(message,))
    if event_type in STATUS_EVENTS:
        reports = parse_status(data, account_id=account_id, default_region=default_region, received_at=received_at)
        return CarrierNotice(reports=reports)
    return CarrierNotice(answer=WebhookAnswer(200, ""))


def parse_inbound(
    data: Mapping[str, Any], *, account_id: str, default_region: str, received_at: datetime
) -> InboundMessage:
    """Read a `message.received` event's data into an InboundMessage.

    The message id is `payload.id`; the contact is `payload.from.phone_number`, our number the first of
    `payload.to[]`. The event's `occurred_at` is the carrier time (our receipt time when it has none). An MMS without
    text has an empty body. `carrier_confirms` when Telnyx answered a keyword itself (`autoresponse_type`).
    """
    payload = _object(data, "payload", "data")
    text = payload.get("text")
    if text is not None and not isinstance(text, str):
        raise InvalidRequest("the field payload.text is not text", field="payload.text")
    autoresponse = payload.get("autoresponse_type")
    return InboundMessage(
        carrier=CARRIER,
        message_id=_text(payload, "id", "payload"),
        account_id=account_id,
        from_phone=to_e164(_text(_object(payload, "from", "payload"), "phone_number", "payload.from"), default_region),
        to_phone=to_e164(_first_recipient(payload), default_region),
        body=text or "",
        occurred_at=_event_time(data, received_at),
        received_at=received_at,
        carrier_confirms=isinstance(autoresponse, str) and bool(autoresponse.strip()),
    )


def parse_status(
    data: Mapping[str, Any], *, account_id: str, default_region: str, received_at: datetime
) -> tuple[DeliveryReport, ...]:
    """Read a `message.sent` or `message.finalized` event's data: one DeliveryReport per recipient in `payload.to[]`.

    The status is the recipient's (else the event type). The error code is the most telling of `payload.errors[]`
    (an opt-out, then an unreachable number, then the first), and none for a recipient whose status is `delivered`.
    The sender is None when it is an alphanumeric sender ID.
    """
    payload = _object(data, "payload", "data")
    message_id = _text(payload, "id", "payload")
    sender = payload.get("from")
    # None for an alphanumeric sender ID or none at all: the report still counts.
    from_phone = sender_number(sender.get("phone_number") if isinstance(sender, dict) else None, default_region)
    error_code = _error_code(payload.get("errors"))
    occurred_at = _event_time(data, received_at)
    reports = []
    for recipient in _recipients(payload):
        status = recipient.get("status")
        status = status if isinstance(status, str) and status else str(data["event_type"])
        reports.append(
            DeliveryReport(
                carrier=CARRIER,
                message_id=message_id,
                account_id=account_id,
                to_phone=to_e164(_text(recipient, "phone_number", "payload.to[]"), default_region),
                from_phone=from_phone,
                status=status,
                error_code=None if status == _DELIVERED else error_code,
                occurred_at=occurred_at,
                received_at=received_at,
            )
        )
    return tuple(reports)


def messaging_profile_of(body: bytes) -> str | None:
    """The event's `payload.messaging_profile_id`, or None when the body has none (or is not an event)."""
    try:
        data = parse_event(body)
    except InvalidRequest:
        return None
    payload = data.get("payload")
    profile = payload.get("messaging_profile_id") if isinstance(payload, dict) else None
    return profile if isinstance(profile, str) and profile else None


def error_source(error_code: str | None) -> Source | None:
    """What a Telnyx error code means for the recipient: opted out at Telnyx, unreachable, or nothing."""
    return source_of_error(error_code, opted_out=OPTED_OUT_ERROR_CODES, unreachable=UNREACHABLE_ERROR_CODES)


def coded_errors(errors: object) -> list[tuple[str, str | None]]:
    """Each error of a Telnyx `errors[]` list that has a code (a string in Telnyx's JSON; a number is taken too), in
    order, with its `title: detail` (None when it has neither)."""
    if not isinstance(errors, list):
        return []
    found = []
    for error in errors:
        code = error.get("code") if isinstance(error, dict) else None
        if isinstance(error, dict) and isinstance(code, int | str) and not isinstance(code, bool) and str(code):
            words = [error.get(name) for name in ("title", "detail")]
            text = ": ".join(word for word in words if isinstance(word, str) and word)[:500]
            found.append((str(code), text or None))
    return found


def _error_code(errors: object) -> str | None:
    codes = [code for code, _ in coded_errors(errors)]
    for wanted in (OPTED_OUT_ERROR_CODES, UNREACHABLE_ERROR_CODES):
        for code in codes:
            if code in wanted:
                return code
    return codes[0] if codes else None


def _first_recipient(payload: Mapping[str, Any]) -> str:
    recipients = _recipients(payload)
    return _text(recipients[0], "phone_number", "payload.to[]")


def _recipients(payload: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    """`payload.to`: a list of `{phone_number, status, ...}` for SMS and MMS (a bare number accepted too)."""
    recipients = payload.get("to")
    if isinstance(recipients, str):
        return [{"phone_number": recipients}]
    if not isinstance(recipients, list) or not recipients or not all(isinstance(r, dict) for r in recipients):
        raise InvalidRequest("the field payload.to is not a list of recipients", field="payload.to")
    return recipients


def _event_time(data: Mapping[str, Any], received_at: datetime) -> datetime:
    raw = data.get("occurred_at")
    if raw is None:
        return received_at
    try:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidRequest("the field data.occurred_at is not an ISO 8601 time", field="data.occurred_at")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _object(document: Mapping[str, Any], field: str, where: str) -> Mapping[str, Any]:
    value = document.get(field)
    if not isinstance(value, dict):
        raise InvalidRequest(f"the field {where}.{field} is missing or not an object", field=f"{where}.{field}")
    return value


def _text(document: Mapping[str, Any], field: str, where: str) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"the field {where}.{field} is missing or empty", field=f"{where}.{field}")
    return value.strip()


# --- the carrier --------------------------------------------------------------------------------------------------


class TelnyxCredentials(BaseModel):
    """An account's Telnyx credentials (PUT /v1/accounts/{id} `carriers.telnyx`).

    `public_key` is not a secret (it only verifies), so it stays in the account; `api_key` sends and goes to the
    secret store. `messaging_profile_id`, when set, is sent with every text and webhooks for any other messaging
    profile are refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    public_key: str | None = Field(default=None, max_length=64)
    api_key: SecretStr | None = Field(default=None, min_length=8, max_length=256)
    messaging_profile_id: str | None = Field(default=None, pattern=_UUID_PATTERN)

    @field_validator("public_key")
    @classmethod
    def _ed25519_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        decode_public_key(value)
        return value.strip()


class TelnyxCarrier:
    """Telnyx behind the Carrier interface: Ed25519-signed JSON webhooks, replies sent as texts through the API.

    `api_url` is the API's origin (the Messages endpoint is `{api_url}/v2/messages`); `timeout` bounds connecting and
    each read when sending, in seconds; `tolerance` is how old (or new) a signed timestamp may be, in seconds.
    """

    name = CARRIER
    credentials_form: type[BaseModel] = TelnyxCredentials
    replies_in_answer = False

    def __init__(
        self, *, api_url: str = DEFAULT_API_URL, timeout: float = 10.0, tolerance: int = TIMESTAMP_TOLERANCE
    ) -> None:
        self._api_url = api_url
        self._timeout = timeout
        self._tolerance = tolerance

    def verify(self, request: WebhookRequest, credentials: Credentials) -> None:
        """The account's public key must have signed the timestamp and body, within the tolerance of our receipt;
        and the event, when it names a messaging profile, must be for the account's (when one is set)."""
        public_key = credentials.get("public_key")
        if not public_key:
            raise InvalidSignature("the account has no Telnyx public key to verify the signature with")
        verify_signature(
            body=request.body,
            timestamp=request.header(TIMESTAMP_HEADER),
            signature=request.header(SIGNATURE_HEADER),
            public_key=public_key,
            received_at=request.received_at,
            tolerance=self._tolerance,
        )
        expected_profile = credentials.get("messaging_profile_id")
        sent_profile = messaging_profile_of(request.body)
        if expected_profile and sent_profile and expected_profile.lower() != sent_profile.lower():
            raise InvalidSignature("the event is for another Telnyx messaging profile")

    def read(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        """Any Telnyx event: the messaging profile's one webhook URL gets inbound texts and delivery events alike."""
        require_content_type(request, JSON)
        return notice_of(request.body, account_id=account_id, default_region=default_region, received_at=received_at)

    def read_status(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        """As `read`: a per-message `webhook_url` may point here, and each event says what it is."""
        return self.read(request, account_id=account_id, default_region=default_region, received_at=received_at)

    def error_source(self, error_code: str | None) -> Source | None:
        return error_source(error_code)

    def answer(self, reply: str | None) -> WebhookAnswer:
        """An empty 200: Telnyx cannot carry a reply in the answer, so replies go out as texts."""
        return WebhookAnswer(200, "")

    def provider(self, credentials: Credentials) -> SmsProvider:
        """A TelnyxSmsProvider with the account's API key (and messaging profile, when set)."""
        from chalicelib.adapters.carriers.telnyx_sms import TelnyxSmsProvider

        api_key = credentials.get("api_key")
        if not api_key:
            raise CarrierNotConfigured("the account has no Telnyx API key")
        return TelnyxSmsProvider(
            api_key,
            messaging_profile_id=credentials.get("messaging_profile_id") or None,
            base_url=self._api_url,
            timeout=self._timeout,
        )
