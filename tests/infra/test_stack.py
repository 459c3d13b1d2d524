"""The synthesised stack, prod and dev (and staging, for the guard rails set from context): table, queues, send event
source, outbox schedule, two-way SMS topics, IAM, secrets, the API's access logs and throttling, concurrency, alarms,
outputs, cfn-lint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from chalicelib.adapters.dynamodb.table import table_definition
from chalicelib.observability import NAMESPACE, SERVICE
from chalicelib.settings import Settings
from infra.config import (
    DEFAULT_ADMIN_BURST_LIMIT,
    DEFAULT_ADMIN_RATE_LIMIT,
    DEFAULT_SEND_CONCURRENCY,
    DEFAULT_WEBHOOK_BURST_LIMIT,
    DEFAULT_WEBHOOK_RATE_LIMIT,
)
from infra.stack import _method_setting_path
from tests.infra.conftest import PROD_CONTEXT, PROD_SMS_ACCOUNTS, STAGING_CONTEXT, Synthesised, dump

pytestmark = pytest.mark.slow

API_FUNCTION = "APIHandler"
SEND_FUNCTION = "HandleSendQueue"
SEND_EVENT = "HandleSendQueueSqsEventSource"
OUTBOX_FUNCTION = "FlushEmailOutbox"
OUTBOX_EVENT = "FlushEmailOutboxEvent"
SMS_TOPIC_FUNCTION = "HandleSmsTopic"
#: app.py's functions: each has its own role, name, log group and alarms.
FUNCTIONS = (API_FUNCTION, SEND_FUNCTION, OUTBOX_FUNCTION, SMS_TOPIC_FUNCTION)
#: The indexes of the table the app creates locally (chalicelib/adapters/dynamodb/table.py).
INDEXES = tuple(index["IndexName"] for index in table_definition("t")["GlobalSecondaryIndexes"])


def template_of(synthesised: Synthesised) -> Template:
    return Template.from_json(synthesised.template)


def function(synthesised: Synthesised, logical_id: str) -> dict[str, Any]:
    resource = synthesised.template["Resources"][logical_id]
    assert resource["Type"] == "AWS::Serverless::Function"
    return resource["Properties"]


def send_event(synthesised: Synthesised) -> dict[str, Any]:
    event = function(synthesised, SEND_FUNCTION)["Events"][SEND_EVENT]
    assert event["Type"] == "SQS"
    return event["Properties"]


def queue_id(synthesised: Synthesised, name: str) -> str:
    return synthesised.logical_id("AWS::SQS::Queue", name)


def prefix_of(synthesised: Synthesised) -> str:
    """sms-optout-<stage>: the table's name."""
    return str(synthesised.resource("AWS::DynamoDB::Table")["Properties"]["TableName"])


def inbound_topics(synthesised: Synthesised) -> dict[str, str]:
    """Account id -> the logical id of its two-way SMS topic (`<prefix>-inbound-<account id>`)."""
    topic_prefix = f"{prefix_of(synthesised)}-inbound-"
    return {
        topic["Properties"]["TopicName"].removeprefix(topic_prefix): logical_id
        for logical_id, topic in synthesised.resources("AWS::SNS::Topic").items()
        if topic["Properties"].get("TopicName", "").startswith(topic_prefix)
    }


# --- the table -----------------------------------------------------------------------------------------------


def test_table_keys_and_indexes(stage: Synthesised) -> None:
    attributes = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk")
    template_of(stage).has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": Match.array_with(
                [{"AttributeName": name, "AttributeType": "S"} for name in attributes]
            ),
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": index,
                    "KeySchema": [
                        {"AttributeName": f"{index}pk", "KeyType": "HASH"},
                        {"AttributeName": f"{index}sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"}
                    if index != "gsi3"
                    else {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["doc", "intent", "review"]},
                }
                for index in ("gsi1", "gsi2", "gsi3")
            ],
        },
    )
    # Exactly the attributes the keys use (CloudFormation refuses others).
    definitions = stage.resource("AWS::DynamoDB::Table")["Properties"]["AttributeDefinitions"]
    assert sorted(d["AttributeName"] for d in definitions) == sorted(attributes)


def test_table_matches_the_apps_definition(stage: Synthesised) -> None:
    # The local stack creates the table from table_definition(); the deployed one must have the same keys and indexes.
    definition = table_definition("t")
    table = stage.resource("AWS::DynamoDB::Table")["Properties"]
    assert table["KeySchema"] == definition["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=dump) == sorted(definition["AttributeDefinitions"], key=dump)
    assert table["GlobalSecondaryIndexes"] == definition["GlobalSecondaryIndexes"]


def test_table_has_point_in_time_recovery_encryption_and_ttl(stage: Synthesised) -> None:
    template_of(stage).has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        },
    )


def test_prod_table_is_protected_and_retained(prod: Synthesised) -> None:
    table = prod.resource("AWS::DynamoDB::Table")
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["TableName"] == "sms-optout-prod"
    for log_group in prod.resources("AWS::Logs::LogGroup").values():
        assert log_group["DeletionPolicy"] == "Retain"


def test_dev_table_may_be_destroyed(dev: Synthesised) -> None:
    table = dev.resource("AWS::DynamoDB::Table")
    assert table["Properties"]["DeletionProtectionEnabled"] is False
    assert table["DeletionPolicy"] == "Delete"
    assert table["Properties"]["TableName"] == "sms-optout-dev"


# --- the queues and the send function's event source ---------------------------------------------------------


