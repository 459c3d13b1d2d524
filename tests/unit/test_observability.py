"""Logs and metrics: numbers and email addresses masked in every line, bodies kept out of INFO, what was stored
counted once it was stored."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

import pytest

from chalicelib.adapters.local_sms import LocalSmsProvider
from chalicelib.adapters.metered import MeteredNumberStore, MeteredOutboundLog
from chalicelib.domain import policy
from chalicelib.domain.models import Action, Event, OutboundRecord, OutboundSms, SendRequest, Source
from chalicelib.observability import logger, mask
from tests.fakes import in_memory_stores

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def lines(capfd) -> list[dict]:
    return [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]


@pytest.fixture
def logged():
    """The log lines written while the test runs, formatted (and masked) as the service writes them."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_phone_numbers_keep_their_last_four_digits_and_emails_their_domain() -> None:
    text = "to +14155550123 (%2B14155550199) for ana.b+x@example.com, on 2026-12-01, job 12345678"
    assert mask(text) == "to +***0123 (%2B***0199) for ***@example.com, on 2026-12-01, job 12345678"


def test_every_log_line_is_masked_whatever_field_or_reason_holds_the_number(logged) -> None:
    logger.info("email job handled", extra={"sent_to": ["ana@example.com"], "reason": "+14155550123 kept changing"})
    (line,) = logged()
    assert line["sent_to"] == ["***@example.com"] and line["reason"] == "+***0123 kept changing"
    assert "ana@" not in json.dumps(line) and "5550123" not in json.dumps(line)


def test_the_local_provider_logs_no_body_and_no_whole_number_at_info(logged) -> None:
    LocalSmsProvider().send(OutboundSms(request_id="r-1", to="+14155550123", sender="+14155550100", body="secret"))
    (line,) = logged()
    assert "secret" not in json.dumps(line) and line["to"] == "+***0123"


def test_a_stored_opt_out_is_counted_by_source_once_stored(capfd) -> None:
    numbers = MeteredNumberStore(in_memory_stores().numbers)
    event = Event(
        event_id="twilio:SM1",
        account_id="acme",
        phone="+14155550123",
        action=Action.OPT_OUT,
        scopes=("all",),
        source=Source.KEYWORD,
        occurred_at=T0,
        received_at=T0,
        actor="twilio:SM1",
    )
    state, _ = numbers.load("acme", "+14155550123")
    numbers.commit(*policy.apply(state, event))
    (metric,) = lines(capfd)
    directive = metric["_aws"]["CloudWatchMetrics"][0]
    assert directive["Metrics"] == [{"Name": "Suppressed", "Unit": "Count"}]
    assert metric["Suppressed"] == [1.0] or metric["Suppressed"] == 1.0
    assert metric["source"] == "keyword" and directive["Namespace"] == "SmsOptOut"


def test_a_send_outcome_is_counted_only_when_recorded(capfd) -> None:
    outbound = MeteredOutboundLog(in_memory_stores().outbound)
    request = SendRequest(request_id="r-1", account_id="acme", to="+14155550123", sender="+14155550100", body="Hi")
    record = OutboundRecord(request=request, status="skipped", reason="suppressed", updated_at=T0)
    assert outbound.finish(record)
    assert not outbound.finish(record)  # already recorded: not counted again
    (metric,) = lines(capfd)
    assert metric["outcome"] == "skipped:suppressed"


def test_a_refused_webhook_is_counted_by_carrier_and_reason(capfd) -> None:
    from chalice.test import Client

    import app as application
    from chalicelib import wiring
    from chalicelib.settings import Settings
    from tests.containers import fake_container

    fake_container(Settings(public_base_url="https://sms.example.com"))
    try:
        with Client(application.app) as client:
            response = client.http.post(
                "/webhooks/twilio/acme", headers={"Content-Type": "application/x-www-form-urlencoded"}, body=b"a=1"
            )
    finally:
        wiring.use(None)
    assert response.status_code == 403
    (metric,) = [line for line in lines(capfd) if "WebhookRefused" in line]
    assert (metric["carrier"], metric["reason"]) == ("twilio", "invalid_signature")


def test_a_batch_of_sends_is_counted_in_one_line_per_outcome_with_the_sum(capfd) -> None:
    from chalicelib.observability import counts_added_up

    outbound = MeteredOutboundLog(in_memory_stores().outbound)
    outcomes = ["sent"] * 3 + ["skipped"]
    with counts_added_up():
        for n, status in enumerate(outcomes):
            request = SendRequest(
                request_id=f"r-{n}", account_id="acme", to="+14155550123", sender="+14155550100", body="Hi"
            )
            reason = "suppressed" if status == "skipped" else None
            assert outbound.finish(OutboundRecord(request=request, status=status, reason=reason, updated_at=T0))
        assert lines(capfd) == []  # nothing written until the batch ends
    metrics = {metric["outcome"]: metric["Sends"] for metric in lines(capfd)}
    assert metrics in ({"sent": 3.0, "skipped:suppressed": 1.0}, {"sent": [3.0], "skipped:suppressed": [1.0]})
