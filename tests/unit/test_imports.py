"""Bulk import (`POST .../suppressions/import`) on the in-memory fakes: the HTTP edge through chalice.test.Client,
the job's chunks through the send function's handler, the rules of DESIGN rule 4 for `reset`."""

from __future__ import annotations

import gc
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.domain import alerts, imports, services
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
from chalicelib.domain.errors import ConcurrentUpdate
from chalicelib.domain.imports import ImportMode, ImportTask, RejectedRow, lines, read_header
from chalicelib.domain.models import Action, Event, Source
from chalicelib.settings import Settings
from chalicelib.workers import send
from tests.containers import fake_container

OPERATOR = "operator-secret-token"
ACCOUNT = "acme"
IMPORT_PATH = f"/v1/accounts/{ACCOUNT}/suppressions/import"


@pytest.fixture
def parts():
    yield fake_container(Settings(operator_token=OPERATOR, public_base_url="https://sms.example.com/api"))
    wiring.use(None)


@pytest.fixture
def client(parts):
    with Client(application.app) as test_client:
        yield test_client


def put_account(client, account_id: str = ACCOUNT) -> str:
    response = client.http.put(
        f"/v1/accounts/{account_id}",
        headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
        body=json.dumps({"name": account_id.title(), "issue_token": True}),
    )
    assert response.status_code in (200, 201), response.body
    return json.loads(response.body)["token"]


@pytest.fixture
def token(client) -> str:
    return put_account(client)


def post_csv(client, csv: str, token: str = OPERATOR, path: str = IMPORT_PATH, **query: str):
    query_string = "&".join(f"{name}={value}" for name, value in query.items())
    return client.http.post(
        f"{path}?{query_string}" if query_string else path,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        body=csv,
    )