def test_send_queue_dead_letters_after_five_receives(stage: Synthesised) -> None:
    send_queue = stage.template["Resources"][queue_id(stage, "SendQueue")]["Properties"]
    assert send_queue["QueueName"].endswith("-send")
    redrive = send_queue["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == 5
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [queue_id(stage, "SendDeadLetterQueue"), "Arn"]}
    dead_letter_queue = stage.template["Resources"][queue_id(stage, "SendDeadLetterQueue")]["Properties"]
    assert dead_letter_queue["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_queues_are_encrypted_and_refuse_plain_http(stage: Synthesised) -> None:
    queues = stage.resources("AWS::SQS::Queue")
    assert len(queues) == 3  # send, its dead-letter queue, the inbound failure queue
    # The send queue and its dead-letter queue: SSE-KMS under the AWS managed key (its use shows in CloudTrail, and
    # the roles need no KMS grant).
    for name in ("SendQueue", "SendDeadLetterQueue"):
        properties = queues[queue_id(stage, name)]["Properties"]
        assert properties["KmsMasterKeyId"] == "alias/aws/sqs", name
        assert "SqsManagedSseEnabled" not in properties
    # SNS dead-letters into the inbound failure queue: SSE-SQS, which needs no key policy naming SNS.
    assert queues[queue_id(stage, "InboundFailureQueue")]["Properties"]["SqsManagedSseEnabled"] is True
    policies = stage.resources("AWS::SQS::QueuePolicy").values()
    assert sorted(q["Ref"] for p in policies for q in p["Properties"]["Queues"]) == sorted(queues)
    for policy in policies:
        statement = policy["Properties"]["PolicyDocument"]["Statement"][0]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_visibility_timeout_is_at_least_six_times_the_send_timeout(stage: Synthesised) -> None:
    send_queue = stage.template["Resources"][queue_id(stage, "SendQueue")]["Properties"]
    timeout = function(stage, SEND_FUNCTION)["Timeout"]
    window = send_event(stage)["MaximumBatchingWindowInSeconds"]
    assert send_queue["VisibilityTimeout"] >= 6 * timeout + window


def test_send_event_source_reports_batch_item_failures(stage: Synthesised) -> None:
    event = send_event(stage)
    assert "ReportBatchItemFailures" in event["FunctionResponseTypes"]


def test_send_event_source_reads_100_records_within_a_short_window(stage: Synthesised) -> None:
    event = send_event(stage)
    assert event["BatchSize"] == 100
    assert 1 <= event["MaximumBatchingWindowInSeconds"] <= 5


def test_send_event_source_is_this_stages_send_queue(stage: Synthesised) -> None:
    # app.py names the queue `optout-send`; the stack points the event at its own queue instead.
    assert send_event(stage)["Queue"] == {"Fn::GetAtt": [queue_id(stage, "SendQueue"), "Arn"]}


# --- the functions -------------------------------------------------------------------------------------------


def test_the_functions_are_app_pys_four(stage: Synthesised) -> None:
    # A function app.py adds would otherwise run with the API's role (Chalice's stage-wide iam_role_arn); the stack
    # refuses to synthesise one it does not know.
    assert set(stage.resources("AWS::Serverless::Function")) == set(FUNCTIONS)


def test_every_function_comes_from_one_bundle_without_boto3(stage: Synthesised) -> None:
    api, send, outbox, sms_topic = (function(stage, logical_id) for logical_id in FUNCTIONS)
    assert api["CodeUri"] == send["CodeUri"] == outbox["CodeUri"] == sms_topic["CodeUri"]
    assert api["Handler"] == "app.app"
    assert send["Handler"] == "app.handle_send_queue"
    assert outbox["Handler"] == "app.flush_email_outbox"
    assert sms_topic["Handler"] == "app.handle_sms_topic"
    assert {f["Runtime"] for f in (api, send, outbox, sms_topic)} == {"python3.11"}
    asset = stage.path.parent / f"asset.{api['CodeUri']['Key']}"
    assert asset.is_file(), asset
    with zipfile.ZipFile(asset) as bundle:
        top_level = {name.split("/", 1)[0] for name in bundle.namelist()}
    assert {"app.pyc", "chalicelib", "pydantic", "phonenumbers", "aws_lambda_powertools"} <= top_level
    assert not top_level & {"boto3", "botocore", "aws_cdk", "moto", "tests", "infra"}


FUNCTION_NAMES = {
    API_FUNCTION: "api",
    SEND_FUNCTION: "send",
    OUTBOX_FUNCTION: "outbox",
    SMS_TOPIC_FUNCTION: "sms-topic",
}


def test_function_names_and_timeouts(stage: Synthesised) -> None:
    prefix = prefix_of(stage)
    for logical_id, suffix in FUNCTION_NAMES.items():
        assert function(stage, logical_id)["FunctionName"] == f"{prefix}-{suffix}"
        template_of(stage).has_resource_properties(
            "AWS::Logs::LogGroup", {"LogGroupName": f"/aws/lambda/{prefix}-{suffix}"}
        )
    template_of(stage).resource_count_is("AWS::Logs::LogGroup", len(FUNCTIONS) + 1)  # and the API's access log
    assert function(stage, API_FUNCTION)["Timeout"] <= 29  # API Gateway's integration timeout
    assert function(stage, SEND_FUNCTION)["Timeout"] == 30
    assert function(stage, OUTBOX_FUNCTION)["Timeout"] == 60
    assert function(stage, SMS_TOPIC_FUNCTION)["Timeout"] == 78  # 6 calls at their slowest (12 s) + 2 cold starts


def test_every_log_group_expires(prod: Synthesised, dev: Synthesised) -> None:
    for synthesised, days in ((prod, 365), (dev, 30)):
        for log_group in synthesised.resources("AWS::Logs::LogGroup").values():
            assert log_group["Properties"]["RetentionInDays"] == days, log_group


def test_functions_depend_on_their_log_groups(stage: Synthesised) -> None:
    # Created first, so Lambda never creates one without retention (the roles have no logs:CreateLogGroup).
    prefix = prefix_of(stage)
    log_groups = {
        properties["Properties"]["LogGroupName"]: logical_id
        for logical_id, properties in stage.resources("AWS::Logs::LogGroup").items()
    }
    for logical_id, suffix in FUNCTION_NAMES.items():
        depends_on = as_list(stage.template["Resources"][logical_id].get("DependsOn", []))
        assert log_groups[f"/aws/lambda/{prefix}-{suffix}"] in depends_on, (logical_id, depends_on)


# --- the outbox function's schedule ---------------------------------------------------------------------------


def test_outbox_function_runs_every_five_minutes(stage: Synthesised) -> None:
    # A SAM Schedule event: the SAM transform makes the EventBridge rule (targeting the function) and the Lambda
    # permission letting events.amazonaws.com invoke it from that rule, as Chalice's own deploy would.
    events = function(stage, OUTBOX_FUNCTION)["Events"]
    assert list(events) == [OUTBOX_EVENT]
    assert events[OUTBOX_EVENT]["Type"] == "Schedule"
    properties = events[OUTBOX_EVENT]["Properties"]
    assert properties["Schedule"] == "rate(5 minutes)"
    assert properties["Name"] == f"{prefix_of(stage)}-flush-email-outbox"
    assert properties.get("Enabled", True) is True and properties.get("State", "ENABLED") == "ENABLED"
    assert "Input" not in properties  # the handler ignores its event


def test_outbox_sweeps_do_not_overlap(stage: Synthesised) -> None:
    assert function(stage, OUTBOX_FUNCTION)["Timeout"] < 5 * 60


def test_event_sources_and_invoke_permissions(stage: Synthesised) -> None:
    assert set(function(stage, API_FUNCTION).get("Events", {})) == set()
    assert set(function(stage, SEND_FUNCTION)["Events"]) == {SEND_EVENT}
    # app.py's on_sns_message(topic="optout-inbound") is a SAM event on a topic no stage has: the stack removes it
    # and subscribes the function to each account's topic itself.
    assert "Events" not in function(stage, SMS_TOPIC_FUNCTION)
    # API Gateway's, and SNS's from each inbound topic; the schedule's comes from the SAM transform.
    permissions = stage.resources("AWS::Lambda::Permission").values()
    principals = sorted(p["Properties"]["Principal"] for p in permissions)
    assert principals == ["apigateway.amazonaws.com"] + ["sns.amazonaws.com"] * len(inbound_topics(stage))


EXPECTED_ENVIRONMENT = {
    "OPTOUT_TABLE_NAME",
    "OPTOUT_SEND_QUEUE_URL",
    "OPTOUT_SECRETS_PREFIX",
    "OPTOUT_INBOUND_TOPIC_PREFIX",
    "OPTOUT_ALLOW_HOST_URL",
    "OPTOUT_AWS_CONNECT_TIMEOUT",
    "OPTOUT_AWS_READ_TIMEOUT",
    "OPTOUT_AWS_MAX_ATTEMPTS",
    "POWERTOOLS_SERVICE_NAME",
    "LOG_LEVEL",
}


def test_environment_variables(prod: Synthesised, dev: Synthesised) -> None:
    for synthesised, stage_name in ((prod, "prod"), (dev, "dev")):
        for logical_id in FUNCTIONS:
            variables = function(synthesised, logical_id)["Environment"]["Variables"]
            assert set(variables) >= EXPECTED_ENVIRONMENT
            assert variables["OPTOUT_TABLE_NAME"] == {
                "Ref": synthesised.logical_id("AWS::DynamoDB::Table", "SuppressionTable")
            }
            assert variables["OPTOUT_SEND_QUEUE_URL"] == {"Ref": queue_id(synthesised, "SendQueue")}
            assert variables["OPTOUT_SECRETS_PREFIX"] == f"/optout/{stage_name}"
            # The operator token is read from the secret store under that prefix: no variable names it.
            assert not any("OPERATOR_TOKEN" in name for name in variables), variables
            assert variables["OPTOUT_INBOUND_TOPIC_PREFIX"] == f"sms-optout-{stage_name}-inbound-"
            assert variables["POWERTOOLS_SERVICE_NAME"] == "sms-optout"
            assert variables["LOG_LEVEL"] == "INFO"
    assert (
        function(prod, API_FUNCTION)["Environment"]["Variables"]["OPTOUT_PUBLIC_BASE_URL"]
        == (PROD_CONTEXT["public_base_url"])
    )
    assert "OPTOUT_PUBLIC_BASE_URL" not in function(dev, API_FUNCTION)["Environment"]["Variables"]


def test_every_function_has_the_same_environment(stage: Synthesised) -> None:
    api, send, outbox, sms_topic = (function(stage, logical_id)["Environment"]["Variables"] for logical_id in FUNCTIONS)
    assert api == send == outbox == sms_topic


def test_environment_names_are_settings_of_the_app(stage: Synthesised) -> None:
    # A misspelt OPTOUT_ variable would be ignored (the settings ignore extra names): each must be a setting.
    settings = {f"OPTOUT_{name.upper()}" for name in Settings.model_fields}
    for name in function(stage, API_FUNCTION)["Environment"]["Variables"]:
        assert not name.startswith("OPTOUT_") or name in settings, name


def aws_call_worst_seconds(variables: dict[str, str]) -> float:
    """One AWS call at its slowest with the functions' client settings: every attempt connects at the last moment
    and waits the whole read timeout; botocore's standard mode backs off at most min(2^(i-1), 20) s before retry i."""
    attempts = int(variables["OPTOUT_AWS_MAX_ATTEMPTS"])
    per_attempt = float(variables["OPTOUT_AWS_CONNECT_TIMEOUT"]) + float(variables["OPTOUT_AWS_READ_TIMEOUT"])
    return attempts * per_attempt + sum(min(2**retry, 20) for retry in range(attempts - 1))


def test_aws_clients_have_explicit_timeouts(stage: Synthesised) -> None:
    variables = function(stage, API_FUNCTION)["Environment"]["Variables"]
    assert (variables["OPTOUT_AWS_CONNECT_TIMEOUT"], variables["OPTOUT_AWS_READ_TIMEOUT"]) == ("1", "2")
    assert variables["OPTOUT_AWS_MAX_ATTEMPTS"] == "3"
    assert aws_call_worst_seconds(variables) == 12  # 3 x (1 + 2) + backoffs of 1 and 2


def test_aws_client_timeouts_are_the_apps_defaults(stage: Synthesised) -> None:
    # The stack states them so the function timeouts follow from them; they must not drift from the app's own.
    variables = function(stage, API_FUNCTION)["Environment"]["Variables"]
    for name in ("aws_connect_timeout", "aws_read_timeout", "aws_max_attempts"):
        assert float(variables[f"OPTOUT_{name.upper()}"]) == Settings.model_fields[name].default, name


def test_api_timeout_holds_two_slow_aws_calls_within_api_gateways_29_seconds(stage: Synthesised) -> None:
    api = function(stage, API_FUNCTION)
    cold_start = 3
    assert 2 * aws_call_worst_seconds(api["Environment"]["Variables"]) + cold_start <= api["Timeout"] <= 29


def test_sms_topic_timeout_holds_every_inbound_call_at_its_slowest(stage: Synthesised) -> None:
    # Nobody waits on an SNS invocation: the function should end with the failing call's error, not a timeout.
    sms_topic = function(stage, SMS_TOPIC_FUNCTION)
    inbound_calls = 6
    assert sms_topic["Timeout"] >= inbound_calls * aws_call_worst_seconds(sms_topic["Environment"]["Variables"])


def test_no_function_rebuilds_the_signed_url_from_the_host_header(
    prod: Synthesised, dev: Synthesised, staging: Synthesised
) -> None:
    # OPTOUT_ALLOW_HOST_URL is for local runs: the stack sets it false everywhere (the app's default, stated), and
    # every deployed stage but dev has its public base URL (config refuses one without).
    assert Settings.model_fields["allow_host_url"].default is False
    for synthesised in (prod, dev, staging):
        for logical_id in FUNCTIONS:
            variables = function(synthesised, logical_id)["Environment"]["Variables"]
            assert variables["OPTOUT_ALLOW_HOST_URL"] == "false", variables
    for synthesised, context in ((prod, PROD_CONTEXT), (staging, STAGING_CONTEXT)):
        for logical_id in FUNCTIONS:
            variables = function(synthesised, logical_id)["Environment"]["Variables"]
            assert variables["OPTOUT_PUBLIC_BASE_URL"] == context["public_base_url"]


def test_synthesis_of_a_deployed_stage_without_public_base_url_stops_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.app import main

    for name in ("CDK_OUTDIR", "CDK_CONTEXT_JSON", "STAGE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as stopped:
        main(["-c", "stage=prod", "-c", "sender_email=alerts@example.com", "--output", str(tmp_path)])
    assert "public_base_url" in str(stopped.value.code)
    assert not list(tmp_path.iterdir())  # nothing synthesised


def test_email_settings(prod: Synthesised, dev: Synthesised) -> None:
    # chalicelib/settings.py: email_sender and ses_configuration_set.
    configuration_set = {"Ref": prod.logical_id("AWS::SES::ConfigurationSet", "EmailConfigurationSet")}
    variables = function(prod, SEND_FUNCTION)["Environment"]["Variables"]
    assert variables["OPTOUT_EMAIL_SENDER"] == PROD_CONTEXT["sender_email"]
    assert variables["OPTOUT_SES_CONFIGURATION_SET"] == configuration_set
    assert function(dev, SEND_FUNCTION)["Environment"]["Variables"]["OPTOUT_EMAIL_SENDER"] == {"Ref": "SenderEmail"}


SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|CREDENTIAL|AUTH|KEY", re.IGNORECASE)
# Well-known credential shapes (AWS access key, Twilio SID or token, Stripe-like keys).
KNOWN_SECRET = re.compile(r"AKIA[0-9A-Z]{16}|AC[0-9a-f]{32}|[0-9a-f]{32}|sk_(live|test)_\w+")


def looks_secret(value: str) -> bool:
    """A known credential shape, or a long run of mixed letters and digits (a token, a key, base64) that is not a
    path, URL or ARN."""
    if KNOWN_SECRET.search(value):
        return True
    if value.startswith(("/", "https://", "arn:")):
        return False
    return bool(
        re.fullmatch(r"[A-Za-z0-9+/=_\-]{20,}", value) and re.search(r"[0-9]", value) and re.search(r"[A-Za-z]", value)
    )


def test_looks_secret() -> None:
    assert looks_secret("0123456789abcdef0123456789abcdef")
    assert looks_secret("AC" + "1" * 32)
    assert looks_secret("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5")
    assert not looks_secret("/optout/prod/operator-token")
    assert not looks_secret("sms-optout")
    assert not looks_secret("INFO")


def test_no_secret_in_environment_variables(stage: Synthesised) -> None:
    for logical_id in FUNCTIONS:
        for name, value in function(stage, logical_id)["Environment"]["Variables"].items():
            if SECRET_NAME.search(name):
                # Only where a secret lives (an SSM name or prefix), never the secret.
                assert name.endswith(("_PARAMETER", "_PREFIX")), name
                assert isinstance(value, str) and value.startswith("/optout/"), (name, value)
            if isinstance(value, str):
                assert not looks_secret(value), (name, value)
            else:
                assert set(value) <= {"Ref", "Fn::GetAtt"}, (name, value)  # a resource's name or URL


def test_operator_token_is_read_from_the_secret_store(stage: Synthesised) -> None:
    # The app reads `<OPTOUT_SECRETS_PREFIX>/<operator_token_secret>`; the API may read it, and only the API.
    secret_name = Settings.model_fields["operator_token_secret"].default
    prefix = function(stage, API_FUNCTION)["Environment"]["Variables"]["OPTOUT_SECRETS_PREFIX"]
    suffix = f':parameter{prefix}/{secret_name}"]]}}'
    readers = {
        function_id
        for function_id in FUNCTIONS
        for resource, actions in actions_by_resource(stage, role_of(stage, function_id)).items()
        if resource.endswith(suffix) and actions == {"ssm:GetParameter"}
    }
    assert readers == {API_FUNCTION}


def test_no_secret_in_the_template(stage: Synthesised) -> None:
    # The operator token is created out of band; no parameter (let alone its value) is in the template.
    assert not stage.resources("AWS::SSM::Parameter")
    assert not stage.resources("AWS::SecretsManager::Secret")
    assert "SecureString" not in strings_in(stage.template["Resources"])


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return []


# --- IAM -----------------------------------------------------------------------------------------------------


def role_statements(synthesised: Synthesised, role_id: str) -> list[dict[str, Any]]:
    role = synthesised.template["Resources"][role_id]
    return [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def role_of(synthesised: Synthesised, function_id: str) -> str:
    role = function(synthesised, function_id)["Role"]
    assert set(role) == {"Fn::GetAtt"} and role["Fn::GetAtt"][1] == "Arn", role
    return str(role["Fn::GetAtt"][0])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_one_role_per_function_and_no_chalice_managed_role(stage: Synthesised) -> None:
    roles = stage.resources("AWS::IAM::Role")
    function_roles = [role_of(stage, logical_id) for logical_id in stage.resources("AWS::Serverless::Function")]
    assert len(function_roles) == len(FUNCTIONS)
    assert len(set(function_roles)) == len(function_roles), function_roles  # no two functions share a role
    assert set(roles) == set(function_roles)
    for role in roles.values():
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
        ]
        assert "ManagedPolicyArns" not in role["Properties"]
    assert not stage.resources("AWS::IAM::Policy")
    assert not stage.resources("AWS::IAM::ManagedPolicy")


#: Resource "*" is allowed for no action: every service used names its resources (sms-voice included).
STAR_RESOURCE_EXCEPTIONS: frozenset[str] = frozenset()


def all_policy_statements(synthesised: Synthesised) -> list[dict[str, Any]]:
    statements = []
    for resource in synthesised.template["Resources"].values():
        properties = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        if "PolicyDocument" in properties:
            documents.append(properties["PolicyDocument"])
        statements += [s for document in documents for s in document["Statement"]]
    return statements


def test_every_policy_statement_names_its_actions_and_resources(stage: Synthesised) -> None:
    statements = all_policy_statements(stage)
    assert statements
    for statement in statements:
        actions = as_list(statement["Action"])
        if statement["Effect"] == "Allow":
            assert all("*" not in action for action in actions), statement
            assert all(action.count(":") == 1 for action in actions), statement
        else:  # a Deny (TLS only on the queues) may be broad
            assert "*" not in actions, statement
        for resource in as_list(statement["Resource"]):
            if resource == "*":
                assert set(actions) <= STAR_RESOURCE_EXCEPTIONS, statement


def actions_by_resource(synthesised: Synthesised, role_id: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for statement in role_statements(synthesised, role_id):
        assert statement["Effect"] == "Allow"
        for resource in as_list(statement["Resource"]):
            found.setdefault(dump(resource), set()).update(as_list(statement["Action"]))
    return found


def table_arn(synthesised: Synthesised) -> dict[str, Any]:
    return {"Fn::GetAtt": [synthesised.logical_id("AWS::DynamoDB::Table", "SuppressionTable"), "Arn"]}


def index_grants(synthesised: Synthesised, role_id: str) -> dict[str, set[str]]:
    """Index name -> the actions the role may call on it (the table's own ARN + `/index/<name>`)."""
    found: dict[str, set[str]] = {}
    for resource, actions in actions_by_resource(synthesised, role_id).items():
        if "/index/" not in resource:
            continue
        parts = json.loads(resource)["Fn::Join"][1]
        assert parts[0] == table_arn(synthesised) and len(parts) == 2, resource  # this table's indexes, by name
        found[parts[1].removeprefix("/index/")] = actions
    return found


def all_actions(synthesised: Synthesised, role_id: str) -> set[str]:
    return {a for s in role_statements(synthesised, role_id) for a in as_list(s["Action"])}


def test_the_api_deletes_named_groups_only(stage: Synthesised) -> None:
    # A group and its name's word index are the only items the API deletes: the grant is limited to their keys, so
    # nothing of a number (its state, its history) can be deleted with the API's role.
    deleting = [
        s for s in role_statements(stage, role_of(stage, API_FUNCTION)) if "dynamodb:DeleteItem" in as_list(s["Action"])
    ]
    assert [(s["Resource"], s["Condition"]) for s in deleting] == [
        (table_arn(stage), {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["GROUPS#*", "GROUPWORDS#*"]}})
    ]
    for function_id in FUNCTIONS:
        if function_id != API_FUNCTION:
            assert "dynamodb:DeleteItem" not in all_actions(stage, role_of(stage, function_id))


def test_api_role_has_only_what_the_api_calls(stage: Synthesised) -> None:
    role = role_of(stage, API_FUNCTION)
    assert all_actions(stage, role) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        # Named groups only (test_the_api_deletes_named_groups_only).
        "dynamodb:DeleteItem",
        "ssm:GetParameter",
        "ssm:PutParameter",
        "sqs:SendMessage",
        # Import files (tests/infra/test_import_bucket.py says on what).
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
    }
    granted = actions_by_resource(stage, role)
    table = stage.logical_id("AWS::DynamoDB::Table", "SuppressionTable")
    assert granted[dump({"Fn::GetAtt": [table, "Arn"]})] == {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",  # on named groups' keys only
    }
    # gsi1: suppressed numbers, the inbound log, the outbound log by campaign; gsi2: the review queue; gsi3: activity.
    assert index_grants(stage, role) == {
        "gsi1": {"dynamodb:Query"},
        "gsi2": {"dynamodb:Query"},
        "gsi3": {"dynamodb:Query"},
    }
    # Send requests (SendMessageBatch) and email jobs (SendMessage): both authorised as sqs:SendMessage.
    assert granted[dump({"Fn::GetAtt": [queue_id(stage, "SendQueue"), "Arn"]})] == {"sqs:SendMessage"}
    ssm = {key: value for key, value in granted.items() if ":ssm:" in key}
    put = [key for key, value in ssm.items() if "ssm:PutParameter" in value]
    # Carrier credentials only: the API cannot overwrite the operator token.
    assert len(put) == 1 and put[0].endswith('/accounts/*"]]}'), put
    assert any(key.endswith('/operator-token"]]}') and value == {"ssm:GetParameter"} for key, value in ssm.items())


def test_send_role_has_only_what_the_send_function_calls(stage: Synthesised) -> None:
    role = role_of(stage, SEND_FUNCTION)
    assert all_actions(stage, role) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "ssm:GetParameter",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
        "sms-voice:SendTextMessage",
        "ses:SendEmail",
        "events:PutEvents",
        # Import files (tests/infra/test_import_bucket.py says on what).
        "s3:GetObject",
        "s3:ListBucket",
    }
    granted = actions_by_resource(stage, role)
    assert granted[dump(table_arn(stage))] == {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    }
    # The event source's calls, backoff (ChangeMessageVisibility) and email jobs (SendMessage): this queue only.
    assert granted[dump({"Fn::GetAtt": [queue_id(stage, "SendQueue"), "Arn"]})] == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
    }
    assert not any(queue_id(stage, "SendDeadLetterQueue") in key for key in granted)
    assert not any("operator-token" in key for key in granted)
    assert not any("ssm:PutParameter" in value for value in granted.values())
    assert not any("/index/" in key for key in granted)
    sms = [key for key, value in granted.items() if "sms-voice:SendTextMessage" in value]
    assert sms and all(":sms-voice:" in key and '{"Ref": "AWS::AccountId"}' in key for key in sms), sms
    ses_resources = [key for key, value in granted.items() if "ses:SendEmail" in value]
    identity = stage.logical_id("AWS::SES::EmailIdentity", "SenderIdentity")
    configuration_set = stage.logical_id("AWS::SES::ConfigurationSet", "EmailConfigurationSet")
    # SES v2 SendEmail (Simple content) checks ses:SendEmail on the sender's identity and on the configuration set.
    assert len(ses_resources) == 2
    assert all(granted[key] == {"ses:SendEmail"} for key in ses_resources)
    assert any(f':identity/", {{"Ref": "{identity}"}}' in key for key in ses_resources)
    assert any(f':configuration-set/", {{"Ref": "{configuration_set}"}}' in key for key in ses_resources)


