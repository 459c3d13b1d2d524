"""The send queue's handler: Powertools batch processing with partial batch failure reporting.

Before any record is handled, the whole batch's recipients are read at once (one BatchGetItem
per 100 distinct numbers of an account), and so are the outbound log's records of its send requests
(one more per 100 requests); each record is then sent or skipped by the send path.
Failed records go back to the queue: a retryable one after a backoff, a request that can never
succeed (bad JSON, bad fields, unknown account) until SQS moves it to the dead-letter queue.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from chalicelib import cold_start
from chalicelib.domain import alerts, sending
from chalicelib.domain.errors import InvalidRequest, MailRetry, StoreUnavailable
from chalicelib.domain.imports import ImportTask, run_chunk
from chalicelib.domain.models import Account, NotificationJob, NumberState, OutboundRecord, SendRequest
from chalicelib.observability import count, counts_added_up, logger
from chalicelib.wiring import Container, container
from chalicelib.workers import change_events
from chalicelib.workers.backoff import backoff_seconds

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

#: Seconds kept free at the end of an invocation beyond one provider call (recording the outcome, the counters).
TIME_MARGIN_SECONDS = 3.0


class UnsendableRecord(Exception):
    """A record that can never be sent as it is; it fails until SQS dead-letters it."""


@dataclass
class BatchPlan:
    """The batch parsed, with each account and recipient state read once."""

    requests: dict[str, SendRequest] = field(default_factory=dict)
    jobs: dict[str, NotificationJob] = field(default_factory=dict)
    imports: dict[str, ImportTask] = field(default_factory=dict)
    change_jobs: dict[str, change_events.ChangeJob] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    states: dict[tuple[str, str], NumberState] = field(default_factory=dict)
    #: The outbound log's record of each send request that has one, by (account, request id).
    recorded: dict[tuple[str, str], OutboundRecord] = field(default_factory=dict)


def plan_batch(records: list[dict[str, Any]], parts: Container) -> BatchPlan:
    plan = BatchPlan()
    for record in records:
        message_id = record["messageId"]
        try:
            raw = json.loads(record.get("body") or "")
        except ValueError:
            plan.problems[message_id] = "the body is not JSON"
            continue
        account_id = raw.get("account_id") if isinstance(raw, dict) else None
        if not isinstance(account_id, str):
            plan.problems[message_id] = "the body is not a send request with an account_id"
            continue
        if account_id not in plan.accounts:
            account = parts.account(account_id)
            if account is None:
                plan.problems[message_id] = f"no account {account_id}"
                continue
            plan.accounts[account_id] = account
        try:
            if raw.get("kind") == "notification":
                plan.jobs[message_id] = NotificationJob.model_validate(raw)
                continue
            if raw.get("kind") == "import":
                plan.imports[message_id] = ImportTask.model_validate(raw)
                continue
            if raw.get("kind") in change_events.KINDS:
                plan.change_jobs[message_id] = change_events.parse(raw)
                continue
            plan.requests[message_id] = SendRequest.model_validate(
                raw, context={"region": plan.accounts[account_id].default_region}
            )
        except ValidationError as error:
            plan.problems[message_id] = _describe(error)
        except InvalidRequest as error:  # an invalid phone number, from the `to` validator
            plan.problems[message_id] = f"{error.code}: {error.message}"
    recipients: dict[str, list[str]] = defaultdict(list)
    request_ids: dict[str, list[str]] = defaultdict(list)
    for request in plan.requests.values():
        recipients[request.account_id].append(request.to)
        request_ids[request.account_id].append(request.request_id)
    for account_id, phones in recipients.items():
        for phone, state in parts.stores.numbers.load_many(account_id, phones).items():
            plan.states[(account_id, phone)] = state
        for request_id, recorded in parts.stores.outbound.get_many(account_id, request_ids[account_id]).items():
            plan.recorded[(account_id, request_id)] = recorded
    return plan


def import_chunk(parts: Container, plan: BatchPlan, task: ImportTask, seconds_left: Callable[[], float] | None) -> str:
    """One chunk of an import (`chalicelib/domain/imports.py`): it stops in time and queues the next chunk itself."""
    job = run_chunk(parts.stores, parts.queue, plan.accounts[task.account_id], task, parts.clock, seconds_left)
    if job is None:
        logger.info("import chunk left to another worker", extra={"import_id": task.import_id})
        return "import_skipped"
    logger.info(
        "import chunk handled",
        extra={"import_id": task.import_id, "status": job.status, "next_line": job.next_line, "rows": job.rows},
    )
    return f"import_{job.status}"


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or 'body'}: {item['msg']}"
        for item in error.errors(include_url=False, include_input=False)
    )


class OutOfTime(Exception):
    """Too little of the invocation is left to send one more text: the record goes back to the queue, unsent."""


#: Seconds a record may wait before it comes back when the batch ran out of time (not a backoff: nothing failed).
OUT_OF_TIME_DELAY_SECONDS = 1


def handle(event: dict[str, Any], seconds_left: Callable[[], float] | None = None) -> dict[str, Any]:
    """Handle one SQS batch; returns `{"batchItemFailures": [...]}` for the records to retry.

    `seconds_left` (the Lambda context's remaining time): a record is only started while one provider call (its
    timeout) and a margin still fit, so a slow carrier never makes the invocation time out mid-batch with texts
    sent but not recorded; the records not started go back to the queue at once.
    """
    # Imported here: the API function shares this module and should not pay for it at cold start.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    parts = container()
    records = event.get("Records", [])
    plan = plan_batch(records, parts)
    to_delay: list[tuple[str, int]] = []
    # Counted per batch, one counter write per campaign, once the batch's outcomes are stored.
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)

    def send_record(record: SQSRecord) -> str:
        if seconds_left is not None and seconds_left() < parts.settings.carrier_http_timeout + TIME_MARGIN_SECONDS:
            to_delay.append((record.receipt_handle, -1))
            raise OutOfTime(f"{record.message_id} left for the next invocation")
        if record.message_id in plan.problems:
            reason = plan.problems[record.message_id]
            logger.error("send request refused", extra={"message_id": record.message_id, "reason": reason})
            raise UnsendableRecord(reason)
        if record.message_id in plan.jobs:
            return email_job(plan.jobs[record.message_id], record)
        if record.message_id in plan.imports:
            return import_chunk(parts, plan, plan.imports[record.message_id], seconds_left)
        if record.message_id in plan.change_jobs:
            receives = int(record.attributes.approximate_receive_count)
            return change_events.handle(
                plan.change_jobs[record.message_id], receipt_handle=record.receipt_handle, receives=receives
            )
        request = plan.requests[record.message_id]
        account = plan.accounts[request.account_id]
        receives = int(record.attributes.approximate_receive_count)
        try:
            handled = sending.send(
                parts.send_deps,
                account,
                request,
                plan.states[(request.account_id, request.to)],
                last_attempt=receives >= parts.settings.send_max_receives,
                recorded=plan.recorded.get((request.account_id, request.request_id)),
            )
        except sending.RetryLater:
            to_delay.append((record.receipt_handle, receives))
            raise
        if handled.first_time and request.campaign_id:
            counts[(request.account_id, request.campaign_id)][handled.record.counter] += 1
        return handled.record.status

    def email_job(job: NotificationJob, record: SQSRecord) -> str:
        try:
            delivery = alerts.deliver(
                job,
                plan.accounts[job.account_id],
                parts.stores,
                parts.mailer,
                default_sender=parts.settings.email_sender,
                api_base=parts.settings.public_base_url,
                now=parts.clock.now(),
            )
        except MailRetry:
            to_delay.append((record.receipt_handle, int(record.attributes.approximate_receive_count)))
            raise
        except alerts.UndeliverableJob as error:
            logger.error("email job failed", extra={"job_id": job.job_id, "reason": str(error)})
            raise
        logger.info(
            "email job handled", extra={"job_id": job.job_id, "sent_to": delivery.sent, "skipped": delivery.skipped}
        )
        return "emailed"

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    with counts_added_up():  # the batch's metrics, one line per outcome
        response = process_partial_response(event=event, record_handler=send_record, processor=processor)
    for (account_id, campaign_id), campaign_counts in counts.items():
        _add_counts(parts, account_id, campaign_id, dict(campaign_counts))
    logger.info(
        "send batch handled",
        extra={
            "records": len(records),
            "failed": len(response.get("batchItemFailures", [])),
            "campaigns": {f"{a}/{c}": dict(n) for (a, c), n in counts.items()},
        },
    )
    for receipt_handle, receives in to_delay:
        if receives < 0:  # not tried: back soon
            parts.queue.delay(receipt_handle, OUT_OF_TIME_DELAY_SECONDS)
        else:
            parts.queue.delay(receipt_handle, backoff_seconds(receives))
    cold_start.end()  # what the first batch built lives as long as the function: out of the collector's way
    return dict(response)


def _add_counts(parts: Container, account_id: str, campaign_id: str, campaign_counts: dict[str, int]) -> None:
    """Add a batch's outcomes to its campaign's counters. A write that fails (after the client's retries) is logged
    as an error with the counts and counted as a metric, and the batch is not failed for it: every outcome is stored
    already, so a redelivery would find them all handled and count nothing; the error line has what to add."""
    try:
        parts.stores.outbound.count(account_id, campaign_id, campaign_counts)
    except StoreUnavailable as error:
        logger.error(
            "campaign counts not added",
            extra={
                "account_id": account_id,
                "campaign_id": campaign_id,
                "counts": campaign_counts,
                "cause": str(error),
            },
        )
        # One series for the whole service, so that one alarm (infra/stack.py) watches it; the line above names
        # the account and campaign.
        count("CampaignCountsNotAdded")
