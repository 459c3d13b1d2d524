"""The logs over HTTP (chalice.test.Client on in-memory fakes): a campaign's texts by outcome and reason, the inbound
log narrowed by number, dates, intent and review state, a number's activity; JSON pages and CSV exports."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import quote

import pytest

from chalicelib.domain.models import OutboundRecord, SendRequest, Suppression
from tests.unit.test_api import CONTACT, OUR_NUMBER, admin, error_code, put_account, signed_sms

OTHER = "+14155550199"


def _record(deps, request_id: str, status: str, reason: str | None = None, to: str = CONTACT, **extra) -> None:
    request = SendRequest(
        request_id=request_id, account_id="acme", to=to, sender=OUR_NUMBER, body="Spring sale", campaign_id="spring"
    )
    record = OutboundRecord(request=request, status=status, reason=reason, updated_at=deps.clock.now(), **extra)
    assert deps.stores.outbound.finish(record)
    deps.clock.advance(1)


def _get(client, token, path: str, **headers):
    response = admin(client, "get", path, token, **headers)
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def _rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.body.decode())))


@pytest.fixture
def campaign(deps, token):
    # Given a campaign: 3 texts sent, 3 skipped as suppressed (blocked by an opt-out), 1 failed (a text in flight
    # has no record yet)
    blocked = Suppression(scope="all", source="keyword", since=deps.clock.now(), event_id="twilio:SM1")
    for n in range(3):
        _record(deps, f"spring:s{n}", "sent", provider="local")
        _record(deps, f"spring:k{n}", "skipped", "suppressed", to=f"+1415555020{n}", blocked_by=(blocked,))
    _record(deps, "spring:f0", "failed", "provider_error", error_code="21211", detail='=HYPERLINK("http://x")')


# --- the outbound log -----------------------------------------------------------------------------------------


def test_a_campaigns_skipped_texts_are_listed_with_why_page_by_page(client, token, campaign) -> None:
    # When the skipped texts are asked for, two a page
    first = _get(client, token, "/v1/accounts/acme/sends?campaign=spring&outcome=skipped&reason=suppressed&limit=2")
    second = _get(
        client,
        token,
        f"/v1/accounts/acme/sends?campaign=spring&outcome=skipped&reason=suppressed&limit=2&cursor={first['next_cursor']}",
    )
    # Then every one comes once, with the suppression that blocked it
    assert first["campaign_id"] == "spring"
    assert [s["request_id"] for s in first["sends"] + second["sends"]] == ["spring:k0", "spring:k1", "spring:k2"]
    assert second["next_cursor"] is None
    skipped = first["sends"][0]
    assert skipped["to"] == "+14155550200" and skipped["status"] == "skipped" and skipped["reason"] == "suppressed"
    assert skipped["blocked_by"][0]["scope"] == "all" and skipped["blocked_by"][0]["source"] == "keyword"
    assert set(skipped) == {
        "request_id",
        "to",
        "status",
        "reason",
        "blocked_by",
        "provider",
        "error_code",
        "detail",
        "updated_at",
    }


def test_every_outcome_of_a_campaign_and_its_counts(client, token, campaign) -> None:
    sent = _get(client, token, "/v1/accounts/acme/sends?campaign=spring&outcome=sent")
    assert [s["request_id"] for s in sent["sends"]] == ["spring:s0", "spring:s1", "spring:s2"]
    every = _get(client, token, "/v1/accounts/acme/sends?campaign=spring&outcome=any")
    # By outcome (a text still being sent is in none), then reason, then request id
    assert [s["status"] for s in every["sends"]] == ["failed"] + ["sent"] * 3 + ["skipped"] * 3
    counts = _get(client, token, "/v1/accounts/acme/sends?campaign=spring")
    assert set(counts) == {"campaign_id", "sent", "skipped", "failed", "total"}


def test_a_campaigns_texts_export_as_csv_with_formulas_neutralised(client, token, campaign) -> None:
    response = admin(
        client, "get", "/v1/accounts/acme/sends?campaign=spring&outcome=any&limit=5", token, Accept="text/csv"
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"] == 'attachment; filename="sends-acme-spring.csv"'
    rows = _rows(response)
    assert len(rows) == 5 and response.headers["X-Next-Cursor"]
    failed = rows[0]
    assert failed["request_id"] == "spring:f0" and failed["reason"] == "provider_error"
    assert failed["detail"] == '\'=HYPERLINK("http://x")'  # a spreadsheet shows it, never runs it
    assert rows[4]["to"] == "+14155550200" and rows[4]["blocked_by"] == "all"  # E.164 numbers stay as they are
    rest = admin(
        client,
        "get",
        f"/v1/accounts/acme/sends?campaign=spring&outcome=any&limit=5&cursor={response.headers['X-Next-Cursor']}",
        token,
        Accept="text/csv",
    )
    assert len(_rows(rest)) == 2 and "X-Next-Cursor" not in rest.headers


@pytest.mark.parametrize(
    "query",
    [
        "campaign=spring&outcome=opened",
        "campaign=spring&outcome=any&reason=suppressed",
        "campaign=spring&reason=suppressed",
        "campaign=spring&limit=10",
        "campaign=spring&outcome=skipped&reason=Suppressed!",
        "campaign=spring&outcome=sent&limit=0",
        "campaign=spring&outcome=sent&limit=1001",
        "campaign=spring&outcome=sent&status=sent",
        "outcome=sent",
    ],
)
def test_a_bad_outbound_log_search_is_400(client, token, campaign, query) -> None:
    response = admin(client, "get", f"/v1/accounts/acme/sends?{query}", token)
    assert response.status_code == 400 and error_code(response) == "invalid_request"


def test_a_cursor_of_another_listing_is_400_invalid_cursor(client, token, campaign) -> None:
    # Given a cursor of the sent texts
    sent = _get(client, token, "/v1/accounts/acme/sends?campaign=spring&outcome=sent&limit=1")
    cursor = sent["next_cursor"]
    # When it is given to the skipped texts, to another campaign, to the inbound log, or altered
    for path in (
        f"/v1/accounts/acme/sends?campaign=spring&outcome=skipped&cursor={cursor}",
        f"/v1/accounts/acme/sends?campaign=autumn&outcome=sent&cursor={cursor}",
        f"/v1/accounts/acme/inbound?cursor={cursor}",
        f"/v1/accounts/acme/numbers/{quote(CONTACT)}/activity?cursor={cursor}",
        f"/v1/accounts/acme/sends?campaign=spring&outcome=sent&cursor={cursor[:-2]}xx",
    ):
        response = admin(client, "get", path, token)
        # Then it is refused
        assert response.status_code == 400 and error_code(response) == "invalid_cursor", path


def test_another_accounts_logs_are_403(client, token, campaign) -> None:
    other = put_account(client, "globex")["token"]
    for path in (
        "/v1/accounts/acme/sends?campaign=spring&outcome=any",
        "/v1/accounts/acme/inbound?intent=opt_out",
        f"/v1/accounts/acme/numbers/{quote(CONTACT)}/activity",
    ):
        response = admin(client, "get", path, other)
        assert response.status_code == 403 and error_code(response) == "forbidden", path
    # And the account's own token reads them
    assert admin(client, "get", "/v1/accounts/acme/sends?campaign=spring&outcome=any", token).status_code == 200


# --- the inbound log -------------------------------------------------------------------------------------------


@pytest.fixture
def inbound(client, deps, token):
    # Given messages on two days: from the contact a question, a flagged one, a STOP; from another number a HELP
    assert signed_sms(client, "what time do you open?", "SM1").status_code == 200
    deps.clock.advance(3600)
    assert signed_sms(client, "not interested", "SM2").status_code == 200
    deps.clock.advance(24 * 3600)
    assert signed_sms(client, "HELP", "SM3", From=OTHER).status_code == 200
    deps.clock.advance(60)
    assert signed_sms(client, "STOP", "SM4").status_code == 200
    deps.clock.advance(60)
    assert signed_sms(client, "=1+2", "SM5", From=OTHER).status_code == 200


def _ids(client, token, query: str) -> list[str]:
    return [m["message_id"] for m in _get(client, token, f"/v1/accounts/acme/inbound?{query}")["messages"]]


def test_the_inbound_log_is_narrowed_by_number_intent_and_review_state(client, token, inbound) -> None:
    assert _ids(client, token, "") == ["SM5", "SM4", "SM3", "SM2", "SM1"]
    assert _ids(client, token, f"phone={quote(OTHER)}") == ["SM5", "SM3"]
    assert _ids(client, token, "phone=(415)%20555-0199") == ["SM5", "SM3"]  # national, the account's region
    assert _ids(client, token, "intent=opt_out") == ["SM4"]
    assert _ids(client, token, "intent=help") == ["SM3"]
    assert _ids(client, token, "review=pending") == ["SM2"]
    assert _ids(client, token, "needs_review=true&phone=" + quote(CONTACT)) == ["SM2"]
    assert _ids(client, token, f"intent=none&phone={quote(CONTACT)}") == ["SM2", "SM1"]
    # And once the flagged message is dismissed, it is resolved
    admin(client, "post", "/v1/accounts/acme/inbound/SM2/dismiss", token, {"notes": "a price question"})
    assert _ids(client, token, "review=resolved") == ["SM2"]
    assert _ids(client, token, "review=pending") == []


def test_the_inbound_log_is_narrowed_by_days_or_times(client, token, inbound) -> None:
    # The fixture's clock starts on 2026-11-22 at 10:00 UTC: SM1 and SM2 that day, the rest the next
    assert _ids(client, token, "from=2026-11-22&to=2026-11-22") == ["SM2", "SM1"]
    assert _ids(client, token, "from=2026-11-23") == ["SM5", "SM4", "SM3"]
    assert _ids(client, token, "to=2026-11-22T10:00:00Z") == ["SM1"]  # `to` includes its moment
    assert _ids(client, token, "from=2026-11-22T10:00:01Z&to=2026-11-23T12:00:00%2B01:00") == ["SM3", "SM2"]
    assert _ids(client, token, "from=2026-11-23&intent=opt_out") == ["SM4"]


def test_the_inbound_log_pages_a_narrowed_listing(client, token, inbound) -> None:
    first = _get(client, token, f"/v1/accounts/acme/inbound?phone={quote(CONTACT)}&limit=2")
    assert [m["message_id"] for m in first["messages"]] == ["SM4", "SM2"]
    second = _get(
        client, token, f"/v1/accounts/acme/inbound?phone={quote(CONTACT)}&limit=2&cursor={first['next_cursor']}"
    )
    assert [m["message_id"] for m in second["messages"]] == ["SM1"] and second["next_cursor"] is None
    # A cursor of the narrowed listing is another listing's to the whole log, and to another number's
    for query in ("", f"phone={quote(OTHER)}&", f"phone={quote(CONTACT)}&intent=none&"):
        response = admin(client, "get", f"/v1/accounts/acme/inbound?{query}cursor={first['next_cursor']}", token)
        assert response.status_code == 400 and error_code(response) == "invalid_cursor", query


def test_the_inbound_log_exports_as_csv_with_formulas_neutralised(client, token, inbound) -> None:
    response = admin(client, "get", f"/v1/accounts/acme/inbound?phone={quote(OTHER)}", token, Accept="text/csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="inbound-acme.csv"'
    rows = _rows(response)
    assert [row["message_id"] for row in rows] == ["SM5", "SM3"]
    assert rows[0]["body"] == "'=1+2" and rows[0]["from_phone"] == OTHER
    assert rows[1]["intent"] == "help" and rows[1]["needs_review"] == "false"
    page = admin(client, "get", "/v1/accounts/acme/inbound?limit=1", token, Accept="text/csv")
    assert len(_rows(page)) == 1 and page.headers["X-Next-Cursor"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("from=2026-13-01", "invalid_request"),
        ("from=22/11/2026", "invalid_request"),
        ("from=2026-11-22T10:00:00", "invalid_request"),  # a time without its offset is ambiguous
        ("from=2026-11-22T10:00:00%2001:00", "invalid_request"),  # a bare + in a query string is a space
        ("from=2026-11-23&to=2026-11-22", "invalid_request"),
        ("intent=maybe", "invalid_request"),
        ("review=open", "invalid_request"),
        ("needs_review=true&review=resolved", "invalid_request"),
        ("phone=12", "invalid_phone"),
        ("since=2026-11-22", "invalid_request"),
    ],
)
def test_a_bad_inbound_log_search_is_400_and_changes_nothing(client, token, inbound, query, code) -> None:
    response = admin(client, "get", f"/v1/accounts/acme/inbound?{query}", token)
    assert response.status_code == 400 and error_code(response) == code, response.body


# --- a number's activity --------------------------------------------------------------------------------------


def test_a_numbers_activity_is_its_texts_replies_and_changes_newest_first(client, deps, token) -> None:
    # Given a text sent to the contact, a reply, their STOP, then a text skipped for them, and another number's text
    _record(deps, "spring:1", "sent", provider="local")
    assert signed_sms(client, "who is this?", "SM1").status_code == 200
    deps.clock.advance(60)
    assert signed_sms(client, "STOP", "SM2").status_code == 200
    deps.clock.advance(60)
    _record(deps, "spring:2", "skipped", "suppressed")
    _record(deps, "spring:3", "sent", to=OTHER)
    # When the contact's activity is read
    activity = _get(client, token, f"/v1/accounts/acme/numbers/{quote(CONTACT)}/activity")
    # Then it is one timeline, newest first
    assert activity["phone"] == CONTACT and activity["next_cursor"] is None
    assert [
        (e["kind"], e.get("request_id") or e.get("message_id") or e.get("event_id")) for e in activity["activity"]
    ] == [
        ("sent", "spring:2"),
        ("reply", "SM2"),
        ("change", "twilio:SM2"),
        ("reply", "SM1"),
        ("sent", "spring:1"),
    ]
    skipped, stop_reply, stop = activity["activity"][:3]
    assert skipped["status"] == "skipped" and skipped["reason"] == "suppressed" and skipped["body"] == "Spring sale"
    assert stop_reply["body"] == "STOP" and stop_reply["intent"] == "opt_out"
    assert stop["action"] == "opt_out" and stop["changes"] == [
        {"scope": "all", "change": "suppressed", "source": "keyword"}
    ]
    assert all(entry["at"] for entry in activity["activity"])


def test_a_change_in_the_activity_is_the_history_event_as_history_shows_it(client, token) -> None:
    # Given the contact's STOP
    assert signed_sms(client, "Stop please", "SM1").status_code == 200
    number = f"/v1/accounts/acme/numbers/{quote(CONTACT)}"
    # When its history and its activity are read
    (event,) = _get(client, token, f"{number}/history")["events"]
    (change,) = [entry for entry in _get(client, token, f"{number}/activity")["activity"] if entry["kind"] == "change"]
    # Then the activity's change entry is that event, its message, keyword and sender with it, placed when received
    assert (event["message"], event["keyword"], event["sender"]) == ("Stop please", "STOP", OUR_NUMBER)
    assert {key: value for key, value in change.items() if key not in ("at", "kind")} == event
    assert change["at"] == event["received_at"]


def test_a_numbers_activity_pages_and_refuses_another_numbers_cursor(client, deps, token) -> None:
    for n in range(3):
        assert signed_sms(client, f"message {n}", f"SM{n}").status_code == 200
        deps.clock.advance(1)
    path = f"/v1/accounts/acme/numbers/{quote(CONTACT)}/activity"
    first = _get(client, token, f"{path}?limit=2")
    second = _get(client, token, f"{path}?limit=2&cursor={first['next_cursor']}")
    assert [e["message_id"] for e in first["activity"] + second["activity"]] == ["SM2", "SM1", "SM0"]
    assert second["next_cursor"] is None
    # A national number is the same number
    assert _get(client, token, "/v1/accounts/acme/numbers/(415)%20555-0123/activity?limit=2") == first
    other = admin(
        client, "get", f"/v1/accounts/acme/numbers/{quote(OTHER)}/activity?cursor={first['next_cursor']}", token
    )
    assert other.status_code == 400 and error_code(other) == "invalid_cursor"
    for bad in ("limit=0", "limit=501", "limit=ten", "after=1"):
        response = admin(client, "get", f"{path}?{bad}", token)
        assert response.status_code == 400 and error_code(response) == "invalid_request", bad
    invalid = admin(client, "get", "/v1/accounts/acme/numbers/12/activity", token)
    assert invalid.status_code == 400 and error_code(invalid) == "invalid_phone"


def test_a_number_with_no_activity_has_an_empty_timeline(client, token) -> None:
    assert _get(client, token, f"/v1/accounts/acme/numbers/{quote(CONTACT)}/activity") == {
        "phone": CONTACT,
        "activity": [],
        "next_cursor": None,
    }


@pytest.mark.parametrize(
    "query",
    ["to=9999-12-31", "from=0001-01-01T00:00:00%2B01:00", "to=9999-12-31T23:59:59.999999Z", "from=2026-02-30"],
)
def test_a_date_at_the_calendars_edge_is_400_not_a_500(client, token, query) -> None:
    response = admin(client, "get", f"/v1/accounts/acme/inbound?{query}", token)
    assert response.status_code == 400 and error_code(response) == "invalid_request", response.body
