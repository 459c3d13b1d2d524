"""AwsCarrier: SNS signatures (a self-signed certificate, messages signed the way SNS signs them), the certificate
and SubscribeURL checks, and the two-way SMS and SMS event payloads AWS documents.

AWS publishes no fixed SNS test vectors (/work/shared/data/carrier-signature-vectors.json says so), hence the
self-signed certificate. The string to sign is built here independently of the module, from the AWS docs.

Where the payloads under tests/events/aws/ come from:
- sns_notification.json, sns_subscription_confirmation.json, sns_unsubscribe_confirmation.json: the examples of
  https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html, .../http-subscription-confirmation-json.html
  and .../http-unsubscribe-confirmation-json.html (their Signature is a placeholder: the tests sign again).
- lambda_sns_event.json: the SNS event of https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html (note
  SigningCertUrl and UnsubscribeUrl), carrying a two-way STOP.
- two_way_inbound.json: the example of https://docs.aws.amazon.com/sms-voice/latest/userguide/two-way-sms-payload.html;
  two_way_inbound_stop.json: the same shape with a STOP.
- event_text_successful.json: the SMS example of
  https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-format.html.
- event_text_successful_sender_id.json: the `detail` of the delivered-SMS example of
  https://docs.aws.amazon.com/sms-voice/latest/userguide/monitor-event-bridge.html (a sender ID as origination; that
  example shows no destinationPhoneNumber, so one is added).
- event_text_blocked.json: a TEXT_BLOCKED event recorded by a public project (no originationPhoneNumber; numbers and
  account id replaced by fictional ones); event_text_unreachable_not_final.json and
  event_text_carrier_unreachable.json: the documented shape with the event types of
  https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-types.html.
"""

from __future__ import annotations

import base64
import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pydantic import ValidationError

from chalicelib.adapters.carriers import sns
from chalicelib.adapters.carriers.aws import AwsCarrier, AwsCredentials, error_source, notice_from_sns
from chalicelib.adapters.carriers.aws_sms import AwsSmsProvider
from chalicelib.domain.errors import InvalidPhone, InvalidRequest, InvalidSignature, StoreUnavailable
from chalicelib.domain.models import DeliveryReport, InboundMessage, Source
from chalicelib.domain.ports import CarrierNotice
from chalicelib.domain.webhooks import WebhookAnswer, WebhookRequest
from tests.sns_signing import FakeFetch, certificate_pem, make_key, sign

EVENTS = Path(__file__).parents[1] / "events" / "aws"
# The documentation examples' topic and certificate URL.
TOPIC_ARN = "arn:aws:sns:us-west-2:123456789012:MyTopic"
CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
CREDENTIALS = {"topic_arn": TOPIC_ARN}
RECEIVED_AT = datetime(2024, 6, 12, 14, 32, 5, tzinfo=UTC)
ACCOUNT = "acme"