def test_outbox_role_has_only_what_the_outbox_function_calls(stage: Synthesised) -> None:
    # chalicelib/workers/outbox.py: pending_jobs (Query on gsi2), then the jobs by SendMessageBatch and job_queued
    # (UpdateItem) of each event.
    role = role_of(stage, OUTBOX_FUNCTION)
    assert all_actions(stage, role) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "sqs:SendMessage",
    }
    granted = actions_by_resource(stage, role)
    assert granted[dump(table_arn(stage))] == {"dynamodb:UpdateItem"}  # no Query on the table, no reads by key
    assert index_grants(stage, role) == {"gsi2": {"dynamodb:Query"}}
    assert granted[dump({"Fn::GetAtt": [queue_id(stage, "SendQueue"), "Arn"]})] == {"sqs:SendMessage"}
    assert not any(":ssm:" in key or ":ses:" in key or ":sms-voice:" in key for key in granted)
    assert len(granted) == 4  # its log group, the table, gsi2, the send queue


def test_sms_topic_role_has_only_what_the_inbound_path_calls(stage: Synthesised) -> None:
    # chalicelib/workers/sms_topic.py -> carrier_webhooks.store_notice -> services.receive_inbound and
    # receive_delivery_report: reads by key, the event's transaction (an Update and Puts), the inbound log, the
    # outbox's job_queued; email jobs and replies on the send queue; failed notices to the failure queue (Lambda's
    # on-failure destination, sent with the execution role).
    role = role_of(stage, SMS_TOPIC_FUNCTION)
    assert all_actions(stage, role) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "sqs:SendMessage",
    }
    granted = actions_by_resource(stage, role)
    assert granted == {
        dump({"Fn::GetAtt": [stage.logical_id("AWS::Logs::LogGroup", "SmsTopicLogGroup"), "Arn"]}): {
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        },
        dump(table_arn(stage)): {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        },
        dump({"Fn::GetAtt": [queue_id(stage, "SendQueue"), "Arn"]}): {"sqs:SendMessage"},
        dump({"Fn::GetAtt": [queue_id(stage, "InboundFailureQueue"), "Arn"]}): {"sqs:SendMessage"},
    }


