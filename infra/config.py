"""Stage configuration of the stack: read from CDK context (`-c key=value`) or the environment, never from code edits.

Context keys (all optional except where a deploy needs them):

- `stage`: `dev`, `prod` or another short name; falls back to the `STAGE` environment variable, then `dev`.
- `production`: `true`/`false`; defaults to `stage == "prod"`. Production means deletion protection on the table,
  and RETAIN on removal for the table and the log groups.
- `sender_email`: the SES sender identity. Without it the template takes a `SenderEmail` CloudFormation parameter.
- `alarm_email` or `alarm_topic_arn`: where alarms go (a new SNS topic with an e-mail subscription, or an existing
  topic). Without either the alarms exist but notify nobody.
- `public_base_url`: OPTOUT_PUBLIC_BASE_URL, the URL carriers call when it is not the API Gateway URL (a custom domain).
- `log_level`: LOG_LEVEL of every function (default INFO).
- `memory_mb`: memory of every function (default 1024: Lambda's CPU share grows with memory, and cold starts with it).
- `sms_configuration_set`: OPTOUT_SMS_CONFIGURATION_SET for sends through AWS End User Messaging SMS.
- `sms_resource_arns`: comma-separated sms-voice ARNs the send function may send through (phone numbers, pools,
  sender IDs, configuration sets, opt-out lists); default: every one of those resource types in the account and region.
- `aws_sms_accounts`: comma-separated ids of the service's accounts (not AWS accounts) that text through AWS End User
  Messaging SMS in this AWS account: each gets its two-way SMS topic `sms-optout-<stage>-inbound-<account id>`.
  Default: none.
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


#: The secret store's name for the operator token (chalicelib.settings: `operator_token_secret`'s default).
OPERATOR_TOKEN_SECRET = "operator-token"


class ConfigError(ValueError):
    """A context value the stack cannot be built with."""


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
    log_level = (_text(context("log_level")) or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level {log_level!r}: one of {', '.join(LOG_LEVELS)}")
    memory = _text(context("memory_mb")) or "1024"
    if not memory.isdigit() or not 128 <= int(memory) <= 10240:
        raise ConfigError(f"memory_mb {memory!r}: a number of MB from 128 to 10240")
    return StageConfig(
        stage=stage,
        production=_flag(context("production"), default=stage == "prod"),
        sender_email=sender_email,
        alarm_email=alarm_email,
        alarm_topic_arn=alarm_topic_arn,
        public_base_url=public_base_url.rstrip("/") if public_base_url else None,
        log_level=log_level,
        memory_mb=int(memory),
        sms_configuration_set=_text(context("sms_configuration_set")),
        sms_resource_arns=_arns(context("sms_resource_arns")),
        aws_sms_accounts=_account_ids(context("aws_sms_accounts")),
    )
