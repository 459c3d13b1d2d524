"""Accounts and who may act on them (DESIGN rule 2).

Account API tokens look like `<account id>.<secret>` and are kept only as SHA-256 hashes; a
token names its account so one read tells a wrong token (401) from another account's (403).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from chalicelib.domain.errors import AccountNotFound, Forbidden, InvalidRequest, Unauthenticated
from chalicelib.domain.keywords import words
from chalicelib.domain.models import (
    Account,
    CarrierSettings,
    DetectorSettings,
    ExtraKeywords,
    Frozen,
    Replies,
    carrier_secret_name,
)
from chalicelib.domain.notifications import EmailTemplates, check_templates, valid_email
from chalicelib.domain.phone import is_valid_region
from chalicelib.domain.ports import AccountStore, CarrierCatalog, SecretStore

MAX_TOKENS = 5
#: An account's own keywords, per intent, and the length of one.
MAX_KEYWORDS = 50
MAX_KEYWORD_LENGTH = 64
# C0 and C1 controls (NUL, CR, LF, tab, ...), line and paragraph separators, bidi overrides and isolates.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the operator, or an admin holding one account's token."""

    operator: bool
    account_id: str | None
    #: Recorded as the actor of what they do (never the token itself).
    label: str


class AccountSettingsIn(Frozen):
    """The body of PUT /v1/accounts/{id}; omitted fields keep their current value."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    default_region: str | None = None
    opt_out_scope: Literal["all", "sender"] | None = None
    sms_provider: str | None = Field(default=None, max_length=32)
    detector: DetectorSettings | None = None
    replies: Replies | None = None
    keywords: ExtraKeywords | None = None
    #: Credentials per carrier, each checked against that carrier's form; fields omitted keep their value.
    carriers: dict[str, dict[str, object]] | None = Field(default=None, max_length=10)
    email_sender: str | None = Field(default=None, max_length=254)
    compliance_email: str | None = Field(default=None, max_length=254)
    email_templates: EmailTemplates | None = None
    #: Return a new API token for the account (earlier tokens stay valid unless revoked). JSON true or false only.
    issue_token: bool = Field(default=False, strict=True)
    #: Invalidate every earlier token of the account.
    revoke_tokens: bool = Field(default=False, strict=True)

    @field_validator("name")
    @classmethod
    def _printable_name(cls, name: str | None) -> str | None:
        # A name goes into email subjects and the console: no control characters, line breaks or bidi overrides.
        if name is not None and (not name.strip() or _UNPRINTABLE.search(name)):
            raise ValueError("name must have visible characters and no control characters or line breaks")
        return name

    @field_validator("keywords")
    @classmethod
    def _matchable_keywords(cls, keywords: ExtraKeywords | None) -> ExtraKeywords | None:
        if keywords is None:
            return None
        for intent in ("opt_out", "opt_in", "help"):
            listed: tuple[str, ...] = getattr(keywords, intent)
            if len(listed) > MAX_KEYWORDS:
                raise ValueError(f"{intent}: at most {MAX_KEYWORDS} keywords")
            for keyword in listed:
                # A keyword is matched on its folded words: one with none (empty, spaces, emoji or punctuation
                # alone) could never match, and a long one is a sentence, not a keyword.
                if len(keyword) > MAX_KEYWORD_LENGTH or not words(keyword) or _UNPRINTABLE.search(keyword):
                    raise ValueError(
                        f"{intent}: {keyword[:40]!r} is not a keyword: it needs a letter or digit, at most "
                        f"{MAX_KEYWORD_LENGTH} characters, no control characters"
                    )
        return keywords

    @field_validator("email_templates")
    @classmethod
    def _known_placeholders(cls, templates: EmailTemplates | None) -> EmailTemplates | None:
        if templates is not None:
            check_templates(templates)
        return templates

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
    accounts: AccountStore,
    secret_store: SecretStore,
    catalog: CarrierCatalog,
    account_id: str,
    settings: AccountSettingsIn,
    now: datetime,
) -> tuple[Account, str | None, bool]:
    """Create or update an account. Returns (account, new token or None, created).

    Carrier credentials are checked against each carrier's form; their secrets go to the secret store
    and the account keeps only their names.
    """
    current = accounts.get_account(account_id)
    created = current is None
    if current is None:
        if settings.name is None:
            raise InvalidRequest("name is required to create an account", field="name")
        current = Account(account_id=account_id, name=settings.name, created_at=now, updated_at=now)
    if settings.sms_provider is not None and settings.sms_provider not in catalog.provider_names():
        known = ", ".join(sorted(catalog.provider_names()))
        raise InvalidRequest(f"sms_provider must be one of {known}", field="sms_provider")
    given = _given(settings)
    # Nested maps merge field by field: `{"replies": {"help": "..."}}` changes the help text and nothing else.
    updates: dict[str, Any] = {
        field: _merged(getattr(current, field).model_dump(), value) if isinstance(value, dict) else value
        for field, value in given.items()
        if field in _SETTINGS and value is not None
    }
    if settings.carriers:
        carriers = dict(current.carriers)
        for carrier, raw in settings.carriers.items():
            current_settings = carriers.get(carrier, CarrierSettings())
            carriers[carrier] = _carrier_settings(catalog, secret_store, account_id, carrier, raw, current_settings)
        updates["carriers"] = carriers
    hashes = () if settings.revoke_tokens else current.token_hashes
    token = None
    if settings.issue_token:
        token = f"{account_id}.{secrets.token_urlsafe(32)}"
        hashes = (*hashes, hash_token(token))[-MAX_TOKENS:]
    account = Account.model_validate({**current.model_dump(), **updates, "token_hashes": hashes, "updated_at": now})
    accounts.put_account(account)
    return account, token, created


#: The account's settings a PUT may change (the rest of the body are carriers, tokens: handled apart).
_SETTINGS = frozenset(
    {
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
    }
)
#: What an account's own admin token may change; the rest (name, region, carriers, sender, tokens) is the operator's.
SELF_SERVICE = frozenset({"opt_out_scope", "detector", "replies", "keywords", "compliance_email", "email_templates"})


def check_self_service(principal: Principal, settings: AccountSettingsIn) -> None:
    """An admin (not the operator) may change only the SELF_SERVICE settings of its account: Forbidden otherwise."""
    if principal.operator:
        return
    refused = sorted(set(_given(settings)) - SELF_SERVICE)
    if refused:
        raise Forbidden(f"only the operator may change {', '.join(refused)}", fields=refused)


def _given(model: BaseModel) -> dict[str, Any]:
    """The fields the request gave (nested models too, as dicts of their given fields), not their defaults."""
    given: dict[str, Any] = {}
    for name in model.model_fields_set:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            given[name] = _given(value)
        elif isinstance(value, dict):
            given[name] = {key: _given(item) if isinstance(item, BaseModel) else item for key, item in value.items()}
        else:
            given[name] = value
    return given


def _merged(current: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """`current` with `given` laid over it, map by map (a list is a value: it replaces the list)."""
    merged = dict(current)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _carrier_settings(
    catalog: CarrierCatalog,
    secret_store: SecretStore,
    account_id: str,
    carrier: str,
    raw: dict[str, object],
    current: CarrierSettings,
) -> CarrierSettings:
    """One carrier's credentials checked against its form, the secrets stored, merged over what was set before.

    Forms' fields are optional, so an update may send one credential alone; the carrier says what is missing
    when it needs it (a 403 on its webhooks, a failed send).
    """
    form = catalog.credentials_form(carrier)
    if form is None:
        raise InvalidRequest(f"there is no carrier {carrier!r}", field=f"carriers.{carrier}")
    try:
        credentials = form.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        )
        raise InvalidRequest(f"carriers.{carrier}: {problems}", field=f"carriers.{carrier}") from None
    plain = dict(current.settings)
    secret_names = set(current.secrets)
    for name, value in _fields(credentials, raw):
        if isinstance(value, SecretStr):
            secret_store.put(carrier_secret_name(account_id, carrier, name), value.get_secret_value())
            secret_names.add(name)
        elif value is None:
            plain.pop(name, None)
        else:
            plain[name] = str(value)
    return CarrierSettings(settings=plain, secrets=tuple(sorted(secret_names)))


def _fields(credentials: BaseModel, raw: dict[str, object]) -> list[tuple[str, object]]:
    """The fields this request gave (validated), by name."""
    return [(name, getattr(credentials, name)) for name in type(credentials).model_fields if name in raw]


def authenticate(
    authorization: str | None, operator_token: str | None, accounts: AccountStore
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
    account = accounts.get_account(token_account)
    token_hash = hash_token(token)
    if account is None or not any(hmac.compare_digest(token_hash, known) for known in account.token_hashes):
        raise Unauthenticated("the token is not valid")
    return Principal(operator=False, account_id=account.account_id, label=f"token:{token_hash[:12]}"), account


def authorise(principal: Principal, own_account: Account | None, account_id: str, accounts: AccountStore) -> Account:
    """The account `principal` may act on at `account_id`.

    Another account's token gets 403 before any lookup, so it learns nothing (not even whether
    the account exists).
    """
    if principal.operator:
        account = accounts.get_account(account_id)
        if account is None:
            raise AccountNotFound(f"no account {account_id}", account_id=account_id)
        return account
    if principal.account_id != account_id or own_account is None:
        raise Forbidden("this token belongs to another account")
    return own_account


def require_operator(principal: Principal) -> None:
    if not principal.operator:
        raise Forbidden("only the operator token may do this")


def carrier_credentials(account: Account, carrier: str, secret_store: SecretStore) -> dict[str, str] | None:
    """The account's credentials for `carrier`, secrets read from the secret store; None when it has none."""
    configured = account.carriers.get(carrier)
    if configured is None:
        return None
    credentials = dict(configured.settings)
    for name in configured.secrets:
        value = secret_store.get(carrier_secret_name(account.account_id, carrier, name))
        if value:
            credentials[name] = value
    return credentials