def test_every_index_is_queried_and_only_queried(stage: Synthesised) -> None:
    by_index: dict[str, set[str]] = {}
    for logical_id in FUNCTIONS:
        for index, actions in index_grants(stage, role_of(stage, logical_id)).items():
            by_index.setdefault(index, set()).update(actions)
    assert set(by_index) == set(INDEXES)
    assert all(actions == {"dynamodb:Query"} for actions in by_index.values()), by_index


#: boto3 DynamoDB client methods, and TransactWriteItems' item kinds, with the IAM action each needs.
DYNAMODB_METHODS = {
    "get_item": "GetItem",
    "put_item": "PutItem",
    "update_item": "UpdateItem",
    "delete_item": "DeleteItem",
    "batch_get_item": "BatchGetItem",
    "batch_write_item": "BatchWriteItem",
    "query": "Query",
    "scan": "Scan",
    "transact_get_items": "GetItem",
}
TRANSACT_ITEMS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def dynamodb_actions_in_the_code() -> set[str]:
    """The DynamoDB actions chalicelib's adapters call, read from their source."""
    actions = set()
    for path in (Path(__file__).resolve().parents[2] / "chalicelib").rglob("*.py"):
        source = path.read_text()
        for method, action in DYNAMODB_METHODS.items():
            if re.search(rf"""\.{method}\(|["']{method}["']""", source):
                actions.add(f"dynamodb:{action}")
        # A transaction's items, in the adapters that call TransactWriteItems directly or through calls.transaction
        # (or calls.conditional_transaction).
        if "transact_write_items" in source or "transaction(" in source:
            actions |= {
                f"dynamodb:{a}" for kind, a in TRANSACT_ITEMS.items() if re.search(rf'["\']{kind}["\']\s*:', source)
            }
    return actions


