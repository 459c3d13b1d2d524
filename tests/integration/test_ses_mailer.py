"""SesMailer against the embedded SES (moto over HTTP), and its error mapping (botocore Stubber)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from chalicelib.adapters.ses_mailer import SesMailer
from chalicelib.domain.errors import MailRejected, MailRetry
from chalicelib.domain.models import Email
from chalicelib.domain.notifications import NotificationValues, build_email
from tools.local_stack import Resources, client, free_port
from tools.mail import main as mail_main
from tools.mail import received_emails

SENDER = "alerts@example.com"


def values() -> NotificationValues:
    return NotificationValues(
        account_id="acme",
        account_name="Acme Dental",
        phone="+14155550123",
        when=datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC),
        source="keyword",
        scopes=("all",),
        message='Stop <script>alert("x")</script>\n\nPlease, über-quickly',
        message_id="SM123",
        api_base="https://sms.example.com/prod",
    )


def email(**overrides: object) -> Email:
    fields: dict[str, object] = {
        "to": "ana@example.com",
        "sender": SENDER,
        "subject": "Hello",
        "text": "Hi",
        "html": "<p>Hi</p>",
        "tags": {"kind": "reply"},
    }
    fields.update(overrides)
    return Email.model_validate(fields)


def nonblank_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip(" >")]


@pytest.fixture
def sesv2(clean_aws: Resources):
    return client("sesv2", clean_aws.endpoint_url, clean_aws.region)


def test_an_email_from_a_verified_sender_reaches_the_embedded_ses(clean_aws: Resources, sesv2) -> None:
    # Given a verified sender identity
    sesv2.create_email_identity(EmailIdentity=SENDER)
    alert = build_email("reply", None, values(), to="ana@example.com", sender=SENDER)

    # When the mailer sends a rendered alert
    message_id = SesMailer(sesv2).send(alert)

    # Then the embedded SES has it, and its text reads as rendered
    received = received_emails(clean_aws.endpoint_url)
    assert [(e["id"], e["from"], e["to"], e["subject"]) for e in received] == [
        (message_id, SENDER, ["ana@example.com"], "Reply from +14155550123 to Acme Dental")
    ]
    assert received[0]["html"] == alert.html  # moto keeps the HTML body when there are both
    # The text is rebuilt from the HTML: the same lines, blank lines aside.
    assert nonblank_lines(received[0]["text"]) == nonblank_lines(alert.text)
    assert "<script>" not in received[0]["html"]


def test_an_unverified_sender_is_rejected(clean_aws: Resources, sesv2) -> None:
    with pytest.raises(MailRejected, match="MessageRejected"):
        SesMailer(sesv2).send(email(sender="nobody@example.com"))

    assert received_emails(clean_aws.endpoint_url) == []


def test_a_malformed_recipient_is_rejected(sesv2) -> None:
    sesv2.create_email_identity(EmailIdentity=SENDER)

    with pytest.raises(MailRejected):
        SesMailer(sesv2).send(email(to="not an address"))


def test_the_mail_tool_lists_what_was_received(clean_aws: Resources, sesv2, capsys) -> None:
    sesv2.create_email_identity(EmailIdentity=SENDER)
    mailer = SesMailer(sesv2)
    mailer.send(email(to="first@example.com", subject="First", html="<p>one</p>"))
    mailer.send(email(to="second@example.com", subject="Second", html="<p>two</p>"))

    assert mail_main(["--endpoint-url", clean_aws.endpoint_url]) == 0
    out = capsys.readouterr().out
    assert out.index("Subject: First") < out.index("Subject: Second")  # newest last
    assert "To:      second@example.com" in out and "\ntwo\n" in out

    assert mail_main(["--endpoint-url", clean_aws.endpoint_url, "--to", "second@"]) == 0
    assert "First" not in capsys.readouterr().out


def test_the_mail_tool_reads_raw_emails_too(clean_aws: Resources, sesv2) -> None:
    sesv2.create_email_identity(EmailIdentity=SENDER)
    raw = EmailMessage()
    raw["From"], raw["To"], raw["Subject"] = SENDER, "bo@example.com", "Raw one"
    raw.set_content("plain words\n")
    raw.add_alternative("<p>html words</p>", subtype="html")
    sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": ["bo@example.com"]},
        Content={"Raw": {"Data": raw.as_bytes()}},
    )

    [received] = received_emails(clean_aws.endpoint_url)

    assert (received["from"], received["to"], received["subject"]) == (SENDER, ["bo@example.com"], "Raw one")
    assert received["text"] == "plain words\n"
    assert received["html"] == "<p>html words</p>\n"


def test_an_unreachable_ses_is_worth_a_retry() -> None:
    closed = boto3.client(
        "sesv2",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1, read_timeout=1),
    )

    with pytest.raises(MailRetry, match="unreachable"):
        SesMailer(closed).send(email())


# --- error mapping, with botocore's Stubber (no endpoint) ------------------------------------


@pytest.fixture
def stubbed():
    ses = boto3.client("sesv2", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(ses) as stubber:
        yield ses, stubber


def test_the_request_carries_both_bodies_in_utf8_the_tags_and_the_configuration_set(stubbed) -> None:
    ses, stubber = stubbed
    stubber.add_response(
        "send_email",
        {"MessageId": "m-1"},
        {
            "FromEmailAddress": SENDER,
            "Destination": {"ToAddresses": ["ana@example.com"]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": "Hello", "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": "Hi", "Charset": "UTF-8"},
                        "Html": {"Data": "<p>Hi</p>", "Charset": "UTF-8"},
                    },
                }
            },
            # SES allows only letters, digits, _ and - in tags: the rest becomes _.
            "EmailTags": [{"Name": "kind", "Value": "reply"}, {"Name": "campaign", "Value": "spring_sale_2026"}],
            "ConfigurationSetName": "optout-alerts",
        },
    )

    message_id = SesMailer(ses, configuration_set="optout-alerts").send(
        email(tags={"kind": "reply", "campaign": "spring sale/2026"})
    )

    assert message_id == "m-1"
    stubber.assert_no_pending_responses()


def test_without_tags_or_configuration_set_none_is_sent(stubbed) -> None:
    ses, stubber = stubbed
    stubber.add_response(
        "send_email",
        {"MessageId": "m-2"},
        {
            "FromEmailAddress": SENDER,
            "Destination": {"ToAddresses": ["ana@example.com"]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": "Hello", "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": "Hi", "Charset": "UTF-8"},
                        "Html": {"Data": "<p>Hi</p>", "Charset": "UTF-8"},
                    },
                }
            },
        },
    )

    assert SesMailer(ses).send(email(tags={})) == "m-2"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("TooManyRequestsException", 429),
        ("LimitExceededException", 400),
        ("SendingPausedException", 400),
        ("Throttling", 400),
        ("ThrottlingException", 400),
        ("InternalFailure", 500),
        ("ServiceUnavailable", 503),
        ("SomethingNew", 502),
        ("SomethingNew", 429),
        ("ExpiredTokenException", 403),
        ("AccessDeniedException", 403),
    ],
)
def test_throttling_and_service_errors_are_worth_a_retry(stubbed, code: str, status: int) -> None:
    ses, stubber = stubbed
    stubber.add_client_error("send_email", service_error_code=code, http_status_code=status)

    with pytest.raises(MailRetry, match=code):
        SesMailer(ses).send(email())


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("MessageRejected", 400),
        ("MailFromDomainNotVerifiedException", 400),
        ("AccountSuspendedException", 400),
        ("BadRequestException", 400),
        ("NotFoundException", 404),
        ("InvalidParameterValue", 400),
        ("SomethingNew", 400),
    ],
)
def test_an_email_ses_will_never_send_as_it_is_is_rejected(stubbed, code: str, status: int) -> None:
    ses, stubber = stubbed
    stubber.add_client_error("send_email", service_error_code=code, http_status_code=status)

    with pytest.raises(MailRejected, match=code):
        SesMailer(ses).send(email())
