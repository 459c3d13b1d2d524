"""The deployable stack: the Chalice app (API, send, outbox and two-way SMS functions), its table, queues, SES, the
accounts' two-way SMS topics, IAM, the API's access logs and throttling, and alarms.

The functions come from `chalice package` through Chalice's CDK construct (`chalice.cdk.Chalice`), which imports the
generated SAM template into this stack. Chalice manages no IAM role here (`manage_iam_role: false`): each function gets
its own role below, with the actions its code calls and the resources it calls them on. What Chalice cannot express
(function names, per-function timeouts and roles, the SQS event's queue and ReportBatchItemFailures, the schedule
rule's name, the two-way SMS function's topics and failure destination, reserved concurrency, the API stage's access
logs and method throttling) is patched onto the generated resources with property overrides.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sam as sam
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from chalice.cdk import Chalice
from constructs import Construct

from chalicelib.adapters.dynamodb.table import GSI1, GSI2, GSI3, table_definition
from infra import bundle
from infra.config import StageConfig, Throttle

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Logical ids `chalice package` gives the app's resources (from app.py's function names).
API_FUNCTION_ID = "APIHandler"
SEND_FUNCTION_ID = "HandleSendQueue"
SEND_EVENT_ID = "HandleSendQueueSqsEventSource"
OUTBOX_FUNCTION_ID = "FlushEmailOutbox"
#: app.py's `@app.schedule`: a SAM Schedule event, from which SAM makes the EventBridge rule and its Lambda permission.
OUTBOX_EVENT_ID = "FlushEmailOutboxEvent"
#: app.py's `@app.on_sns_message(topic="optout-inbound")`: two-way SMS from AWS End User Messaging SMS.
SMS_TOPIC_FUNCTION_ID = "HandleSmsTopic"
REST_API_ID = "RestAPI"
API_GATEWAY_STAGE = "api"

#: Every AWS client of the functions (OPTOUT_AWS_*, chalicelib/wiring.py): seconds to connect, seconds to wait for an
#: answer, attempts in all, in botocore's standard retry mode. The app's defaults (chalicelib/settings.py), chosen so a
#: webhook answers 503 inside Twilio's 15 s when the store hangs; set here too so the timeouts below follow from them.
AWS_CONNECT_TIMEOUT_SECONDS = 1
AWS_READ_TIMEOUT_SECONDS = 2
AWS_MAX_ATTEMPTS = 3
#: The standard retry mode's longest backoff before retry i (from 1): rand(0, 1) x min(2^(i-1), 20) s (the botocore
#: of Lambda's runtime; newer ones back off 20 times less for errors other than throttling).
AWS_RETRY_BACKOFF_SECONDS = sum(min(2**retry, 20) for retry in range(AWS_MAX_ATTEMPTS - 1))
#: One AWS call at its slowest: every attempt connects just in time and then waits the whole read timeout (12 s).
AWS_CALL_WORST_SECONDS = AWS_MAX_ATTEMPTS * (AWS_CONNECT_TIMEOUT_SECONDS + AWS_READ_TIMEOUT_SECONDS) + (
    AWS_RETRY_BACKOFF_SECONDS
)
#: What a cold start adds before the handler runs (imports of boto3, pydantic, Powertools without .pyc; BENCHMARKS.md).
COLD_START_SECONDS = 3

#: API Gateway answers 504 after 29 s; a longer Lambda timeout would keep working for a caller already gone. It holds
#: two AWS calls at their slowest (2 x 12 s) after a cold start (27 s), the other calls of a webhook (about 6, each
#: ~10 ms) taking their usual time. Past Twilio's 15 s the carrier has given up, but what the function still stores
#: (an opt-out) stays stored; a shorter timeout would cut it off. Three slow calls do not fit (39 s).
API_TIMEOUT_SECONDS = 29
SEND_TIMEOUT_SECONDS = 30
#: AWS calls a two-way SMS notice makes one after the other: the account, the number's state (and its keyword
#: opt-outs), the transaction, the email job and its outbox update, the reply.
INBOUND_AWS_CALLS = 6
#: Asynchronous (SNS): nobody waits, so every call may take its slowest and the function still ends by itself, with
#: the error of the call that failed rather than a timeout: 78 s (a cold start, and as much again for the code).
SMS_TOPIC_TIMEOUT_SECONDS = INBOUND_AWS_CALLS * AWS_CALL_WORST_SECONDS + 2 * COLD_START_SECONDS
#: Lambda's asynchronous retries of a failed notice (at most 2, about 1 and 2 minutes apart), and how long it keeps
#: one it could not run (throttled) before giving up; then the record goes to the failure queue.
SMS_TOPIC_RETRY_ATTEMPTS = 2
SMS_TOPIC_MAX_EVENT_AGE_SECONDS = 6 * 3600
#: One sweep queues at most 100 jobs (a Query, then a SendMessage and an UpdateItem each); well under the schedule's
#: 5 minutes, so sweeps do not overlap.
OUTBOX_TIMEOUT_SECONDS = 60
#: One BatchGetItem reads the suppression state of up to 100 recipients; the window lets a batch fill up.
SEND_BATCH_SIZE = 100
SEND_BATCHING_WINDOW_SECONDS = 1
#: AWS: at least six times the function timeout (plus the batching window), so throttled retries of a batch
#: do not make SQS hand its records out again while they are still being sent.
SEND_VISIBILITY_TIMEOUT_SECONDS = 6 * SEND_TIMEOUT_SECONDS + SEND_BATCHING_WINDOW_SECONDS
#: Receives before a record goes to the dead-letter queue (the same as the local stack).
MAX_RECEIVE_COUNT = 5
#: The outbox sweep runs alone: one instance, so a sweep still running (or invoked by hand) never overlaps the next.
OUTBOX_RESERVED_CONCURRENCY = 1
#: API Gateway's access log line, one JSON object per request. The route's template (`resourcePath`), never the path
#: itself: admin paths hold phone numbers. No query string, headers or body (signatures, message text). `errorType` is
#: the gateway response type: THROTTLED when the stage's method throttling refused the request.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "ip": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "errorType": "$context.error.responseType",
        "errorMessage": "$context.error.message",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationStatus": "$context.integration.status",
        "integrationLatency": "$context.integration.latency",
    },
    separators=(",", ":"),
)
#: Route prefixes with their own throttling budget: the carriers' webhooks. Every other route (`/v1/...`, and any
#: route app.py adds elsewhere) has the admin budget.
WEBHOOK_ROUTE_PREFIX = "/webhooks/"
#: Swagger's operation keys that are HTTP methods (a path item may also hold `parameters`).
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
TTL_ATTRIBUTE = "expires_at"
SERVICE_NAME = "sms-optout"
#: Where the functions write their own metrics (chalicelib/observability.py's NAMESPACE).
METRICS_NAMESPACE = "SmsOptOut"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
#: sms-voice resource types SendTextMessage is authorised on, when no `sms_resource_arns` narrows them.
SMS_RESOURCE_TYPES = ("phone-number", "pool", "sender-id", "configuration-set", "opt-out-list")
#: AWS End User Messaging SMS publishes two-way SMS (a phone number's or pool's two-way channel) and a configuration
#: set's SNS event destination as this service principal.
SMS_VOICE_PRINCIPAL = "sms-voice.amazonaws.com"
FAILED_RECORDS_RETENTION = cdk.Duration.days(14)
#: Import files (bodies and uploads) are deleted this many days after they were written (the bucket's lifecycle).
IMPORT_FILE_DAYS = 7
#: chalicelib/domain/imports.py: a request's body is kept under `imports/<account>/...`, an upload under `uploads/...`.
IMPORT_BODY_PREFIX = "imports/"
IMPORT_UPLOAD_PREFIX = "uploads/"


class BundledChalice(Chalice):
    """Chalice's construct, deploying the bundle infra/bundle.py builds (`chalice package`'s zip, trimmed and compiled)
    rather than the zip as `chalice package` leaves it. The construct packages in `_package_app` and then uploads
    `<package dir>/deployment.zip`: only the packaging is replaced (chalice is pinned in requirements-dev.txt)."""

    def _package_app(self) -> None:
        bundle.package(self.source_dir, self._sam_package_dir, self.stage_name, self.stage_config)


class SmsOptoutStack(cdk.Stack):
    """One stage of the service. `chalice_workdir` receives `chalice package`'s output (the construct writes it to
    `./chalice.out`, so it is built with that directory as the working directory)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, chalice_workdir: Path, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.removal = removal = cdk.RemovalPolicy.RETAIN if config.production else cdk.RemovalPolicy.DESTROY
        cdk.Tags.of(self).add("service", SERVICE_NAME)
        cdk.Tags.of(self).add("stage", config.stage)

        self.table = self._table(removal)
        self.dead_letter_queue, self.send_queue = self._queues()
        self.inbound_failure_queue = self._inbound_failure_queue()
        self.email_identity, self.email_configuration_set = self._email()
        self.event_bus = self._event_bus()
        self.import_bucket = self._import_bucket(removal)

        self.api_function_name = f"{config.prefix}-api"
        self.send_function_name = f"{config.prefix}-send"
        self.outbox_function_name = f"{config.prefix}-outbox"
        self.sms_topic_function_name = f"{config.prefix}-sms-topic"
        self.api_log_group = self._log_group("ApiLogGroup", self.api_function_name, removal)
        self.send_log_group = self._log_group("SendLogGroup", self.send_function_name, removal)
        self.outbox_log_group = self._log_group("OutboxLogGroup", self.outbox_function_name, removal)
        self.sms_topic_log_group = self._log_group("SmsTopicLogGroup", self.sms_topic_function_name, removal)
        self.api_access_log_group = self._log_group(
            "ApiAccessLogGroup", f"{config.prefix}-api-access", removal, path="/aws/apigateway"
        )
        self.api_role = self._role("ApiRole", "The API function: webhooks and the admin API", self._api_statements())
        self.send_role = self._role("SendRole", "The send function: the send queue's consumer", self._send_statements())
        self.outbox_role = self._role(
            "OutboxRole", "The outbox function: queues email jobs left in the outbox", self._outbox_statements()
        )
        self.sms_topic_role = self._role(
            "SmsTopicRole", "The two-way SMS function: the accounts' inbound topics", self._sms_topic_statements()
        )

        self.chalice = self._chalice_app(chalice_workdir)
        self.api_name = config.prefix
        self._patch_chalice_resources()
        self.inbound_topics = self._inbound_topics()
        self._alarms()
        self._outputs()

    # --- data ----------------------------------------------------------------------------------------

    def _table(self, removal: cdk.RemovalPolicy) -> dynamodb.Table:
        """The single table, with the key schema the app's adapters use (chalicelib/adapters/dynamodb/table.py)."""
        definition = table_definition(self.config.prefix)
        types = {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}

        def attribute(key_schema: list[dict[str, str]], key_type: str) -> dynamodb.Attribute:
            name = next(k["AttributeName"] for k in key_schema if k["KeyType"] == key_type)
            return dynamodb.Attribute(name=name, type=_attribute_type(types[name]))

        table = dynamodb.Table(
            self,
            "SuppressionTable",
            table_name=definition["TableName"],
            partition_key=attribute(definition["KeySchema"], "HASH"),
            sort_key=attribute(definition["KeySchema"], "RANGE"),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # A KMS key (the AWS managed aws/dynamodb key): encryption at rest that shows in the template.
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=self.config.production,
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=removal,
        )
        for index in definition["GlobalSecondaryIndexes"]:
            table.add_global_secondary_index(
                index_name=index["IndexName"],
                partition_key=attribute(index["KeySchema"], "HASH"),
                sort_key=attribute(index["KeySchema"], "RANGE"),
                projection_type=dynamodb.ProjectionType(index["Projection"]["ProjectionType"]),
                non_key_attributes=index["Projection"].get("NonKeyAttributes"),
            )
        return table

    def _queues(self) -> tuple[sqs.Queue, sqs.Queue]:
        """The send queue and its dead-letter queue, under SSE-KMS with the AWS managed key (aws/sqs): its key policy
        lets this account's principals use it through SQS, so the roles need no KMS grant, and every use of the key
        shows in CloudTrail. Only the functions' roles send to them (SQS moves a dead letter itself)."""
        dead_letter_queue = sqs.Queue(
            self,
            "SendDeadLetterQueue",
            queue_name=f"{self.config.prefix}-send-dlq",
            encryption=sqs.QueueEncryption.KMS_MANAGED,
            enforce_ssl=True,
            retention_period=FAILED_RECORDS_RETENTION,
        )
        send_queue = sqs.Queue(
            self,
            "SendQueue",
            queue_name=f"{self.config.prefix}-send",
            encryption=sqs.QueueEncryption.KMS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=cdk.Duration.seconds(SEND_VISIBILITY_TIMEOUT_SECONDS),
            retention_period=cdk.Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letter_queue, max_receive_count=MAX_RECEIVE_COUNT),
        )
        return dead_letter_queue, send_queue

    def _inbound_failure_queue(self) -> sqs.Queue:
        """Where a two-way SMS notice lands when it could not be stored, kept 14 days: the two-way SMS function's
        on-failure destination (Lambda's record of the last failed attempt, with the notice as `requestPayload`) and
        the dead-letter queue of each topic's subscription (the notice itself, when SNS could not invoke the
        function)."""
        return sqs.Queue(
            self,
            "InboundFailureQueue",
            queue_name=f"{self.config.prefix}-inbound-failed",
            # SSE-SQS: SNS sends to it as the subscriptions' dead-letter queue, which SSE-KMS would allow only with a
            # customer managed key whose policy names SNS (the aws/sqs key's policy cannot).
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=FAILED_RECORDS_RETENTION,
        )

    def _email(self) -> tuple[ses.EmailIdentity, ses.ConfigurationSet]:
        sender = self.config.sender_email
        if sender is None:
            sender = cdk.CfnParameter(
                self,
                "SenderEmail",
                type="String",
                allowed_pattern=EMAIL_PATTERN,
                description="The SES sender address (or deploy with -c sender_email=...)",
            ).value_as_string
        configuration_set = ses.ConfigurationSet(
            self,
            "EmailConfigurationSet",
            configuration_set_name=self.config.prefix,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
            reputation_metrics=True,
        )
        identity = ses.EmailIdentity(
            self, "SenderIdentity", identity=ses.Identity.email(sender), configuration_set=configuration_set
        )
        self.sender_email = sender
        return identity, configuration_set

    def _event_bus(self) -> events.EventBus:
        """The change events' bus (chalicelib/adapters/eventbridge.py): every applied change of a suppression, as
        `suppression.created` / `suppression.lifted` from source `sms-optout`, for rules to route to the business's
        other systems. Only the send function puts events on it (it fans each change out)."""
        return events.EventBus(self, "ChangeEventBus", event_bus_name=f"{self.config.prefix}-events")

    def _import_bucket(self, removal: cdk.RemovalPolicy) -> s3.Bucket:
        """The import files (chalicelib/adapters/s3_import_files.py): the CSV bodies of imports, kept for their job
        (`imports/`), and files uploaded through presigned POSTs (`uploads/`). Private (every public access blocked,
        ACLs off: the bucket owns every object), TLS only, encrypted with the AWS managed KMS key (aws/s3, whose key
        policy lets this account's principals use it through S3: the presigned POST's signer and the reader need no
        KMS grant), and emptied by its lifecycle: a file expires IMPORT_FILE_DAYS after it was written (an import
        reads its file within minutes), an unfinished multipart upload after a day. Lists of phone numbers are
        personal data: nothing keeps them longer."""
        return s3.Bucket(
            self,
            "ImportBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.KMS_MANAGED,
            bucket_key_enabled=True,
            enforce_ssl=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-import-files",
                    expiration=cdk.Duration.days(IMPORT_FILE_DAYS),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            # Emptied by its lifecycle, it is transient: no stage keeps it when the stack goes (a bucket that still
            # holds files makes the deletion fail, so nothing is lost unseen).
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

    def _import_file_statements(self, *, write: bool) -> list[iam.PolicyStatement]:
        """The import files' grants. The API (`write`) keeps a request's CSV body (`imports/`), signs upload URLs (a
        presigned POST is authorised as its signer's PutObject on `uploads/`) and reads an upload's header; the send
        function reads both. ListBucket makes a missing file a 404 rather than a 403."""
        bucket = self.import_bucket
        prefixes = (IMPORT_BODY_PREFIX, IMPORT_UPLOAD_PREFIX)
        # The API reads only uploads (their header, before it creates the job); the send function reads both.
        read = (IMPORT_UPLOAD_PREFIX,) if write else prefixes
        statements = [
            iam.PolicyStatement(
                sid="ReadImportFiles",
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in read],
            ),
            iam.PolicyStatement(
                sid="FindImportFiles",
                # S3 answers a missing key 404 (not 403) only to a caller that may list the bucket; a condition on
                # s3:prefix would not apply to a GetObject. It shows the files' names (account and import ids), not
                # their content.
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
            ),
        ]
        if write:
            statements.append(
                iam.PolicyStatement(
                    sid="WriteImportFiles",
                    actions=["s3:PutObject"],
                    resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
                )
            )
        return statements

    # --- IAM -----------------------------------------------------------------------------------------

    def _log_group(
        self, construct_id: str, name: str, removal: cdk.RemovalPolicy, path: str = "/aws/lambda"
    ) -> logs.LogGroup:
        """A log group `<path>/<name>` (a function's by default), created here so logs expire (and the roles need no
        logs:CreateLogGroup): 1 month, 1 year in production."""
        return logs.LogGroup(
            self,
            construct_id,
            log_group_name=f"{path}/{name}",
            retention=logs.RetentionDays.ONE_YEAR if self.config.production else logs.RetentionDays.ONE_MONTH,
            removal_policy=removal,
        )

    def _role(self, construct_id: str, description: str, statements: list[iam.PolicyStatement]) -> iam.Role:
        # Inline: the permissions are part of the role resource, so they exist before the function (and its SQS
        # event source mapping, which AWS checks against the role when it is created).
        return iam.Role(
            self,
            construct_id,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{description} ({self.config.stage})",
            inline_policies={"least-privilege": iam.PolicyDocument(statements=statements)},
        )

    def _parameter_arn(self, name: str) -> str:
        """The ARN of an SSM parameter (or a path pattern), `name` starting with '/'."""
        return f"arn:{cdk.Aws.PARTITION}:ssm:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:parameter{name}"

    def _carrier_secrets_arn(self) -> str:
        # chalicelib.domain.accounts: carrier credentials are `<prefix>/accounts/<account id>/<carrier>/<name>`.
        return self._parameter_arn(f"{self.config.secrets_prefix}/accounts/*")

    def _logs_statement(self, log_group: logs.LogGroup) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid="WriteOwnLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group.log_group_arn],  # arn:...:log-group:<name>:* (its streams)
        )

    def _index_arn(self, index_name: str) -> str:
        return f"{self.table.table_arn}/index/{index_name}"

    def _api_statements(self) -> list[iam.PolicyStatement]:
        """What the API function calls: chalicelib/adapters/dynamodb/ (the stores, their listings on gsi1 and the
        review queue on gsi2, the outbox's job_queued, the outbound log's reads), the secret store (ssm_secrets.py:
        carrier credentials, and the operator token, `<secrets prefix>/operator-token`, for wiring's
        Container.operator_token), sqs_queue.SqsSendQueue (enqueue: SendMessageBatch; enqueue_job: SendMessage)."""
        table_arn = self.table.table_arn
        return [
            self._logs_statement(self.api_log_group),
            iam.PolicyStatement(
                sid="SuppressionTable",
                # TransactWriteItems is authorised per item: the store's commit is an Update and Puts.
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:Query",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                ],
                resources=[table_arn],
            ),
            iam.PolicyStatement(
                sid="DeleteNamedGroups",
                # The named groups (chalicelib/adapters/dynamodb/groups.py: a group and its name's word index) are the
                # only items the API deletes; the keys say so, so a number's history can never be deleted.
                actions=["dynamodb:DeleteItem"],
                resources=[table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["GROUPS#*", "GROUPWORDS#*"]}},
            ),
            iam.PolicyStatement(
                sid="SuppressionTableIndexes",
                # gsi1: suppressed numbers, the inbound log, the outbound log by campaign; gsi2: the review queue
                # (list_inbound(needs_review=True)); gsi3: a number's activity (and its inbound messages).
                actions=["dynamodb:Query"],
                resources=[self._index_arn(GSI1), self._index_arn(GSI2), self._index_arn(GSI3)],
            ),
            iam.PolicyStatement(
                sid="ReadSecrets",
                # Carrier credentials (accounts/*) and the operator token, both read through the secret store.
                actions=["ssm:GetParameter"],
                resources=[self._carrier_secrets_arn(), self._parameter_arn(self.config.operator_token_parameter)],
            ),
            iam.PolicyStatement(
                sid="StoreCarrierCredentials",
                # Not the operator token: an account update can store carrier credentials, nothing else.
                actions=["ssm:PutParameter"],
                resources=[self._carrier_secrets_arn()],
            ),
            iam.PolicyStatement(
                sid="EnqueueSends",
                # Send requests (SendMessageBatch, authorised as SendMessage) and email jobs (SendMessage).
                actions=["sqs:SendMessage"],
                resources=[self.send_queue.queue_arn],
            ),
            *self._import_file_statements(write=True),
        ]

    def _send_statements(self) -> list[iam.PolicyStatement]:
        """What the send function calls: the store's reads and event commits (carrier and bounce suppressions, an
        Update of the state and a Put of the event in one transaction; their email job is then queued and taken out
        of the outbox), the contact of a number (GetItem on its state), the outbound log's conditional writes and the
        email log's claim_email / email_done (chalicelib/adapters/dynamodb/outbound.py, emails.py), carrier
        credentials, the queue (as its event source, for backoff, and for email jobs), SMS through AWS End User
        Messaging, and e-mail through SES v2 (ses_mailer.py). Change events (workers/change_events.py): PutEvents on
        the bus, the account's endpoints item and the delivery log by key (GetItem, PutItem), endpoint secrets
        (`accounts/*` in SSM), deliveries on the send queue. No Query: the send path reads by key only."""
        return [
            self._logs_statement(self.send_log_group),
            iam.PolicyStatement(
                sid="SuppressionTable",
                actions=["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[self.table.table_arn],
            ),
            iam.PolicyStatement(
                sid="ReadCarrierCredentials",
                actions=["ssm:GetParameter"],
                resources=[self._carrier_secrets_arn()],
            ),
            iam.PolicyStatement(
                sid="ConsumeSendQueue",
                actions=[
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ],
                resources=[self.send_queue.queue_arn],
            ),
            iam.PolicyStatement(
                sid="EnqueueEmailJobs",
                # An opt-out a carrier reports while sending is stored with its email job, which is then queued.
                actions=["sqs:SendMessage"],
                resources=[self.send_queue.queue_arn],
            ),
            iam.PolicyStatement(
                sid="PublishChangeEvents",
                # chalicelib/workers/change_events.py fans each change out: PutEvents on this stage's bus only.
                actions=["events:PutEvents"],
                resources=[self.event_bus.event_bus_arn],
            ),
            iam.PolicyStatement(
                sid="SendSms",
                actions=["sms-voice:SendTextMessage"],
                resources=list(self.config.sms_resource_arns) or self._sms_resource_arns(),
            ),
            iam.PolicyStatement(
                sid="SendEmail",
                # SES v2 SendEmail with Simple content is authorised as ses:SendEmail (Raw content would need
                # ses:SendRawEmail, which the mailer never sends), on the From address's identity and on the
                # configuration set named in the request (also the identity's default one).
                actions=["ses:SendEmail"],
                resources=[self.email_identity.email_identity_arn, self._email_configuration_set_arn()],
            ),
            *self._import_file_statements(write=False),
        ]

    def _outbox_statements(self) -> list[iam.PolicyStatement]:
        """What the outbox function calls (chalicelib/workers/outbox.py, domain/alerts.flush_outbox): the store's
        pending_jobs (Query on gsi2) and job_queued (UpdateItem of an event item), and the jobs queued by
        SendMessageBatch (sqs:SendMessage). No secrets, no table reads by key, nothing else on the queue."""
        return [
            self._logs_statement(self.outbox_log_group),
            iam.PolicyStatement(
                sid="MarkJobsQueued",
                actions=["dynamodb:UpdateItem"],
                resources=[self.table.table_arn],
            ),
            iam.PolicyStatement(
                sid="ReadOutbox",
                actions=["dynamodb:Query"],
                resources=[self._index_arn(GSI2)],
            ),
            iam.PolicyStatement(
                sid="EnqueueEmailJobs",
                actions=["sqs:SendMessage"],
                resources=[self.send_queue.queue_arn],
            ),
        ]

    def _sms_topic_statements(self) -> list[iam.PolicyStatement]:
        """What the two-way SMS function calls (chalicelib/workers/sms_topic.py, then carrier_webhooks.store_notice):
        the account (GetItem), the number's state and whether the event is recorded (BatchGetItem), the event's
        transaction (an Update of the state, Puts of the event and the inbound message), the inbound log of a message
        that changes nothing (PutItem), the recorded event of a redelivery (GetItem), the outbox's job_queued
        (UpdateItem); the email job and the reply go on the send queue (SendMessage / SendMessageBatch). No Query, no
        index, no secrets: the topic is authenticated by IAM, not by a carrier signature. Lambda sends the record of
        a notice that failed every attempt to the failure queue with this role."""
        return [
            self._logs_statement(self.sms_topic_log_group),
            iam.PolicyStatement(
                sid="SuppressionTable",
                actions=["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[self.table.table_arn],
            ),
            iam.PolicyStatement(
                sid="EnqueueEmailJobsAndReplies",
                actions=["sqs:SendMessage"],
                resources=[self.send_queue.queue_arn],
            ),
            iam.PolicyStatement(
                sid="RecordFailedNotices",
                # The on-failure destination of its asynchronous invocations (Lambda uses the execution role).
                actions=["sqs:SendMessage"],
                resources=[self.inbound_failure_queue.queue_arn],
            ),
        ]

    def _sms_resource_arns(self) -> list[str]:
        # SendTextMessage supports resource-level permissions (origination identities, configuration sets, opt-out
        # lists), so this is the account's own resources of those types, not "*".
        return [
            f"arn:{cdk.Aws.PARTITION}:sms-voice:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:{kind}/*"
            for kind in SMS_RESOURCE_TYPES
        ]

    def _email_configuration_set_arn(self) -> str:
        return self.format_arn(
            service="ses",
            resource="configuration-set",
            resource_name=self.email_configuration_set.configuration_set_name,
        )

    # --- the Chalice app -----------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        """Every function's environment: names and URLs only. Secrets stay in SSM; the functions read them.

        OPTOUT_ALLOW_HOST_URL is false, always (the app's default too, stated so no change of default reaches a
        deployed stage): a deployed function checks signatures against OPTOUT_PUBLIC_BASE_URL, never against a URL
        rebuilt from the request's Host header. Every stage but dev has a public base URL (infra/config.py refuses
        to synthesise one without); a dev stack without one refuses signed webhooks."""
        config = self.config
        environment = {
            "OPTOUT_TABLE_NAME": self.table.table_name,
            "OPTOUT_SEND_QUEUE_URL": self.send_queue.queue_url,
            # The operator token is the secret store's `operator-token` under this prefix (the app's default name).
            "OPTOUT_SECRETS_PREFIX": config.secrets_prefix,
            "OPTOUT_INBOUND_TOPIC_PREFIX": config.inbound_topic_prefix,
            "OPTOUT_ALLOW_HOST_URL": "false",
            # Event endpoints are https:// to public hosts only in a deployed stage (never plain http to loopback).
            "OPTOUT_ALLOW_LOOPBACK_ENDPOINTS": "false",
            "OPTOUT_EVENT_BUS_NAME": self.event_bus.event_bus_name,
            "OPTOUT_IMPORT_BUCKET": self.import_bucket.bucket_name,
            "OPTOUT_EMAIL_SENDER": self.sender_email,
            "OPTOUT_SES_CONFIGURATION_SET": self.email_configuration_set.configuration_set_name,
            "OPTOUT_AWS_CONNECT_TIMEOUT": str(AWS_CONNECT_TIMEOUT_SECONDS),
            "OPTOUT_AWS_READ_TIMEOUT": str(AWS_READ_TIMEOUT_SECONDS),
            "OPTOUT_AWS_MAX_ATTEMPTS": str(AWS_MAX_ATTEMPTS),
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "LOG_LEVEL": config.log_level,
        }
        if config.public_base_url:
            environment["OPTOUT_PUBLIC_BASE_URL"] = config.public_base_url
        if config.sms_configuration_set:
            environment["OPTOUT_SMS_CONFIGURATION_SET"] = config.sms_configuration_set
        return environment

    def _chalice_app(self, workdir: Path) -> Chalice:
        stage_config = {
            "api_gateway_stage": API_GATEWAY_STAGE,
            "autogen_policy": False,
            "manage_iam_role": False,
            # Every function's role; the other functions' are replaced below (and a function this stack does not
            # know refuses to synthesise, so none runs with the API's role by default).
            "iam_role_arn": self.api_role.role_arn,
            "lambda_timeout": API_TIMEOUT_SECONDS,
            "lambda_memory_size": self.config.memory_mb,
            "environment_variables": self._environment(),
        }
        workdir.mkdir(parents=True, exist_ok=True)
        # The Chalice stage is this stack's construct id (the construct takes its scope's name).
        with contextlib.chdir(workdir):
            return BundledChalice(self, "App", source_dir=str(PROJECT_ROOT), stage_config=stage_config)

    def _patch_chalice_resources(self) -> None:
        """Give each of app.py's functions what Chalice cannot: its name, timeout, role, log group and events."""
        self._check_functions()
        self._patch_api_function()
        self._patch_send_function()
        self._patch_outbox_function()
        self._patch_sms_topic_function()
        self._patch_rest_api()

    def _check_functions(self) -> None:
        """Refuse a function app.py adds until this stack gives it its role, name, log group and alarms."""
        functions = {
            child.node.id
            for child in self.chalice.sam_template.node.children
            if isinstance(child, cdk.CfnResource) and child.cfn_resource_type == "AWS::Serverless::Function"
        }
        known = {API_FUNCTION_ID, SEND_FUNCTION_ID, OUTBOX_FUNCTION_ID, SMS_TOPIC_FUNCTION_ID}
        if functions != known:
            raise ValueError(
                f"app.py's functions are {sorted(functions)}, infra/stack.py knows {sorted(known)}: give each new "
                "function its own role, name, log group and alarms in infra/stack.py"
            )

    def _function(
        self, logical_id: str, name: str, timeout: int, log_group: logs.LogGroup, role: iam.Role | None = None
    ) -> cdk.CfnResource:
        """One of Chalice's functions, named, with its timeout, its role (None: Chalice's stage-wide one) and its
        log group created first."""
        function = self.chalice.get_resource(logical_id)
        function.add_property_override("FunctionName", name)
        function.add_property_override("Timeout", timeout)
        if role is not None:
            function.add_property_override("Role", role.role_arn)
        function.add_resource_dependency(log_group.node.default_child)
        return function

    def _patch_api_function(self) -> None:
        """The API: Chalice's stage-wide role is already its own."""
        self._function(API_FUNCTION_ID, self.api_function_name, API_TIMEOUT_SECONDS, self.api_log_group)

    def _patch_send_function(self) -> None:
        """The send queue's consumer: this stage's queue, batches of 100, partial batch responses, and at most
        `send_concurrency` instances (each sends one text at a time).

        The reserved concurrency caps the function (and keeps that much of the account's concurrency for it, so a
        webhook flood cannot starve it); the event source's maximum concurrency, the same number, keeps Lambda's
        pollers from invoking it beyond that cap, which would throttle batches and count receives towards the
        dead-letter queue."""
        send_function = self._function(
            SEND_FUNCTION_ID, self.send_function_name, SEND_TIMEOUT_SECONDS, self.send_log_group, self.send_role
        )
        event = f"Events.{SEND_EVENT_ID}.Properties"
        # app.py names the queue `optout-send`; each stage has its own, so the event points at this stack's.
        send_function.add_property_override(f"{event}.Queue", self.send_queue.queue_arn)
        send_function.add_property_override(f"{event}.BatchSize", SEND_BATCH_SIZE)
        send_function.add_property_override(f"{event}.MaximumBatchingWindowInSeconds", SEND_BATCHING_WINDOW_SECONDS)
        # Chalice cannot set it; without it Lambda ignores the worker's batchItemFailures and retries whole batches.
        send_function.add_property_override(f"{event}.FunctionResponseTypes", ["ReportBatchItemFailures"])
        send_function.add_property_override("ReservedConcurrentExecutions", self.config.send_concurrency)
        send_function.add_property_override(
            f"{event}.ScalingConfig", {"MaximumConcurrency": self.config.send_concurrency}
        )

    def _patch_outbox_function(self) -> None:
        """The outbox sweep: Chalice's schedule (rate(5 minutes), from app.py), with a rule name that says whose, one
        instance at a time."""
        outbox_function = self._function(
            OUTBOX_FUNCTION_ID,
            self.outbox_function_name,
            OUTBOX_TIMEOUT_SECONDS,
            self.outbox_log_group,
            self.outbox_role,
        )
        schedule = f"Events.{OUTBOX_EVENT_ID}.Properties"
        outbox_function.add_property_override(f"{schedule}.Name", f"{self.config.prefix}-flush-email-outbox")
        outbox_function.add_property_override(
            f"{schedule}.Description", f"Runs {self.outbox_function_name}: queues email jobs left in the outbox"
        )
        outbox_function.add_property_override("ReservedConcurrentExecutions", OUTBOX_RESERVED_CONCURRENCY)

    def _patch_sms_topic_function(self) -> None:
        """The two-way SMS function: no SAM event, and a failure destination for its asynchronous invocations.

        app.py's `on_sns_message(topic="optout-inbound")` becomes a SAM SNS event on a topic of that literal name,
        which exists in no stage (SAM would subscribe to it and fail the deploy). Each account has its own topic
        instead, subscribed by `_inbound_topics` (with a dead-letter queue, which SAM's event offers but cfn-lint's
        SAM schema does not know), so the event goes, as the send event's queue is replaced.
        """
        sms_topic_function = self._function(
            SMS_TOPIC_FUNCTION_ID,
            self.sms_topic_function_name,
            SMS_TOPIC_TIMEOUT_SECONDS,
            self.sms_topic_log_group,
            self.sms_topic_role,
        )
        sms_topic_function.add_property_deletion_override("Events")
        # SAM makes an AWS::Lambda::EventInvokeConfig of it. SNS invokes asynchronously: after Lambda's retries, the
        # record of the notice (request and error) goes to the failure queue, and its alarm fires.
        sms_topic_function.add_property_override(
            "EventInvokeConfig",
            {
                "MaximumRetryAttempts": SMS_TOPIC_RETRY_ATTEMPTS,
                "MaximumEventAgeInSeconds": SMS_TOPIC_MAX_EVENT_AGE_SECONDS,
                "DestinationConfig": {
                    "OnFailure": {"Type": "SQS", "Destination": self.inbound_failure_queue.queue_arn},
                },
            },
        )

    def _patch_rest_api(self) -> None:
        """One API name per stage (so the 5xx alarm's ApiName dimension is this stage's API alone), access logs, and
        method throttling."""
        rest_api = self.chalice.get_resource(REST_API_ID)
        if not isinstance(rest_api, sam.CfnApi):
            raise TypeError(f"{REST_API_ID} is a {rest_api.cfn_resource_type}, not a SAM API")
        rest_api.add_property_override("Name", self.api_name)
        rest_api.add_property_override("DefinitionBody.info.title", self.api_name)
        rest_api.add_property_override(
            "AccessLogSetting",
            {"DestinationArn": self.api_access_log_group.log_group_arn, "Format": ACCESS_LOG_FORMAT},
        )
        rest_api.add_property_override("MethodSettings", self._method_settings(rest_api.definition_body["paths"]))

    def _method_settings(self, paths: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """The stage's throttling: every webhook method has the webhook budget, every other method the admin budget
        (each method its own token bucket), and the stage default (`/*`, `*`) is the admin budget too. So a webhook
        flood is refused at the gateway before it reaches the admin API's budget, Lambda or the bill."""

        def setting(resource_path: str, http_method: str, throttle: Throttle) -> dict[str, Any]:
            return {
                "ResourcePath": resource_path,
                "HttpMethod": http_method,
                "ThrottlingRateLimit": throttle.rate_limit,
                "ThrottlingBurstLimit": throttle.burst_limit,
            }

        settings = [setting("/*", "*", self.config.admin_throttle)]
        for path, operations in sorted(paths.items()):
            throttle = (
                self.config.webhook_throttle if path.startswith(WEBHOOK_ROUTE_PREFIX) else self.config.admin_throttle
            )
            for method in sorted(m for m in operations if m in HTTP_METHODS):
                settings.append(setting(_method_setting_path(path), method.upper(), throttle))
        return settings

    # --- two-way SMS through AWS End User Messaging SMS -------------------------------------------------

    def _inbound_topics(self) -> dict[str, sns.Topic]:
        """Each listed account's two-way SMS topic, `<prefix>-inbound-<account id>` (the function routes by that
        name): encrypted with this stack's key, published to by AWS End User Messaging SMS (the phone number's or
        pool's two-way channel, and a configuration set's event destination) and subscribed by the function."""
        accounts = self.config.aws_sms_accounts
        if not accounts:
            return {}
        key = self._inbound_topic_key()
        function_arn = self.chalice.get_resource(SMS_TOPIC_FUNCTION_ID).get_att("Arn").to_string()
        topics: dict[str, sns.Topic] = {}
        for account_id in accounts:
            topic = sns.Topic(
                self,
                f"InboundTopic-{account_id}",
                topic_name=self.config.inbound_topic_name(account_id),
                display_name=f"Two-way SMS of account {account_id} ({self.config.stage})",
                master_key=key,
                enforce_ssl=True,
            )
            topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="SmsVoicePublishes",
                    principals=[iam.ServicePrincipal(SMS_VOICE_PRINCIPAL)],
                    actions=["sns:Publish"],
                    resources=[topic.topic_arn],
                    conditions=self._sms_voice_source_conditions(),
                )
            )
            self._subscribe_sms_topic_function(account_id, topic, function_arn)
            topics[account_id] = topic
        return topics

    def _sms_voice_source_conditions(self) -> dict[str, Any]:
        """Confused-deputy guard: AWS End User Messaging SMS may act only for this AWS account's own sms-voice
        resources in this region (phone numbers and pools publish two-way SMS, configuration sets their events)."""
        return {
            "StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID},
            "ArnLike": {"aws:SourceArn": f"arn:{cdk.Aws.PARTITION}:sms-voice:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:*"},
        }

    def _inbound_topic_key(self) -> kms.Key:
        """The topics' KMS key: customer managed, since a service principal must be allowed in the key policy to
        publish to an encrypted topic (the AWS managed aws/sns key's policy cannot be changed)."""
        key = kms.Key(
            self,
            "InboundTopicKey",
            alias=f"alias/{self.config.prefix}-inbound-topics",
            description=f"SSE of the two-way SMS topics of {self.config.prefix}",
            enable_key_rotation=True,
            removal_policy=self.removal,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="SmsVoiceEncryptsToInboundTopics",
                principals=[iam.ServicePrincipal(SMS_VOICE_PRINCIPAL)],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],  # in a key policy: this key
                conditions=self._sms_voice_source_conditions(),
            )
        )
        return key

    def _subscribe_sms_topic_function(self, account_id: str, topic: sns.Topic, function_arn: str) -> None:
        """The function's subscription to the topic, with the permission SNS invokes it by (from this topic only)
        and a dead-letter queue for what SNS could not deliver (a client error, such as a missing permission, is
        not retried)."""
        permission = lambda_.CfnPermission(
            self,
            f"InboundTopicInvoke-{account_id}",
            action="lambda:InvokeFunction",
            function_name=function_arn,
            principal="sns.amazonaws.com",
            source_arn=topic.topic_arn,
        )
        subscription = sns.Subscription(
            self,
            f"InboundSubscription-{account_id}",
            topic=topic,
            protocol=sns.SubscriptionProtocol.LAMBDA,
            endpoint=function_arn,
            dead_letter_queue=self.inbound_failure_queue,
        )
        subscription.node.add_dependency(permission)
        # The SAM transform turns the AWS::Serverless::Function into an AWS::Lambda::Function of the same logical id,
        # so its Arn is a Lambda function's by the time CloudFormation creates the subscription.
        cdk.Validations.of(subscription).acknowledge(
            cdk.Acknowledgment(id="CloudFormation-Validate::W3694", reason="a SAM function is a Lambda function")
        )

    # --- alarms and outputs --------------------------------------------------------------------------

    def _alarm_topic(self) -> sns.ITopic | None:
        if self.config.alarm_topic_arn:
            return sns.Topic.from_topic_arn(self, "AlarmTopic", self.config.alarm_topic_arn)
        if self.config.alarm_email:
            # Not KMS-encrypted: CloudWatch cannot publish to a topic under the AWS managed SNS key.
            topic = sns.Topic(self, "AlarmTopic", topic_name=f"{self.config.prefix}-alarms", enforce_ssl=True)
            topic.add_subscription(subscriptions.EmailSubscription(self.config.alarm_email))
            return topic
        return None

    def _alarms(self) -> None:
        topic = self._alarm_topic()
        self.alarm_topic = topic
        five_minutes = cdk.Duration.minutes(5)

        def alarm(construct_id: str, description: str, metric: cloudwatch.IMetric, threshold: float = 1) -> None:
            created = cloudwatch.Alarm(
                self,
                construct_id,
                alarm_name=f"{self.config.prefix}-{_kebab(construct_id)}",
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            if topic is not None:
                created.add_alarm_action(cloudwatch_actions.SnsAction(topic))
                created.add_ok_action(cloudwatch_actions.SnsAction(topic))

        alarm(
            "DeadLetterMessages",
            "Records in the send queue's dead-letter queue: send requests received 5 times and never sent, or "
            "change-event deliveries an account's endpoint failed for a day (its delivery log says why; the account "
            "can replay them). Inspect, then redrive.",
            self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=cdk.Duration.minutes(1), statistic="Maximum"
            ),
        )
        alarm(
            "SendBacklogAge",
            "The oldest send request has waited 15 minutes: the send function is failing, throttled or too slow.",
            self.send_queue.metric_approximate_age_of_oldest_message(period=five_minutes, statistic="Maximum"),
            threshold=900,
        )
        alarm(
            "InboundFailures",
            "Two-way SMS notices that could not be stored (after Lambda's retries, or undeliverable by SNS) are in "
            "the inbound failure queue: an opt-out may be among them. Inspect, then invoke the function again.",
            self.inbound_failure_queue.metric_approximate_number_of_messages_visible(
                period=cdk.Duration.minutes(1), statistic="Maximum"
            ),
        )
        alarm(
            "SmsTopicDestinationFailures",
            f"{self.sms_topic_function_name}: Lambda could not put a failed notice in the inbound failure queue, so "
            "it is lost; its log has the notice.",
            cloudwatch.Metric(
                namespace="AWS/Lambda",
                metric_name="DestinationDeliveryFailures",
                dimensions_map={"FunctionName": self.sms_topic_function_name},
                statistic="Sum",
                period=five_minutes,
            ),
        )
        functions = (
            ("Api", self.api_function_name),
            ("Send", self.send_function_name),
            ("Outbox", self.outbox_function_name),
            ("SmsTopic", self.sms_topic_function_name),
        )
        for name, function_name in functions:
            for metric_name in ("Errors", "Throttles"):
                alarm(
                    f"{name}Function{metric_name}",
                    f"{function_name}: {metric_name.lower()} in the last 5 minutes.",
                    cloudwatch.Metric(
                        namespace="AWS/Lambda",
                        metric_name=metric_name,
                        dimensions_map={"FunctionName": function_name},
                        statistic="Sum",
                        period=five_minutes,
                    ),
                )
        alarm(
            "CampaignCountsNotAdded",
            "A send batch's outcomes could not be added to its campaign's counters (every text was sent or skipped "
            "and logged; the campaign's counts are short). The send function's error line `campaign counts not "
            "added` has the account, the campaign and the counts to add.",
            cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name="CampaignCountsNotAdded",
                dimensions_map={"service": SERVICE_NAME},
                statistic="Sum",
                period=five_minutes,
            ),
        )
        alarm(
            "ApiThrottled",
            "API Gateway refused requests over a method's throttling budget (429). A webhook flood, or carriers' "
            "legitimate traffic over the webhook budget: a carrier may not retry a refused webhook. See the access "
            "log (errorType THROTTLED) for the route.",
            self._throttled_requests_metric(five_minutes),
        )
        alarm(
            "Api5xx",
            "The API answered 5xx (an opt-out it could not store is a 503: the carrier retries it).",
            cloudwatch.Metric(
                namespace="AWS/ApiGateway",
                metric_name="5XXError",
                dimensions_map={"ApiName": self.api_name, "Stage": API_GATEWAY_STAGE},
                statistic="Sum",
                period=five_minutes,
            ),
        )
        indexes = (GSI1, GSI2, GSI3)
        for kind in ("Read", "Write"):
            # Metric ids are the index names (gsi1, gsi2, gsi3), the table's is `table`.
            metrics: dict[str, cloudwatch.IMetric] = {
                "table": self.table.metric(f"{kind}ThrottleEvents", statistic="Sum", period=five_minutes)
            }
            for index in indexes:
                metrics[index] = cloudwatch.Metric(
                    namespace="AWS/DynamoDB",
                    metric_name=f"{kind}ThrottleEvents",
                    dimensions_map={"TableName": self.table.table_name, "GlobalSecondaryIndexName": index},
                    statistic="Sum",
                    period=five_minutes,
                )
            alarm(
                f"Table{kind}Throttles",
                f"DynamoDB throttled {kind.lower()}s on the table or its indexes {', '.join(indexes)}.",
                cloudwatch.MathExpression(
                    expression=" + ".join(f"FILL({metric_id}, 0)" for metric_id in metrics),
                    using_metrics=metrics,
                    label=f"{kind}ThrottleEvents",
                    period=five_minutes,
                ),
            )
        alarm(
            "TableThrottledRequests",
            "DynamoDB throttled requests of the operations the functions call.",
            self.table.metric_throttled_requests_for_operations(
                operations=[
                    dynamodb.Operation.GET_ITEM,
                    dynamodb.Operation.PUT_ITEM,
                    dynamodb.Operation.UPDATE_ITEM,
                    dynamodb.Operation.BATCH_GET_ITEM,
                    dynamodb.Operation.QUERY,
                    dynamodb.Operation.TRANSACT_WRITE_ITEMS,
                ],
                period=five_minutes,
            ),
        )

    def _throttled_requests_metric(self, period: cdk.Duration) -> cloudwatch.IMetric:
        """Requests the stage's throttling refused, counted from the access log (API Gateway publishes no metric of
        its own for them: they are among the 4XXError)."""
        metric_filter = logs.MetricFilter(
            self,
            "ApiThrottledFilter",
            log_group=self.api_access_log_group,
            metric_namespace=f"{SERVICE_NAME}/{self.config.stage}",
            metric_name="ApiThrottledRequests",
            filter_pattern=logs.FilterPattern.string_value("$.errorType", "=", "THROTTLED"),
            metric_value="1",
        )
        return metric_filter.metric(statistic="Sum", period=period)

    def _outputs(self) -> None:
        rest_api = self.chalice.get_resource(REST_API_ID)
        api_url = f"https://{rest_api.ref}.execute-api.{cdk.Aws.REGION}.{cdk.Aws.URL_SUFFIX}/{API_GATEWAY_STAGE}"
        base = self.config.public_base_url or api_url
        outputs = {
            "ApiUrl": (api_url + "/", "The API's URL (API Gateway, stage api)"),
            "TwilioWebhookUrl": (
                f"{base}/webhooks/twilio/{{account_id}}",
                "Twilio's 'A message comes in' webhook (POST); put the account id in",
            ),
            "TwilioStatusCallbackUrl": (
                f"{base}/webhooks/twilio/{{account_id}}/status",
                "Twilio's status callback (POST); put the account id in",
            ),
            "TableName": (self.table.table_name, "The suppression table"),
            "SendQueueUrl": (self.send_queue.queue_url, "The send queue"),
            "DeadLetterQueueUrl": (self.dead_letter_queue.queue_url, "The send queue's dead-letter queue"),
            "AwsSmsWebhookUrl": (
                f"{base}/webhooks/aws/{{account_id}}",
                "HTTPS subscription of a two-way SMS topic in another AWS account; put the account id in",
            ),
            "InboundFailureQueueUrl": (
                self.inbound_failure_queue.queue_url,
                "Two-way SMS notices the function could not store",
            ),
            "OperatorTokenParameter": (
                self.config.operator_token_parameter,
                "SSM SecureString to create out of band with the operator token",
            ),
            "SecretsPrefix": (self.config.secrets_prefix, "SSM prefix of the carrier credentials"),
            "EmailConfigurationSetName": (self.email_configuration_set.configuration_set_name, "SES configuration set"),
            "EventBusName": (self.event_bus.event_bus_name, "The change events' EventBridge bus (source sms-optout)"),
            "ImportBucketName": (self.import_bucket.bucket_name, "Import files: bodies and uploads, kept 7 days"),
        }
        if self.alarm_topic is not None:
            outputs["AlarmTopicArn"] = (self.alarm_topic.topic_arn, "Where the alarms go")
        if self.inbound_topics:
            outputs["InboundTopicArns"] = (
                cdk.Fn.join(",", [topic.topic_arn for topic in self.inbound_topics.values()]),
                "Two-way SMS topics (account order of aws_sms_accounts): each account's aws topic_arn, and the "
                "two-way channel of its phone numbers",
            )
        for name, (value, description) in outputs.items():
            cdk.CfnOutput(self, name, value=value, description=description)


def _attribute_type(code: str) -> dynamodb.AttributeType:
    return {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER, "B": dynamodb.AttributeType.BINARY}[
        code
    ]


def _method_setting_path(path: str) -> str:
    """A route as a stage's method setting names it: `/` for the root, else '/' then the path with every '/' as '~1'
    (`/v1/accounts` is `/~1v1~1accounts`)."""
    return "/" if path == "/" else "/" + path.replace("/", "~1")


def _kebab(name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))
