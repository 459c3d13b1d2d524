"""The Mailer on Amazon SES (API v2): one SendEmail per email, SES errors mapped to MailRetry or MailRejected."""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
)
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from chalicelib.domain.errors import MailRejected, MailRetry
from chalicelib.domain.models import Email

CHARSET = "UTF-8"

#: Worth trying again later: throttling, sending quotas, SES or the network having a bad moment, and
#: account-wide conditions an operator can end (sending paused, credentials, permissions), where the email
#: itself is fine: retries carry it to the dead-letter queue, from which it can be redriven.
RETRY_CODES = frozenset(
    {
        # SES v2 SendEmail
        "TooManyRequestsException",
        "LimitExceededException",
        "SendingPausedException",
        # common to AWS APIs
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "InternalFailure",
        "InternalServiceErrorException",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
    }
)

#: Never sendable as it is: bad content or address, unverified sender or MAIL FROM domain, an account SES
#: has permanently restricted, a configuration set that does not exist.
REJECT_CODES = frozenset(
    {
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "AccountSuspendedException",
        "BadRequestException",
        "NotFoundException",
        # SES v1 and moto's name for a malformed address
        "InvalidParameterValue",
        "ValidationException",
        "ValidationError",
    }
)

# SES message tags: ASCII letters, digits, `_` and `-`, at most 256 characters.
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
MAX_TAG_LENGTH = 256


def _tag(value: str) -> str:
    return _TAG_UNSAFE.sub("_", value)[:MAX_TAG_LENGTH] or "_"


class SesMailer:
    """Mailer on a boto3 `sesv2` client; `configuration_set` names the SES configuration set to send through."""

    def __init__(self, client: Any, *, configuration_set: str | None = None) -> None:
        self._client = client
        self._configuration_set = configuration_set

    def send(self, email: Email) -> str:
        """Send `email` (text and HTML, UTF-8) to its one recipient; returns SES's MessageId.

        Raises MailRetry when trying again later may work (throttling, quotas, sending paused, SES or the
        network failing) and MailRejected when SES will not send this email as it is (unverified sender,
        bad address or content, suspended account).
        """
        request: dict[str, Any] = {
            "FromEmailAddress": email.sender,
            "Destination": {"ToAddresses": [email.to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": email.subject, "Charset": CHARSET},
                    "Body": {
                        "Text": {"Data": email.text, "Charset": CHARSET},
                        "Html": {"Data": email.html, "Charset": CHARSET},
                    },
                }
            },
        }
        if email.tags:
            # Tags only feed the configuration set's reports: never let one make SES refuse an alert.
            request["EmailTags"] = [{"Name": _tag(name), "Value": _tag(value)} for name, value in email.tags.items()]
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            response = self._client.send_email(**request)
        except ClientError as error:
            raise _mail_error(error) from error
        except ParamValidationError as error:  # botocore refused the request before sending it
            raise MailRejected(f"SES request invalid: {error}") from error
        except (HTTPClientError, BotocoreConnectionError, NoCredentialsError, CredentialRetrievalError) as error:
            raise MailRetry(f"SES unreachable: {error}") from error
        return str(response["MessageId"])


def _mail_error(error: ClientError) -> MailRetry | MailRejected:
    """The domain error for an SES error response: by code, else by HTTP status (5xx retry, 4xx reject)."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", ""))
    message = f"SES {code or 'error'}: {details.get('Message', '')}".rstrip(": ")
    if code in RETRY_CODES:
        return MailRetry(message)
    if code in REJECT_CODES:
        return MailRejected(message)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if isinstance(status, int) and (status >= 500 or status == 429):
        return MailRetry(message)
    return MailRejected(message)
