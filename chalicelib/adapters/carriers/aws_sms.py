"""Send SMS through AWS End User Messaging SMS (`pinpoint-sms-voice-v2` SendTextMessage), mapping its errors.

The client is built by the composition root (`wiring`), so this module imports only botocore's exceptions.

Mapping (the error `Code`, and its modeled `Reason`, which botocore puts at the top of `ClientError.response`):

- success: `sent`, provider_message_id = `MessageId`.
- ConflictException / DESTINATION_PHONE_NUMBER_OPTED_OUT: `opted_out` (the number is on the opt-out list).
- ValidationException that names `DestinationPhoneNumber` in `Fields` with a field-level Reason
  (FIELD_VALIDATION_FAILED, INVALID_PARAMETER, CANNOT_PARSE): `unreachable`. Every other ValidationException is
  about our request or account (country not enabled, sender ID, price cap, size...) and is `failed`.
- ThrottlingException, InternalServerException, ServiceQuotaExceededException, any other 429 or 5xx, and no answer
  (connection refused, reset, timed out): `retry`.
- Everything else, including ConflictException / DESTINATION_PHONE_NUMBER_NOT_VERIFIED (the account is in the
  SMS sandbox: the number itself is fine), AccessDeniedException and ResourceNotFoundException: `failed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError, ParamValidationError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from chalicelib.domain.models import OutboundSms, SmsResult

OPTED_OUT_REASON = "DESTINATION_PHONE_NUMBER_OPTED_OUT"
#: ValidationException reasons that, with `DestinationPhoneNumber` among the failed fields, reject the number itself.
DESTINATION_FIELD_REASONS = frozenset({"FIELD_VALIDATION_FAILED", "INVALID_PARAMETER", "CANNOT_PARSE"})
DESTINATION_FIELD = "DestinationPhoneNumber"
#: Codes that mean "not now": AWS's own throttling and server-fault codes, as botocore's retry handler knows them.
RETRY_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServerException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        # A spend or volume quota (MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT...) lifts when the month turns or an operator
        # raises it; retrying leaves the texts on the queue, then in the dead-letter queue to redrive, not lost.
        "ServiceQuotaExceededException",
    }
)


class AwsSmsProvider:
    """An SmsProvider on AWS End User Messaging SMS: one SendTextMessage per text.

    `client` is a boto3 `pinpoint-sms-voice-v2` client (its retry configuration decides how often botocore retries
    throttling and 5xx itself before we see the error). `configuration_set`, when given, routes delivery events to
    its event destinations; `message_type` is TRANSACTIONAL or PROMOTIONAL.
    """

    name = "aws"

    def __init__(
        self, client: Any, *, configuration_set: str | None = None, message_type: str = "TRANSACTIONAL"
    ) -> None:
        self._client = client
        self._configuration_set = configuration_set
        self._message_type = message_type

    def send(self, message: OutboundSms) -> SmsResult:
        """Send `message` from its sender (the origination identity) and map AWS's answer to an SmsResult.

        Never raises for an error AWS or the network returns. A read timeout is `retry` although AWS may have
        accepted the text: SendTextMessage has no idempotency token, so a retry can send it twice.
        """
        request: dict[str, Any] = {
            "DestinationPhoneNumber": message.to,
            "OriginationIdentity": message.sender,
            "MessageBody": message.body,
            "MessageType": self._message_type,
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            response = self._client.send_text_message(**request)
        except ClientError as error:
            return result_of_error(error.response)
        except (BotocoreConnectionError, HTTPClientError) as error:
            # EndpointConnectionError and ConnectTimeoutError are ConnectionErrors; ReadTimeoutError and
            # ConnectionClosedError are HTTPClientErrors. None of them is an answer from AWS.
            return SmsResult(status="retry", error_code="connection_error", detail=f"{type(error).__name__}: {error}")
        except ParamValidationError as error:
            # botocore refused the request before sending it (an empty body, say): sending it again cannot help.
            return SmsResult(status="failed", error_code="ParamValidationError", detail=str(error))
        message_id = response.get("MessageId")
        return SmsResult(status="sent", provider_message_id=message_id if isinstance(message_id, str) else None)


def result_of_error(response: Mapping[str, Any]) -> SmsResult:
    """Map a ClientError's parsed response (`Error.Code`, `Error.Message`, the modeled `Reason` and `Fields`)."""
    error = response.get("Error") or {}
    code = str(error.get("Code") or "")
    reason = str(response.get("Reason") or error.get("Reason") or "")
    message = str(error.get("Message") or response.get("Message") or "")
    detail = f"{code}: {message}" if message else code or None
    error_code = reason or code or None
    if code == "ConflictException" and reason == OPTED_OUT_REASON:
        return SmsResult(status="opted_out", error_code=reason, detail=detail)
    if code == "ValidationException" and reason in DESTINATION_FIELD_REASONS and _names_destination(response):
        return SmsResult(status="unreachable", error_code=reason, detail=detail)
    http_status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    if code in RETRY_CODES or (isinstance(http_status, int) and (http_status == 429 or http_status >= 500)):
        return SmsResult(status="retry", error_code=error_code, detail=detail)
    return SmsResult(status="failed", error_code=error_code, detail=detail)


def _names_destination(response: Mapping[str, Any]) -> bool:
    fields = response.get("Fields") or ()
    # Compared without case: AWS services differ in how they spell field names in Fields (not confirmed for this one).
    return any(
        isinstance(field, Mapping) and str(field.get("Name", "")).lower() == DESTINATION_FIELD.lower()
        for field in fields
    )