def test_dynamodb_grants_match_the_calls_in_the_code(stage: Synthesised) -> None:
    # The roles list each function's calls by hand (infra/stack.py); this catches an adapter that starts (or stops)
    # calling an operation. Which function needs it is for infra/stack.py to say.
    granted = {
        action
        for function_id in FUNCTIONS
        for action in all_actions(stage, role_of(stage, function_id))
        if action.startswith("dynamodb:")
    }
    assert granted == dynamodb_actions_in_the_code()


def test_each_role_writes_only_its_own_log_group(stage: Synthesised) -> None:
    log_groups = (
        (API_FUNCTION, "ApiLogGroup"),
        (SEND_FUNCTION, "SendLogGroup"),
        (OUTBOX_FUNCTION, "OutboxLogGroup"),
        (SMS_TOPIC_FUNCTION, "SmsTopicLogGroup"),
    )
    for function_id, log_group in log_groups:
        log_statements = [s for s in role_statements(stage, role_of(stage, function_id)) if s["Sid"] == "WriteOwnLogs"]
        assert [s["Resource"] for s in log_statements] == [
            {"Fn::GetAtt": [stage.logical_id("AWS::Logs::LogGroup", log_group), "Arn"]}
        ]


# --- two-way SMS through AWS End User Messaging SMS ----------------------------------------------------------

