"""Which events email someone (DESIGN "Email alerts"): every opt-out and opt-in, and every reply.

The job for an opt-out or opt-in is stored with its event in one write (an outbox), so there is
no opt-out without its email and no email without its opt-out; it is then queued, and a job
whose queueing failed stays pending until `flush_outbox` queues it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from chalicelib.domain.errors import MailRejected, MailRetry
from chalicelib.domain.models import Account, Action, EventRecord, InboundMessage, NotificationJob, Source
from chalicelib.domain.notifications import NotificationKind, NotificationValues, build_email, valid_email
from chalicelib.domain.ports import Mailer, Outbox, OutboxJob, SendQueue, Stores


def job_for(record: EventRecord) -> NotificationJob | None:
    """The email job an applied event calls for: an opt-out (not a bounce) or a contact's opt-in."""
    if record.outcome != "applied":
        return None
    event = record.event
    topic: Literal["opt_out", "opt_in"]
    if event.action is Action.OPT_OUT:
        changes = [c for c in record.changes if c.change == "suppressed" and c.source is not Source.BOUNCE]
        topic = "opt_out"
    elif event.action is Action.OPT_IN:
        changes = [c for c in record.changes if c.change == "lifted" and c.source is not Source.BOUNCE]
        topic = "opt_in"
    else:
        return None
    if not changes:
        return None
    return NotificationJob(
        job_id=f"{topic}:{event.event_id}",
        event_id=event.event_id,
        account_id=event.account_id,
        phone=event.phone,
        topic=topic,
        source=changes[0].source,
        scopes=tuple(c.scope for c in changes),
        occurred_at=event.occurred_at,
        message=event.message,
    )


def reply_job(message: InboundMessage) -> NotificationJob:
    """The reply alert for an inbound message that is not a keyword."""
    return NotificationJob(
        job_id=f"reply:{message.carrier}:{message.message_id}",
        account_id=message.account_id,
        phone=message.from_phone,
        topic="reply",
        occurred_at=message.occurred_at,
        message=message.body,
        message_id=message.message_id,
    )


def dispatch(outbox: Outbox, queue: SendQueue, *jobs: OutboxJob) -> bool:
    """Queue the jobs of one event (its email job, its change events); once all are queued, the event leaves the
    outbox. False (and still pending, all of them) when the queue failed: a later flush queues them all again, and
    each consumer handles a job delivered twice once."""
    return bool(dispatch_events(outbox, queue, [jobs]))


def dispatch_events(
    outbox: Outbox, queue: SendQueue, events: Sequence[Sequence[OutboxJob]]
) -> list[Sequence[OutboxJob]]:
    """`dispatch` for several events' jobs at once (one queue call, not one per event): the events all of whose jobs
    were queued, each then out of the outbox. The others stay pending, all their jobs."""
    refused = queue.enqueue_jobs([job for jobs in events for job in jobs])
    went = [jobs for jobs in events if not any(job.job_id in refused for job in jobs)]
    for jobs in went:
        if jobs and jobs[0].event_id is not None:
            outbox.job_queued(jobs[0])
    return went


def flush_outbox(outbox: Outbox, queue: SendQueue, limit: int = 100) -> int:
    """Queue the jobs whose queueing failed after their event was stored; returns how many went."""
    return _sweep(outbox, queue, limit)[0]


def drain_outbox(outbox: Outbox, queue: SendQueue, more_time: Callable[[], bool], limit: int = 100) -> int:
    """Sweep after sweep of up to `limit` events while each found a full page and queued all of it, and `more_time()`
    says there is time for another: a backlog (the queue was down during a burst of opt-outs or an import) goes in
    one run, not `limit` events a run. Returns how many jobs went."""
    queued = 0
    while True:
        jobs, full = _sweep(outbox, queue, limit)
        queued += jobs
        if not full or not more_time():
            return queued


def _sweep(outbox: Outbox, queue: SendQueue, limit: int) -> tuple[int, bool]:
    """Queue up to `limit` events' jobs: how many jobs went, and whether the page was full and all of it went."""
    by_event: dict[tuple[str, str, str | None], list[OutboxJob]] = defaultdict(list)
    for job in outbox.pending_jobs(limit):
        by_event[(job.account_id, job.phone, job.event_id)].append(job)
    went = dispatch_events(outbox, queue, list(by_event.values()))
    return sum(map(len, went)), len(by_event) >= limit and len(went) == len(by_event)


class UndeliverableJob(Exception):
    """An alert email was refused for good (bad address, unverified sender); the job fails visibly."""


@dataclass(frozen=True)
class Delivery:
    """What delivering one job did: who got an email, and why anyone who could have did not."""

    sent: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


def deliver(
    job: NotificationJob,
    account: Account,
    stores: Stores,
    mailer: Mailer,
    *,
    default_sender: str | None,
    api_base: str | None,
    now: datetime,
) -> Delivery:
    """Email everyone the job concerns, once each even when SQS delivers the job again.

    The user who last texted the number gets every kind; the contact gets their opt-out
    confirmation when a valid address is known; the account's compliance address gets opt-outs
    and opt-ins. Raises MailRetry (throttled: the job comes back later) or UndeliverableJob.
    """
    contact = stores.numbers.contact(account.account_id, job.phone)
    email_log = stores.emails
    recipients: list[tuple[NotificationKind, str]] = []
    skipped: list[str] = []
    if contact.last_user_email and valid_email(contact.last_user_email):
        recipients.append((job.topic, contact.last_user_email))
    elif contact.last_user_email:
        skipped.append(f"the sender user's address {contact.last_user_email!r} is not a valid email address")
    if job.topic == "opt_out" and contact.contact_email:
        if valid_email(contact.contact_email):
            recipients.append(("opt_out_contact", contact.contact_email))
        else:
            skipped.append(f"the contact's address {contact.contact_email!r} is not a valid email address")
    if job.topic != "reply" and account.compliance_email:
        recipients.append((job.topic, account.compliance_email))
    if not recipients:
        return Delivery(skipped=(*skipped, "nobody to tell: no sender user, contact or compliance address"))
    sender = account.email_sender or default_sender
    if not sender:
        raise UndeliverableJob(f"account {account.account_id} has no email_sender to send alerts from")
    values = NotificationValues(
        account_id=account.account_id,
        account_name=account.name,
        phone=job.phone,
        when=job.occurred_at,
        source=job.source.value if job.source else None,
        scopes=job.scopes,
        message=job.message,
        message_id=job.message_id,
        api_base=api_base,
    )
    sent: list[str] = []
    refused: list[str] = []
    for kind, address in recipients:
        if not email_log.claim_email(job.job_id, account.account_id, address, now):
            continue  # sent when SQS delivered this job before
        email = build_email(kind, account.email_templates, values, to=address, sender=sender)
        try:
            message_id = mailer.send(email)
        except MailRetry as error:
            email_log.email_done(job.job_id, account.account_id, address, "retrying", str(error))
            raise
        except MailRejected as error:
            email_log.email_done(job.job_id, account.account_id, address, "failed", str(error))
            refused.append(f"{address}: {error}")
            continue
        email_log.email_done(job.job_id, account.account_id, address, "sent", message_id)
        sent.append(address)
    if refused:
        raise UndeliverableJob("; ".join(refused))
    return Delivery(sent=tuple(sent), skipped=tuple(skipped))
