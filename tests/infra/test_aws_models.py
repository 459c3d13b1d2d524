"""botocore's data as the bundle carries it, trimmed (infra/aws_models.py): the code calls nothing the trimmed models
leave out, a client of the trimmed data sends and reads what a client of botocore's own sends and reads, and every
client the service builds finds its endpoint, signing name and region as before."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.loaders import Loader

from chalicelib.adapters.service_models import (
    CLIENT_SERVICES,
    TRIMMED_OPERATIONS,
    VERSION_FILE,
    readable,
    use_service_loader,
)
from infra import aws_models

CHALICELIB = Path(__file__).resolve().parents[2] / "chalicelib"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/optout-send"
TABLE = "optout"
#: Headers that differ from one request to the next: the signature, its date, the SDK's id of the call.
UNIQUE_HEADERS = ("authorization", "x-amz-date", "amz-sdk-invocation-id")
KEY = {"pk": {"S": "NUMBER#acme#+14155550123"}, "sk": {"S": "STATE"}}

#: One call of each operation kept, as the adapters make them.
CALLS: dict[str, dict[str, dict[str, Any]]] = {
    "dynamodb": {
        "GetItem": {"TableName": TABLE, "Key": KEY, "ConsistentRead": True},
        "BatchGetItem": {"RequestItems": {TABLE: {"Keys": [KEY], "ConsistentRead": True}}},
        "PutItem": {
            "TableName": TABLE,
            "Item": {**KEY, "doc": {"S": "{}"}, "version": {"N": "1"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        },
        "Query": {
            "TableName": TABLE,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk AND begins_with(gsi1sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": "CAMPAIGN#acme#spring#3"}, ":prefix": {"S": "sent#"}},
            "ExclusiveStartKey": KEY,
            "Limit": 25,
            "ScanIndexForward": False,
        },
        "TransactWriteItems": {
            "TransactItems": [
                {"Put": {"TableName": TABLE, "Item": KEY, "ConditionExpression": "attribute_not_exists(pk)"}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": KEY,
                        "UpdateExpression": "ADD #n :one",
                        "ExpressionAttributeNames": {"#n": "opt_outs"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ],
            "ReturnConsumedCapacity": "TOTAL",
        },
        "UpdateItem": {
            "TableName": TABLE,
            "Key": KEY,
            "UpdateExpression": "REMOVE gsi2pk, gsi2sk",
            "ConditionExpression": "attribute_exists(pk)",
            "ReturnValues": "ALL_NEW",
        },
    },
    "ssm": {
        "GetParameter": {"Name": "/optout/dev/accounts/acme/twilio/auth_token", "WithDecryption": True},
        "PutParameter": {
            "Name": "/optout/dev/accounts/acme/twilio/auth_token",
            "Value": "secret",
            "Type": "SecureString",
            "Overwrite": True,
        },
    },
    "sqs": {
        "SendMessage": {"QueueUrl": QUEUE, "MessageBody": '{"job": 1}'},
        "SendMessageBatch": {"QueueUrl": QUEUE, "Entries": [{"Id": "0", "MessageBody": "{}"}]},
        "ChangeMessageVisibility": {"QueueUrl": QUEUE, "ReceiptHandle": "handle", "VisibilityTimeout": 30},
    },
}

#: An answer for each service, as its protocol sends it, with what the adapters read: an item, a batch's failures, a
#: parameter; and an error each, with the fields the adapters read of it.
ANSWERS = {
    "dynamodb": (
        b'{"Item": {"pk": {"S": "a"}, "version": {"N": "3"}}, "Attributes": {"n": {"N": "1"}}, '
        b'"Responses": {"optout": [{"pk": {"S": "a"}}]}, "UnprocessedKeys": {}, "Items": [], "Count": 0, '
        b'"LastEvaluatedKey": {"pk": {"S": "b"}}}'
    ),
    "ssm": b'{"Parameter": {"Name": "/optout/dev/x", "Type": "SecureString", "Value": "s3cret", "Version": 2}}',
    "sqs": (
        b'{"MessageId": "m-1", "MD5OfMessageBody": "abc", "Successful": [{"Id": "1", "MessageId": "m-2", '
        b'"MD5OfMessageBody": "abc"}], "Failed": [{"Id": "0", "SenderFault": false, "Code": "InternalError"}]}'
    ),
}
ERRORS = {
    "dynamodb": (
        b'{"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException", "Message": "cancelled", '
        b'"CancellationReasons": [{"Code": "ConditionalCheckFailed"}, {"Code": "None"}]}'
    ),
    "ssm": b'{"__type": "ParameterNotFound", "message": "no such parameter"}',
    "sqs": b'{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "no queue"}',
}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


def _answer(status: int, body: bytes):
    def answer(request, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body))

    return answer


@pytest.fixture(scope="module")
def trimmed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle's trimmed data, written where the bundle has it."""
    root = tmp_path_factory.mktemp("task")
    for name, data in aws_models.trimmed_files().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root / aws_models.FOLDER


@functools.cache
def _session(bundled: Path) -> botocore.session.Session:
    """One session per data path: its loader reads each file once for all the clients built from it."""
    session = botocore.session.Session()
    use_service_loader(session, bundled=bundled)
    return session


def _client(service: str, bundled: Path, region: str = "us-east-1"):
    return _session(bundled).create_client(
        service, region_name=region, aws_access_key_id="x", aws_secret_access_key="y"
    )


