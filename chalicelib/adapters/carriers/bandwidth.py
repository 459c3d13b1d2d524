"""Bandwidth Messaging V2: HTTP Basic callback credentials, JSON-array callbacks, texts sent through the REST API.

- Callbacks (https://dev.bandwidth.com/docs/messaging/webhooks) are a JSON array of events, each
  `{type, time, description, to, errorCode?, message: {id, owner, applicationId, time, direction, to[], from, text,
  ...}}`. `message-received` is a text to one of the account's numbers (the top-level `to` is that number; a group
  message gives each of our numbers its own event and message id); `message-sending`, `message-sent`,
  `message-delivered`, `message-failed` (with `errorCode`) and `message-read` report on a text we sent (the
  top-level `to` is the contact). Either kind may come to either URL, and one array may carry several events: all
  are read, inbound ones as messages and status ones as reports.
- Authentication: the messaging application's InboundCallbackCreds and OutboundCallbackCreds (HTTP Basic). Bandwidth
  first calls without credentials and sends them only after a 401 carrying a `WWW-Authenticate` challenge
  (https://dev.bandwidth.com/docs/numbers/webhooks, "Authentication", RFC 7235), so a request without them gets
  CredentialsRequired (401 with the challenge) and wrong ones InvalidSignature (403).
- Opt-outs: Bandwidth does not answer STOP on local numbers (toll-free numbers get the network's own reply), so this
  service sends the confirmation (`carrier_confirms=False`).

The wire formats are pure functions; `BandwidthCarrier` puts them behind the Carrier interface.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from chalicelib.adapters.carriers.wire import JSON, json_document, require_content_type, sender_number
from chalicelib.adapters.carriers.wire import error_source as source_of_error
from chalicelib.domain.errors import CarrierNotConfigured, CredentialsRequired, InvalidRequest, InvalidSignature
from chalicelib.domain.models import DeliveryReport, InboundMessage, Source
from chalicelib.domain.phone import to_e164
from chalicelib.domain.ports import CarrierNotice, Credentials, SmsProvider
from chalicelib.domain.webhooks import WebhookAnswer, WebhookRequest

if TYPE_CHECKING:
    from chalicelib.adapters.carriers.bandwidth_sms import AccessTokens

CARRIER = "bandwidth"
#: What a 401 asks Bandwidth for: its callback credentials, which it then sends.
CHALLENGE = 'Basic realm="sms-optout"'
DEFAULT_API_URL = "https://messaging.bandwidth.com/api/v2"
#: OAuth 2.0 client-credentials token endpoint (the `tokenUrl` of Bandwidth's OpenAPI document, Bandwidth/python-sdk
#: bandwidth.yml). Legacy API users (HTTP Basic on the API) are decommissioned on 2026-12-02.
DEFAULT_TOKEN_URL = "https://api.bandwidth.com/api/v1/oauth2/token"

# Error codes of `message-failed` callbacks (https://dev.bandwidth.com/docs/messaging/errors):
#: 4775 destination-rejected-due-to-user-opt-out: "User has opted out of receiving messages from a particular
#: sender": the contact's own opt-out at the carrier. (4770 is destination-spam-detected, a verdict on our content.)
OPTED_OUT_ERROR_CODES = frozenset({"4775"})
#: The number cannot take texts: a bounce, which an admin or a text from the number lifts (DESIGN rule 4).
#: 4720 invalid-destination-address (not in the numbering plan, or not enabled for messaging, like a landline),
#: 4721 destination-tn-deactivated (on the deactivation list), 4701 destination-service-unavailable (the destination
#: is not reachable), 4702 destination-subscriber-unavailable (handset off, unreachable or barred).
UNREACHABLE_ERROR_CODES = frozenset({"4720", "4721", "4701", "4702"})
# Codes that say nothing certain about the number suppress nothing: spam and volume verdicts on our traffic (4470,
# 4770, 47xx volumetric), our own provisioning (44xx, 4773, 4774), message content (43xx, 475x), 5xxx service
# failures and 9902/9999 (no receipt, unknown).

INBOUND_TYPES = frozenset({"message-received"})
STATUS_TYPES = frozenset({"message-sending", "message-sent", "message-delivered", "message-failed", "message-read"})
# Other types (RBM `suggestion-response` and `requested-location-response`, anything newer) are not texts and are
# acknowledged without being stored: refusing them would make Bandwidth retry the whole array for a day.
FAILED = "message-failed"


# --- authentication --------------------------------------------------------------------------------------------


def basic_credentials(authorization: str | None) -> tuple[str, str]:
    """The (username, password) of an `Authorization: Basic` header.

    CredentialsRequired when the header is absent or another scheme (Bandwidth then sends its credentials);
    InvalidSignature when it is Basic but not base64 of UTF-8 `username:password`.
    """
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        raise CredentialsRequired("send the Bandwidth callback credentials (HTTP Basic)", challenge=CHALLENGE)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidSignature("the Basic credentials are not base64 of UTF-8 text") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise InvalidSignature("the Basic credentials have no colon between username and password")
    return username, password


def check_credentials(presented: tuple[str, str], *, username: str | None, password: str | None) -> None:
    """InvalidSignature unless `presented` are the account's callback username and password.

    Both are compared, in constant time, whatever the outcome of the first, and even when the account has none.
    """
    username_ok = hmac.compare_digest(presented[0].encode("utf-8"), (username or "").encode("utf-8"))
    password_ok = hmac.compare_digest(presented[1].encode("utf-8"), (password or "").encode("utf-8"))
    if not username or not password:
        raise InvalidSignature("the account has no Bandwidth callback username and password")
    if not (username_ok and password_ok):
        raise InvalidSignature("the Basic credentials are not the account's Bandwidth callback credentials")


# --- callbacks -------------------------------------------------------------------------------------------------


def parse_events(body: bytes) -> list[Mapping[str, Any]]:
    """The events of a callback body: a JSON array of objects (a lone object is read as an array of one).

    InvalidRequest for a body that is not JSON, or holds anything but event objects.
    """
    document = json_document(body, "the callback body is not UTF-8 JSON")
    events = [document] if isinstance(document, dict) else document
    if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
        raise InvalidRequest("the callback body is not a JSON array of event objects")
    return events


def parse_callback(body: bytes, *, account_id: str, default_region: str, received_at: datetime) -> CarrierNotice:
    """Every event of one callback, in order: texts to the account as messages, reports on our texts as reports.

    The whole callback is read before anything is stored, so a malformed event refuses it all (InvalidRequest or
    InvalidPhone, a 400) and nothing is half-applied. Events of other types are skipped.
    """
    messages: list[InboundMessage] = []
    reports: list[DeliveryReport] = []
    for event in parse_events(body):
        kind = _text(event, "type")
        if kind in INBOUND_TYPES:
            messages.append(
                parse_inbound(event, account_id=account_id, default_region=default_region, received_at=received_at)
            )
        elif kind in STATUS_TYPES:
            reports.append(
                parse_status(event, account_id=account_id, default_region=default_region, received_at=received_at)
            )
    return CarrierNotice(messages=tuple(messages), reports=tuple(reports))


def parse_inbound(
    event: Mapping[str, Any], *, account_id: str, default_region: str, received_at: datetime
) -> InboundMessage:
    """A `message-received` event as an InboundMessage.

    The account's number is the event's `to` (for a group message, the copy's own number), else the message's
    `owner`. The message occurred at its `time` (when Bandwidth received it), else at the event's. An MMS may have
    no `text`.
    """
    message = _message(event)
    text = message.get("text")
    if text is not None and not isinstance(text, str):
        raise InvalidRequest("the field message.text is not text", field="message.text")
    ours = _optional_text(event, "to") or _text(message, "owner", prefix="message.")
    return InboundMessage(
        carrier=CARRIER,
        message_id=_text(message, "id", prefix="message."),
        account_id=account_id,
        from_phone=to_e164(_text(message, "from", prefix="message."), default_region),
        to_phone=to_e164(ours, default_region),
        body=text or "",
        occurred_at=_first_time((message, "message."), (event, "")),
        received_at=received_at,
        carrier_confirms=False,
    )


def parse_status(
    event: Mapping[str, Any], *, account_id: str, default_region: str, received_at: datetime
) -> DeliveryReport:
    """A status event (`message-delivered`, `message-failed`, ...) as a DeliveryReport that occurred at its `time`.

    The contact is the event's `to` (the one recipient this event is about, even for a group message), else the
    message's only recipient. The sender is None when it is an alphanumeric sender ID. Only `message-failed` carries
    an error code.
    """
    kind = _text(event, "type")
    message = _message(event)
    return DeliveryReport(
        carrier=CARRIER,
        message_id=_text(message, "id", prefix="message."),
        account_id=account_id,
        to_phone=to_e164(_optional_text(event, "to") or _only_recipient(message), default_region),
        # None for an alphanumeric sender ID: the report still counts.
        from_phone=sender_number(message.get("from"), default_region),
        status=kind,
        error_code=_error_code(event) if kind == FAILED else None,
        occurred_at=_first_time((event, ""), (message, "message.")),
        received_at=received_at,
    )


def error_source(error_code: str | None) -> Source | None:
    """What a Bandwidth error code means for the recipient: opted out at the carrier, unreachable, or nothing."""
    return source_of_error(error_code, opted_out=OPTED_OUT_ERROR_CODES, unreachable=UNREACHABLE_ERROR_CODES)


def _message(event: Mapping[str, Any]) -> Mapping[str, Any]:
    message = event.get("message")
    if not isinstance(message, dict):
        raise InvalidRequest("the event has no message object", field="message")
    return message


def _text(document: Mapping[str, Any], field: str, *, prefix: str = "") -> str:
    value = _optional_text(document, field, prefix=prefix)
    if value is None:
        raise InvalidRequest(f"the field {prefix}{field} is missing or empty", field=prefix + field)
    return value


def _optional_text(document: Mapping[str, Any], field: str, *, prefix: str = "") -> str | None:
    value = document.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"the field {prefix}{field} is not text", field=prefix + field)
    return value.strip() or None


def _only_recipient(message: Mapping[str, Any]) -> str:
    recipients = message.get("to")
    if isinstance(recipients, list) and len(recipients) == 1 and isinstance(recipients[0], str):
        return recipients[0]
    raise InvalidRequest("the status event names no single recipient (`to`)", field="to")


def _error_code(event: Mapping[str, Any]) -> str | None:
    code = event.get("errorCode")
    if code is None:
        return None
    # Documented as an integer; a string of digits is read the same.
    if isinstance(code, int) and not isinstance(code, bool) and code >= 0:
        return str(code)
    if isinstance(code, str) and code.strip().isdigit():
        return code.strip()
    raise InvalidRequest("the field errorCode is not a number", field="errorCode")


def _first_time(*places: tuple[Mapping[str, Any], str]) -> datetime:
    """The `time` of the first of `places` (a document and its name in errors) that has one."""
    for document, prefix in places:
        if document.get("time") is not None:
            return _time(document, "time", prefix=prefix)
    raise InvalidRequest("the event has no time", field="time")


def _time(document: Mapping[str, Any], field: str, *, prefix: str = "") -> datetime:
    """An ISO 8601 time such as 2024-09-14T18:20:16.160744Z; UTC when it carries no offset."""
    raw = _text(document, field, prefix=prefix)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(f"the field {prefix}{field} is not an ISO 8601 time", field=prefix + field) from None
    if "T" not in raw.upper():
        raise InvalidRequest(f"the field {prefix}{field} has no time of day", field=prefix + field)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- the carrier -----------------------------------------------------------------------------------------------


class BandwidthCredentials(BaseModel):
    """An account's Bandwidth credentials (PUT /v1/accounts/{id} `carriers.bandwidth`).

    `callback_username`/`callback_password`: what the messaging application's InboundCallbackCreds and
    OutboundCallbackCreds are set to (the same pair on both). `account_id`, `application_id`, `client_id` and
    `client_secret` (an OAuth 2.0 API credential with the Messaging role) are needed to send.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A Basic username cannot contain a colon (RFC 7617); control characters have no place in either.
    callback_username: str | None = Field(default=None, pattern=r"^[^:\x00-\x1f\x7f]{1,128}$")
    callback_password: SecretStr | None = Field(default=None, min_length=8, max_length=128)
    #: The Bandwidth account id (digits, e.g. 9900000): the `{accountId}` of the messages endpoint.
    account_id: str | None = Field(default=None, pattern=r"^[0-9]{1,20}$")
    #: The messaging application's id (a UUID): sent as `applicationId` with every text.
    application_id: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )
    client_id: str | None = Field(default=None, pattern=r"^[^\s:]{1,256}$")
    client_secret: SecretStr | None = Field(default=None, min_length=8, max_length=512)