def event(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return document


# --- certificates and signing, the SNS way ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return make_key()


@pytest.fixture(scope="module")
def pem(signing_key: rsa.RSAPrivateKey) -> bytes:
    now = datetime.now(UTC)
    return certificate_pem(signing_key, not_before=now - timedelta(days=1), not_after=now + timedelta(days=365))


def envelope(name: str, key: rsa.RSAPrivateKey, version: str = "1", **changes: Any) -> dict[str, Any]:
    """A documented SNS example with `changes`, signed again."""
    fields = {**event(name), **changes}
    fields = {name: value for name, value in fields.items() if value is not None}
    return sign(fields, key, version)


def notification(
    key: rsa.RSAPrivateKey, message: dict[str, Any] | str, version: str = "1", **changes: Any
) -> dict[str, Any]:
    text = message if isinstance(message, str) else json.dumps(message)
    return envelope("sns_notification.json", key, version, Message=text, **changes)


def request(fields: dict[str, Any], message_type: str | None = "") -> WebhookRequest:
    """The POST SNS makes: the JSON body as text/plain, the type in a header (`message_type` None: no header)."""
    headers = {"content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-id": str(fields.get("MessageId"))}
    if message_type is not None:
        headers[sns.MESSAGE_TYPE_HEADER] = message_type or str(fields["Type"])
    return WebhookRequest(
        method="POST",
        url=f"https://api.example.com/webhooks/aws/{ACCOUNT}",
        headers=headers,
        body=json.dumps(fields).encode("utf-8"),
        received_at=RECEIVED_AT,
    )


@pytest.fixture
def fetch(pem: bytes) -> FakeFetch:
    return FakeFetch({CERT_URL: pem})


@pytest.fixture
def carrier(fetch: FakeFetch) -> AwsCarrier:
    return AwsCarrier(sms_client=_no_client, fetch=fetch)


def _no_client() -> Any:
    raise AssertionError("no SMS client is needed here")


INBOUND = event("two_way_inbound_stop.json")


# --- verify: what passes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_notification_verifies(carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey, version: str) -> None:
    carrier.verify(request(notification(signing_key, INBOUND, version)), CREDENTIALS)


def test_a_notification_without_subject_verifies(carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey) -> None:
    # AWS End User Messaging publishes without a Subject; the string to sign then has no Subject line.
    fields = notification(signing_key, INBOUND, Subject=None)
    assert "Subject" not in fields

    carrier.verify(request(fields), CREDENTIALS)


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_subscription_confirmation_verifies(
    carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey, version: str
) -> None:
    carrier.verify(request(envelope("sns_subscription_confirmation.json", signing_key, version)), CREDENTIALS)


def test_a_signed_unsubscribe_confirmation_verifies(carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey) -> None:
    carrier.verify(request(envelope("sns_unsubscribe_confirmation.json", signing_key)), CREDENTIALS)


def test_the_certificate_is_fetched_once_for_many_messages(
    carrier: AwsCarrier, fetch: FakeFetch, signing_key: rsa.RSAPrivateKey
) -> None:
    for number in range(5):
        fields = notification(signing_key, INBOUND, MessageId=f"message-{number}")
        carrier.verify(request(fields), CREDENTIALS)

    assert fetch.calls == [CERT_URL]


# --- verify: what fails -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["Message", "MessageId", "Timestamp", "Subject"])
def test_a_tampered_notification_fails(carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey, field: str) -> None:
    fields = notification(signing_key, INBOUND)
    fields[field] = fields[field] + "x"

    with pytest.raises(InvalidSignature):
        carrier.verify(request(fields), CREDENTIALS)


def test_a_tampered_topic_fails_even_for_an_account_of_that_topic(
    carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey
) -> None:
    # Given a message signed for our topic whose TopicArn is then changed, checked against the changed topic
    other_topic = "arn:aws:sns:us-west-2:123456789012:OtherTopic"
    fields = {**notification(signing_key, INBOUND), "TopicArn": other_topic}

    # Then only the signature can catch it, and does
    with pytest.raises(InvalidSignature, match="does not match"):
        carrier.verify(request(fields), {"topic_arn": other_topic})


@pytest.mark.parametrize("field", ["SubscribeURL", "Token", "Message"])
def test_a_tampered_subscription_confirmation_fails(
    carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey, field: str
) -> None:
    fields = envelope("sns_subscription_confirmation.json", signing_key)
    fields[field] = fields[field] + "0"

    with pytest.raises(InvalidSignature):
        carrier.verify(request(fields), CREDENTIALS)


def test_a_message_validly_signed_for_another_topic_fails_without_a_fetch(
    carrier: AwsCarrier, fetch: FakeFetch, signing_key: rsa.RSAPrivateKey
) -> None:
    fields = notification(signing_key, INBOUND, TopicArn="arn:aws:sns:us-west-2:123456789012:SomeoneElsesTopic")

    with pytest.raises(InvalidSignature, match="another topic"):
        carrier.verify(request(fields), CREDENTIALS)
    assert fetch.calls == []


def test_a_signature_by_another_key_fails(carrier: AwsCarrier) -> None:
    with pytest.raises(InvalidSignature, match="does not match"):
        carrier.verify(request(notification(make_key(), INBOUND)), CREDENTIALS)


def test_a_v1_signature_labelled_v2_fails(carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey) -> None:
    fields = {**notification(signing_key, INBOUND, "1"), "SignatureVersion": "2"}

    with pytest.raises(InvalidSignature):
        carrier.verify(request(fields), CREDENTIALS)


@pytest.mark.parametrize("version", ["3", "0", ""])
def test_an_unknown_signature_version_fails_without_a_fetch(
    carrier: AwsCarrier, fetch: FakeFetch, signing_key: rsa.RSAPrivateKey, version: str
) -> None:
    fields = {**notification(signing_key, INBOUND, "2"), "SignatureVersion": version}

    with pytest.raises(InvalidSignature, match="SignatureVersion"):
        carrier.verify(request(fields), CREDENTIALS)
    assert fetch.calls == []


BAD_CERT_URLS = [
    "https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-1.pem",
    "https://evil.com/sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://evil.com/https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.com@evil.com/SimpleNotificationService-1.pem",
    "https://evil.com@sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.com:443@evil.com/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.com\\@evil.com/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem?.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem#x.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.txt",
    " https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem\n",
    # An S3 bucket named "sns" answers at this host: the official pattern accepts it, ours does not.
    "https://sns.s3-us-west-2.amazonaws.com/SimpleNotificationService-1.pem",
    "https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sqs.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.com.cn.evil.com/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.co/SimpleNotificationService-1.pem",
    "file:///etc/passwd.pem",
    "",
]


@pytest.mark.parametrize("url", BAD_CERT_URLS)
def test_a_certificate_off_sns_hosts_fails_without_a_fetch(
    carrier: AwsCarrier, fetch: FakeFetch, signing_key: rsa.RSAPrivateKey, url: str
) -> None:
    fetch.documents[url] = fetch.documents[CERT_URL]
    fields = notification(signing_key, INBOUND, SigningCertURL=url)

    with pytest.raises(InvalidSignature, match="SigningCertURL"):
        carrier.verify(request(fields), CREDENTIALS)
    assert fetch.calls == []


@pytest.mark.parametrize(
    "url",
    [
        CERT_URL,
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-3250158c6506936fb86fd74a8c1d3a08.pem",
        "https://sns.ap-southeast-2.amazonaws.com/SimpleNotificationService-a86cb10b4e1f29c941702d737128f7b6.pem",
    ],
)
def test_certificates_on_every_partitions_sns_hosts_are_accepted(url: str) -> None:
    assert sns.is_signing_cert_url(url)


def test_an_expired_certificate_fails(signing_key: rsa.RSAPrivateKey) -> None:
    now = datetime.now(UTC)
    expired = certificate_pem(signing_key, not_before=now - timedelta(days=400), not_after=now - timedelta(days=1))
    carrier = AwsCarrier(sms_client=_no_client, fetch=FakeFetch({CERT_URL: expired}))

    with pytest.raises(InvalidSignature, match="expired"):
        carrier.verify(request(notification(signing_key, INBOUND)), CREDENTIALS)


def test_a_certificate_not_yet_valid_fails(signing_key: rsa.RSAPrivateKey) -> None:
    now = datetime.now(UTC)
    future = certificate_pem(signing_key, not_before=now + timedelta(days=1), not_after=now + timedelta(days=30))
    carrier = AwsCarrier(sms_client=_no_client, fetch=FakeFetch({CERT_URL: future}))

    with pytest.raises(InvalidSignature, match="not yet valid"):
        carrier.verify(request(notification(signing_key, INBOUND)), CREDENTIALS)


@pytest.mark.parametrize(
    "document", [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
)
def test_a_document_that_is_not_a_certificate_fails(signing_key: rsa.RSAPrivateKey, document: bytes) -> None:
    carrier = AwsCarrier(sms_client=_no_client, fetch=FakeFetch({CERT_URL: document}))

    with pytest.raises(InvalidSignature, match="not an X.509 certificate"):
        carrier.verify(request(notification(signing_key, INBOUND)), CREDENTIALS)


def test_a_certificate_that_cannot_be_fetched_now_asks_sns_to_retry(signing_key: rsa.RSAPrivateKey) -> None:
    fetch = FakeFetch(failure=sns.FetchFailed("TimeoutError: timed out", transient=True))
    carrier = AwsCarrier(sms_client=_no_client, fetch=fetch)

    # StoreUnavailable is a 503: SNS retries 5xx answers and drops 4xx ones.
    with pytest.raises(StoreUnavailable):
        carrier.verify(request(notification(signing_key, INBOUND)), CREDENTIALS)


def test_a_certificate_url_that_answers_404_fails(signing_key: rsa.RSAPrivateKey) -> None:
    carrier = AwsCarrier(sms_client=_no_client, fetch=FakeFetch())

    with pytest.raises(InvalidSignature, match="HTTP 404"):
        carrier.verify(request(notification(signing_key, INBOUND)), CREDENTIALS)


def test_a_certificate_that_failed_to_fetch_is_fetched_again(pem: bytes, signing_key: rsa.RSAPrivateKey) -> None:
    fetch = FakeFetch({CERT_URL: pem}, failure=sns.FetchFailed("HTTP 503", transient=True))
    carrier = AwsCarrier(sms_client=_no_client, fetch=fetch)
    with pytest.raises(StoreUnavailable):
        carrier.verify(request(notification(signing_key, INBOUND)), CREDENTIALS)

    fetch.failure = None
    carrier.verify(request(notification(signing_key, INBOUND)), CREDENTIALS)

    assert fetch.calls == [CERT_URL, CERT_URL]


@pytest.mark.parametrize("header", ["SubscriptionConfirmation", "notification", None])
def test_a_message_type_header_that_disagrees_fails(
    carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey, header: str | None
) -> None:
    with pytest.raises(InvalidSignature, match="x-amz-sns-message-type"):
        carrier.verify(request(notification(signing_key, INBOUND), message_type=header), CREDENTIALS)


def test_an_account_without_a_topic_fails(carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(InvalidSignature, match="no SNS topic"):
        carrier.verify(request(notification(signing_key, INBOUND)), {})


def test_a_subscribe_url_off_sns_hosts_is_refused(
    carrier: AwsCarrier, fetch: FakeFetch, signing_key: rsa.RSAPrivateKey
) -> None:
    # Given a confirmation validly signed, but whose SubscribeURL points elsewhere
    evil = "https://evil.example/?Action=ConfirmSubscription&Token=1"
    fields = envelope("sns_subscription_confirmation.json", signing_key, SubscribeURL=evil)

    # Then verify refuses it before fetching anything, and read would not GET it either
    with pytest.raises(InvalidSignature, match="SubscribeURL"):
        carrier.verify(request(fields), CREDENTIALS)
    with pytest.raises(InvalidSignature, match="SubscribeURL"):
        carrier.read(request(fields), account_id=ACCOUNT, default_region="US", received_at=RECEIVED_AT)
    assert fetch.calls == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"STOP",
        b"[]",
        b'"Notification"',
        b"\xff\xfe{}",
        b'{"Type": "Notification"}',
        b'{"Type": "Notification", "Type": "Notification"}',
        b"[" * 100_000,
    ],
)
def test_a_body_that_is_not_an_sns_message_fails(carrier: AwsCarrier, body: bytes) -> None:
    bad = WebhookRequest(
        "POST", "https://api.example.com/", {sns.MESSAGE_TYPE_HEADER: "Notification"}, body, RECEIVED_AT
    )

    with pytest.raises(InvalidSignature):
        carrier.verify(bad, CREDENTIALS)


@pytest.mark.parametrize("message_type", ["Notice", "notification", None, 1])
def test_an_unknown_message_type_fails(carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey, message_type: Any) -> None:
    fields = {**notification(signing_key, INBOUND), "Type": message_type}

    with pytest.raises(InvalidSignature, match="Type"):
        carrier.verify(request(fields, message_type=str(message_type)), CREDENTIALS)


def test_a_repeated_key_fails(carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey) -> None:
    # Given a signed body with a second Message key appended: which one was signed would be ambiguous
    fields = notification(signing_key, INBOUND)
    body = json.dumps(fields)[:-1] + ', "Message": "START"}'

    with pytest.raises(InvalidSignature, match="JSON object"):
        carrier.verify(
            WebhookRequest("POST", "https://x/", {sns.MESSAGE_TYPE_HEADER: "Notification"}, body.encode(), RECEIVED_AT),
            CREDENTIALS,
        )


@pytest.mark.parametrize("missing", ["SubscribeURL", "Token"])
def test_a_confirmation_without_its_keys_fails(
    carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey, missing: str
) -> None:
    fields = envelope("sns_subscription_confirmation.json", signing_key)
    del fields[missing]

    with pytest.raises(InvalidSignature, match=missing):
        carrier.verify(request(fields), CREDENTIALS)


def test_the_certificate_cache_is_bounded(pem: bytes) -> None:
    urls = [f"https://sns.us-east-{n}.amazonaws.com/SimpleNotificationService-{n}.pem" for n in (1, 2, 3)]
    fetch = FakeFetch(dict.fromkeys(urls, pem))
    certificates = sns.SigningCertificates(fetch, max_entries=2)
    now = datetime.now(UTC)

    for url in [*urls, urls[2], urls[0]]:
        certificates.public_key(url, now)

    # The first was dropped when the third came, so it was fetched again; the third was still kept.
    assert fetch.calls == [urls[0], urls[1], urls[2], urls[0]]


def test_the_string_to_sign_follows_aws_key_order() -> None:
    fields = event("sns_subscription_confirmation.json")
    message = sns.parse_message(json.dumps(fields).encode())

    expected = "".join(
        f"{key}\n{fields[key]}\n"
        for key in ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
    )
    assert sns.string_to_sign(message) == expected.encode()


# --- read ---------------------------------------------------------------------------------------------------------


def read(carrier: AwsCarrier, fields: dict[str, Any], *, status: bool = False) -> CarrierNotice:
    reader = carrier.read_status if status else carrier.read
    return reader(request(fields), account_id=ACCOUNT, default_region="US", received_at=RECEIVED_AT)


def test_a_subscription_is_confirmed_by_getting_its_subscribe_url_once(
    carrier: AwsCarrier, fetch: FakeFetch, signing_key: rsa.RSAPrivateKey
) -> None:
    fields = envelope("sns_subscription_confirmation.json", signing_key)
    fetch.documents[fields["SubscribeURL"]] = b"<ConfirmSubscriptionResponse/>"
    carrier.verify(request(fields), CREDENTIALS)

    notice = read(carrier, fields)

    assert notice == CarrierNotice(answer=WebhookAnswer(200, ""))
    assert fetch.calls == [CERT_URL, fields["SubscribeURL"]]


def test_a_subscription_that_could_not_be_confirmed_asks_sns_to_retry(signing_key: rsa.RSAPrivateKey) -> None:
    carrier = AwsCarrier(sms_client=_no_client, fetch=FakeFetch())  # SubscribeURL answers 404
    fields = envelope("sns_subscription_confirmation.json", signing_key)

    with pytest.raises(StoreUnavailable, match="confirm"):
        read(carrier, fields)


def test_an_unsubscribe_confirmation_is_acknowledged_and_not_undone(
    carrier: AwsCarrier, fetch: FakeFetch, signing_key: rsa.RSAPrivateKey
) -> None:
    notice = read(carrier, envelope("sns_unsubscribe_confirmation.json", signing_key))

    assert notice == CarrierNotice(answer=WebhookAnswer(200, ""))
    assert fetch.calls == []


def test_a_verified_two_way_stop_becomes_an_inbound_message(
    carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey
) -> None:
    fields = notification(signing_key, INBOUND, Subject=None)
    carrier.verify(request(fields), CREDENTIALS)

    notice = read(carrier, fields)

    assert notice.messages == (
        InboundMessage(
            carrier="aws",
            message_id="5e0b9c4a-7d2e-5f1b-9a3c-2b8e6f4d1c07",
            account_id=ACCOUNT,
            from_phone="+14255550182",
            to_phone="+12125550101",
            body="Stop please",
            occurred_at=datetime(2012, 5, 2, 0, 54, 6, 655000, tzinfo=UTC),
            received_at=RECEIVED_AT,
            carrier_confirms=False,
        ),
    )
    assert notice.reports == () and notice.answer is None


def test_a_status_callback_with_an_sms_event_becomes_a_delivery_report(
    carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey
) -> None:
    notice = read(carrier, notification(signing_key, event("event_text_blocked.json")), status=True)

    assert [report.status for report in notice.reports] == ["TEXT_BLOCKED"]
    assert notice.messages == ()


def test_either_route_reads_either_payload(carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey) -> None:
    fields = notification(signing_key, INBOUND)

    assert read(carrier, fields, status=True) == read(carrier, fields)


def test_a_notification_that_is_not_from_end_user_messaging_is_a_bad_request(
    carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey
) -> None:
    # The docs' own example: "Hello world!"
    with pytest.raises(InvalidRequest, match="not JSON"):
        read(carrier, envelope("sns_notification.json", signing_key))


# --- notice_from_sns: the payloads --------------------------------------------------------------------------------


def notice(payload: dict[str, Any] | str, timestamp: str = "2024-06-12T14:32:04.512Z") -> CarrierNotice:
    message = payload if isinstance(payload, str) else json.dumps(payload)
    return notice_from_sns(
        message,
        message_id="95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        timestamp=timestamp,
        account_id=ACCOUNT,
        default_region="US",
        received_at=RECEIVED_AT,
    )


def test_the_documented_two_way_payload_becomes_an_inbound_message() -> None:
    assert notice(event("two_way_inbound.json")) == CarrierNotice(
        messages=(
            InboundMessage(
                carrier="aws",
                message_id="cae173d2-66b9-564c-8309-21f858e9fb84",
                account_id=ACCOUNT,
                from_phone="+14255550182",
                to_phone="+12125550101",
                body="EXAMPLE",
                occurred_at=datetime(2024, 6, 12, 14, 32, 4, 512000, tzinfo=UTC),
                received_at=RECEIVED_AT,
                carrier_confirms=False,
            ),
        )
    )


def test_a_lambda_sns_record_is_read_with_its_own_field_names() -> None:
    # The direct SNS -> Lambda path: the record spells SigningCertUrl and UnsubscribeUrl, and Subject is null.
    record = event("lambda_sns_event.json")["Records"][0]["Sns"]
    carrier = AwsCarrier(sms_client=_no_client, fetch=FakeFetch())

    result = carrier.notice_from_topic(
        record["Message"],
        message_id=record["MessageId"],
        timestamp=record["Timestamp"],
        account_id=ACCOUNT,
        default_region="US",
        received_at=RECEIVED_AT,
    )

    (message,) = result.messages
    assert (message.message_id, message.from_phone, message.body) == (
        "0a3f6c1e-2b7d-5e94-8c1a-6f2e9d3b7a41",
        "+14255550182",
        "STOP",
    )
    assert message.occurred_at == datetime(2024, 6, 12, 14, 32, 4, 512000, tzinfo=UTC)


def test_the_documented_sms_event_becomes_a_delivery_report() -> None:
    assert notice(event("event_text_successful.json")) == CarrierNotice(
        reports=(
            DeliveryReport(
                carrier="aws",
                message_id="862a8790-60c0-4430-9b2b-658bdexample",
                account_id=ACCOUNT,
                to_phone="+14255550156",
                from_phone="+12065550152",
                status="TEXT_SUCCESSFUL",
                error_code="SUCCESSFUL",
                occurred_at=datetime(2023, 6, 17, 4, 11, 43, 470000, tzinfo=UTC),
                received_at=RECEIVED_AT,
            ),
        )
    )


def test_a_blocked_event_without_origination_is_a_bounce() -> None:
    (report,) = notice(event("event_text_blocked.json")).reports

    assert report.from_phone is None
    assert (report.status, report.error_code) == ("TEXT_BLOCKED", "BLOCKED")
    assert report.occurred_at == datetime(2025, 1, 22, 12, 57, 51, 501000, tzinfo=UTC)
    assert error_source(report.error_code) is Source.BOUNCE


def test_a_sender_id_origination_is_no_sender_number() -> None:
    (report,) = notice(event("event_text_successful_sender_id.json")).reports

    assert (report.from_phone, report.to_phone) == (None, "+34600000000")


def test_a_failure_that_is_not_final_suppresses_nothing() -> None:
    # AWS reports intermediate statuses; only the final one says what became of the text.
    (report,) = notice(event("event_text_unreachable_not_final.json")).reports

    assert (report.status, report.error_code) == ("TEXT_UNREACHABLE", None)
    assert error_source(report.error_code) is None


def test_a_final_unreachable_event_is_a_bounce() -> None:
    (report,) = notice({**event("event_text_unreachable_not_final.json"), "isFinal": True}).reports

    assert error_source(report.error_code) is Source.BOUNCE


def test_a_carrier_network_failure_suppresses_nothing() -> None:
    (report,) = notice(event("event_text_carrier_unreachable.json")).reports

    assert report.error_code == "CARRIER_UNREACHABLE"
    assert error_source(report.error_code) is None


def test_an_event_without_message_status_carries_its_event_type() -> None:
    payload = {key: value for key, value in event("event_text_blocked.json").items() if key != "messageStatus"}

    (report,) = notice(payload).reports

    assert report.error_code == "TEXT_BLOCKED"


def test_an_sns_timestamp_without_offset_is_gmt() -> None:
    (message,) = notice(event("two_way_inbound.json"), timestamp="2024-06-12T14:32:04.512").messages

    assert message.occurred_at == datetime(2024, 6, 12, 14, 32, 4, 512000, tzinfo=UTC)


BAD_PAYLOADS = {
    "not JSON": "STOP",
    "a JSON list": "[]",
    "neither kind": json.dumps({"hello": "world"}),
    "a voice event": json.dumps({**event("event_text_successful.json"), "eventType": "VOICE_COMPLETED"}),
    "no messageId": json.dumps({k: v for k, v in event("event_text_successful.json").items() if k != "messageId"}),
    "no destination": json.dumps(
        {k: v for k, v in event("event_text_successful.json").items() if k != "destinationPhoneNumber"}
    ),
    "a timestamp in text": json.dumps({**event("event_text_successful.json"), "eventTimestamp": "1686975103470"}),
    "a boolean timestamp": json.dumps({**event("event_text_successful.json"), "eventTimestamp": True}),
    "isFinal in text": json.dumps({**event("event_text_successful.json"), "isFinal": "true"}),
    "no inbound id": json.dumps({**event("two_way_inbound.json"), "inboundMessageId": " "}),
    "no origination": json.dumps({k: v for k, v in event("two_way_inbound.json").items() if k != "originationNumber"}),
    "a numeric body": json.dumps({**event("two_way_inbound.json"), "messageBody": 5}),
}


@pytest.mark.parametrize("payload", BAD_PAYLOADS.values(), ids=BAD_PAYLOADS.keys())
def test_a_malformed_payload_is_a_bad_request(payload: str) -> None:
    with pytest.raises(InvalidRequest):
        notice(payload)


def test_a_bad_sns_timestamp_is_a_bad_request() -> None:
    with pytest.raises(InvalidRequest, match="Timestamp"):
        notice(event("two_way_inbound.json"), timestamp="yesterday")


def test_an_inbound_number_that_is_not_one_is_an_invalid_phone() -> None:
    with pytest.raises(InvalidPhone):
        notice({**event("two_way_inbound.json"), "originationNumber": "+1 555"})


def test_an_inbound_without_a_body_is_an_empty_text() -> None:
    payload = {k: v for k, v in event("two_way_inbound.json").items() if k != "messageBody"}

    (message,) = notice(payload).messages

    assert message.body == ""


# --- error codes --------------------------------------------------------------------------------------------------

ERROR_SOURCES = {
    "DESTINATION_PHONE_NUMBER_OPTED_OUT": Source.CARRIER,
    "TEXT_INVALID": Source.BOUNCE,
    "INVALID": Source.BOUNCE,
    "TEXT_UNREACHABLE": Source.BOUNCE,
    "UNREACHABLE": Source.BOUNCE,
    "TEXT_BLOCKED": Source.BOUNCE,
    "BLOCKED": Source.BOUNCE,
    "TEXT_CARRIER_UNREACHABLE": None,
    "CARRIER_UNREACHABLE": None,
    "TEXT_CARRIER_BLOCKED": None,
    "CARRIER_BLOCKED": None,
    "TEXT_SPAM": None,
    "SPAM": None,
    "TEXT_INVALID_MESSAGE": None,
    "TEXT_PROTECT_BLOCKED": None,
    "TEXT_TTL_EXPIRED": None,
    "TEXT_UNKNOWN": None,
    "UNKNOWN": None,
    "TEXT_SUCCESSFUL": None,
    "SUCCESSFUL": None,
    "TEXT_DELIVERED": None,
    "DELIVERED": None,
    "DESTINATION_PHONE_NUMBER_NOT_VERIFIED": None,
    "": None,
}


@pytest.mark.parametrize(("code", "source"), ERROR_SOURCES.items())
def test_error_codes_map_to_suppression_sources(carrier: AwsCarrier, code: str, source: Source | None) -> None:
    assert carrier.error_source(code) is source


def test_no_error_code_means_nothing(carrier: AwsCarrier) -> None:
    assert carrier.error_source(None) is None


# --- the rest of the Carrier interface ----------------------------------------------------------------------------


def test_the_carrier_names_itself_and_replies_by_text(carrier: AwsCarrier) -> None:
    assert (carrier.name, carrier.replies_in_answer) == ("aws", False)
    assert carrier.answer("You are unsubscribed.") == WebhookAnswer(200, "")


@pytest.mark.parametrize(
    "topic_arn",
    [
        TOPIC_ARN,
        "arn:aws-cn:sns:cn-north-1:123456789012:two-way_sms",
        "arn:aws-us-gov:sns:us-gov-west-1:123456789012:optout-inbound-acme",
        "arn:aws:sns:us-east-1:123456789012:events.fifo",
    ],
)
def test_the_credentials_form_takes_a_topic_arn(topic_arn: str) -> None:
    assert AwsCredentials(topic_arn=topic_arn).topic_arn == topic_arn


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"topic_arn": ""},
        {"topic_arn": "arn:aws:sqs:us-east-1:123456789012:queue"},
        {"topic_arn": "arn:aws:sns:us-east-1:1234:topic"},
        {"topic_arn": "arn:aws:sns:us-east-1:123456789012:"},
        {"topic_arn": "arn:aws:sns:us-east-1:123456789012:topic:subscription"},
        {"topic_arn": "arn:aws:sns:us-east-1:123456789012:topic\n"},
        {"topic_arn": TOPIC_ARN, "auth_token": "secret"},
    ],
)
def test_the_credentials_form_refuses_anything_else(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        AwsCredentials(**fields)


def test_the_provider_sends_through_a_client_built_on_demand() -> None:
    built: list[object] = []

    def client() -> object:
        built.append(object())
        return built[-1]

    carrier = AwsCarrier(sms_client=client, configuration_set="optout-events")
    assert built == []

    provider = carrier.provider(CREDENTIALS)

    assert isinstance(provider, AwsSmsProvider)
    assert len(built) == 1
    assert provider._client is built[0]
    assert provider._configuration_set == "optout-events"


# --- https_get, against a local HTTPS server ----------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        routes = {
            "/cert.pem": (200, {}, b"PEM"),
            "/redirect.pem": (302, {"Location": "/cert.pem"}, b""),
            "/big.pem": (200, {}, b"x" * (sns.MAX_FETCH_BYTES + 1)),
            "/missing.pem": (404, {}, b"no"),
            "/broken.pem": (503, {}, b"later"),
        }
        status, headers, body = routes[self.path]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def https_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A loopback HTTPS server whose self-signed certificate the default SSL context trusts (SSL_CERT_FILE)."""
    key = make_key()
    now = datetime.now(UTC)
    cert = certificate_pem(key, not_before=now - timedelta(days=1), not_after=now + timedelta(days=1), ip="127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert)
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_https_get_returns_the_body(https_server: str) -> None:
    assert sns.https_get(f"{https_server}/cert.pem") == b"PEM"


@pytest.mark.parametrize(
    ("path", "transient"),
    [("/redirect.pem", False), ("/big.pem", False), ("/missing.pem", False), ("/broken.pem", True)],
)
def test_https_get_refuses_redirects_big_bodies_and_errors(https_server: str, path: str, transient: bool) -> None:
    with pytest.raises(sns.FetchFailed) as failure:
        sns.https_get(f"{https_server}{path}")

    assert failure.value.transient is transient


def test_https_get_fetches_only_https() -> None:
    with pytest.raises(sns.FetchFailed, match="only https"):
        sns.https_get("http://sns.us-east-1.amazonaws.com/cert.pem")


# --- the signature algorithm each SignatureVersion names, and nothing else ----------------------------------------


def test_a_v2_signature_labelled_v1_fails(carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey) -> None:
    fields = {**notification(signing_key, INBOUND, "2"), "SignatureVersion": "1"}

    with pytest.raises(InvalidSignature, match="does not match"):
        carrier.verify(request(fields), CREDENTIALS)


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_pkcs1_signature_with_another_digest_fails(
    carrier: AwsCarrier, signing_key: rsa.RSAPrivateKey, version: str
) -> None:
    """PKCS#1 v1.5 names its digest inside the signature: a valid SHA-512 signature is none of SNS's two."""
    fields = notification(signing_key, INBOUND, version)
    signed = sns.string_to_sign(sns.parse_message(json.dumps(fields).encode()))
    other = signing_key.sign(signed, padding.PKCS1v15(), hashes.SHA512())
    fields["Signature"] = base64.b64encode(other).decode("ascii")

    with pytest.raises(InvalidSignature, match="does not match"):
        carrier.verify(request(fields), CREDENTIALS)


def test_a_certificate_without_an_rsa_key_fails(signing_key: rsa.RSAPrivateKey) -> None:
    now = datetime.now(UTC)
    elliptic = certificate_pem(ec.generate_private_key(ec.SECP256R1()), not_before=now, not_after=now + timedelta(1))
    carrier = AwsCarrier(sms_client=_no_client, fetch=FakeFetch({CERT_URL: elliptic}))

    with pytest.raises(InvalidSignature, match="no RSA key"):
        carrier.verify(request(notification(signing_key, INBOUND)), CREDENTIALS)


def test_validity_dates_in_either_century_are_read_as_rfc_5280_says(signing_key: rsa.RSAPrivateKey) -> None:
    """X.509 writes 1950 to 2049 as UTCTime with two-digit years (60 is 1960) and later years as GeneralizedTime."""
    pem = certificate_pem(
        signing_key, not_before=datetime(1960, 1, 1, tzinfo=UTC), not_after=datetime(2060, 1, 1, tzinfo=UTC)
    )
    carrier = AwsCarrier(sms_client=_no_client, fetch=FakeFetch({CERT_URL: pem}))

    carrier.verify(request(notification(signing_key, INBOUND)), CREDENTIALS)
