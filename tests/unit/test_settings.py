"""Settings: every knob from its environment variable (README's table), an explicit value winning over it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chalicelib.settings import Settings, get_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "OPTOUT_TABLE_NAME", "OPTOUT_ALLOW_HOST_URL"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_apply_when_nothing_is_set() -> None:
    settings = Settings()
    assert settings.table_name == "optout"
    assert settings.allow_host_url is False
    assert settings.aws_region == "us-east-1"
    assert settings.aws_endpoint_url is None
    assert settings.max_body_bytes == 65536


def test_each_setting_is_read_from_its_optout_variable_with_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTOUT_TABLE_NAME", "optout-prod")
    monkeypatch.setenv("OPTOUT_ALLOW_HOST_URL", "true")
    monkeypatch.setenv("OPTOUT_AWS_READ_TIMEOUT", "2.5")
    monkeypatch.setenv("OPTOUT_SECRETS_MAX_AGE", "30")
    monkeypatch.setenv("OPTOUT_CURSOR_KEY", "k" * 32)
    monkeypatch.setenv("optout_email_sender", "alerts@example.com")  # names are not case-sensitive
    settings = Settings()
    assert settings.table_name == "optout-prod"
    assert settings.allow_host_url is True
    assert settings.aws_read_timeout == 2.5
    assert settings.secrets_max_age == 30
    assert settings.cursor_key is not None and settings.cursor_key.get_secret_value() == "k" * 32
    assert settings.email_sender == "alerts@example.com"


def test_the_aws_endpoint_and_region_come_from_the_aws_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    settings = Settings()
    assert settings.aws_endpoint_url == "http://127.0.0.1:4566"
    assert settings.aws_region == "eu-west-1"


def test_a_value_given_explicitly_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTOUT_TABLE_NAME", "from-the-environment")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    settings = Settings(table_name="given", aws_endpoint_url="http://127.0.0.1:9999")
    assert settings.table_name == "given"
    assert settings.aws_endpoint_url == "http://127.0.0.1:9999"


def test_an_invalid_value_is_refused_with_the_setting_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTOUT_MAX_BODY_BYTES", "10")
    with pytest.raises(ValidationError, match="max_body_bytes"):
        Settings()
    monkeypatch.setenv("OPTOUT_MAX_BODY_BYTES", "lots")
    with pytest.raises(ValidationError, match="max_body_bytes"):
        Settings()


def test_unknown_variables_and_arguments_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTOUT_NO_SUCH_SETTING", "x")
    assert Settings(no_such_setting="y").table_name == "optout"


def test_settings_are_read_once_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("OPTOUT_TABLE_NAME", "first")
    try:
        assert get_settings().table_name == "first"
        monkeypatch.setenv("OPTOUT_TABLE_NAME", "second")
        assert get_settings() is get_settings()
        assert get_settings().table_name == "first"
    finally:
        get_settings.cache_clear()