SMS_VOICE = "sms-voice.amazonaws.com"


def sms_voice_source_conditions() -> dict[str, Any]:
    """AWS End User Messaging SMS acting for this AWS account's sms-voice resources in this region only."""
    source_arn = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":sms-voice:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":*",
            ],
        ]
    }
    return {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}, "ArnLike": {"aws:SourceArn": source_arn}}


def test_one_encrypted_topic_per_listed_account(prod: Synthesised, dev: Synthesised) -> None:
    topics = inbound_topics(prod)
    assert set(topics) == set(PROD_SMS_ACCOUNTS)
    key = prod.logical_id("AWS::KMS::Key", "InboundTopicKey")
    for logical_id in topics.values():
        properties = prod.template["Resources"][logical_id]["Properties"]
        assert properties["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
        assert "FifoTopic" not in properties  # two-way SMS publishes to standard topics only
    # No account listed (the default): no topic, no key.
    assert inbound_topics(dev) == {}
    assert not dev.resources("AWS::KMS::Key")
    assert not dev.resources("AWS::SNS::Subscription")


def test_topic_policy_lets_end_user_messaging_publish_for_this_account_only(prod: Synthesised) -> None:
    policies = prod.resources("AWS::SNS::TopicPolicy").values()
    for logical_id in inbound_topics(prod).values():
        (policy,) = [p for p in policies if p["Properties"]["Topics"] == [{"Ref": logical_id}]]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        allowed = [s for s in statements if s["Effect"] == "Allow"]
        assert allowed == [
            {
                "Sid": "SmsVoicePublishes",
                "Effect": "Allow",
                "Principal": {"Service": SMS_VOICE},
                "Action": "sns:Publish",
                "Resource": {"Ref": logical_id},
                "Condition": sms_voice_source_conditions(),
            }
        ]
        denied = [s for s in statements if s["Effect"] == "Deny"]
        assert [s["Condition"] for s in denied] == [{"Bool": {"aws:SecureTransport": "false"}}]


def test_topic_key_lets_end_user_messaging_encrypt_for_this_account_only(prod: Synthesised) -> None:
    key = prod.resource("AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    # The account's own statement (AWS's default key policy: IAM policies decide; none here grants kms:*), and
    # the service's, which the topic needs to accept its messages.
    assert statements[0]["Principal"] == {
        "AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]}
    }
    service = [s for s in statements if s.get("Principal") == {"Service": SMS_VOICE}]
    assert service == [
        {
            "Sid": "SmsVoiceEncryptsToInboundTopics",
            "Effect": "Allow",
            "Principal": {"Service": SMS_VOICE},
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
            "Resource": "*",
            "Condition": sms_voice_source_conditions(),
        }
    ]
    assert len(statements) == 2
    assert not any("kms:" in dump(s["Action"]) for s in all_policy_statements(prod))  # no role uses the key


def test_each_topic_invokes_the_sms_topic_function_with_a_dead_letter_queue(prod: Synthesised) -> None:
    function_arn = {"Fn::GetAtt": [SMS_TOPIC_FUNCTION, "Arn"]}
    failure_queue = {"Fn::GetAtt": [queue_id(prod, "InboundFailureQueue"), "Arn"]}
    subscriptions = prod.resources("AWS::SNS::Subscription")
    permissions = prod.resources("AWS::Lambda::Permission")
    for logical_id in inbound_topics(prod).values():
        (subscription_id,) = [k for k, v in subscriptions.items() if v["Properties"]["TopicArn"] == {"Ref": logical_id}]
        subscription = subscriptions[subscription_id]
        assert subscription["Properties"]["Protocol"] == "lambda"
        assert subscription["Properties"]["Endpoint"] == function_arn
        assert subscription["Properties"]["RedrivePolicy"] == {"deadLetterTargetArn": failure_queue}
        # SNS may invoke the function from this topic only; the subscription waits for the permission.
        (permission_id,) = [
            k for k, v in permissions.items() if v["Properties"].get("SourceArn") == {"Ref": logical_id}
        ]
        assert permissions[permission_id]["Properties"] == {
            "Action": "lambda:InvokeFunction",
            "FunctionName": function_arn,
            "Principal": "sns.amazonaws.com",
            "SourceArn": {"Ref": logical_id},
        }
        assert permission_id in as_list(subscription["DependsOn"])


def test_sns_may_dead_letter_into_the_failure_queue_from_the_inbound_topics_only(prod: Synthesised) -> None:
    failure_queue = queue_id(prod, "InboundFailureQueue")
    (policy,) = [
        p
        for p in prod.resources("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": failure_queue}]
    ]
    allowed = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert all(s["Principal"] == {"Service": "sns.amazonaws.com"} and s["Action"] == "sqs:SendMessage" for s in allowed)
    assert sorted(dump(s["Condition"]) for s in allowed) == sorted(
        dump({"ArnEquals": {"aws:SourceArn": {"Ref": logical_id}}}) for logical_id in inbound_topics(prod).values()
    )


def test_failed_notices_go_to_the_failure_queue(stage: Synthesised) -> None:
    # SNS invokes the function asynchronously: after Lambda's retries the record lands in the failure queue.
    config = function(stage, SMS_TOPIC_FUNCTION)["EventInvokeConfig"]
    assert config["DestinationConfig"] == {
        "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": [queue_id(stage, "InboundFailureQueue"), "Arn"]}}
    }
    assert config["MaximumRetryAttempts"] == 2
    assert 0 < config["MaximumEventAgeInSeconds"] <= 6 * 3600
    failure_queue = stage.template["Resources"][queue_id(stage, "InboundFailureQueue")]["Properties"]
    assert failure_queue["QueueName"] == f"{prefix_of(stage)}-inbound-failed"
    assert failure_queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert "RedrivePolicy" not in failure_queue and "FifoQueue" not in failure_queue  # Lambda needs a standard queue


# --- concurrency -----------------------------------------------------------------------------------------------


def test_send_function_concurrency_is_reserved_and_its_event_source_stays_within_it(stage: Synthesised) -> None:
    # Reserved: a webhook flood cannot take the account's concurrency from it, and it cannot outrun the providers.
    # The event source's maximum concurrency is the same, so Lambda never throttles a batch (which would count a
    # receive towards the dead-letter queue).
    assert function(stage, SEND_FUNCTION)["ReservedConcurrentExecutions"] == DEFAULT_SEND_CONCURRENCY
    assert send_event(stage)["ScalingConfig"] == {"MaximumConcurrency": DEFAULT_SEND_CONCURRENCY}


def test_send_concurrency_comes_from_context(staging: Synthesised) -> None:
    concurrency = int(STAGING_CONTEXT["send_concurrency"])
    assert function(staging, SEND_FUNCTION)["ReservedConcurrentExecutions"] == concurrency
    assert send_event(staging)["ScalingConfig"] == {"MaximumConcurrency": concurrency}


def test_outbox_sweeps_run_one_at_a_time(stage: Synthesised) -> None:
    assert function(stage, OUTBOX_FUNCTION)["ReservedConcurrentExecutions"] == 1


