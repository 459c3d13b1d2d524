"""The import files' bucket in the synthesised stack (prod and dev): private, encrypted, TLS only, emptied by its
lifecycle, and granted to the API and the send function for exactly what chalicelib/adapters/s3_import_files.py
calls; and the import body's limit fits what API Gateway can hand a function."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.settings import Settings
from infra.stack import IMPORT_FILE_DAYS
from tests.infra.conftest import Synthesised, dump
from tests.infra.test_stack import API_FUNCTION, FUNCTIONS, SEND_FUNCTION, as_list, function, role_of, role_statements

pytestmark = pytest.mark.slow

#: Lambda takes at most 6 MB in a synchronous invocation's request, the API Gateway event around the body included.
LAMBDA_REQUEST_PAYLOAD_BYTES = 6 * 1024 * 1024


def bucket_id(synthesised: Synthesised) -> str:
    return synthesised.logical_id("AWS::S3::Bucket", "ImportBucket")


def bucket(synthesised: Synthesised) -> dict[str, Any]:
    return synthesised.template["Resources"][bucket_id(synthesised)]


def s3_grants(synthesised: Synthesised, function_id: str) -> dict[str, set[str]]:
    """Resource (as JSON) -> the s3 actions the function's role may call on it."""
    found: dict[str, set[str]] = {}
    for statement in role_statements(synthesised, role_of(synthesised, function_id)):
        actions = {action for action in as_list(statement["Action"]) if action.startswith("s3:")}
        if actions:
            assert statement["Effect"] == "Allow"
            for resource in as_list(statement["Resource"]):
                found.setdefault(dump(resource), set()).update(actions)
    return found


def objects(synthesised: Synthesised, prefix: str) -> str:
    return dump({"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id(synthesised), "Arn"]}, f"/{prefix}*"]]})


def test_the_import_bucket_is_private_and_encrypted_with_kms(stage: Synthesised) -> None:
    properties = bucket(stage)["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms"}
    assert rule["BucketKeyEnabled"] is True


def test_the_import_bucket_expires_every_file_after_a_week(stage: Synthesised) -> None:
    (rule,) = bucket(stage)["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert "Prefix" not in rule and "Filter" not in rule  # every file
    assert rule["ExpirationInDays"] == IMPORT_FILE_DAYS == 7
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_the_import_bucket_refuses_plain_http_and_grants_nobody_else(stage: Synthesised) -> None:
    policies = [
        policy["Properties"]
        for policy in stage.resources("AWS::S3::BucketPolicy").values()
        if policy["Properties"]["Bucket"] == {"Ref": bucket_id(stage)}
    ]
    (policy,) = policies
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_import_bucket_is_transient_in_every_stage(stage: Synthesised) -> None:
    assert bucket(stage)["DeletionPolicy"] == "Delete"
    assert "BucketName" not in bucket(stage)["Properties"]  # CloudFormation names it: bucket names are global


def test_every_function_is_told_the_import_bucket(stage: Synthesised) -> None:
    for logical_id in FUNCTIONS:
        variables = function(stage, logical_id)["Environment"]["Variables"]
        assert variables["OPTOUT_IMPORT_BUCKET"] == {"Ref": bucket_id(stage)}
    assert "import_bucket" in Settings.model_fields


def test_the_api_writes_bodies_and_uploads_reads_only_uploads_and_lists_the_bucket(stage: Synthesised) -> None:
    # A body kept for its job (PutObject on imports/), an upload URL (a presigned POST is its signer's PutObject on
    # uploads/), an upload's header read before the job is created (GetObject on uploads/).
    assert s3_grants(stage, API_FUNCTION) == {
        objects(stage, "imports/"): {"s3:PutObject"},
        objects(stage, "uploads/"): {"s3:PutObject", "s3:GetObject"},
        dump({"Fn::GetAtt": [bucket_id(stage), "Arn"]}): {"s3:ListBucket"},
    }


def test_the_send_function_reads_import_files_and_writes_none(stage: Synthesised) -> None:
    assert s3_grants(stage, SEND_FUNCTION) == {
        objects(stage, "imports/"): {"s3:GetObject"},
        objects(stage, "uploads/"): {"s3:GetObject"},
        dump({"Fn::GetAtt": [bucket_id(stage), "Arn"]}): {"s3:ListBucket"},
    }


def test_no_other_function_may_touch_the_import_files(stage: Synthesised) -> None:
    for logical_id in set(FUNCTIONS) - {API_FUNCTION, SEND_FUNCTION}:
        assert s3_grants(stage, logical_id) == {}, logical_id
    # No s3 action on "*" or on another bucket anywhere
    for logical_id in FUNCTIONS:
        for resource in s3_grants(stage, logical_id):
            assert bucket_id(stage) in resource, resource


def test_the_import_bucket_is_an_output(stage: Synthesised) -> None:
    assert stage.template["Outputs"]["ImportBucketName"]["Value"] == {"Ref": bucket_id(stage)}


def test_the_import_body_limit_fits_a_lambda_invocation_with_the_event_around_it() -> None:
    # API Gateway hands the body to the function as a JSON string inside its event: a CSV's line breaks and quotes
    # are escaped (two bytes each), and the event's headers and context come with it.
    limit = Settings().import_max_body_bytes
    worst_lines = limit // 14  # the shortest useful row, "+14155550123\n", is 13 bytes
    event_overhead = 16 * 1024
    assert limit + worst_lines + event_overhead < LAMBDA_REQUEST_PAYLOAD_BYTES
    assert Settings().max_body_bytes < limit
    body = "phone\n" + "+14155550123\n" * 100_000
    assert len(json.dumps(body)) < LAMBDA_REQUEST_PAYLOAD_BYTES  # 100,000 rows fit with room to spare
