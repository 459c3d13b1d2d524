"""GET /v1/accounts/{id}/reports/opt-outs through chalice.test.Client on the in-memory fakes: the shapes of the
contract, CSV, the range rules, who may read it; and what the webhook, the admin calls and an import count."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib import wiring
from chalicelib.domain import policy, reports, services
from chalicelib.domain.models import Action, CampaignText, Event, EventRecord, NumberState, Source
from chalicelib.settings import Settings
from chalicelib.workers import send
from tests.containers import fake_container
from tests.fakes import FixedClock
from tests.lambda_events import sqs_event
from tests.unit.test_api import BASE, CONTACT, OPERATOR, OUR_NUMBER, put_account, signed_sms

#: "Today" for the service: a Tuesday.
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
TODAY = NOW.date()
REPORT = "/v1/accounts/acme/reports/opt-outs"


@pytest.fixture
def deps():
    yield fake_container(Settings(operator_token=OPERATOR, public_base_url=BASE), clock=FixedClock(NOW))
    wiring.use(None)


@pytest.fixture
def token(client) -> str:
    return put_account(client, keywords={"opt_out": ["=SUM"]})["token"]


def get(client, query: str = "", token: str = OPERATOR, **headers: str):
    return client.http.get(f"{REPORT}{query}", headers={"Authorization": f"Bearer {token}", **headers})


def answer(client, query: str = "", token: str = OPERATOR) -> dict:
    response = get(client, query, token)
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def error(response) -> dict:
    return json.loads(response.body)["error"]


def test_a_signed_stop_and_a_start_are_counted_by_keyword_and_the_number_texted(client, token) -> None:
    # Given a STOP, the same STOP redelivered, and a START, through Twilio's webhook
    assert signed_sms(client, "STOP", "SM1").status_code == 200
    assert signed_sms(client, "STOP", "SM1").status_code == 200
    assert signed_sms(client, "Start", "SM2").status_code == 200
    # When the report is read by keyword and by sender (the account's own token)
    by_keyword = answer(client, "?by=keyword", token)
    by_sender = answer(client, "?by=sender", token)
    # Then the STOP counted once, the START once, under the number the contact texted
    assert by_keyword["rows"] == [
        {"key": "STOP", "opt_outs": 1, "opt_ins": 0},
        {"key": "START", "opt_outs": 0, "opt_ins": 1},
    ]
    assert by_sender["rows"] == [{"key": OUR_NUMBER, "opt_outs": 1, "opt_ins": 1}]
    assert by_keyword["totals"] == by_sender["totals"] == {"opt_outs": 1, "opt_ins": 1}
    # And the history shows what it was counted under
    history = client.http.get(
        f"/v1/accounts/acme/numbers/{CONTACT}/history", headers={"Authorization": f"Bearer {token}"}
    )
    stop = json.loads(history.body)["events"][-1]
    assert (stop["keyword"], stop["sender"]) == ("STOP", OUR_NUMBER)


def test_the_answer_has_the_contracts_shape_for_each_by(client, deps, token) -> None:
    account = deps.stores.accounts.get_account("acme")
    services.opt_out_manually(deps.stores, deps.queue, account, CONTACT, "all", None, "admin", NOW)
    day = answer(client, f"?from={TODAY - timedelta(days=2)}&to={TODAY}&by=day")
    assert day == {
        "account_id": "acme",
        "from": (TODAY - timedelta(days=2)).isoformat(),
        "to": TODAY.isoformat(),
        "by": "day",
        "rows": [
            {"period": (TODAY - timedelta(days=2)).isoformat(), "opt_outs": 0, "opt_ins": 0, "by_source": {}},
            {"period": (TODAY - timedelta(days=1)).isoformat(), "opt_outs": 0, "opt_ins": 0, "by_source": {}},
            {"period": TODAY.isoformat(), "opt_outs": 1, "opt_ins": 0, "by_source": {"manual": 1}},
        ],
        "totals": {"opt_outs": 1, "opt_ins": 0},
    }
    assert answer(client, "?by=source")["rows"] == [{"key": "manual", "opt_outs": 1, "opt_ins": 0}]
    # An admin's opt-out has no keyword and no sender: the row whose key is null, so rows add up to the totals
    assert answer(client, "?by=keyword")["rows"] == [{"key": None, "opt_outs": 1, "opt_ins": 0}]
    assert answer(client, "?by=sender")["rows"] == [{"key": None, "opt_outs": 1, "opt_ins": 0}]
    assert answer(client, "?by=campaign")["rows"] == []


def test_by_week_groups_iso_weeks_from_monday(client, deps, token) -> None:
    account = deps.stores.accounts.get_account("acme")
    # Sunday 22 November (ISO week 47), Monday 23 November and Tuesday 24 (week 48)
    for n, at in enumerate((datetime(2026, 11, 22, 23, 59, tzinfo=UTC), NOW - timedelta(days=1), NOW)):
        services.opt_out_manually(deps.stores, deps.queue, account, f"+1415555{n:04d}", "all", None, "admin", at)
    weeks = answer(client, "?from=2026-11-16&to=2026-11-24&by=week")
    assert weeks["rows"] == [
        {"period": "2026-W47", "opt_outs": 1, "opt_ins": 0, "by_source": {"manual": 1}},
        {"period": "2026-W48", "opt_outs": 2, "opt_ins": 0, "by_source": {"manual": 2}},
    ]


def test_by_default_the_report_covers_the_last_30_days_by_day(client, deps, token) -> None:
    report = answer(client)
    assert (report["from"], report["to"], report["by"]) == (
        (TODAY - timedelta(days=29)).isoformat(),
        TODAY.isoformat(),
        "day",
    )
    assert len(report["rows"]) == 30


def test_a_years_report_is_one_read_of_the_counters(client, deps, token) -> None:
    deps.stores.reports.calls.clear()
    report = answer(client, f"?from={TODAY - timedelta(days=365)}&to={TODAY}&by=week")
    assert deps.stores.reports.calls == {"daily_counts": 1}
    assert len(report["rows"]) == 53


@pytest.mark.parametrize(
    "query, field",
    [
        ("?from=2026-11-24&to=2026-11-01", "from"),
        ("?from=2025-11-01&to=2026-11-24", "to"),
        ("?from=2026-1-1", "from"),
        ("?from=20261101", "from"),
        ("?to=2026-02-30", "to"),
        ("?to=1764000000", "to"),
        ("?by=month", "by"),
        ("?from_=2026-11-01", "from_"),
        ("?campaign=spring", "campaign"),
    ],
)
def test_rule12_a_bad_range_or_by_is_a_clear_400(client, token, query, field) -> None:
    response = get(client, query)
    assert response.status_code == 400, response.body
    assert error(response)["code"] == "invalid_request"
    assert field in response.body.decode()


def test_366_days_is_the_longest_range(client, token) -> None:
    assert len(answer(client, "?from=2025-11-24&to=2026-11-24")["rows"]) == 366
    response = get(client, "?from=2025-11-23&to=2026-11-24")
    assert response.status_code == 400 and "367 days" in error(response)["message"]


@pytest.mark.parametrize(
    "query, first, last",
    [("?to=0001-01-05", "0001-01-01", "0001-01-05"), ("?from=9999-12-30&to=9999-12-31", "9999-12-30", "9999-12-31")],
)
def test_ranges_at_the_ends_of_the_calendar_are_answered_not_a_500(client, token, query, first, last) -> None:
    report = answer(client, query)
    assert (report["from"], report["to"]) == (first, last)
    # `to` left out is today, or 30 days from `from` if sooner: a `from` after today is a 400
    response = get(client, "?from=9999-12-30")
    assert response.status_code == 400 and "is after to" in error(response)["message"]


def test_only_the_operator_and_the_accounts_own_token_read_it(client, token) -> None:
    other = put_account(client, "globex")["token"]
    assert get(client, token=other).status_code == 403
    assert client.http.get(REPORT).status_code == 401
    assert get(client, token=token).status_code == 200


def test_csv_is_an_attachment_with_formula_cells_neutralised(client, deps, token) -> None:
    # Given an opt-out by the account's keyword "=SUM", and one within a week of a campaign's text
    assert signed_sms(client, "=SUM", "SM1").status_code == 200
    phone = "+14155550124"
    request = {"request_id": "r1", "account_id": "acme", "to": phone, "sender": OUR_NUMBER, "body": "Hi"}
    deps.stores.accounts.put_account(
        deps.stores.accounts.get_account("acme").model_copy(update={"sms_provider": "local"})
    )
    assert send.handle(sqs_event(request | {"campaign_id": "spring"})) == {"batchItemFailures": []}
    assert signed_sms(client, "STOP", "SM2", From=phone).status_code == 200
    # When the report is asked for as CSV
    by_keyword = get(client, "?by=keyword", **{"Accept": "text/csv"})
    by_campaign = get(client, "?by=campaign", **{"Accept": "text/csv"})
    by_day = get(client, f"?from={TODAY}&to={TODAY}", **{"Accept": "text/csv"})
    # Then each is a CSV attachment, and a cell a spreadsheet would run as a formula is quoted
    assert by_keyword.headers["Content-Type"].startswith("text/csv")
    assert by_keyword.headers["Content-Disposition"] == (
        f'attachment; filename="opt-outs-acme-{TODAY - timedelta(days=29)}-{TODAY}-by-keyword.csv"'
    )
    assert list(csv.reader(io.StringIO(by_keyword.body.decode()))) == [
        ["keyword", "opt_outs", "opt_ins"],
        ["'=SUM", "1", "0"],
        ["STOP", "1", "0"],
    ]
    assert list(csv.reader(io.StringIO(by_campaign.body.decode()))) == [
        ["campaign", "sent", "opt_outs", "opt_out_rate"],
        ["spring", "1", "1", "1.0"],
    ]
    assert list(csv.reader(io.StringIO(by_day.body.decode()))) == [
        ["period", "opt_outs", "opt_ins", *(f"opt_outs_{source.value}" for source in Source)],
        [TODAY.isoformat(), "2", "0", "2", "0", "0", "0", "0", "0"],
    ]


def test_an_imports_rows_count_as_import_opt_outs_and_a_reset_as_opt_ins(client, deps, token) -> None:
    # Given an import of two numbers, one listed twice, then a reset of one of them
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    path = "/v1/accounts/acme/suppressions/import"
    rows = "phone\n+14155550130\n+14155550131\n+14155550130\n"
    assert client.http.post(f"{path}?import_id=crm-1", headers=headers, body=rows).status_code == 202
    reset = "phone\n+14155550131\n"
    run_imports(deps)
    assert client.http.post(f"{path}?import_id=crm-2&mode=reset", headers=headers, body=reset).status_code == 202
    run_imports(deps)
    # Then each applied row counted once: two opt-outs (the repeated row changed nothing), one opt-in
    assert answer(client, "?by=source")["rows"] == [{"key": "import", "opt_outs": 2, "opt_ins": 1}]


def run_imports(deps) -> None:
    while deps.queue.imports:
        task = deps.queue.imports.pop(0)
        assert send.handle(sqs_event(task.model_dump_json())) == {"batchItemFailures": []}


# --- the rules of `tally`, alone -----------------------------------------------------------------------------


def test_an_opt_out_counts_for_the_campaign_only_within_7_days_after_its_text_and_only_the_contacts_own() -> None:
    sent = NOW - timedelta(days=7)
    state = NumberState(account_id="acme", phone=CONTACT, last_campaign=CampaignText(campaign_id="fall", sent_at=sent))
    assert reports.attributed_campaign(state, Source.KEYWORD, NOW) == "fall"
    assert reports.attributed_campaign(state, Source.CARRIER, sent) == "fall"
    assert reports.attributed_campaign(state, Source.NATURAL_LANGUAGE, NOW + timedelta(seconds=1)) is None
    assert reports.attributed_campaign(state, Source.KEYWORD, sent - timedelta(seconds=1)) is None
    for source in (Source.MANUAL, Source.IMPORT, Source.BOUNCE):
        assert reports.attributed_campaign(state, source, NOW) is None


def test_an_opt_out_counts_on_its_utc_day() -> None:
    # 20:30 in New York on the 24th is the 25th in UTC
    late = datetime(2026, 11, 24, 20, 30, tzinfo=timezone(timedelta(hours=-5)))
    event = Event(
        event_id="e-1",
        account_id="acme",
        phone=CONTACT,
        action=Action.OPT_OUT,
        scopes=("all",),
        source=Source.MANUAL,
        occurred_at=late,
        received_at=late,
        actor="admin",
    )
    state, record = policy.apply(NumberState(account_id="acme", phone=CONTACT), event)
    counted = reports.tally(state, record)
    assert counted is not None and counted.day.isoformat() == "2026-11-25"
    assert reports.tally(state, EventRecord(event=event, outcome="unchanged")) is None
