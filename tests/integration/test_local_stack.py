"""The local stack itself: resources on the embedded endpoint, the queue worker, the local API's account setup."""

from __future__ import annotations

import json
import secrets
import socket
import time
from typing import Any

import boto3
import pytest
import requests

from chalicelib.adapters.dynamodb.table import GSI1, GSI2, GSI3
from tools.local_stack import HOST, DemoAccountError, Resources, create_demo_account, create_resources, start_aws
from tools.local_worker import LocalWorker, failed_message_ids


def sqs_client(resources: Resources) -> Any:
    return boto3.client("sqs", endpoint_url=resources.endpoint_url, region_name=resources.region)


def queue_counts(resources: Resources, queue_url: str | None = None) -> tuple[int, int]:
    """(visible, in flight) messages of the send queue, or of `queue_url`."""
    attributes = sqs_client(resources).get_queue_attributes(
        QueueUrl=queue_url or resources.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def enqueue(resources: Resources, *bodies: str) -> list[str]:
    """Send each body to the send queue; the SQS message ids, in order."""
    sqs = sqs_client(resources)
    return [sqs.send_message(QueueUrl=resources.queue_url, MessageBody=body)["MessageId"] for body in bodies]


class Recorder:
    """A send-function stand-in: keeps each event, answers with the failures it is told to report."""

    def __init__(self, fail_bodies: tuple[str, ...] = (), answer: Any = None, raises: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.fail_bodies = fail_bodies
        self.answer = answer
        self.raises = raises

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        if self.raises:
            raise RuntimeError("the send function fell over")
        if self.answer is not None:
            return self.answer
        failures = [r["messageId"] for r in event["Records"] if r["body"] in self.fail_bodies]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


def worker_for(resources: Resources, handler: Recorder, **options: Any) -> LocalWorker:
    options.setdefault("batching_window", 0.2)  # shorter than the app's 1 s: a batch is complete well before
    return LocalWorker(
        resources.queue_url,
        handler=handler,
        endpoint_url=resources.endpoint_url,
        region=resources.region,
        wait_seconds=1,
        **options,
    )


# --- resources -------------------------------------------------------------------------------


def test_create_resources_makes_the_table_with_its_indexes(resources: Resources) -> None:
    dynamodb = boto3.client("dynamodb", endpoint_url=resources.endpoint_url, region_name=resources.region)
    table = dynamodb.describe_table(TableName=resources.table_name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert sorted(index["IndexName"] for index in table["GlobalSecondaryIndexes"]) == [GSI1, GSI2, GSI3]


def test_create_resources_makes_the_send_queue_with_a_redrive_to_its_dead_letter_queue(resources: Resources) -> None:
    attributes = sqs_client(resources).get_queue_attributes(QueueUrl=resources.queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": resources.dlq_arn, "maxReceiveCount": 5}
    assert attributes["VisibilityTimeout"] == "180"
    assert resources.dlq_name == "optout-send-dlq" and resources.dlq_arn.endswith(":optout-send-dlq")


def test_create_resources_twice_keeps_what_exists(resources: Resources) -> None:
    enqueue(resources, "kept")
    again = create_resources(resources.endpoint_url)
    assert again == resources
    assert queue_counts(resources) == (1, 0)


def test_start_aws_on_a_taken_port_fails_at_once() -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        with pytest.raises(OSError, match="could not bind"):
            start_aws(taken.getsockname()[1])


# --- the queue worker ------------------------------------------------------------------------


def test_the_worker_hands_a_message_over_as_an_sqs_lambda_event_and_deletes_it(resources: Resources) -> None:
    # Given a message on the send queue
    sqs = sqs_client(resources)
    sent = sqs.send_message(
        QueueUrl=resources.queue_url,
        MessageBody='{"to": "+14155550123"}',
        MessageAttributes={"campaign": {"DataType": "String", "StringValue": "spring"}},
    )
    handler = Recorder()

    # When the worker runs one batch
    result = worker_for(resources, handler).run_once()

    # Then the handler got Lambda's SQS event shape, with the queue's own message id
    assert result is not None and result.deleted == [sent["MessageId"]] and result.failed == []
    [record] = handler.events[0]["Records"]
    assert record["messageId"] == sent["MessageId"]
    assert record["body"] == '{"to": "+14155550123"}'
    assert record["md5OfBody"] == sent["MD5OfMessageBody"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == resources.queue_arn
    assert record["awsRegion"] == resources.region
    assert record["receiptHandle"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= record["attributes"].keys()
    assert record["messageAttributes"]["campaign"]["stringValue"] == "spring"
    assert record["messageAttributes"]["campaign"]["dataType"] == "String"
    # with a Lambda-like context
    context = handler.contexts[0]
    assert context.function_name and context.aws_request_id and context.invoked_function_arn.startswith("arn:aws")
    assert 0 < context.get_remaining_time_in_millis() <= 60_000 and context.memory_limit_in_mb == 128
    # And the message is gone from the queue
    assert queue_counts(resources) == (0, 0)


def test_the_worker_gathers_several_receives_into_one_batch_of_unique_message_ids(resources: Resources) -> None:
    sent = enqueue(resources, *(f"message {n}" for n in range(25)))
    handler = Recorder()

    result = worker_for(resources, handler, batching_window=1.0).run_once()

    assert result is not None and len(handler.events) == 1
    message_ids = [record["messageId"] for record in handler.events[0]["Records"]]
    assert len(message_ids) == 25 and set(message_ids) == set(sent)
    assert queue_counts(resources) == (0, 0)


def test_the_worker_caps_a_batch_at_batch_size(resources: Resources) -> None:
    enqueue(resources, *(f"message {n}" for n in range(12)))
    handler = Recorder()

    result = worker_for(resources, handler, batch_size=5).run_once()

    assert result is not None and len(result.message_ids) == 5
    assert queue_counts(resources) == (7, 0)


def test_the_worker_leaves_the_records_the_handler_reports_failed(resources: Resources) -> None:
    # Given three messages, of which the handler fails the second
    first, second, third = enqueue(resources, "ok 1", "fails", "ok 2")
    handler = Recorder(fail_bodies=("fails",))
    worker = worker_for(resources, handler)

    # When the worker runs one batch
    result = worker.run_once()

    # Then the two others are deleted and the failed one stays, in flight until its visibility timeout
    assert result is not None
    assert sorted(result.deleted) == sorted([first, third]) and result.failed == [second]
    assert queue_counts(resources) == (0, 1)

    # And once visible again, it is delivered again (and counted: the DLQ takes it after 5 receives)
    failed_record = next(r for r in handler.events[0]["Records"] if r["messageId"] == second)
    sqs_client(resources).change_message_visibility(
        QueueUrl=resources.queue_url, ReceiptHandle=failed_record["receiptHandle"], VisibilityTimeout=0
    )
    handler.fail_bodies = ()
    retry = worker.run_once()
    assert retry is not None and retry.deleted == [second]
    assert handler.events[1]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert queue_counts(resources) == (0, 0)


def test_the_worker_deletes_nothing_when_the_handler_raises(resources: Resources) -> None:
    enqueue(resources, "one", "two")
    result = worker_for(resources, Recorder(raises=True)).run_once()
    assert result is not None and result.deleted == [] and len(result.failed) == 2
    assert result.error == "RuntimeError: the send function fell over"
    assert queue_counts(resources) == (0, 2)


def test_the_worker_keeps_the_whole_batch_when_the_response_names_an_unknown_record(resources: Resources) -> None:
    enqueue(resources, "one", "two")
    answer = {"batchItemFailures": [{"itemIdentifier": "not-a-message-of-this-batch"}]}
    result = worker_for(resources, Recorder(answer=answer)).run_once()
    assert result is not None and result.deleted == []
    assert queue_counts(resources) == (0, 2)


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
        ({"batchItemFailures": [{"id": "b"}]}, {"a", "b"}),
        ("not an object", {"a", "b"}),
    ],
)
def test_a_partial_batch_response_is_read_as_lambda_reads_it(response: Any, failed: set[str]) -> None:
    assert failed_message_ids(response, ["a", "b"]) == failed


def test_the_worker_runs_in_a_thread_until_stopped(resources: Resources) -> None:
    # Given a worker running in its thread
    handler = Recorder()
    worker = worker_for(resources, handler, batching_window=0.1).start()
    try:
        # When a message arrives
        [message_id] = enqueue(resources, "while running")

        # Then the worker delivers it and deletes it
        deadline = time.monotonic() + 15
        while not worker.results and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [result.deleted for result in worker.results] == [[message_id]]
    finally:
        worker.stop()
    assert not worker.alive


def test_the_default_handler_is_the_apps_send_function() -> None:
    import app

    worker = LocalWorker("http://127.0.0.1:1/000000000000/unused")  # no request until it runs
    assert worker.handler is app.handle_send_queue
    assert (worker.batch_size, worker.batching_window) == (100, 1.0)  # as app.py registers it


# --- the local API ---------------------------------------------------------------------------


def test_create_demo_account_returns_a_working_admin_token(local_api: Any) -> None:
    account_id = f"demo-{secrets.token_hex(4)}"

    demo = create_demo_account(local_api.url, local_api.operator_token, account_id=account_id)

    assert demo.account_id == account_id and demo.admin_token
    assert demo.twilio_account_sid.startswith("AC") and len(demo.twilio_account_sid) == 34
    assert len(demo.twilio_auth_token) == 32
    answer = requests.get(
        f"{local_api.url}/v1/accounts/{account_id}",
        headers={"Authorization": f"Bearer {demo.admin_token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["account"]["name"] == "Demo business"


def test_create_demo_account_fails_loudly_when_the_api_refuses(local_api: Any) -> None:
    with pytest.raises(DemoAccountError, match="answered 401"):
        create_demo_account(local_api.url, "not-the-operator-token", account_id=f"demo-{secrets.token_hex(4)}")
