"""The send queue's change-event records: a ChangeEventJob (`kind: change_events`) is fanned out to the event bus
and to one delivery per endpoint; a DeliveryJob (`kind: change_event_delivery`) is one signed POST to one endpoint.

`workers/send.py` hands each such record here (`parse` in its plan, `handle` per record). A record that must come
again raises after setting when: a fan-out that failed (bus, store or queue down) backs off like any retried
record; a delivery that failed comes back on the delivery schedule (`change_events.RETRY_SCHEDULE`, a day in all);
a delivery that failed for good raises until the queue dead-letters it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, TypeAdapter

from chalicelib.domain import change_events
from chalicelib.domain.change_events import ChangeEventJob, DeliveryJob
from chalicelib.domain.errors import StoreUnavailable
from chalicelib.observability import logger
from chalicelib.wiring import container
from chalicelib.workers.backoff import backoff_seconds

#: What `kind` of queue record this module handles.
KINDS = change_events.KINDS
#: A delivery failed for good comes back at once, to be dead-lettered by the queue on its next receive.
DEAD_LETTER_DELAY_SECONDS = 1

ChangeJob = ChangeEventJob | DeliveryJob
#: Built on first use, as the models are (`defer_build`): the API function never reads a change job.
_JOB: TypeAdapter[ChangeJob] = TypeAdapter(ChangeJob, config=ConfigDict(defer_build=True))


class RetryChangeEvents(Exception):
    """The record failed for now; it comes back when the queue was told (its visibility)."""


class DeadLetter(Exception):
    """The delivery failed for good; the record fails on every receive until the queue dead-letters it."""


def parse(raw: Any) -> ChangeJob:
    """A queue record's body (parsed JSON) as its job; pydantic's ValidationError when it is not one."""
    return _JOB.validate_python(raw)


def handle(job: ChangeJob, *, receipt_handle: str, receives: int) -> str:
    """Handle one record; returns what it did, or raises (after setting when the record comes back)."""
    if isinstance(job, ChangeEventJob):
        return _fan_out(job, receipt_handle, receives)
    return _deliver(job, receipt_handle, receives)


def _fan_out(job: ChangeEventJob, receipt_handle: str, receives: int) -> str:
    parts = container()
    try:
        done = change_events.fan_out(
            job,
            endpoints=parts.stores.endpoints,
            publisher=parts.event_publisher,
            queue=parts.delivery_queue,
            now=parts.clock.now(),
        )
    except StoreUnavailable as error:
        parts.queue.delay(receipt_handle, backoff_seconds(receives))
        logger.warning("change events not fanned out", extra={"job_id": job.job_id, "reason": error.message})
        raise RetryChangeEvents(error.message) from error
    logger.info(
        "change events fanned out",
        extra={"job_id": job.job_id, "published": done.published, "deliveries": done.queued},
    )
    return "fanned_out"


def _deliver(job: DeliveryJob, receipt_handle: str, receives: int) -> str:
    parts = container()
    try:
        attempt = change_events.deliver(
            job,
            endpoints=parts.stores.endpoints,
            secrets=parts.secrets,
            sender=parts.webhook_sender,
            now=parts.clock.now(),
            last_receive=receives >= parts.settings.send_max_receives,
        )
    except StoreUnavailable as error:
        parts.queue.delay(receipt_handle, backoff_seconds(receives))
        raise RetryChangeEvents(error.message) from error
    extra = {"endpoint_id": job.endpoint_id, "event_id": job.event_id, "detail": attempt.detail}
    if attempt.outcome == "retry":
        parts.queue.delay(receipt_handle, attempt.delay)
        logger.warning("change event not delivered; retrying", extra={**extra, "delay": attempt.delay})
        raise RetryChangeEvents(attempt.detail)
    if attempt.outcome == "dead_letter":
        parts.queue.delay(receipt_handle, DEAD_LETTER_DELAY_SECONDS)
        logger.error("change event delivery failed for good", extra=extra)
        raise DeadLetter(attempt.detail)
    logger.info("change event delivery handled", extra={**extra, "outcome": attempt.outcome})
    return attempt.outcome
