"""Stage configuration of the stack: read from CDK context (`-c key=value`) or the environment, never from code edits.

Context keys (all optional except where a deploy needs them):

- `stage`: `dev`, `prod` or another short name; falls back to the `STAGE` environment variable, then `dev`.
- `production`: `true`/`false`; defaults to `stage == "prod"`. Production means deletion protection on the table,
  and RETAIN on removal for the table and the log groups.
- `sender_email`: the SES sender identity. Without it the template takes a `SenderEmail` CloudFormation parameter.
- `alarm_email` or `alarm_topic_arn`: where alarms go (a new SNS topic with an e-mail subscription, or an existing
  topic). Without either the alarms exist but notify nobody.
- `public_base_url`: OPTOUT_PUBLIC_BASE_URL, the URL carriers call and sign (a custom domain, or the API Gateway URL of
  an earlier deploy). Required for every stage but `dev`: without it the function would have to rebuild the signed
  URL from the request's Host header, which only a local run may do (the app's OPTOUT_ALLOW_HOST_URL, which the stack
  sets false).
- `log_level`: LOG_LEVEL of every function (default INFO).
- `memory_mb`: memory of every function (default 1024: Lambda's CPU share grows with memory, and cold starts with it).
- `sms_configuration_set`: OPTOUT_SMS_CONFIGURATION_SET for sends through AWS End User Messaging SMS.
- `sms_resource_arns`: comma-separated sms-voice ARNs the send function may send through (phone numbers, pools,
  sender IDs, configuration sets, opt-out lists); default: every one of those resource types in the account and region.
- `aws_sms_accounts`: comma-separated ids of the service's accounts (not AWS accounts) that text through AWS End User
  Messaging SMS in this AWS account: each gets its two-way SMS topic `sms-optout-<stage>-inbound-<account id>`.
  Default: none.
- `send_concurrency`: the send function's reserved concurrency, and its SQS event source's maximum concurrency
  (default 10; 2 to 1000). Each instance sends one text at a time, so this is the most provider requests in flight.
- `webhook_rate_limit` / `webhook_burst_limit`: API Gateway throttling of each `/webhooks/...` method, requests per
  second and bucket size (default 200 / 400).
- `admin_rate_limit` / `admin_burst_limit`: the same for each `/v1/...` method and any other route (default 20 / 40).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

STAGE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: The app's account ids (chalicelib.domain.models.ACCOUNT_ID_PATTERN; tests/infra checks they agree). Every one is a
#: valid suffix of an SNS topic name (letters, digits, '-' and '_', 256 characters in all).
ACCOUNT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


#: The one stage that may be synthesised without `public_base_url` (see load_config).
DEV_STAGE = "dev"
#: Defaults of the guard rails; infra/README.md says why each is what it is.
DEFAULT_SEND_CONCURRENCY = 10
DEFAULT_WEBHOOK_RATE_LIMIT = 200
DEFAULT_WEBHOOK_BURST_LIMIT = 400
DEFAULT_ADMIN_RATE_LIMIT = 20
DEFAULT_ADMIN_BURST_LIMIT = 40
#: The event source's MaximumConcurrency takes 2 to 1000.
SEND_CONCURRENCY_RANGE = (2, 1000)
#: API Gateway's default account-level limits in a region: no stage limit may exceed them.
RATE_LIMIT_RANGE = (1, 10_000)
BURST_LIMIT_RANGE = (1, 5_000)

#: The secret store's name for the operator token (chalicelib.settings: `operator_token_secret`'s default).
OPERATOR_TOKEN_SECRET = "operator-token"


class ConfigError(ValueError):
    """A context value the stack cannot be built with."""


@dataclass(frozen=True)
class Throttle:
    """API Gateway throttling of one method: a token bucket refilled at `rate_limit` requests per second, holding
    `burst_limit`."""

    rate_limit: int
    burst_limit: int


@dataclass(frozen=True)
class StageConfig:
    stage: str
    production: bool
    sender_email: str | None = None
    alarm_email: str | None = None
    alarm_topic_arn: str | None = None
    public_base_url: str | None = None
    log_level: str = "INFO"
    memory_mb: int = 1024
    sms_configuration_set: str | None = None
    sms_resource_arns: tuple[str, ...] = field(default_factory=tuple)
    aws_sms_accounts: tuple[str, ...] = field(default_factory=tuple)
    send_concurrency: int = DEFAULT_SEND_CONCURRENCY
    webhook_throttle: Throttle = Throttle(DEFAULT_WEBHOOK_RATE_LIMIT, DEFAULT_WEBHOOK_BURST_LIMIT)
    admin_throttle: Throttle = Throttle(DEFAULT_ADMIN_RATE_LIMIT, DEFAULT_ADMIN_BURST_LIMIT)

    # Names derived from the stage, shared by the stack, its outputs and the README.
    @property
    def prefix(self) -> str:
        return f"sms-optout-{self.stage}"

    @property
    def secrets_prefix(self) -> str:
        """OPTOUT_SECRETS_PREFIX: carrier credentials are `<prefix>/accounts/<account id>/...`."""
        return f"/optout/{self.stage}"

    @property
    def operator_token_parameter(self) -> str:
        """The SecureString the operator creates out of band (never in the template): the secret store's
        `operator-token` (the app's default OPTOUT_OPERATOR_TOKEN_SECRET) under the secrets prefix."""
        return f"{self.secrets_prefix}/{OPERATOR_TOKEN_SECRET}"

    @property
    def inbound_topic_prefix(self) -> str:
        """OPTOUT_INBOUND_TOPIC_PREFIX: an account's two-way SMS topic is this prefix plus its id."""
        return f"{self.prefix}-inbound-"

    def inbound_topic_name(self, account_id: str) -> str:
        return f"{self.inbound_topic_prefix}{account_id}"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def _arns(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = json.loads(value) if value.strip().startswith("[") else value.split(",")
    arns = tuple(str(item).strip() for item in value if str(item).strip())
    for arn in arns:
        if not arn.startswith("arn:") or ":sms-voice:" not in arn:
            raise ConfigError(f"sms_resource_arns: not an sms-voice ARN: {arn!r}")
    return arns


def _account_ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = json.loads(value) if value.strip().startswith("[") else value.split(",")
    ids = tuple(str(item).strip() for item in value if str(item).strip())
    for account_id in ids:
        if not ACCOUNT_ID_PATTERN.match(account_id):
            raise ConfigError(f"aws_sms_accounts: not an account id: {account_id!r}")
    duplicates = sorted({account_id for account_id in ids if ids.count(account_id) > 1})
    if duplicates:
        raise ConfigError(f"aws_sms_accounts: listed twice: {', '.join(duplicates)}")
    return ids


def _int(context: Callable[[str], Any], key: str, default: int, bounds: tuple[int, int]) -> int:
    text = _text(context(key))
    if text is None:
        return default
    low, high = bounds
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise ConfigError(f"{key} {text!r}: a whole number from {low} to {high}")
    return int(text)


def _throttle(context: Callable[[str], Any], kind: str, rate: int, burst: int) -> Throttle:
    return Throttle(
        rate_limit=_int(context, f"{kind}_rate_limit", rate, RATE_LIMIT_RANGE),
        burst_limit=_int(context, f"{kind}_burst_limit", burst, BURST_LIMIT_RANGE),
    )


def load_config(context: Callable[[str], Any], environ: Mapping[str, str]) -> StageConfig:
    """The configuration from a context look-up (`app.node.try_get_context`) and the environment."""
    stage = _text(context("stage")) or _text(environ.get("STAGE")) or "dev"
    if not STAGE_PATTERN.match(stage):
        raise ConfigError(f"stage {stage!r}: use lowercase letters, digits and '-', starting with a letter")
    sender_email = _text(context("sender_email"))
    if sender_email is not None and not EMAIL_PATTERN.match(sender_email):
        raise ConfigError(f"sender_email {sender_email!r} is not an e-mail address")
    alarm_email = _text(context("alarm_email"))
    alarm_topic_arn = _text(context("alarm_topic_arn"))
    if alarm_email and alarm_topic_arn:
        raise ConfigError("give alarm_email or alarm_topic_arn, not both")
    if alarm_email is not None and not EMAIL_PATTERN.match(alarm_email):
        raise ConfigError(f"alarm_email {alarm_email!r} is not an e-mail address")
    if alarm_topic_arn is not None and not alarm_topic_arn.startswith("arn:"):
        raise ConfigError(f"alarm_topic_arn {alarm_topic_arn!r} is not an ARN")
    public_base_url = _text(context("public_base_url"))
    if public_base_url is not None and not public_base_url.startswith("https://"):
        raise ConfigError(f"public_base_url {public_base_url!r} must start with https://")
    if public_base_url is None and stage != DEV_STAGE:
        raise ConfigError(
            f"stage {stage!r} needs public_base_url (-c public_base_url=https://...): the URL carriers call and sign, "
            "a custom domain or the ApiUrl output of an earlier deploy. Only the dev stage may go without it"
        )
    log_level = (_text(context("log_level")) or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level {log_level!r}: one of {', '.join(LOG_LEVELS)}")
    memory = _int(context, "memory_mb", 1024, (128, 10240))
    return StageConfig(
        stage=stage,
        production=_flag(context("production"), default=stage == "prod"),
        sender_email=sender_email,
        alarm_email=alarm_email,
        alarm_topic_arn=alarm_topic_arn,
        public_base_url=public_base_url.rstrip("/") if public_base_url else None,
        log_level=log_level,
        memory_mb=memory,
        sms_configuration_set=_text(context("sms_configuration_set")),
        sms_resource_arns=_arns(context("sms_resource_arns")),
        aws_sms_accounts=_account_ids(context("aws_sms_accounts")),
        send_concurrency=_int(context, "send_concurrency", DEFAULT_SEND_CONCURRENCY, SEND_CONCURRENCY_RANGE),
        webhook_throttle=_throttle(context, "webhook", DEFAULT_WEBHOOK_RATE_LIMIT, DEFAULT_WEBHOOK_BURST_LIMIT),
        admin_throttle=_throttle(context, "admin", DEFAULT_ADMIN_RATE_LIMIT, DEFAULT_ADMIN_BURST_LIMIT),
    )