def _sent(client, operation: str, params: dict[str, Any], status: int, body: bytes) -> tuple[dict, Any]:
    """What `client` sends for the call (UNIQUE_HEADERS aside), and what it makes of the answer."""
    sent: dict[str, Any] = {}

    def capture(request, **_: Any) -> None:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in UNIQUE_HEADERS}
        body = json.loads(request.body)
        if "ClientRequestToken" in body:  # botocore makes one up for each call (TransactWriteItems' idempotency)
            body["ClientRequestToken"] = "made up"
        sent.update(method=request.method, url=request.url, headers=headers, body=body)

    client.meta.events.register("before-send", capture)
    client.meta.events.register("before-send", _answer(status, body))
    try:
        read: Any = getattr(client, xform_name(operation))(**params)
        read.pop("ResponseMetadata")
    except ClientError as error:
        read = {k: v for k, v in error.response.items() if k != "ResponseMetadata"}
    return sent, read


def test_the_code_calls_every_operation_kept_of_a_trimmed_service_and_no_other() -> None:
    # A call the models leave out would fail in the deployed functions only (the source tree reads botocore's own
    # models): an adapter that starts calling a new operation of these services must add it to TRIMMED_OPERATIONS.
    sources = [path.read_text() for path in CHALICELIB.rglob("*.py")]
    for service, kept in TRIMMED_OPERATIONS.items():
        everything = Loader().load_service_model(service, "service-2")["operations"]
        called = {
            operation
            for operation in everything
            if any(re.search(rf"""\.{xform_name(operation)}\(|["']{xform_name(operation)}["']""", s) for s in sources)
        }
        assert called == set(kept), service


@pytest.mark.parametrize(
    ("service", "operation"), [(service, operation) for service, calls in CALLS.items() for operation in calls]
)
def test_a_client_of_the_trimmed_model_sends_and_reads_what_botocores_own_does(
    trimmed: Path, service: str, operation: str
) -> None:
    ours, botocores = _client(service, trimmed), _client(service, trimmed.parent / "none")
    assert ours.meta.service_model.operation_names == sorted(TRIMMED_OPERATIONS[service])  # the trimmed model
    assert len(botocores.meta.service_model.operation_names) > len(TRIMMED_OPERATIONS[service])
    params = CALLS[service][operation]
    for status, body in ((200, ANSWERS[service]), (400, ERRORS[service])):
        assert _sent(ours, operation, params, status, body) == _sent(botocores, operation, params, status, body)


def test_every_operation_kept_is_called_above() -> None:
    assert {service: sorted(calls) for service, calls in CALLS.items()} == {
        service: sorted(kept) for service, kept in TRIMMED_OPERATIONS.items()
    }


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1"])
@pytest.mark.parametrize("service", CLIENT_SERVICES)
def test_every_client_the_service_builds_finds_its_endpoint_and_signer_with_the_trimmed_endpoints(
    trimmed: Path, service: str, region: str
) -> None:
    def seen(bundled: Path) -> tuple:
        client = _client(service, bundled, region)
        signer = client._request_signer
        return (client.meta.endpoint_url, client.meta.region_name, signer.signing_name, signer.region_name)

    assert seen(trimmed) == seen(trimmed.parent / "none")


def test_the_trimmed_data_keeps_only_the_client_services_endpoints_and_is_small(trimmed: Path) -> None:
    files = {path.relative_to(trimmed).as_posix(): path.stat().st_size for path in trimmed.rglob("*") if path.is_file()}
    assert set(files) == {
        VERSION_FILE,
        "endpoints.json",
        *(f"{s}/{Loader().determine_latest_version(s, 'service-2')}/service-2.json" for s in TRIMMED_OPERATIONS),
    }
    assert sum(files.values()) < 200_000  # from about 5 MB of JSON


def test_a_model_trimmed_to_an_operation_it_does_not_have_is_refused() -> None:
    model = Loader().load_service_model("sqs", "service-2")
    with pytest.raises(ValueError, match="SQS has no operation Publish"):
        aws_models.trim_model(model, ("SendMessage", "Publish"))


def test_a_member_called_documentation_is_kept_and_only_documentation_strings_are_dropped() -> None:
    model = {
        "metadata": {"serviceId": "X"},
        "documentation": "the service",
        "operations": {"Do": {"name": "Do", "input": {"shape": "In"}, "documentation": "does"}},
        "shapes": {
            "In": {"type": "structure", "members": {"documentation": {"shape": "S", "documentation": "a member"}}},
            "S": {"type": "string", "documentation": "a string"},
            "Unused": {"type": "string"},
        },
    }
    assert aws_models.trim_model(model, ("Do",)) == {
        "metadata": {"serviceId": "X"},
        "operations": {"Do": {"name": "Do", "input": {"shape": "In"}}},
        "shapes": {"In": {"type": "structure", "members": {"documentation": {"shape": "S"}}}, "S": {"type": "string"}},
    }


@pytest.mark.parametrize(
    ("written", "used"), [("0.0.1", True), (botocore.__version__, True), ("999.0.0", False), (None, False)]
)
def test_the_trimmed_data_is_used_only_by_a_botocore_at_least_as_new_as_the_one_it_came_from(
    tmp_path: Path, written: str | None, used: bool
) -> None:
    if written is not None:
        (tmp_path / VERSION_FILE).write_text(written)
    assert readable(tmp_path) is used
