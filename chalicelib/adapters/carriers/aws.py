"""AWS End User Messaging SMS (pinpoint-sms-voice-v2) as a carrier: texts go out with SendTextMessage; inbound texts
and delivery events come back through an Amazon SNS topic.

- Inbound (two-way SMS): the number's two-way channel publishes `{originationNumber, destinationNumber,
  messageKeyword, messageBody, inboundMessageId, previousPublishedMessageId}` to the topic
  (https://docs.aws.amazon.com/sms-voice/latest/userguide/two-way-sms-payload.html).
- Delivery events: a configuration set's SNS event destination publishes `{eventType, eventTimestamp (Unix ms),
  isFinal, originationPhoneNumber, destinationPhoneNumber, messageId, messageStatus, messageStatusDescription, ...}`
  (https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-format.html; the event types are
  at .../configuration-sets-event-types.html).
- The topic reaches us as an HTTPS subscription to `/webhooks/aws/{account_id}` (or `.../status`): `verify` checks
  SNS's signature and that the topic is the account's `topic_arn`. Raw message delivery must stay off, since a raw
  body carries no signature. Or the topic invokes the function directly, and the worker hands each record to
  `AwsCarrier.notice_from_topic`, that is `notice_from_sns` (IAM authenticates the invoke). Either path takes either
  payload: the payload says what it is.
- Opt-outs are self-managed: we assume the account's numbers (or pool) have SelfManagedOptOutsEnabled set, so AWS
  neither answers STOP nor puts the number on its opt-out list, and this service sends the one confirmation
  (`carrier_confirms=False`). With AWS-managed opt-outs, AWS would answer STOP as well (two confirmations) and
  refuse later texts with DESTINATION_PHONE_NUMBER_OPTED_OUT, which `error_source` reads as a carrier opt-out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.adapters.carriers import sns
from chalicelib.adapters.carriers.wire import error_source as source_of_error
from chalicelib.adapters.carriers.wire import sender_number
from chalicelib.domain.errors import InvalidRequest, InvalidSignature, StoreUnavailable
from chalicelib.domain.models import DeliveryReport, InboundMessage, Source
from chalicelib.domain.phone import to_e164
from chalicelib.domain.ports import CarrierNotice, Credentials, SmsProvider
from chalicelib.domain.webhooks import WebhookAnswer, WebhookRequest

CARRIER = "aws"

#: SendTextMessage refuses a number on the sender's opt-out list with this reason: the contact's own opt-out.
OPTED_OUT_CODES = frozenset({"DESTINATION_PHONE_NUMBER_OPTED_OUT"})
#: Delivery outcomes saying the number cannot take our texts: a bounce, which an admin or a text from the number
#: lifts (DESIGN rule 4). Each as its eventType and as the messageStatus that comes with it (the same word without
#: TEXT_: TEXT_BLOCKED comes with BLOCKED). The event-types page says:
#: - TEXT_INVALID: "the destination phone number is not valid".
#: - TEXT_UNREACHABLE: "the recipient's device is unavailable ... not connected to a mobile network, or is powered
#:   off" (the counterpart of Twilio's 30003, also a bounce here).
#: - TEXT_BLOCKED: "the recipient's device or carrier is blocking messages to that recipient". Not an opt-out: the
#:   docs never tie it to STOP (AWS refuses an opted-out number before sending, with the reason above), and a
#:   recorded event reads "Phone has blocked SMS". So a bounce an admin may lift, not an opt-out only the contact can.
UNREACHABLE_CODES = frozenset({"TEXT_INVALID", "INVALID", "TEXT_UNREACHABLE", "UNREACHABLE", "TEXT_BLOCKED", "BLOCKED"})
# Failures that say nothing about the number suppress nothing: TEXT_CARRIER_UNREACHABLE ("a transient error occurs
# on the carrier network of the message recipient"), TEXT_CARRIER_BLOCKED and TEXT_SPAM (the carrier refused our
# message's content), TEXT_INVALID_MESSAGE (our body), TEXT_PROTECT_BLOCKED (our protect configuration),
# TEXT_TTL_EXPIRED, and TEXT_UNKNOWN ("might be transient or permanent").

#: An SNS topic ARN in any partition (aws, aws-cn, aws-us-gov): arn:<partition>:sns:<region>:<account>:<topic name>.
TOPIC_ARN_PATTERN = r"^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"


class AwsCredentials(BaseModel):
    """An account's AWS End User Messaging SMS settings (PUT /v1/accounts/{id} `carriers.aws`).

    No secrets: the function's IAM role sends, and SNS signs with AWS's own certificates.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The topic the account's two-way SMS and SMS events are published to; messages from any other are refused.
    topic_arn: str = Field(pattern=TOPIC_ARN_PATTERN, max_length=400)


