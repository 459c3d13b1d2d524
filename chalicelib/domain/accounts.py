"""Accounts and who may act on them (DESIGN rule 2).

Account API tokens look like `<account id>.<secret>` and are kept only as SHA-256 hashes; a
token names its account so one read tells a wrong token (401) from another account's (403).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from chalicelib.domain.errors import AccountNotFound, Forbidden, InvalidRequest, Unauthenticated
from chalicelib.domain.models import (
    Account,
    Carriers,
    DetectorSettings,
    ExtraKeywords,
    Frozen,
    Replies,
    SmsProviderName,
)
from chalicelib.domain.notifications import EmailTemplates, valid_email
from chalicelib.domain.phone import is_valid_region
from chalicelib.domain.ports import SecretStore, SuppressionStore

MAX_TOKENS = 5


def twilio_auth_token_secret(account_id: str) -> str:
    """The secret store name of the account's Twilio auth token."""
    return f"accounts/{account_id}/twilio/auth_token"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the operator, or an admin holding one account's token."""

    operator: bool
    account_id: str | None
    #: Recorded as the actor of what they do (never the token itself).
    label: str


class TwilioSettingsIn(Frozen):
    account_sid: str | None = Field(default=None, pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: str | None = Field(default=None, min_length=8, max_length=128)


class CarriersIn(Frozen):
    twilio: TwilioSettingsIn | None = None


class AccountSettingsIn(Frozen):
    """The body of PUT /v1/accounts/{id}; omitted fields keep their current value."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    default_region: str | None = None
    opt_out_scope: Literal["all", "sender"] | None = None
    sms_provider: SmsProviderName | None = None
    detector: DetectorSettings | None = None
    replies: Replies | None = None
    keywords: ExtraKeywords | None = None
    carriers: CarriersIn | None = None
    email_sender: str | None = Field(default=None, max_length=254)
    compliance_email: str | None = Field(default=None, max_length=254)
    email_templates: EmailTemplates | None = None
    #: Return a new API token for the account (earlier tokens stay valid unless revoked).
    issue_token: bool = False
    #: Invalidate every earlier token of the account.
    revoke_tokens: bool = False

    @field_validator("email_sender", "compliance_email")
    @classmethod
    def _email(cls, address: str | None) -> str | None:
        if address is not None and not valid_email(address):
            raise ValueError("not a valid email address")
        return address

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, region: str | None) -> str | None:
        if region is not None and not is_valid_region(region):
            raise ValueError("default_region must be an ISO 3166-1 alpha-2 region phonenumbers knows, e.g. US")
        return region


def upsert_account(
    store: SuppressionStore, secret_store: SecretStore, account_id: str, settings: AccountSettingsIn, now: datetime
) -> tuple[Account, str | None, bool]:
    """Create or update an account. Returns (account, new token or None, created)."""
    current = store.get_account(account_id)
    created = current is None
    if current is None:
        if settings.name is None:
            raise InvalidRequest("name is required to create an account", field="name")
        current = Account(account_id=account_id, name=settings.name, created_at=now, updated_at=now)
    updates: dict[str, object] = {
        field: value
        for field in (
            "name",
            "default_region",
            "opt_out_scope",
            "sms_provider",
            "detector",
            "replies",
            "keywords",
            "email_sender",
            "compliance_email",
            "email_templates",
        )
        if (value := getattr(settings, field)) is not None
    }
    twilio_in = settings.carriers.twilio if settings.carriers else None
    if twilio_in is not None:
        twilio = current.carriers.twilio
        if twilio_in.account_sid is not None:
            twilio = twilio.model_copy(update={"account_sid": twilio_in.account_sid})
        if twilio_in.auth_token is not None:
            secret_store.put(twilio_auth_token_secret(account_id), twilio_in.auth_token)
            twilio = twilio.model_copy(update={"auth_token_set": True})
        updates["carriers"] = Carriers(twilio=twilio)
    hashes = () if settings.revoke_tokens else current.token_hashes
    token = None
    if settings.issue_token:
        token = f"{account_id}.{secrets.token_urlsafe(32)}"
        hashes = (*hashes, hash_token(token))[-MAX_TOKENS:]
    account = Account.model_validate({**current.model_dump(), **updates, "token_hashes": hashes, "updated_at": now})
    store.put_account(account)
    return account, token, created


def authenticate(
    authorization: str | None, operator_token: str | None, store: SuppressionStore
) -> tuple[Principal, Account | None]:
    """Who holds this `Authorization: Bearer` header; with their account when they are an admin.

    Raises Unauthenticated for a missing, malformed or unknown token.
    """
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("send Authorization: Bearer <token>")
    if operator_token and hmac.compare_digest(hash_token(token), hash_token(operator_token)):
        return Principal(operator=True, account_id=None, label="operator"), None
    token_account, dot, _ = token.rpartition(".")
    if not dot or not token_account:
        raise Unauthenticated("the token is not valid")
    account = store.get_account(token_account)
    token_hash = hash_token(token)
    if account is None or not any(hmac.compare_digest(token_hash, known) for known in account.token_hashes):
        raise Unauthenticated("the token is not valid")
    return Principal(operator=False, account_id=account.account_id, label=f"token:{token_hash[:12]}"), account


def authorise(principal: Principal, own_account: Account | None, account_id: str, store: SuppressionStore) -> Account:
    """The account `principal` may act on at `account_id`.

    Another account's token gets 403 before any lookup, so it learns nothing (not even whether
    the account exists).
    """
    if principal.operator:
        account = store.get_account(account_id)
        if account is None:
            raise AccountNotFound(f"no account {account_id}", account_id=account_id)
        return account
    if principal.account_id != account_id or own_account is None:
        raise Forbidden("this token belongs to another account")
    return own_account


def require_operator(principal: Principal) -> None:
    if not principal.operator:
        raise Forbidden("only the operator token may do this")