def get(client, path: str, token: str = OPERATOR):
    response = client.http.get(path, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, json.loads(response.body)


def run_queued_chunks(parts, seconds_left=None) -> int:
    """Hand every queued import task to the send function, as SQS would, until none is left; the chunks run."""
    chunks = 0
    while parts.queue.imports:
        task = parts.queue.imports.pop(0)
        response = send.handle({"Records": [sqs_record(task)]}, seconds_left)
        assert response == {"batchItemFailures": []}
        chunks += 1
    return chunks


def sqs_record(task: ImportTask) -> dict:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": f"r-{uuid.uuid4()}",
        "body": task.model_dump_json(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:optout-send",
        "awsRegion": "us-east-1",
        "md5OfBody": "",
    }


def contact_opts_out(parts, phone: str, source: Source = Source.KEYWORD, scope: str = "all") -> None:
    """The contact's own opt-out (or a carrier's, a bounce), stored as the webhooks store it."""
    now = parts.clock.now()
    event = Event(
        event_id=f"twilio:SM{uuid.uuid4().hex}",
        account_id=ACCOUNT,
        phone=phone,
        action=Action.OPT_OUT,
        scopes=(scope,),
        source=source,
        occurred_at=now,
        received_at=now,
        actor="twilio:SM1",
        message="STOP",
    )
    services.record_event(parts.stores, parts.queue, event)


def suppressions(parts, phone: str) -> dict[str, Source]:
    state, _ = parts.stores.numbers.load(ACCOUNT, phone)
    return {scope: s.source for scope, s in state.suppressions.items()}


def all_rejected(client, import_id: str) -> list[dict]:
    rows, cursor = [], None
    while True:
        suffix = f"?limit=1000&cursor={cursor}" if cursor else "?limit=1000"
        status, page = get(client, f"{IMPORT_PATH}/{import_id}{suffix}")
        assert status == 200, page
        rows += page["rejected"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


def counts(client, import_id: str) -> dict:
    status, job = get(client, f"{IMPORT_PATH}/{import_id}?limit=1")
    assert status == 200, job
    return job


def acme(parts):
    account, _, _ = upsert_account(
        parts.stores.accounts, parts.secrets, parts.carriers, ACCOUNT, AccountSettingsIn(name="Acme"), parts.clock.now()
    )
    return account


def number(n: int) -> str:
    return f"+1415{2000000 + n:07d}"


# --- the 100,000-row import ------------------------------------------------------------------------------------


@pytest.fixture
def without_gc_pauses() -> Iterator[None]:
    """The fakes keep every state and event as objects (400,000 and more here): Python's cyclic collector would scan
    them all again and again, doubling the test's time. Nothing here makes cycles worth collecting."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_100000_row_import_counts_right_reset_refuses_every_contacts_own_opt_out_and_an_id_again_changes_nothing(
    client, parts, token, without_gc_pauses
) -> None:
    # Given 100,000 rows: 1% invalid, 1% numbers whose contact texted STOP, the rest new (some written nationally)
    rows = ["phone,scope,notes"]
    keyword_numbers, invalid_lines = [], set()
    for n in range(100_000):
        if n % 100 == 0:
            rows.append(f"not-a-number-{n},,")
            invalid_lines.add(n + 2)
        elif n % 100 == 1:
            keyword_numbers.append(number(n))
            rows.append(f"{number(n)},,had texted STOP")
        elif n % 10 == 5:
            rows.append(f'"(415) {200 + n // 10000:03d}-{n % 10000:04d}",all,"from the CRM, written nationally"')
        else:
            rows.append(f"{number(n)},,from the CRM")
    csv = "\n".join(rows) + "\n"
    for phone in keyword_numbers:
        contact_opts_out(parts, phone)

    # When it is imported and its chunks run
    response = post_csv(client, csv, token, import_id="crm-2026-11")
    assert response.status_code == 202, response.body
    assert json.loads(response.body)["rows"] == 100_000
    chunks = run_queued_chunks(parts)

    # Then every row is counted once: 98,000 added, 1,000 already suppressed by the contact, 1,000 invalid
    job = counts(client, "crm-2026-11")
    assert job["status"] == "done" and job["processed"] == 100_000
    assert job["counts"] == {
        "added": 98_000,
        "already_suppressed": 1_000,
        "lifted": 0,
        "not_suppressed": 0,
        "invalid": 1_000,
        "refused": 0,
    }
    assert chunks == 50  # 2,000 lines a chunk
    rejected = all_rejected(client, "crm-2026-11")
    assert {row["line"] for row in rejected} == invalid_lines
    assert all(row["kind"] == "invalid" and row["input"].startswith("not-a-number") for row in rejected)
    assert suppressions(parts, number(2)) == {"all": Source.IMPORT}
    assert suppressions(parts, keyword_numbers[0]) == {"all": Source.KEYWORD}
    snapshot = (
        dict(parts.stores.numbers.states),
        {key: dict(events) for key, events in parts.stores.history.events.items()},
    )

    # When the same import id is posted again
    again = post_csv(client, csv, token, import_id="crm-2026-11")

    # Then it answers the same job, queues nothing and changes nothing
    assert again.status_code == 200
    assert json.loads(again.body)["counts"] == job["counts"]
    assert parts.queue.imports == []
    assert (dict(parts.stores.numbers.states), {k: dict(v) for k, v in parts.stores.history.events.items()}) == snapshot

    # When the same list is imported to reset earlier opt-outs
    parts.clock.advance(60)
    assert post_csv(client, csv, token, import_id="crm-2026-11-reset", mode="reset").status_code == 202
    run_queued_chunks(parts)

    # Then every import suppression is lifted and every contact's own opt-out refused, each row saying why
    job = counts(client, "crm-2026-11-reset")
    assert job["counts"] == {
        "added": 0,
        "already_suppressed": 0,
        "lifted": 98_000,
        "not_suppressed": 0,
        "invalid": 1_000,
        "refused": 1_000,
    }
    refused = [row for row in all_rejected(client, "crm-2026-11-reset") if row["kind"] == "refused"]
    assert sorted(row["phone"] for row in refused) == sorted(keyword_numbers)
    assert all("keyword opt-out in scope all is the contact's own" in row["reason"] for row in refused)
    assert all(suppressions(parts, phone) == {"all": Source.KEYWORD} for phone in keyword_numbers)
    assert suppressions(parts, number(2)) == {}

    # And the reset posted again changes nothing either
    snapshot = dict(parts.stores.numbers.states)
    assert post_csv(client, csv, token, import_id="crm-2026-11-reset", mode="reset").status_code == 200
    assert parts.queue.imports == [] and dict(parts.stores.numbers.states) == snapshot


# --- what rows do ----------------------------------------------------------------------------------------------


def test_every_change_is_a_history_event_whose_id_actor_and_notes_carry_the_import_id(client, parts, token) -> None:
    post_csv(client, "phone,scope,notes\n+14155550123,group:events,asked at the desk\n", token, import_id="desk-1")
    run_queued_chunks(parts)

    (record,) = parts.stores.history.history(ACCOUNT, "+14155550123")
    event = record.event
    assert event.event_id == "import:desk-1:2"
    assert event.source is Source.IMPORT and event.scopes == ("group:events",)
    assert event.actor.endswith("via import:desk-1") and event.actor.startswith("token:")
    assert event.notes == "import desk-1, line 2: asked at the desk"
    assert suppressions(parts, "+14155550123") == {"group:events": Source.IMPORT}


def test_every_change_of_an_import_goes_out_as_change_events_and_no_email_alert_is_sent(client, parts, token) -> None:
    # Given a list of two numbers, one already suppressed by its contact
    contact_opts_out(parts, "+14155550124")
    parts.queue.jobs.clear()
    parts.queue.change_jobs.clear()

    # When it is imported
    post_csv(client, "phone\n+14155550123\n+14155550124\n", token, import_id="events")
    run_queued_chunks(parts)

    # Then the one change is queued as its change event (a suppression.created of the import's event), with no email job
    assert parts.queue.jobs == []
    (job,) = parts.queue.change_jobs
    (change,) = job.events
    assert (change.type, change.phone, change.source, change.event_id) == (
        "suppression.created",
        "+14155550123",
        Source.IMPORT,
        "import:events:2",
    )
    assert parts.stores.outbox.pending_jobs(10) == []  # queued, so out of the outbox


def test_an_imports_change_events_go_to_the_queue_ten_to_a_call_not_one_a_row(
    client, parts, token, monkeypatch
) -> None:
    # Given a queue that counts its calls
    calls: list[int] = []
    enqueue_jobs = parts.queue.enqueue_jobs
    monkeypatch.setattr(parts.queue, "enqueue_jobs", lambda jobs: calls.append(len(jobs)) or enqueue_jobs(jobs))

    # When 250 numbers are imported
    post_csv(client, big_csv(250), token, import_id="together")
    run_queued_chunks(parts)

    # Then their change events went ten to a call, and every event left the outbox
    assert calls == [imports.DISPATCH_EVENTS] * 25
    assert len(parts.queue.change_jobs) == 250
    assert parts.stores.outbox.pending_jobs(300) == []


def test_change_events_the_queue_refused_stay_in_the_outbox_and_the_sweep_queues_them(
    client, parts, token, monkeypatch
) -> None:
    # Given a queue that refuses the first change event of every call while an import runs
    enqueue_jobs = parts.queue.enqueue_jobs

    def refuse_some(jobs):
        refused = {jobs[0].job_id: "throttled"}
        return enqueue_jobs([job for job in jobs if job.job_id not in refused]) | refused

    monkeypatch.setattr(parts.queue, "enqueue_jobs", refuse_some)
    post_csv(client, big_csv(30), token, import_id="refused")
    run_queued_chunks(parts)

    # Then the import is done, and the refused ones are still in the outbox, the others out of it
    assert counts(client, "refused")["counts"]["added"] == 30
    assert len(parts.queue.change_jobs) == 27
    assert len(parts.stores.outbox.pending_jobs(100)) == 3

    # And once the queue takes them again, the sweep queues the rest
    monkeypatch.setattr(parts.queue, "enqueue_jobs", enqueue_jobs)
    assert alerts.flush_outbox(parts.stores.outbox, parts.queue) == 3
    assert sorted(change.phone for job in parts.queue.change_jobs for change in job.events) == sorted(
        number(n) for n in range(30)
    )
    assert parts.stores.outbox.pending_jobs(100) == []


def test_a_dry_run_queues_no_change_event(client, parts, token) -> None:
    post_csv(client, "phone\n+14155550123\n", token, import_id="dry-events", dry_run="true")
    run_queued_chunks(parts)
    assert parts.queue.jobs == [] and parts.queue.change_jobs == []


def test_reset_lifts_import_manual_and_bounce_suppressions_and_refuses_the_contacts_own_saying_why(
    client, parts, token
) -> None:
    # Given a number per source
    phones = {source: f"+1415555{index:04d}" for index, source in enumerate(Source)}
    for source, phone in phones.items():
        if source is Source.MANUAL:
            services.opt_out_manually(
                parts.stores,
                parts.queue,
                parts.stores.accounts.get_account(ACCOUNT),
                phone,
                "all",
                None,
                "admin",
                parts.clock.now(),
            )
        else:
            contact_opts_out(parts, phone, source)
    parts.clock.advance(60)

    # When they are all reset
    csv = "phone\n" + "\n".join(phones.values()) + "\n"
    post_csv(client, csv, token, import_id="reset-all", mode="reset")
    run_queued_chunks(parts)

    # Then import, manual and bounce are lifted, keyword, natural_language and carrier refused with the reason
    job = counts(client, "reset-all")
    assert (job["counts"]["lifted"], job["counts"]["refused"]) == (3, 3)
    for source in (Source.IMPORT, Source.MANUAL, Source.BOUNCE):
        assert suppressions(parts, phones[source]) == {}
    refused = {row["phone"]: row["reason"] for row in all_rejected(client, "reset-all")}
    for source in (Source.KEYWORD, Source.NATURAL_LANGUAGE, Source.CARRIER):
        assert suppressions(parts, phones[source]) == {"all": source}
        assert f"the {source.value} opt-out in scope all is the contact's own" in refused[phones[source]]
        assert "START" in refused[phones[source]]


def test_reset_without_a_scope_lifts_every_liftable_scope_and_refuses_the_row_for_the_contacts_own(
    client, parts, token
) -> None:
    # Given a number with a manual group suppression and the contact's STOP for one sender
    phone = "+14155550123"
    account = parts.stores.accounts.get_account(ACCOUNT)
    services.opt_out_manually(parts.stores, parts.queue, account, phone, "group:news", None, "admin", parts.clock.now())
    contact_opts_out(parts, phone, scope="sender:+14155550100")
    parts.clock.advance(60)

    # When a reset lists it without a scope
    post_csv(client, f"phone,scope\n{phone},\n", token, import_id="r1", mode="reset")
    run_queued_chunks(parts)

    # Then the group is lifted and the row is refused for the contact's own opt-out, saying what was lifted
    assert suppressions(parts, phone) == {"sender:+14155550100": Source.KEYWORD}
    (row,) = all_rejected(client, "r1")
    assert row["kind"] == "refused"
    assert "scope sender:+14155550100 is the contact's own" in row["reason"]
    assert row["reason"].endswith("(lifted: group:news)")


def test_reset_of_a_number_with_nothing_suppressed_counts_it_not_suppressed_and_writes_nothing(
    client, parts, token
) -> None:
    post_csv(client, "phone\n+14155550123\n", token, import_id="r1", mode="reset")
    run_queued_chunks(parts)
    assert counts(client, "r1")["counts"]["not_suppressed"] == 1
    assert parts.stores.history.history(ACCOUNT, "+14155550123") == []


def test_a_number_listed_twice_is_added_once_then_already_suppressed(client, parts, token) -> None:
    post_csv(client, "phone\n+14155550123\n(415) 555-0123\n", token, import_id="twice")
    run_queued_chunks(parts)
    job = counts(client, "twice")
    assert (job["counts"]["added"], job["counts"]["already_suppressed"]) == (1, 1)
    assert len(parts.stores.history.history(ACCOUNT, "+14155550123")) == 1


def test_an_opt_out_of_an_import_asked_for_before_the_contacts_later_start_is_refused(client, parts, token) -> None:
    # Given an import asked for now, and the contact's START stored with a later carrier time before it runs
    phone = "+14155550123"
    post_csv(client, f"phone\n{phone}\n", token, import_id="late")
    later = parts.clock.now() + timedelta(minutes=1)
    start = Event(
        event_id="twilio:SMstart",
        account_id=ACCOUNT,
        phone=phone,
        action=Action.OPT_IN,
        scopes=("all",),
        occurred_at=later,
        received_at=later,
        actor="twilio:SMstart",
        message="START",
    )
    services.record_event(parts.stores, parts.queue, start)

    # When the import runs
    run_queued_chunks(parts)

    # Then the later START stands, and the row says so
    assert suppressions(parts, phone) == {}
    (row,) = all_rejected(client, "late")
    assert row["kind"] == "refused" and "that later change stands" in row["reason"]


def test_a_dry_run_reports_what_the_import_would_do_and_changes_nothing(client, parts, token) -> None:
    # Given a contact's STOP
    contact_opts_out(parts, "+14155550124")
    before = (dict(parts.stores.numbers.states), {k: dict(v) for k, v in parts.stores.history.events.items()})

    # When a list is imported as a dry run
    csv = "phone\n+14155550123\n+14155550124\nnope\n+14155550123\n"
    response = post_csv(client, csv, token, import_id="dry", dry_run="true")
    assert json.loads(response.body)["dry_run"] is True
    run_queued_chunks(parts)

    # Then the counts say what it would do (the repeated number once added), and nothing changed
    assert counts(client, "dry")["counts"] == {
        "added": 1,
        "already_suppressed": 2,
        "lifted": 0,
        "not_suppressed": 0,
        "invalid": 1,
        "refused": 0,
    }
    assert (dict(parts.stores.numbers.states), {k: dict(v) for k, v in parts.stores.history.events.items()}) == before


def test_a_dry_run_of_a_reset_reports_the_refusals_and_lifts_nothing(client, parts, token) -> None:
    contact_opts_out(parts, "+14155550124")
    post_csv(client, "phone\n+14155550123\n", token, import_id="first")
    run_queued_chunks(parts)
    parts.clock.advance(60)

    post_csv(client, "phone\n+14155550123\n+14155550124\n", token, import_id="dry-reset", mode="reset", dry_run="true")
    run_queued_chunks(parts)

    job = counts(client, "dry-reset")
    assert (job["counts"]["lifted"], job["counts"]["refused"]) == (1, 1)
    assert suppressions(parts, "+14155550123") == {"all": Source.IMPORT}


# --- chunks, redeliveries and time ---------------------------------------------------------------------------------


def big_csv(rows: int) -> str:
    return "phone\n" + "".join(f"{number(n)}\n" for n in range(rows))


def test_a_redelivered_task_applies_each_row_once_and_counts_it_once(client, parts, token) -> None:
    # Given an import of 5,000 rows whose every task SQS delivers twice
    post_csv(client, big_csv(5000), token, import_id="twice")
    delivered = 0
    while parts.queue.imports:
        task = parts.queue.imports.pop(0)
        for _ in range(2):
            assert send.handle({"Records": [sqs_record(task)]}) == {"batchItemFailures": []}
            delivered += 1

    # Then each row was applied once, and counted once
    assert delivered >= 6
    assert counts(client, "twice")["counts"]["added"] == 5000
    assert all(len(events) == 1 for events in parts.stores.history.events.values())


class DiesAfter:
    """A number store whose commit raises after `commits` commits: the invocation dies half way through a chunk."""

    def __init__(self, inner, commits: int) -> None:
        self._inner, self.left = inner, commits

    def commit(self, *args, **kwargs):
        if self.left == 0:
            raise TimeoutError("the invocation timed out")
        self.left -= 1
        return self._inner.commit(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_chunk_that_died_half_way_runs_again_applying_each_row_once_and_counting_exactly(parts) -> None:
    # Given a reset of 300 numbers, 150 of them suppressed by an earlier import, and a chunk that dies after 100 lifts
    account = acme(parts)
    data = big_csv(150).encode()
    imports.start_import(
        parts.stores,
        parts.queue,
        account,
        import_id="in",
        mode=ImportMode.OPT_OUT,
        dry_run=False,
        actor="admin",
        now=parts.clock.now(),
        data=data,
    )
    run_queued_chunks(parts)
    parts.clock.advance(60)
    imports.start_import(
        parts.stores,
        parts.queue,
        account,
        import_id="out",
        mode=ImportMode.RESET,
        dry_run=False,
        actor="admin",
        now=parts.clock.now(),
        data=big_csv(300).encode(),
    )
    task = parts.queue.imports.pop()
    real_numbers = parts.stores.numbers
    dying = replace(parts.stores, numbers=DiesAfter(real_numbers, 100))
    with pytest.raises(TimeoutError):
        imports.run_chunk(dying, parts.queue, account, task, parts.clock)

    # When SQS delivers the task again
    job = imports.run_chunk(parts.stores, parts.queue, account, task, parts.clock)

    # Then the 100 lifts already made are counted as lifts, not as "nothing to lift", and none is made twice
    assert job.status == "done"
    assert job.counts.lifted == 150 and job.counts.not_suppressed == 150
    lifts = [
        r for events in parts.stores.history.events.values() for r in events.values() if r.event.action is Action.LIFT
    ]
    assert len(lifts) == 150


def test_a_second_worker_on_a_chunk_makes_the_first_one_stop_without_saving(parts) -> None:
    account = acme(parts)
    imports.start_import(
        parts.stores,
        parts.queue,
        account,
        import_id="race",
        mode=ImportMode.OPT_OUT,
        dry_run=False,
        actor="admin",
        now=parts.clock.now(),
        data=big_csv(10).encode(),
    )
    task = parts.queue.imports.pop()
    jobs = parts.stores.imports

    # Given a first worker that marked the chunk started, then a second that marks it again (a duplicate delivery)
    first = jobs.get_job(ACCOUNT, "race")
    assert jobs.save_job(first.model_copy(update={"started_line": 2, "status": "running"}), first.version)
    second = imports.run_chunk(parts.stores, parts.queue, account, task, parts.clock)

    # Then the second saves the chunk, and the first's save (at the version it marked) is refused
    assert second.status == "done" and second.counts.added == 10
    assert not jobs.save_job(first, first.version + 1)


def test_a_chunk_stops_starting_rows_when_the_invocation_has_little_time_left_and_queues_the_rest(
    client, parts, token
) -> None:
    # Given an invocation with time for three groups of lines (the handler asks once, then the chunk before each group)
    post_csv(client, big_csv(1000), token, import_id="slow")
    left = iter([30.0, 29.0, 20.0, 10.0, 4.0])

    # When its first chunk runs
    task = parts.queue.imports.pop()
    send.handle({"Records": [sqs_record(task)]}, lambda: next(left, 1.0))

    # Then it did 300 rows, saved them and queued the rest; the rest runs later
    job = counts(client, "slow")
    assert (job["status"], job["processed"]) == ("running", 300)
    assert len(parts.queue.imports) == 1
    run_queued_chunks(parts)
    assert counts(client, "slow")["counts"]["added"] == 1000


def test_a_row_whose_number_changes_while_it_is_applied_is_read_again(client, parts, token) -> None:
    # Given a number store whose first commit loses a race against a contact's STOP
    phone = "+14155550123"

    class LosesOnce:
        def __init__(self, inner) -> None:
            self._inner, self.lost = inner, False

        def commit(self, state, record, *args, **kwargs):
            if not self.lost and record.event.event_id.startswith("import:"):
                self.lost = True
                contact_opts_out(parts, phone)
                raise ConcurrentUpdate(phone)
            return self._inner.commit(state, record, *args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._inner, name)

    parts.stores = replace(parts.stores, numbers=LosesOnce(parts.stores.numbers))
    post_csv(client, f"phone\n{phone}\n", token, import_id="race")

    # When it runs
    run_queued_chunks(parts)

    # Then the row sees the STOP: already suppressed, by the contact
    assert counts(client, "race")["counts"]["already_suppressed"] == 1
    assert suppressions(parts, phone) == {"all": Source.KEYWORD}


def test_an_import_id_used_before_is_queued_again_only_when_its_job_never_started_or_stalled(
    client, parts, token
) -> None:
    # Given an import whose task was queued, then lost
    post_csv(client, "phone\n+14155550123\n", token, import_id="lost")
    parts.queue.imports.clear()

    # When it is posted again, its job is queued again (it never started)
    assert post_csv(client, "phone\n+14155550123\n", token, import_id="lost").status_code == 200
    assert len(parts.queue.imports) == 1

    # And once running, only after five minutes without progress
    jobs = parts.stores.imports
    job = jobs.get_job(ACCOUNT, "lost")
    jobs.save_job(job.model_copy(update={"status": "running", "updated_at": parts.clock.now()}), job.version)
    parts.queue.imports.clear()
    post_csv(client, "phone\n+14155550123\n", token, import_id="lost")
    assert parts.queue.imports == []
    parts.clock.advance(301)
    post_csv(client, "phone\n+14155550123\n", token, import_id="lost")
    assert len(parts.queue.imports) == 1
    run_queued_chunks(parts)
    assert counts(client, "lost")["counts"]["added"] == 1


def test_an_import_whose_file_is_gone_fails_saying_why(client, parts, token) -> None:
    post_csv(client, "phone\n+14155550123\n", token, import_id="gone")
    parts.stores.import_files.files.clear()
    run_queued_chunks(parts)
    job = counts(client, "gone")
    assert job["status"] == "failed" and "file is gone" in job["error"]


# --- the HTTP edge ---------------------------------------------------------------------------------------------


def test_the_operator_and_the_accounts_own_admin_token_may_import_and_another_accounts_token_may_not(
    client, parts, token
) -> None:
    other = put_account(client, "beta")
    assert post_csv(client, "phone\n+14155550123\n", OPERATOR, import_id="a").status_code == 202
    assert post_csv(client, "phone\n+14155550123\n", token, import_id="b").status_code == 202
    refused = post_csv(client, "phone\n+14155550123\n", other, import_id="c")
    assert refused.status_code == 403
    assert get(client, f"{IMPORT_PATH}/a", other)[0] == 403
    assert client.http.post(f"{IMPORT_PATH}/uploads", headers={"Authorization": f"Bearer {other}"}).status_code == 403
    assert post_csv(client, "phone\n+14155550123\n", "nope", import_id="d").status_code == 401
    assert parts.stores.imports.get_job(ACCOUNT, "c") is None


def test_the_import_body_has_its_own_limit_above_the_apis_and_a_larger_one_is_a_413(client, parts, token) -> None:
    # 100,000 rows fit (about 1.4 MB here), far above the API's 64 KiB
    assert parts.settings.max_body_bytes < len(big_csv(100_000)) < parts.settings.import_max_body_bytes
    assert post_csv(client, big_csv(100_000), token, import_id="fits").status_code == 202
    # More than its limit is a 413, and creates nothing
    limit = parts.settings.import_max_body_bytes
    too_large = "phone\n" + "+14155550123\n" * (limit // 13 + 1)
    response = post_csv(client, too_large, token, import_id="big")
    assert response.status_code == 413 and json.loads(response.body)["error"]["code"] == "payload_too_large"
    assert parts.stores.imports.get_job(ACCOUNT, "big") is None


def test_more_than_100000_rows_in_a_body_is_a_413_that_says_to_upload(client, parts, token) -> None:
    response = post_csv(client, big_csv(100_001), token, import_id="rows")
    assert response.status_code == 413
    assert "upload" in json.loads(response.body)["error"]["message"]
    assert parts.queue.imports == [] and parts.stores.import_files.files == {}


@pytest.mark.parametrize(
    ("body", "query", "problem"),
    [
        ("phone\n+14155550123\n", {}, "import_id"),
        ("number\n+14155550123\n", {"import_id": "x"}, "phone column"),
        ("phone,phone\n+14155550123,1\n", {"import_id": "x"}, "twice"),
        ("phone\n", {"import_id": "x"}, "no rows"),
        ("", {"import_id": "x"}, "header"),
        ("phone\n+14155550123\n", {"import_id": "uploads"}, "uploads"),
        ("phone\n+14155550123\n", {"import_id": "bad id"}, "import_id"),
        ("phone\n+14155550123\n", {"import_id": "x", "mode": "delete"}, "mode"),
        ("phone\n+14155550123\n", {"import_id": "x", "dry_run": "yes"}, "dry_run"),
    ],
)
def test_a_bad_import_request_is_a_400_and_creates_nothing(client, parts, token, body, query, problem) -> None:
    response = post_csv(client, body, token, **query)
    assert response.status_code == 400, response.body
    assert problem in response.body.decode()
    assert parts.stores.imports.jobs == {} and parts.queue.imports == []


def test_an_import_body_that_is_neither_csv_nor_json_is_a_415(client, token) -> None:
    response = client.http.post(
        f"{IMPORT_PATH}?import_id=x",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-www-form-urlencoded"},
        body="phone=1",
    )
    assert response.status_code == 415


def test_a_large_file_goes_through_an_upload_url_then_an_import_of_its_upload_id(client, parts, token) -> None:
    # Given an upload URL
    response = client.http.post(f"{IMPORT_PATH}/uploads", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.body
    upload = json.loads(response.body)
    assert upload["method"] == "POST" and upload["max_bytes"] == parts.settings.import_max_upload_bytes
    key = upload["fields"]["key"]
    assert key == f"uploads/{ACCOUNT}/{upload['upload_id']}.csv"

    # When a file is posted to it, and imported by its upload id
    parts.stores.import_files.files[key] = big_csv(3000).encode()
    body = {"import_id": "big-list", "upload_id": upload["upload_id"]}
    response = client.http.post(
        IMPORT_PATH,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=json.dumps(body),
    )
    assert response.status_code == 202, response.body
    assert json.loads(response.body)["rows"] is None  # counted by its first chunk
    run_queued_chunks(parts)

    # Then every row is imported
    job = counts(client, "big-list")
    assert (job["status"], job["origin"], job["rows"], job["counts"]["added"]) == ("done", "upload", 3000, 3000)


def test_an_import_of_an_upload_that_is_not_there_or_of_another_account_is_a_400(client, parts, token) -> None:
    other = put_account(client, "beta")
    response = client.http.post(f"{IMPORT_PATH}/uploads", headers={"Authorization": f"Bearer {token}"})
    upload = json.loads(response.body)
    parts.stores.import_files.files[upload["fields"]["key"]] = b"phone\n+14155550123\n"
    for account, credential in ((ACCOUNT, token), ("beta", other)):
        missing = "0" * 32 if account == ACCOUNT else upload["upload_id"]
        response = client.http.post(
            f"/v1/accounts/{account}/suppressions/import",
            headers={"Authorization": f"Bearer {credential}", "Content-Type": "application/json"},
            body=json.dumps({"import_id": "x", "upload_id": missing}),
        )
        assert response.status_code == 400 and "no upload" in response.body.decode()


def test_options_in_the_query_with_a_json_body_are_a_400(client, token) -> None:
    response = client.http.post(
        f"{IMPORT_PATH}?mode=reset",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=json.dumps({"import_id": "x", "upload_id": "0" * 32}),
    )
    assert response.status_code == 400 and "in the body" in response.body.decode()


def test_an_upload_with_too_many_rows_fails_before_changing_anything(client, parts, token, monkeypatch) -> None:
    monkeypatch.setattr(imports, "MAX_UPLOAD_ROWS", 10)
    upload = json.loads(client.http.post(f"{IMPORT_PATH}/uploads", headers={"Authorization": f"Bearer {token}"}).body)
    parts.stores.import_files.files[upload["fields"]["key"]] = big_csv(11).encode()
    client.http.post(
        IMPORT_PATH,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=json.dumps({"import_id": "many", "upload_id": upload["upload_id"]}),
    )
    run_queued_chunks(parts)
    job = counts(client, "many")
    assert job["status"] == "failed" and "split it" in job["error"] and job["processed"] == 0
    assert parts.stores.numbers.states == {}


def test_rejected_rows_come_a_page_at_a_time_with_cursors_signed_for_that_import(client, parts, token) -> None:
    post_csv(client, "phone\n" + "bad\n" * 250, token, import_id="bad")
    run_queued_chunks(parts)
    status, first = get(client, f"{IMPORT_PATH}/bad?limit=100")
    assert status == 200 and [row["line"] for row in first["rejected"]] == list(range(2, 102))
    status, second = get(client, f"{IMPORT_PATH}/bad?limit=100&cursor={first['next_cursor']}")
    assert [row["line"] for row in second["rejected"]] == list(range(102, 202))
    status, last = get(client, f"{IMPORT_PATH}/bad?limit=100&cursor={second['next_cursor']}")
    assert len(last["rejected"]) == 50 and last["next_cursor"] is None
    # A cursor of another import, or a forged one, is refused
    post_csv(client, "phone\nbad\n", token, import_id="other")
    status, refused = get(client, f"{IMPORT_PATH}/other?cursor={first['next_cursor']}")
    assert status == 400 and refused["error"]["code"] == "invalid_cursor"


def test_an_unknown_import_is_a_404(client, token) -> None:
    status, body = get(client, f"{IMPORT_PATH}/nothing-here", token)
    assert status == 404 and body["error"]["code"] == "import_not_found"


# --- reading the file ------------------------------------------------------------------------------------------


def test_lines_are_read_across_windows_and_an_overlong_line_is_one_invalid_row(monkeypatch) -> None:
    monkeypatch.setattr(imports, "READ_WINDOW_BYTES", 7)
    data = b"phone\n+1415\r\n" + b"x" * (imports.MAX_LINE_BYTES + 10) + b"\n\nlast"
    read = lambda start, length: data[start : start + length]  # noqa: E731
    found = list(lines(read, 0, len(data), 1))
    assert [(line.number, line.data) for line in found] == [
        (1, b"phone"),
        (2, b"+1415\r"),
        (3, None),
        (4, b""),
        (5, b"last"),
    ]
    assert [line.end for line in found] == [
        6,
        13,
        13 + imports.MAX_LINE_BYTES + 11,
        13 + imports.MAX_LINE_BYTES + 12,
        len(data),
    ]


def test_the_header_may_have_a_bom_any_case_other_columns_and_quoted_names() -> None:
    columns, offset = read_header('\ufeffName,"Phone",Notes,SCOPE\r\nAna,+14155550123,,\r\n'.encode())
    assert (columns.phone, columns.notes, columns.scope) == (1, 2, 3)
    assert offset == len('\ufeffName,"Phone",Notes,SCOPE\r\n'.encode())


def test_blank_lines_and_empty_rows_are_no_rows_and_quoted_cells_are_read(client, parts, token) -> None:
    csv = 'name,phone,notes\r\n\r\n,,\r\n"Doe, Ana","+1 415 555 0123","said ""stop"" at the desk"\r\n'
    response = post_csv(client, csv, token, import_id="quoted")
    assert json.loads(response.body)["rows"] == 1
    run_queued_chunks(parts)
    (record,) = parts.stores.history.history(ACCOUNT, "+14155550123")
    assert record.event.notes == 'import quoted, line 4: said "stop" at the desk'


def test_unreadable_rows_are_invalid_with_their_line_and_reason(client, parts, token) -> None:
    csv = (
        f'phone,scope,notes\n,all,\n+14155550123,everyone,\n"+14155550124,all\n+14155550125,all,{"n" * 501}\n12,all,\n'
    )
    post_csv(client, csv, token, import_id="bad-rows")
    run_queued_chunks(parts)
    reasons = {row["line"]: row["reason"] for row in all_rejected(client, "bad-rows")}
    assert set(reasons) == {2, 3, 4, 5, 6}
    assert "empty" in reasons[2]
    assert "scope must be" in reasons[3]
    assert "not a CSV line" in reasons[4]
    assert "notes are longer than 500" in reasons[5]
    assert "phone number" in reasons[6]


def test_a_rejected_row_keeps_its_input_short() -> None:
    row = imports.parse_line(
        imports.Line(2, 8, ("9" * 200).encode()), imports.Columns(phone=0), "US", ImportMode.OPT_OUT
    )
    assert isinstance(row, RejectedRow) and len(row.input) == imports.MAX_INPUT_LENGTH
