"""AwsSmsProvider: a real pinpoint-sms-voice-v2 client with canned answers (botocore's Stubber), real connection
failures on loopback, and moto when it implements SendTextMessage."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from chalicelib.adapters.carriers.aws_sms import AwsSmsProvider
from chalicelib.domain.models import OutboundSms

TO = "+14155550100"
SENDER = "+14155550199"
BODY = "Your appointment is at 10:00. Reply STOP to opt out."
REGION = "us-east-1"


def make_client(**options: Any) -> Any:
    return boto3.client(
        "pinpoint-sms-voice-v2",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        **options,
    )


@pytest.fixture
def client() -> Any:
    # An explicit endpoint keeps AWS_ENDPOINT_URL (set by the local stack) from mattering; the Stubber answers anyway.
    return make_client(endpoint_url=f"https://sms-voice.{REGION}.amazonaws.com")


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def text() -> OutboundSms:
    return OutboundSms(request_id="req-1", to=TO, sender=SENDER, body=BODY)


EXPECTED_PARAMS = {
    "DestinationPhoneNumber": TO,
    "OriginationIdentity": SENDER,
    "MessageBody": BODY,
    "MessageType": "TRANSACTIONAL",
}


def add_error(stubber: Stubber, code: str, message: str, status: int = 400, **modeled: Any) -> None:
    stubber.add_client_error(
        "send_text_message",
        service_error_code=code,
        service_message=message,
        http_status_code=status,
        modeled_fields=modeled or None,
        expected_params=EXPECTED_PARAMS,
    )


def test_a_sent_text_has_aws_message_id(client: Any, stubber: Stubber) -> None:
    stubber.add_response("send_text_message", {"MessageId": "0f5e3a2b-aws-message"}, EXPECTED_PARAMS)

    result = AwsSmsProvider(client).send(text())

    assert result.status == "sent"
    assert result.provider_message_id == "0f5e3a2b-aws-message"


def test_the_configuration_set_and_message_type_are_sent(client: Any, stubber: Stubber) -> None:
    stubber.add_response(
        "send_text_message",
        {"MessageId": "m-1"},
        {**EXPECTED_PARAMS, "MessageType": "PROMOTIONAL", "ConfigurationSetName": "optout-events"},
    )

    result = AwsSmsProvider(client, configuration_set="optout-events", message_type="PROMOTIONAL").send(text())

    assert result.status == "sent"


def test_a_number_on_the_opt_out_list_is_opted_out(client: Any, stubber: Stubber) -> None:
    add_error(
        stubber,
        "ConflictException",
        "The destination phone number is opted out",
        Reason="DESTINATION_PHONE_NUMBER_OPTED_OUT",
        ResourceType="opted-out-number",
        ResourceId=TO,
    )

    result = AwsSmsProvider(client).send(text())

    assert result.status == "opted_out"
    assert result.error_code == "DESTINATION_PHONE_NUMBER_OPTED_OUT"
    assert result.detail == "ConflictException: The destination phone number is opted out"


def test_an_unverified_destination_in_the_sandbox_fails_without_blaming_the_number(
    client: Any, stubber: Stubber
) -> None:
    add_error(
        stubber,
        "ConflictException",
        "Destination number is not verified",
        Reason="DESTINATION_PHONE_NUMBER_NOT_VERIFIED",
    )

    result = AwsSmsProvider(client).send(text())

    assert result.status == "failed"
    assert result.error_code == "DESTINATION_PHONE_NUMBER_NOT_VERIFIED"


@pytest.mark.parametrize("reason", ["FIELD_VALIDATION_FAILED", "INVALID_PARAMETER", "CANNOT_PARSE"])
def test_an_invalid_destination_number_is_unreachable(client: Any, stubber: Stubber, reason: str) -> None:
    add_error(
        stubber,
        "ValidationException",
        "Invalid destination phone number",
        Reason=reason,
        Fields=[{"Name": "DestinationPhoneNumber", "Message": "The phone number is not valid"}],
    )

    result = AwsSmsProvider(client).send(text())

    assert result.status == "unreachable"
    assert result.error_code == reason


@pytest.mark.parametrize(
    ("reason", "fields"),
    [
        # Our account or sender cannot reach that country: the number itself is fine.
        ("DESTINATION_COUNTRY_BLOCKED", [{"Name": "DestinationPhoneNumber", "Message": "blocked"}]),
        ("COUNTRY_CODE_MISMATCH", [{"Name": "DestinationPhoneNumber", "Message": "mismatch"}]),
        ("INVALID_IDENTITY_FOR_DESTINATION_COUNTRY", None),
        # A field other than the destination.
        ("INVALID_PARAMETER", [{"Name": "OriginationIdentity", "Message": "unknown"}]),
        ("FIELD_VALIDATION_FAILED", None),
        ("PRICE_OVER_THRESHOLD", None),
    ],
)
def test_other_validation_errors_fail(client: Any, stubber: Stubber, reason: str, fields: Any) -> None:
    modeled: dict[str, Any] = {"Reason": reason}
    if fields is not None:
        modeled["Fields"] = fields
    add_error(stubber, "ValidationException", "Validation failed", **modeled)

    result = AwsSmsProvider(client).send(text())

    assert result.status == "failed"
    assert result.error_code == reason


@pytest.mark.parametrize(
    ("code", "status", "modeled"),
    [
        ("ThrottlingException", 400, {}),
        ("InternalServerException", 500, {"RequestId": "r-1"}),
        ("ServiceQuotaExceededException", 400, {"Reason": "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT"}),
        ("ServiceUnavailable", 503, {}),
    ],
)
def test_throttling_quotas_and_server_errors_are_retried(
    client: Any, stubber: Stubber, code: str, status: int, modeled: dict[str, Any]
) -> None:
    add_error(stubber, code, "Try again later", status, **modeled)

    result = AwsSmsProvider(client).send(text())

    assert result.status == "retry"
    assert result.error_code == modeled.get("Reason", code)


@pytest.mark.parametrize(
    ("code", "modeled"),
    [
        ("AccessDeniedException", {"Reason": "ACCOUNT_DISABLED"}),
        ("ResourceNotFoundException", {"ResourceType": "phone-number", "ResourceId": SENDER}),
        ("ConflictException", {"Reason": "DESTINATION_PHONE_NUMBER_BLOCKED_BY_PROTECT_NUMBER_OVERRIDE"}),
    ],
)
def test_other_client_errors_fail(client: Any, stubber: Stubber, code: str, modeled: dict[str, Any]) -> None:
    add_error(stubber, code, "No", **modeled)

    result = AwsSmsProvider(client).send(text())

    assert result.status == "failed"
    assert result.error_code == modeled.get("Reason", code)


def test_a_request_botocore_refuses_to_send_fails() -> None:
    # An empty body is below the model's minimum length: botocore rejects it before any request is made
    provider = AwsSmsProvider(make_client(endpoint_url="http://127.0.0.1:9"))

    result = provider.send(OutboundSms(request_id="req-1", to=TO, sender=SENDER, body=""))

    assert result.status == "failed"
    assert result.error_code == "ParamValidationError"


NO_RETRIES = Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=0.3)


def test_a_refused_connection_is_retried() -> None:
    # Given a port that is bound but not listening, so connecting to it is refused
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed_port:
        closed_port.bind(("127.0.0.1", 0))
        port = closed_port.getsockname()[1]
        provider = AwsSmsProvider(make_client(endpoint_url=f"http://127.0.0.1:{port}", config=NO_RETRIES))

        result = provider.send(text())

    assert result.status == "retry"
    assert result.error_code == "connection_error"
    assert result.detail is not None and result.detail.startswith("EndpointConnectionError")


def test_a_read_timeout_is_retried() -> None:
    # Given an endpoint that accepts the connection (the kernel's backlog does) but never answers
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        provider = AwsSmsProvider(make_client(endpoint_url=f"http://127.0.0.1:{port}", config=NO_RETRIES))

        result = provider.send(text())

    assert result.status == "retry"
    assert result.detail is not None and result.detail.startswith("ReadTimeoutError")


def _moto_serves_sms_voice_v2() -> bool:
    """Whether any moto backend claims the service's public endpoint (moto dispatches requests by URL)."""
    import botocore.session
    from moto.backend_index import backend_url_patterns

    prefix = botocore.session.get_session().get_service_model("pinpoint-sms-voice-v2").endpoint_prefix
    endpoint = f"https://{prefix}.{REGION}.amazonaws.com"
    return any(pattern.match(endpoint) for _, pattern in backend_url_patterns)


@pytest.mark.skipif(
    not _moto_serves_sms_voice_v2(),
    reason="moto does not implement pinpoint-sms-voice-v2 (no backend matches sms-voice.<region>.amazonaws.com)",
)
def test_a_text_sent_through_moto_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        result = AwsSmsProvider(make_client()).send(text())

    assert result.status == "sent"
    assert result.provider_message_id
