"""Outbox: the same cases on the fake and on DynamoDB (jobs are stored by NumberStore.commit)."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.models import EventRecord
from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, PHONE, T0, commit, job_of, opt_out


def test_a_commit_with_a_job_makes_it_pending(stores: Stores) -> None:
    event = opt_out(PHONE, "twilio:SM1")
    commit(stores, event, with_job=True)
    assert stores.outbox.pending_jobs(10) == [job_of(stores.history.get_event(ACCOUNT, PHONE, "twilio:SM1"))]


def test_a_commit_without_a_job_leaves_the_outbox_empty(stores: Stores) -> None:
    commit(stores, opt_out(PHONE, "twilio:SM1"))
    assert stores.outbox.pending_jobs(10) == []


def test_a_queued_job_is_no_longer_pending_and_its_event_stays(stores: Stores) -> None:
    # Given two pending jobs
    commit(stores, opt_out(PHONE, "e-1"), with_job=True)
    commit(stores, opt_out("+14155550124", "e-2"), with_job=True)
    first, second = stores.outbox.pending_jobs(10)
    # When the first is queued (twice: a retry of the flush)
    stores.outbox.job_queued(first)
    stores.outbox.job_queued(first)
    # Then only the second is pending, and the first's event is still in the history
    assert stores.outbox.pending_jobs(10) == [second]
    assert [r.event.event_id for r in stores.history.history(ACCOUNT, first.phone)] == [first.event_id]


def test_pending_jobs_come_oldest_first_and_at_most_limit(stores: Stores) -> None:
    # Given jobs committed in another order than their events were received
    for minutes, phone in ((2, "+14155550102"), (0, "+14155550100"), (1, "+14155550101")):
        commit(stores, opt_out(phone, f"e-{phone}", at=T0 + timedelta(minutes=minutes)), with_job=True)
    # Then they are pending oldest first
    assert [job.phone for job in stores.outbox.pending_jobs(10)] == ["+14155550100", "+14155550101", "+14155550102"]
    assert [job.phone for job in stores.outbox.pending_jobs(2)] == ["+14155550100", "+14155550101"]


def test_queueing_a_job_whose_event_is_not_stored_changes_nothing(stores: Stores) -> None:
    # Given a job for an event that was never committed
    state, _ = stores.numbers.load(ACCOUNT, PHONE)
    record = EventRecord(event=opt_out(PHONE, "never-stored"), outcome="applied")
    # When it is marked queued
    stores.outbox.job_queued(job_of(record))
    # Then the number has no event, and the event is not taken for a recorded one
    assert stores.history.history(ACCOUNT, PHONE) == []
    assert stores.numbers.load(ACCOUNT, PHONE, "never-stored") == (state, False)


def test_every_pending_job_is_swept_in_the_end_whichever_partition_holds_it(stores: Stores) -> None:
    # Given 40 pending jobs, more than one sweep takes
    for n in range(40):
        commit(stores, opt_out(f"+141555501{n:02d}", f"e-{n}", at=T0 + timedelta(seconds=n)), with_job=True)
    # When sweeps of 7 take what is pending and queue it, until nothing is
    swept: list[str] = []
    while pending := stores.outbox.pending_jobs(7):
        assert len(pending) <= 7
        for job in pending:
            swept.append(job.event_id or "")
            stores.outbox.job_queued(job)
    # Then each job was swept, once
    assert sorted(swept) == sorted(f"e-{n}" for n in range(40))