def test_api_and_two_way_sms_functions_have_no_concurrency_cap(stage: Synthesised) -> None:
    # Waived in infra/checkov-waivers.toml: the gateway throttles the API per method; a cap on the two-way SMS
    # function would delay opt-outs.
    for logical_id in (API_FUNCTION, SMS_TOPIC_FUNCTION):
        assert "ReservedConcurrentExecutions" not in function(stage, logical_id)


# --- the API stage: access logs and throttling -------------------------------------------------------------------


def rest_api(synthesised: Synthesised) -> dict[str, Any]:
    return synthesised.resource("AWS::Serverless::Api")["Properties"]


def test_api_access_logs_go_to_their_own_log_group_as_json(stage: Synthesised) -> None:
    log_group_id = stage.logical_id("AWS::Logs::LogGroup", "ApiAccessLogGroup")
    log_group = stage.template["Resources"][log_group_id]["Properties"]
    assert log_group["LogGroupName"] == f"/aws/apigateway/{prefix_of(stage)}-api-access"
    setting = rest_api(stage)["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": [log_group_id, "Arn"]}
    line = json.loads(setting["Format"])  # one JSON object a request
    assert {"requestId", "ip", "httpMethod", "resourcePath", "status", "errorType", "responseLatency"} <= set(line)
    assert line["resourcePath"] == "$context.resourcePath"
    assert line["errorType"] == "$context.error.responseType"


def test_api_access_logs_hold_no_path_query_header_or_body(stage: Synthesised) -> None:
    # Admin paths hold phone numbers; query strings and headers hold carriers' signatures; bodies hold texts.
    log_format = rest_api(stage)["AccessLogSetting"]["Format"]
    variables = set(re.findall(r"\$context\.[A-Za-z0-9_.]+", log_format))
    assert variables, log_format
    for variable in variables:
        assert variable != "$context.path", log_format
        assert not re.search(r"querystring|header|body|requestOverride|authorizer", variable, re.IGNORECASE), variable


def method_settings(synthesised: Synthesised) -> dict[tuple[str, str], dict[str, Any]]:
    settings = rest_api(synthesised)["MethodSettings"]
    found = {(s["ResourcePath"], s["HttpMethod"]): s for s in settings}
    assert len(found) == len(settings), "a method has two settings"
    return found


def api_methods(synthesised: Synthesised) -> list[tuple[str, str]]:
    """(route, HTTP method) of every operation the API defines (Chalice's swagger, from app.py's routes)."""
    paths = rest_api(synthesised)["DefinitionBody"]["paths"]
    methods = ("get", "put", "post", "delete", "options", "head", "patch")
    return [(path, method.upper()) for path, operations in paths.items() for method in operations if method in methods]


def budget(setting: dict[str, Any]) -> tuple[int, int]:
    return setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]


def test_method_setting_paths_are_cloudformations() -> None:
    # MethodSetting.ResourcePath: '/' for the root; otherwise every '/' is '~1' after a leading '/'.
    assert _method_setting_path("/") == "/"
    assert _method_setting_path("/openapi.json") == "/~1openapi.json"
    assert _method_setting_path("/webhooks/{carrier}/{account_id}") == "/~1webhooks~1{carrier}~1{account_id}"


def test_webhooks_and_the_admin_api_have_separate_throttling_budgets(stage: Synthesised) -> None:
    settings = method_settings(stage)
    webhook = (DEFAULT_WEBHOOK_RATE_LIMIT, DEFAULT_WEBHOOK_BURST_LIMIT)
    admin = (DEFAULT_ADMIN_RATE_LIMIT, DEFAULT_ADMIN_BURST_LIMIT)
    methods = api_methods(stage)
    assert any(path.startswith("/webhooks/") for path, _ in methods)
    assert any(path.startswith("/v1/") for path, _ in methods)
    # Each method its own bucket: the webhooks' budget, or the admin API's (any other route too).
    for path, method in methods:
        expected = webhook if path.startswith("/webhooks/") else admin
        assert budget(settings.pop((_method_setting_path(path), method))) == expected, (path, method)
    # The stage default, for whatever has no setting of its own, is the admin budget; no setting for a method the
    # API does not have (CloudFormation refuses one).
    assert {key: budget(value) for key, value in settings.items()} == {("/*", "*"): admin}


def test_throttling_budgets_come_from_context(staging: Synthesised) -> None:
    settings = method_settings(staging)
    webhook = (int(STAGING_CONTEXT["webhook_rate_limit"]), int(STAGING_CONTEXT["webhook_burst_limit"]))
    admin = (int(STAGING_CONTEXT["admin_rate_limit"]), int(STAGING_CONTEXT["admin_burst_limit"]))
    for path, method in api_methods(staging):
        expected = webhook if path.startswith("/webhooks/") else admin
        assert budget(settings[(_method_setting_path(path), method)]) == expected, (path, method)
    assert budget(settings[("/*", "*")]) == admin


def test_api_stage_logs_no_request_or_response_data(stage: Synthesised) -> None:
    # Execution logging with data tracing would write whole requests (numbers, texts, tokens) to CloudWatch.
    for setting in rest_api(stage)["MethodSettings"]:
        assert not setting.get("DataTraceEnabled", False), setting
        assert setting.get("LoggingLevel", "OFF") == "OFF", setting


def test_throttled_requests_are_counted_from_the_access_log_and_alarmed(stage: Synthesised) -> None:
    log_group_id = stage.logical_id("AWS::Logs::LogGroup", "ApiAccessLogGroup")
    (metric_filter,) = stage.resources("AWS::Logs::MetricFilter").values()
    properties = metric_filter["Properties"]
    assert properties["LogGroupName"] == {"Ref": log_group_id}
    assert properties["FilterPattern"] == '{ $.errorType = "THROTTLED" }'
    (transformation,) = properties["MetricTransformations"]
    stage_name = prefix_of(stage).removeprefix("sms-optout-")
    assert (transformation["MetricNamespace"], transformation["MetricName"]) == (
        f"sms-optout/{stage_name}",
        "ApiThrottledRequests",
    )
    alarms = [p for name, _, p in alarm_metrics(stage) if name == "ApiThrottledRequests"]
    assert [a["AlarmName"] for a in alarms] == [f"{prefix_of(stage)}-api-throttled"]
    assert alarms[0]["Namespace"] == f"sms-optout/{stage_name}"
    assert alarms[0]["Threshold"] == 1


# --- SES -----------------------------------------------------------------------------------------------------


def test_ses_identity_and_configuration_set(prod: Synthesised, dev: Synthesised) -> None:
    configuration_set = prod.logical_id("AWS::SES::ConfigurationSet", "EmailConfigurationSet")
    template_of(prod).has_resource_properties(
        "AWS::SES::EmailIdentity",
        {
            "EmailIdentity": "alerts@example.com",
            "ConfigurationSetAttributes": {"ConfigurationSetName": Match.any_value()},
        },
    )
    template_of(prod).has_resource_properties("AWS::SES::ConfigurationSet", {"Name": "sms-optout-prod"})
    assert prod.resources("AWS::SES::ConfigurationSet")[configuration_set]
    # Without `-c sender_email=...` the sender is a CloudFormation parameter.
    assert "SenderEmail" in dev.template["Parameters"]
    template_of(dev).has_resource_properties("AWS::SES::EmailIdentity", {"EmailIdentity": {"Ref": "SenderEmail"}})


# --- alarms --------------------------------------------------------------------------------------------------