class AwsCarrier:
    """AWS End User Messaging SMS behind the Carrier interface: SNS-signed JSON webhooks, replies sent as texts.

    `sms_client()` returns a boto3 `pinpoint-sms-voice-v2` client (called only when a provider is built);
    `fetch(url) -> bytes` GETs an SNS certificate or SubscribeURL and raises `sns.FetchFailed` when it cannot
    (default: `sns.https_get`). Certificates are fetched once per URL and kept by this instance.
    """

    name = CARRIER
    # Annotated as the protocol declares it: a mutable attribute of type[AwsCredentials] would not match.
    credentials_form: type[BaseModel] = AwsCredentials
    replies_in_answer = False

    def __init__(
        self,
        *,
        sms_client: Callable[[], Any],
        configuration_set: str | None = None,
        fetch: Callable[[str], bytes] | None = None,
    ) -> None:
        self._sms_client = sms_client
        self._configuration_set = configuration_set
        self._fetch = fetch or sns.https_get
        self._certificates = sns.SigningCertificates(self._fetch)

    def verify(self, request: WebhookRequest, credentials: Credentials) -> None:
        """SNS must have signed the body, for the account's topic, and the message-type header must match it.

        InvalidSignature otherwise; StoreUnavailable when the certificate could not be fetched for now (SNS then
        delivers again).
        """
        message = sns.parse_message(request.body)
        if request.header(sns.MESSAGE_TYPE_HEADER) != message.type:
            raise InvalidSignature(f"the {sns.MESSAGE_TYPE_HEADER} header does not match the message's Type")
        topic_arn = credentials.get("topic_arn")
        if not topic_arn:
            raise InvalidSignature("the account has no SNS topic to accept messages from")
        sns.verify_message(message, topic_arn=topic_arn, certificates=self._certificates, now=datetime.now(UTC))

    def read(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        """What a verified SNS message says: a subscription to confirm (confirmed here), or a text or SMS event.

        A SubscriptionConfirmation is confirmed by GETting its SubscribeURL (StoreUnavailable when that fails, so
        SNS sends it again). An UnsubscribeConfirmation is only acknowledged: we never subscribe again on our own.
        """
        message = sns.parse_message(request.body)
        if message.type == sns.SUBSCRIPTION_CONFIRMATION:
            self._confirm(message)
            return CarrierNotice(answer=WebhookAnswer(200, ""))
        if message.type == sns.UNSUBSCRIBE_CONFIRMATION:
            return CarrierNotice(answer=WebhookAnswer(200, ""))
        return notice_from_sns(
            message.message,
            message_id=message.message_id,
            timestamp=message.timestamp,
            account_id=account_id,
            default_region=default_region,
            received_at=received_at,
        )

    def read_status(
        self, request: WebhookRequest, *, account_id: str, default_region: str, received_at: datetime
    ) -> CarrierNotice:
        """As `read`: an event destination may publish to the two-way topic or another, and each payload says what
        it is."""
        return self.read(request, account_id=account_id, default_region=default_region, received_at=received_at)

    def notice_from_topic(
        self,
        message: str,
        *,
        message_id: str,
        timestamp: str,
        account_id: str,
        default_region: str,
        received_at: datetime,
    ) -> CarrierNotice:
        """`notice_from_sns` of this module (TopicCarrier), for the worker that gets the topic's records directly."""
        return notice_from_sns(
            message,
            message_id=message_id,
            timestamp=timestamp,
            account_id=account_id,
            default_region=default_region,
            received_at=received_at,
        )

    def error_source(self, error_code: str | None) -> Source | None:
        return error_source(error_code)

    def answer(self, reply: str | None) -> WebhookAnswer:
        """An empty 200: SNS wants only a 2xx, and replies go out as texts."""
        return WebhookAnswer(200, "")

    def provider(self, credentials: Credentials) -> SmsProvider:
        """An AwsSmsProvider on a fresh client: the IAM role sends, so `credentials` needs nothing."""
        # Imported here, as Twilio's sender is: the webhook path never loads botocore's exceptions.
        from chalicelib.adapters.carriers.aws_sms import AwsSmsProvider

        return AwsSmsProvider(self._sms_client(), configuration_set=self._configuration_set)

    def _confirm(self, message: sns.SnsMessage) -> None:
        url = message.subscribe_url
        if url is None or not sns.is_sns_url(url):
            raise InvalidSignature("the SNS SubscribeURL is not an https URL on an SNS host")
        try:
            self._fetch(url)
        except sns.FetchFailed as failure:
            raise StoreUnavailable(f"could not confirm the SNS subscription: {failure}") from None


def notice_from_sns(
    message: str,
    *,
    message_id: str,
    timestamp: str,
    account_id: str,
    default_region: str,
    received_at: datetime,
) -> CarrierNotice:
    """What the `Message` of one SNS notification from AWS End User Messaging SMS says.

    `message_id` and `timestamp` are the SNS notification's MessageId and Timestamp (ISO 8601; GMT when it carries
    no offset). A two-way SMS (it has `inboundMessageId`) becomes an InboundMessage that occurred at `timestamp`; an
    SMS event (it has `eventType`, TEXT_...) becomes a DeliveryReport that occurred at its `eventTimestamp`.
    Anything else, and a missing or malformed field, is InvalidRequest; a number that is not one is InvalidPhone.
    """
    try:
        document = json.loads(message)
    except (ValueError, RecursionError):
        raise InvalidRequest("the SNS Message is not JSON", sns_message_id=message_id) from None
    if not isinstance(document, dict):
        raise InvalidRequest("the SNS Message is not a JSON object", sns_message_id=message_id)
    if "eventType" in document:
        report = _delivery_report(
            document, account_id=account_id, default_region=default_region, received_at=received_at
        )
        return CarrierNotice(reports=(report,))
    if "inboundMessageId" in document:
        inbound = _inbound_message(
            document,
            account_id=account_id,
            default_region=default_region,
            occurred_at=_sns_time(timestamp),
            received_at=received_at,
        )
        return CarrierNotice(messages=(inbound,))
    raise InvalidRequest(
        "the SNS Message is neither a two-way SMS nor an SMS event of AWS End User Messaging SMS",
        sns_message_id=message_id,
    )


def _inbound_message(
    document: Mapping[str, Any], *, account_id: str, default_region: str, occurred_at: datetime, received_at: datetime
) -> InboundMessage:
    body = document.get("messageBody")
    if body is not None and not isinstance(body, str):
        raise InvalidRequest("the field messageBody is not text", field="messageBody")
    return InboundMessage(
        carrier=CARRIER,
        message_id=_text(document, "inboundMessageId"),
        account_id=account_id,
        from_phone=to_e164(_text(document, "originationNumber"), default_region),
        to_phone=to_e164(_text(document, "destinationNumber"), default_region),
        body=body or "",
        occurred_at=occurred_at,
        received_at=received_at,
        carrier_confirms=False,
    )


def _delivery_report(
    document: Mapping[str, Any], *, account_id: str, default_region: str, received_at: datetime
) -> DeliveryReport:
    """An SMS event; the sender is None when the event names none or a sender ID.

    The error code is the messageStatus (else the eventType), and only for a final event: AWS reports intermediate
    statuses and can take up to 72 hours to send the final one, so a non-final failure must not suppress a number.
    """
    event_type = _text(document, "eventType")
    if not event_type.startswith("TEXT_"):
        raise InvalidRequest(f"only SMS events (TEXT_...) are read, not {event_type}", field="eventType")
    final = document.get("isFinal", True)
    if not isinstance(final, bool):
        raise InvalidRequest("the field isFinal is not a boolean", field="isFinal")
    status = document.get("messageStatus")
    outcome = status if isinstance(status, str) and status else event_type
    return DeliveryReport(
        carrier=CARRIER,
        message_id=_text(document, "messageId"),
        account_id=account_id,
        to_phone=to_e164(_text(document, "destinationPhoneNumber"), default_region),
        # None when the event has none or it is a sender ID: the report still counts.
        from_phone=sender_number(document.get("originationPhoneNumber"), default_region),
        status=event_type,
        error_code=outcome if final else None,
        occurred_at=_event_time(document.get("eventTimestamp")),
        received_at=received_at,
    )


def _text(document: Mapping[str, Any], field: str) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"the field {field} is missing or empty", field=field)
    return value


def _event_time(milliseconds: object) -> datetime:
    if not isinstance(milliseconds, int) or isinstance(milliseconds, bool):
        raise InvalidRequest("the field eventTimestamp is not Unix time in milliseconds", field="eventTimestamp")
    try:
        return datetime.fromtimestamp(milliseconds / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidRequest("the field eventTimestamp is out of range", field="eventTimestamp") from None


def _sns_time(timestamp: str) -> datetime:
    try:
        moment = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        raise InvalidRequest("the SNS Timestamp is not an ISO 8601 time", field="Timestamp") from None
    # SNS stamps its messages in GMT ("2012-05-02T00:54:06.655Z").
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def error_source(error_code: str | None) -> Source | None:
    """What an AWS outcome means for the recipient: opted out (`carrier`), cannot take texts (`bounce`), or nothing."""
    return source_of_error(error_code, opted_out=OPTED_OUT_CODES, unreachable=UNREACHABLE_CODES)
