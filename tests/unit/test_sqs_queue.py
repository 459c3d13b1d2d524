"""The send queue's SQS adapter: an event's jobs go in one SendMessageBatch, and a job SQS did not take is not taken."""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.exceptions import EndpointConnectionError

from chalicelib.adapters.sqs_queue import SqsSendQueue
from chalicelib.domain.models import NotificationJob

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/optout-send"


class FakeSqs:
    """SendMessageBatch, recorded; the entries whose Id is in `refuse` come back in `Failed`."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.batches: list[list[dict]] = []
        self.refuse = refuse

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803 (the SDK's names)
        assert QueueUrl == QUEUE
        self.batches.append(Entries)
        failed = [
            {"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in Entries if e["Id"] in self.refuse
        ]
        return {"Successful": [{"Id": e["Id"]} for e in Entries if e["Id"] not in self.refuse], "Failed": failed}


def job(n: int) -> NotificationJob:
    return NotificationJob(
        job_id=f"optout:event-{n}",
        account_id="acme",
        phone="+14155550123",
        topic="opt_out",
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


def test_an_events_jobs_go_in_one_call_and_eleven_in_two() -> None:
    sqs = FakeSqs()
    queue = SqsSendQueue(sqs, QUEUE)

    queue.enqueue_jobs([job(1), job(2)])
    queue.enqueue_jobs([job(n) for n in range(11)])

    assert [len(batch) for batch in sqs.batches] == [2, 10, 1]
    assert NotificationJob.model_validate_json(sqs.batches[0][1]["MessageBody"]) == job(2)


def test_a_job_sqs_did_not_take_is_named_with_why() -> None:
    # The outbox then keeps every job of that job's event pending and a flush queues them all again.
    queue = SqsSendQueue(FakeSqs(refuse=frozenset({"1"})), QUEUE)

    assert queue.enqueue_jobs([job(1), job(2)]) == {"optout:event-2": "InternalError"}


class DownAfter(FakeSqs):
    """SQS that takes `calls` SendMessageBatch calls, then fails every one."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803 (the SDK's names)
        if len(self.batches) == self.calls:
            self.batches.append(Entries)
            raise EndpointConnectionError(endpoint_url=QUEUE)
        return super().send_message_batch(QueueUrl=QueueUrl, Entries=Entries)


def test_a_call_that_fails_leaves_its_jobs_and_every_later_one_unqueued_and_tries_no_more() -> None:
    # Many events' jobs go together (an import's group, an outbox sweep): those of the batches before went.
    sqs = DownAfter(calls=1)
    queue = SqsSendQueue(sqs, QUEUE)

    refused = queue.enqueue_jobs([job(n) for n in range(25)])

    assert sorted(refused) == sorted(job(n).job_id for n in range(10, 25))
    assert "could not queue jobs" in refused["optout:event-10"]
    assert [len(batch) for batch in sqs.batches] == [10, 10]