def alarm_metrics(synthesised: Synthesised) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(metric name, dimensions, alarm properties) of every metric every alarm watches."""
    found = []
    for alarm in synthesised.resources("AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        metrics = [(properties.get("MetricName"), properties.get("Dimensions", []))]
        metrics += [
            (m["MetricStat"]["Metric"]["MetricName"], m["MetricStat"]["Metric"].get("Dimensions", []))
            for m in properties.get("Metrics", [])
            if "MetricStat" in m
        ]
        for name, dimensions in metrics:
            if name:
                found.append((name, {d["Name"]: d["Value"] for d in dimensions}, properties))
    return found


def test_alarms_exist(stage: Synthesised) -> None:
    metrics = alarm_metrics(stage)
    prefix = function(stage, API_FUNCTION)["FunctionName"].removesuffix("-api")

    def watched(name: str, **dimensions: Any) -> bool:
        return any(m == name and all(d.get(k) == v for k, v in dimensions.items()) for m, d, _ in metrics)

    dead_letter_queue = {"Fn::GetAtt": [queue_id(stage, "SendDeadLetterQueue"), "QueueName"]}
    assert watched("ApproximateNumberOfMessagesVisible", QueueName=dead_letter_queue)
    for function_name in (f"{prefix}-api", f"{prefix}-send", f"{prefix}-outbox", f"{prefix}-sms-topic"):
        assert watched("Errors", FunctionName=function_name)
        assert watched("Throttles", FunctionName=function_name)
    assert watched("5XXError", ApiName=prefix, Stage="api")
    table = {"Ref": stage.logical_id("AWS::DynamoDB::Table", "SuppressionTable")}
    for kind in ("Read", "Write"):
        assert watched(f"{kind}ThrottleEvents", TableName=table)
        for index in INDEXES:
            assert watched(f"{kind}ThrottleEvents", TableName=table, GlobalSecondaryIndexName=index), (kind, index)
    assert watched("ThrottledRequests", TableName=table)
    # The app's own metric: the namespace and the one series the send function writes (tests/unit/test_sending.py)
    (counts,) = [p for m, d, p in metrics if m == "CampaignCountsNotAdded" and d == {"service": SERVICE}]
    assert counts["Namespace"] == NAMESPACE
    # The 5xx alarm watches this stage's API alone: the API is named after the stage.
    assert stage.resource("AWS::Serverless::Api")["Properties"]["Name"] == prefix


def test_outbox_function_alarms(stage: Synthesised) -> None:
    # The sweep runs unattended every 5 minutes: a failing one leaves email jobs unqueued, so it alarms at once.
    function_name = f"{prefix_of(stage)}-outbox"
    alarms = {
        properties["MetricName"]: properties
        for _, dimensions, properties in alarm_metrics(stage)
        if dimensions == {"FunctionName": function_name}
    }
    assert set(alarms) == {"Errors", "Throttles"}
    for metric_name, properties in alarms.items():
        assert properties["Namespace"] == "AWS/Lambda"
        assert properties["Statistic"] == "Sum"
        assert properties["Threshold"] == 1
        assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert properties["TreatMissingData"] == "notBreaching"
        assert properties["AlarmName"] == f"{prefix_of(stage)}-outbox-function-{metric_name.lower()}"


def test_failed_two_way_sms_notices_alarm(stage: Synthesised) -> None:
    # A notice in the failure queue may be an opt-out not stored; one Lambda could not put there is lost.
    failure_queue = {"Fn::GetAtt": [queue_id(stage, "InboundFailureQueue"), "QueueName"]}
    function_name = f"{prefix_of(stage)}-sms-topic"
    alarms = {
        name: properties
        for name, dimensions, properties in alarm_metrics(stage)
        if dimensions in ({"QueueName": failure_queue}, {"FunctionName": function_name})
    }
    assert set(alarms) == {"ApproximateNumberOfMessagesVisible", "DestinationDeliveryFailures", "Errors", "Throttles"}
    for properties in alarms.values():
        assert properties["Threshold"] == 1
        assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarms["ApproximateNumberOfMessagesVisible"]["AlarmName"] == f"{prefix_of(stage)}-inbound-failures"


def test_table_throttle_alarms_add_up_the_table_and_its_indexes(stage: Synthesised) -> None:
    for kind in ("Read", "Write"):
        alarm = next(
            a["Properties"]
            for a in stage.resources("AWS::CloudWatch::Alarm").values()
            if a["Properties"].get("AlarmName", "").endswith(f"-table-{kind.lower()}-throttles")
        )
        expression = next(m["Expression"] for m in alarm["Metrics"] if "Expression" in m)
        ids = [m["Id"] for m in alarm["Metrics"] if "MetricStat" in m]
        assert sorted(ids) == sorted(["table", *INDEXES])
        assert all(f"FILL({metric_id}, 0)" in expression for metric_id in ids), expression


def test_prod_alarms_notify_the_alarm_topic(prod: Synthesised) -> None:
    topic = prod.logical_id("AWS::SNS::Topic", "AlarmTopic")
    template_of(prod).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": PROD_CONTEXT["alarm_email"]}
    )
    for alarm in prod.resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]


def test_dev_alarms_without_a_topic_notify_nobody(dev: Synthesised) -> None:
    assert not dev.resources("AWS::SNS::Topic")
    assert dev.resources("AWS::CloudWatch::Alarm")
    for alarm in dev.resources("AWS::CloudWatch::Alarm").values():
        assert "AlarmActions" not in alarm["Properties"]


# --- outputs and the template as a whole ---------------------------------------------------------------------


def test_outputs(prod: Synthesised, dev: Synthesised) -> None:
    for synthesised in (prod, dev):
        outputs = synthesised.template["Outputs"]
        assert {"ApiUrl", "TwilioWebhookUrl", "TwilioStatusCallbackUrl", "TableName", "SendQueueUrl"} <= set(outputs)
        assert "DeadLetterQueueUrl" in outputs
        assert "/api/" in dump(outputs["ApiUrl"]["Value"])
    assert prod.template["Outputs"]["TwilioWebhookUrl"]["Value"] == (
        "https://sms.example.com/api/webhooks/twilio/{account_id}"
    )
    assert dev.template["Outputs"]["TwilioStatusCallbackUrl"]["Value"]["Fn::Join"][1][-1] == (
        "/api/webhooks/twilio/{account_id}/status"
    )
    # A topic in another AWS account subscribes this URL over HTTPS; this stack's topics are listed.
    assert (
        prod.template["Outputs"]["AwsSmsWebhookUrl"]["Value"] == "https://sms.example.com/api/webhooks/aws/{account_id}"
    )
    assert prod.template["Outputs"]["InboundTopicArns"]["Value"] == {
        "Fn::Join": [",", [{"Ref": inbound_topics(prod)[account]} for account in PROD_SMS_ACCOUNTS]]
    }
    assert "InboundTopicArns" not in dev.template["Outputs"]
    assert "InboundFailureQueueUrl" in dev.template["Outputs"]


def cfn_lint() -> str:
    found = Path(sys.executable).with_name("cfn-lint")
    return str(found) if found.exists() else shutil.which("cfn-lint") or pytest.fail("cfn-lint is not installed")


def test_cfn_lint_passes(prod: Synthesised, dev: Synthesised) -> None:
    result = subprocess.run(
        [cfn_lint(), "--", str(prod.path), str(dev.path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
