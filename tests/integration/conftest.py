"""The embedded AWS endpoint (moto server, in a thread of the test process) and the local API server.

- `aws` (session): the endpoint; `aws.url`, `aws.reset()`.
- `clean_aws` / `resources` (per test): the endpoint emptied, then the table and queues created afresh.
- `local_api` (session): `chalice local` in a subprocess against the same endpoint, with an operator token.

Tests that use `local_api` share its server and the endpoint with every other test: give each test its own
account id (a `clean_aws` in another test empties the endpoint, and re-creates the table and queues).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tools.local_stack import (
    ApiServer,
    AwsEndpoint,
    Resources,
    create_resources,
    service_environment,
    start_api,
    start_aws,
)


@pytest.fixture(scope="session")
def aws() -> Iterator[AwsEndpoint]:
    endpoint = start_aws()
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture
def clean_aws(aws: AwsEndpoint) -> Resources:
    """An empty endpoint with the table and queues (SQS and DynamoDB slow down as state grows)."""
    aws.reset()
    return create_resources(aws.url)


@pytest.fixture
def resources(clean_aws: Resources) -> Resources:
    return clean_aws


@dataclass(frozen=True)
class LocalApi:
    url: str
    operator_token: str
    env: dict[str, str]
    endpoint_url: str
    resources: Resources
    server: ApiServer


@pytest.fixture(scope="session")
def local_api(aws: AwsEndpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    """`chalice local` on a free port; its log is in the session's temporary directory."""
    resources = create_resources(aws.url)
    operator_token = secrets.token_urlsafe(24)
    # No secret caching in the server: a test may re-create an account id another test used.
    env = service_environment(aws.url, resources, operator_token, extra={"OPTOUT_SECRETS_MAX_AGE": "0"})
    log_path = tmp_path_factory.mktemp("local_api") / "chalice-local.log"
    server = start_api(env, log_path=log_path)
    try:
        yield LocalApi(server.url, operator_token, env, aws.url, resources, server)
    finally:
        server.stop()


def impatient_queue(sqs, name: str) -> tuple[str, str]:
    """(queue URL, dead-letter queue URL) of a queue that redelivers after a second and dead-letters after two
    receives: what the real queue does in minutes, in seconds."""
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    queue = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "1", "RedrivePolicy": redrive})
    return queue["QueueUrl"], dlq