class BandwidthCarrier:
    """Bandwidth behind the Carrier interface: Basic-authenticated JSON callbacks, replies sent as texts.

    `api_url` is the Messaging API's base (up to `/api/v2`), `token_url` the OAuth 2.0 token endpoint; `timeout`
    bounds each HTTP call, in seconds. Access tokens are kept by this instance, per API credential, until shortly
    before they expire.
    """

    name = CARRIER
    credentials_form: type[BaseModel] = BandwidthCredentials
    replies_in_answer = False

    def __init__(
        self, *, api_url: str = DEFAULT_API_URL, token_url: str = DEFAULT_TOKEN_URL, timeout: float = 10.0
    ) -> None:
        self._api_url = api_url
        self._token_url = token_url
        self._timeout = timeout
        # Built with the first provider: the webhook path never loads the sender.
        self._tokens: AccessTokens | None = None
        self._lock = threading.Lock()

    def verify(self, request: WebhookRequest, credentials: Credentials) -> None:
        """The request must carry the account's callback credentials: 401 with a challenge when it carries none."""
        presented = basic_credentials(request.header("authorization"))
        check_credentials(
            presented, username=credentials.get("callback_username"), password=credentials.get("callback_password")
        )

    def read(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        """Every event of the callback (inbound texts and status reports alike)."""
        require_content_type(request, JSON)
        return parse_callback(
            request.body, account_id=account_id, default_region=default_region, received_at=received_at
        )

    def read_status(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        """As `read`: the events say what they are, whichever URL they came to."""
        return self.read(request, account_id=account_id, default_region=default_region, received_at=received_at)

    def error_source(self, error_code: str | None) -> Source | None:
        return error_source(error_code)

    def answer(self, reply: str | None) -> WebhookAnswer:
        """An empty 204: Bandwidth wants only a 2xx, and replies go out as texts."""
        return WebhookAnswer(204)

    def provider(self, credentials: Credentials) -> SmsProvider:
        """A BandwidthSmsProvider; CarrierNotConfigured unless the account id, application id and API credential
        are all set."""
        from chalicelib.adapters.carriers.bandwidth_sms import AccessTokens, BandwidthSmsProvider

        needed = ("account_id", "application_id", "client_id", "client_secret")
        missing = [name for name in needed if not credentials.get(name)]
        if missing:
            raise CarrierNotConfigured(f"the account's Bandwidth credentials lack {', '.join(missing)}")
        with self._lock:
            if self._tokens is None:
                self._tokens = AccessTokens(self._token_url, timeout=self._timeout)
            tokens = self._tokens
        return BandwidthSmsProvider(
            account_id=credentials["account_id"],
            application_id=credentials["application_id"],
            client_id=credentials["client_id"],
            client_secret=credentials["client_secret"],
            tokens=tokens,
            api_url=self._api_url,
            timeout=self._timeout,
        )
