"""The stage configuration: from context or the STAGE environment variable, validated (no synthesis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.domain.models import ACCOUNT_ID_PATTERN
from chalicelib.settings import Settings
from infra.config import ACCOUNT_ID_PATTERN as CONFIG_ACCOUNT_ID_PATTERN
from infra.config import (
    DEFAULT_ADMIN_BURST_LIMIT,
    DEFAULT_ADMIN_RATE_LIMIT,
    DEFAULT_SEND_CONCURRENCY,
    DEFAULT_WEBHOOK_BURST_LIMIT,
    DEFAULT_WEBHOOK_RATE_LIMIT,
    ConfigError,
    Throttle,
    load_config,
)

#: Every stage but dev needs its public base URL.
PUBLIC_BASE_URL = {"public_base_url": "https://sms.example.com/api"}


def context_of(values: dict[str, Any]) -> Callable[[str], Any]:
    """What `app.node.try_get_context` is to the stack."""
    return values.get


def test_stage_defaults_to_dev_and_is_not_production() -> None:
    config = load_config(context_of({}), {})
    assert (config.stage, config.production) == ("dev", False)


def test_stage_comes_from_the_environment_when_no_context_gives_it() -> None:
    config = load_config(context_of(PUBLIC_BASE_URL), {"STAGE": "prod"})
    assert (config.stage, config.production) == ("prod", True)


def test_context_wins_over_the_environment() -> None:
    assert load_config(context_of({"stage": "dev"}), {"STAGE": "prod"}).stage == "dev"


def test_production_can_be_set_for_another_stage() -> None:
    config = load_config(context_of({"stage": "staging", "production": "true", **PUBLIC_BASE_URL}), {})
    assert config.production is True
    assert config.prefix == "sms-optout-staging"
    assert config.secrets_prefix == "/optout/staging"
    assert config.operator_token_parameter == "/optout/staging/operator-token"
    assert config.inbound_topic_prefix == "sms-optout-staging-inbound-"
    assert config.inbound_topic_name("acme") == "sms-optout-staging-inbound-acme"


def test_operator_token_parameter_is_the_secret_the_app_reads() -> None:
    # The app reads `<OPTOUT_SECRETS_PREFIX>/<OPTOUT_OPERATOR_TOKEN_SECRET>`; the stack sets the prefix, not the name.
    config = load_config(context_of({"stage": "prod", **PUBLIC_BASE_URL}), {})
    secret_name = Settings.model_fields["operator_token_secret"].default
    assert config.operator_token_parameter == f"{config.secrets_prefix}/{secret_name}"


@pytest.mark.parametrize(
    "context",
    [
        {"stage": "Prod"},
        {"stage": "prod_1"},
        {"sender_email": "not-an-address"},
        {"alarm_email": "ops@example.com", "alarm_topic_arn": "arn:aws:sns:us-east-1:123456789012:alarms"},
        {"public_base_url": "http://sms.example.com"},
        {"log_level": "LOUD"},
        {"memory_mb": "64"},
        {"production": "maybe"},
        {"sms_resource_arns": "*"},
        {"aws_sms_accounts": "Acme"},
        {"aws_sms_accounts": "acme,acme"},
        {"aws_sms_accounts": "acme/../beta"},
        {"aws_sms_accounts": "-acme"},
        {"send_concurrency": "1"},
        {"send_concurrency": "1001"},
        {"send_concurrency": "ten"},
        {"send_concurrency": "１０"},  # full-width digits: str.isdigit() says yes, CDK context should not
        {"webhook_rate_limit": "0"},
        {"webhook_burst_limit": "5001"},
        {"admin_rate_limit": "-5"},
        {"admin_burst_limit": "2.5"},
    ],
)
def test_bad_context_is_refused(context: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_config(context_of(context), {})


def test_sms_resource_arns_narrow_the_send_permission() -> None:
    arns = "arn:aws:sms-voice:us-east-1:123456789012:phone-number/abc, arn:aws:sms-voice:us-east-1:123456789012:pool/p"
    config = load_config(context_of({"sms_resource_arns": arns}), {})
    assert config.sms_resource_arns == (
        "arn:aws:sms-voice:us-east-1:123456789012:phone-number/abc",
        "arn:aws:sms-voice:us-east-1:123456789012:pool/p",
    )


def test_no_aws_sms_accounts_by_default() -> None:
    assert load_config(context_of({}), {}).aws_sms_accounts == ()


@pytest.mark.parametrize("value", ["acme, beta_2", '["acme", "beta_2"]', ["acme", "beta_2"]])
def test_aws_sms_accounts_from_a_list(value: Any) -> None:
    assert load_config(context_of({"aws_sms_accounts": value}), {}).aws_sms_accounts == ("acme", "beta_2")


def test_account_ids_are_the_apps() -> None:
    # A topic is named after an account id the app accepts, and nothing else.
    assert CONFIG_ACCOUNT_ID_PATTERN.pattern == ACCOUNT_ID_PATTERN


@pytest.mark.parametrize("stage", ["prod", "staging"])
def test_a_deployed_stage_needs_its_public_base_url(stage: str) -> None:
    # Without it the function would have to rebuild the URL carriers sign from the Host header (local runs only).
    with pytest.raises(ConfigError, match="public_base_url"):
        load_config(context_of({"stage": stage}), {})
    config = load_config(context_of({"stage": stage, **PUBLIC_BASE_URL}), {})
    assert config.public_base_url == PUBLIC_BASE_URL["public_base_url"]


def test_dev_may_go_without_a_public_base_url() -> None:
    assert load_config(context_of({"stage": "dev"}), {}).public_base_url is None


def test_guard_rail_defaults() -> None:
    config = load_config(context_of({}), {})
    assert config.send_concurrency == DEFAULT_SEND_CONCURRENCY
    assert config.webhook_throttle == Throttle(DEFAULT_WEBHOOK_RATE_LIMIT, DEFAULT_WEBHOOK_BURST_LIMIT)
    assert config.admin_throttle == Throttle(DEFAULT_ADMIN_RATE_LIMIT, DEFAULT_ADMIN_BURST_LIMIT)
    # A webhook flood is refused before the admin API's budget is touched: the webhooks' own budget is the larger
    # (status callbacks follow every text sent).
    assert config.webhook_throttle.rate_limit > config.admin_throttle.rate_limit


def test_guard_rails_from_context() -> None:
    context = {
        "send_concurrency": "25",
        "webhook_rate_limit": "50",
        "webhook_burst_limit": 75,  # cdk.json context may hold numbers
        "admin_rate_limit": "5",
        "admin_burst_limit": "8",
    }
    config = load_config(context_of(context), {})
    assert config.send_concurrency == 25
    assert config.webhook_throttle == Throttle(50, 75)
    assert config.admin_throttle == Throttle(5, 8)
