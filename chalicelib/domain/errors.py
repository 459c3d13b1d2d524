"""Domain errors. One place (`chalicelib/api/http.py`) maps them to HTTP status codes."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: `code` is the stable machine-readable error code."""

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(DomainError):
    code = "invalid_request"


class InvalidPhone(InvalidRequest):
    code = "invalid_phone"


class InvalidSignature(DomainError):
    """A webhook its carrier did not sign for this account. `reason` (which check failed) is for the logs only."""

    code = "invalid_signature"

    def __init__(self, message: str, *, reason: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.reason = reason


class Unauthenticated(DomainError):
    code = "unauthenticated"


class CredentialsRequired(Unauthenticated):
    """A carrier that authenticates with HTTP Basic credentials sent none: 401 with its `challenge`."""

    code = "credentials_required"

    def __init__(self, message: str, *, challenge: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.challenge = challenge


class Forbidden(DomainError):
    code = "forbidden"


class AccountNotFound(DomainError):
    code = "account_not_found"


class MessageNotFound(DomainError):
    code = "message_not_found"


class RequestNotFound(DomainError):
    code = "request_not_found"


class NotSuppressed(DomainError):
    code = "not_suppressed"


class LiftRefused(DomainError):
    """An admin tried to lift the contact's own opt-out (DESIGN rule 4)."""

    code = "lift_refused"


class Conflict(DomainError):
    """The request conflicts with what is stored (an id taken): 409."""

    code = "conflict"


class UnknownCarrier(DomainError):
    code = "unknown_carrier"


class CarrierNotConfigured(DomainError):
    """The account lacks a credential the carrier needs (to send, or to check a webhook's signature)."""

    code = "carrier_not_configured"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"


class StoreUnavailable(DomainError):
    """The store could not durably record a change; the caller must retry."""

    code = "store_unavailable"


class ConcurrentUpdate(Exception):
    """A conditional write lost a race; reload and try again."""


class DuplicateEvent(Exception):
    """The event was already recorded."""


class MailRetry(Exception):
    """The mailer could not send now (throttled, unavailable): try again later."""


class MailRejected(Exception):
    """The mailer will never send this email as it is."""
