"""The stage configuration: from context or the STAGE environment variable, validated (no synthesis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.config import ConfigError, load_config


def context_of(values: dict[str, Any]) -> Callable[[str], Any]:
    """What `app.node.try_get_context` is to the stack."""
    return values.get


def test_stage_defaults_to_dev_and_is_not_production() -> None:
    config = load_config(context_of({}), {})
    assert (config.stage, config.production) == ("dev", False)


def test_stage_comes_from_the_environment_when_no_context_gives_it() -> None:
    config = load_config(context_of({}), {"STAGE": "prod"})
    assert (config.stage, config.production) == ("prod", True)


def test_context_wins_over_the_environment() -> None:
    assert load_config(context_of({"stage": "dev"}), {"STAGE": "prod"}).stage == "dev"


def test_production_can_be_set_for_another_stage() -> None:
    config = load_config(context_of({"stage": "staging", "production": "true"}), {})
    assert config.production is True
    assert config.prefix == "sms-optout-staging"
    assert config.secrets_prefix == "/optout/staging"
    assert config.operator_token_parameter == "/optout/staging/operator-token"


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
