"""Configuration, read from the environment on first use and cached (never at import time).

A plain pydantic model: each field comes from its keyword argument, else from its environment variable (`OPTOUT_` and
the field's name, or the field's alias, in any case), else its default; pydantic converts and checks the text. (No
pydantic-settings: its sources, dotenv and CLI parsing cost every cold start ~25 ms of imports for what
`_environment` does.)
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

#: A field's environment variable is this prefix and its name (upper case), unless the field has an alias.
ENV_PREFIX = "OPTOUT_"


class Settings(BaseModel):
    """Every knob of the service; the README lists each as an environment variable."""

    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=False)

    def __init__(self, **values: Any) -> None:
        super().__init__(**(_environment() | values))

    #: The single DynamoDB table (suppressions, history, logs, accounts).
    table_name: str = "optout"
    #: Receives of a send request before the queue dead-letters it (its maxReceiveCount): the last one records a
    #: provider that still asks to retry as a failure, so the outcome is counted, not lost.
    send_max_receives: int = Field(default=5, ge=1)
    #: The SQS queue the send function consumes.
    send_queue_url: str | None = None
    #: The public base URL carriers call (e.g. https://sms.example.com/prod); webhook signatures are checked
    #: against it. When unset, the URL is rebuilt from the request's Host only if `allow_host_url` says so.
    public_base_url: str | None = None
    #: Rebuild a webhook's signed URL from the request's Host header when `public_base_url` is unset: for local
    #: runs only (`make run`, tests). Otherwise an unset base URL is a configuration error and webhooks are a 403.
    allow_host_url: bool = False
    #: The operator token in plain text (local use); otherwise it is read from the secret store under this name.
    operator_token: str | None = None
    operator_token_secret: str = "operator-token"
    #: The key that signs listing cursors (HMAC-SHA256), in plain text (local use); otherwise read from the secret
    #: store under `cursor_key_secret` when that is set; neither: derived from the operator token.
    cursor_key: SecretStr | None = None
    cursor_key_secret: str | None = None
    #: SSM Parameter Store prefix under which carrier credentials are kept as SecureStrings.
    secrets_prefix: str = "/optout"
    #: How long carrier credentials are cached in a warm function, in seconds.
    secrets_max_age: int = 60
    #: Largest request body accepted, in bytes (413 above it).
    max_body_bytes: int = Field(default=65536, ge=1024)
    #: The suppression import's own body limit (a CSV of up to 100,000 rows): 5 MiB, since API Gateway hands the body
    #: to Lambda inside the event, and a synchronous invocation takes at most 6 MB. Larger files go through an upload.
    import_max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    #: The S3 bucket of import files: CSV bodies kept for their job, and uploads (presigned POST).
    import_bucket: str = "optout-imports"
    #: Largest file an upload URL accepts, in bytes.
    import_max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    #: Twilio's REST API (a loopback server in tests).
    twilio_api_url: str = "https://api.twilio.com"
    #: Bounds on a carrier's REST API call when sending a text, in seconds.
    carrier_http_timeout: float = Field(default=10.0, gt=0)
    #: AWS End User Messaging SMS configuration set for sends through `aws` (optional).
    sms_configuration_set: str | None = None
    #: An account's two-way SMS topic is named this prefix plus the account id (`on_sns_message` routes by it).
    inbound_topic_prefix: str = "optout-inbound-"
    #: The address alert emails come from when the account sets none (an SES-verified identity).
    email_sender: str | None = None
    #: SES configuration set for alert emails (optional).
    ses_configuration_set: str | None = None
    #: The AWS endpoint for every client (the embedded one locally); unset in AWS.
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_DEFAULT_REGION")
    #: Every AWS call: seconds to connect, seconds to wait for an answer, attempts in all (standard retries).
    #: A webhook must answer well inside a carrier's timeout (Twilio's is 15 s) and API Gateway's 29 s.
    aws_connect_timeout: float = Field(default=1.0, gt=0)
    aws_read_timeout: float = Field(default=2.0, gt=0)
    aws_max_attempts: int = Field(default=3, ge=1, le=10)
    #: The EventBridge bus every change event goes to (infra/ creates one per stage, `make run` one on the embedded
    #: endpoint). Unset: change events go to the accounts' endpoints only.
    event_bus_name: str | None = None
    #: Event endpoints may be plain http:// to this machine (127.0.0.1, ::1, localhost): local runs and tests only.
    #: Otherwise an endpoint is https:// to a public host, checked when it is created and again when it is called.
    allow_loopback_endpoints: bool = False
    #: Seconds an event endpoint may take to connect, and to answer, per attempt (no redirect is followed).
    event_webhook_timeout: float = Field(default=10.0, gt=0, le=30)


def _environment() -> dict[str, str]:
    """The settings the environment sets, by field name (variable names are not case-sensitive)."""
    environ = {name.upper(): value for name, value in os.environ.items()}
    found = {}
    for name, field in Settings.model_fields.items():
        variable = field.validation_alias if isinstance(field.validation_alias, str) else ENV_PREFIX + name
        if variable.upper() in environ:
            found[name] = environ[variable.upper()]
    return found


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
