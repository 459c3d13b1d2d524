"""The local stack: an embedded AWS endpoint (moto server), the service's resources, `chalice local`, the demo
account and the file that describes it (`.run/demo.json`).

Used by `make run` (tools/run_local.py) and by the integration tests. Standard library, boto3, moto and
(for the demo's Telnyx key pair) cryptography only. Nothing here is deployed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from chalicelib.adapters.dynamodb.table import table_definition
from tools import local_dynamodb
from tools.demo_file import DEMO_FILE, PROJECT_ROOT

HOST = "127.0.0.1"
DEFAULT_REGION = "us-east-1"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
#: The send queue's visibility timeout: longer than the send function's own timeout, as AWS advises.
SEND_QUEUE_VISIBILITY_TIMEOUT = 180
#: Receives of a message before SQS moves it to the dead-letter queue.
MAX_RECEIVE_COUNT = 5
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
#: The verified SES identity alert emails come from locally.
EMAIL_SENDER = "alerts@optout.localhost"
#: An account's two-way SMS topic is this prefix plus the account id (OPTOUT_INBOUND_TOPIC_PREFIX).
INBOUND_TOPIC_PREFIX = "optout-inbound-"
#: The demo account's own number, on every carrier.
DEMO_NUMBER = "+14155550100"
# Where `make run` describes the demo (URLs, tokens, carrier credentials) for scripts: DEMO_FILE, unless
# OPTOUT_DEMO_FILE says otherwise (demo_file_path()); see write_demo_file() and tools/demo_file.py.

log = logging.getLogger(__name__)


# --- ports -----------------------------------------------------------------------------------


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could bind `port` (same SO_REUSEADDR as http.server and werkzeug use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def _http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, bytes]:
    """(status, body) of one HTTP request; 4xx and 5xx are answers too, not exceptions."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (local URLs only)
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


# --- the embedded AWS endpoint ---------------------------------------------------------------


class _MotoServer(ThreadedMotoServer):
    """ThreadedMotoServer that reports a failed bind instead of leaving start() waiting forever."""

    error: BaseException | None = None

    def _server_entry(self) -> None:
        try:
            super()._server_entry()
        except BaseException as error:  # surfaced by start_aws() in the calling thread
            self.error = error
            self._server_ready_event.set()


class AwsEndpoint:
    """The embedded AWS endpoint: moto's server in a thread of this process, bound to 127.0.0.1."""

    def __init__(self, server: _MotoServer, port: int) -> None:
        self._server: _MotoServer | None = server
        self.port = port
        self.url = f"http://{HOST}:{port}"

    def reset(self) -> None:
        """Forget every resource and item (POST /moto-api/reset)."""
        status, body = _http("POST", f"{self.url}/moto-api/reset", b"")
        if status != 200:
            raise RuntimeError(f"moto reset answered {status}: {body[:200]!r}")

    def stop(self) -> None:
        """Stop serving; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> AwsEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def use_dummy_credentials() -> None:
    """Give boto3 credentials and a region when the environment has none (moto accepts any)."""
    for name, value in DUMMY_CREDENTIALS.items():
        if name != "AWS_SESSION_TOKEN":
            os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)


def start_aws(port: int | None = None, *, quiet: bool = True, timeout: float = 15) -> AwsEndpoint:
    """Start moto's server on 127.0.0.1, on `port` or on a free one; raise OSError when it cannot bind.

    Its DynamoDB is patched first (tools/local_dynamodb.py; this process's moto, whose server runs in a thread of
    it): moto alone loses committed writes when a transaction is cancelled under concurrency, and copies the whole
    table for every transaction.
    """
    local_dynamodb.install()  # refuses a moto version the patches were not checked against
    use_dummy_credentials()
    if quiet:
        # werkzeug logs every request at INFO (the worker's polls included) unless told otherwise.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = _MotoServer(ip_address=HOST, port=port or 0, verbose=False)
    server.start()  # returns once bound, or once the bind failed (see _MotoServer)
    if server.error is not None:
        raise OSError(f"the embedded AWS endpoint could not bind {HOST}:{port}: {server.error}") from server.error
    _, bound_port = server.get_host_and_port()
    endpoint = AwsEndpoint(server, bound_port)
    deadline = time.monotonic() + timeout
    while True:  # the socket listens already; make sure the app answers before handing it out
        try:
            status, _ = _http("GET", f"{endpoint.url}/moto-api/data.json", timeout=2)
            if status == 200:
                return endpoint
        except OSError:
            pass
        if time.monotonic() > deadline:
            endpoint.stop()
            raise TimeoutError(f"the embedded AWS endpoint at {endpoint.url} did not answer within {timeout} s")
        time.sleep(0.05)


# --- resources -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """Names, URLs and ARNs of what create_resources() made."""

    endpoint_url: str
    region: str
    email_sender: str
    table_name: str
    queue_name: str
    queue_url: str
    queue_arn: str
    dlq_name: str
    dlq_url: str
    dlq_arn: str
    #: The change events' EventBridge bus (OPTOUT_EVENT_BUS_NAME).
    event_bus_name: str = "optout-events"
    #: The import files' S3 bucket (OPTOUT_IMPORT_BUCKET: its default names this one).
    import_bucket: str = "optout-imports"


def _region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def client(service: str, endpoint_url: str, region: str | None = None) -> Any:
    """A boto3 client for the embedded endpoint (dummy credentials unless the environment has some)."""
    use_dummy_credentials()
    return boto3.client(service, endpoint_url=endpoint_url, region_name=region or _region())


def create_resources(
    endpoint_url: str,
    *,
    table_name: str = "optout",
    queue_name: str = "optout-send",
    email_sender: str = EMAIL_SENDER,
    region: str | None = None,
) -> Resources:
    """Create the table, the send queue and its dead-letter queue, and verify the alert emails' sender
    in the embedded SES; what exists already is kept."""
    region = region or _region()
    dynamodb = client("dynamodb", endpoint_url, region)
    try:
        dynamodb.create_table(**table_definition(table_name))
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})

    sqs = client("sqs", endpoint_url, region)
    dlq_name = f"{queue_name}-dlq"
    dlq_url = _create_queue(sqs, dlq_name, {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})
    dlq_arn = _queue_arn(sqs, dlq_url)
    queue_url = _create_queue(
        sqs,
        queue_name,
        {
            "VisibilityTimeout": str(SEND_QUEUE_VISIBILITY_TIMEOUT),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )
    # SES, like the real sandbox, refuses to send from an unverified address.
    client("sesv2", endpoint_url, region).create_email_identity(EmailIdentity=email_sender)
    create_event_bus(endpoint_url, region=region)
    create_import_bucket(endpoint_url, region=region)
    return Resources(
        endpoint_url=endpoint_url,
        region=region,
        email_sender=email_sender,
        table_name=table_name,
        queue_name=queue_name,
        queue_url=queue_url,
        queue_arn=_queue_arn(sqs, queue_url),
        dlq_name=dlq_name,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
    )


def create_import_bucket(endpoint_url: str, name: str = "optout-imports", *, region: str | None = None) -> str:
    """Create the import files' bucket (private, encrypted by default, as infra/ makes it); an existing one is kept."""
    s3 = client("s3", endpoint_url, region)
    try:
        s3.create_bucket(Bucket=name)  # us-east-1 takes no location constraint; the embedded endpoint needs none
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    encryption = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=encryption)
    return name


def create_event_bus(endpoint_url: str, name: str = "optout-events", *, region: str | None = None) -> str:
    """Create the change events' EventBridge bus on the embedded endpoint (moto takes PutEvents on a custom bus and
    routes it by rules); an existing one is kept. Returns its ARN."""
    events = client("events", endpoint_url, region)
    try:
        return str(events.create_event_bus(Name=name)["EventBusArn"])
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    return str(events.describe_event_bus(Name=name)["Arn"])


def _create_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    try:
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    except ClientError as error:
        # Exists with other attributes: bring it to ours.
        if error.response["Error"]["Code"] not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
    url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def _queue_arn(sqs: Any, queue_url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def create_inbound_topic(
    endpoint_url: str, account_id: str, *, prefix: str = INBOUND_TOPIC_PREFIX, region: str | None = None
) -> str:
    """Create an account's two-way SMS topic (`prefix` + the account id) and return its ARN; an existing one is
    kept (CreateTopic is idempotent)."""
    return str(client("sns", endpoint_url, region).create_topic(Name=f"{prefix}{account_id}")["TopicArn"])


def service_environment(
    endpoint_url: str,
    resources: Resources,
    operator_token: str,
    *,
    public_base_url: str | None = None,
    secrets_prefix: str = "/optout",
    inbound_topic_prefix: str = INBOUND_TOPIC_PREFIX,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment variables the API and the send function need to run against the embedded endpoint."""
    env = {
        "OPTOUT_TABLE_NAME": resources.table_name,
        "OPTOUT_SEND_QUEUE_URL": resources.queue_url,
        "OPTOUT_OPERATOR_TOKEN": operator_token,
        "OPTOUT_SECRETS_PREFIX": secrets_prefix,
        "OPTOUT_EMAIL_SENDER": resources.email_sender,
        "OPTOUT_INBOUND_TOPIC_PREFIX": inbound_topic_prefix,
        # Without a public base URL, webhook signatures are checked against the URL rebuilt from the request's Host:
        # right on this machine (the carrier, a script, is local), refused in AWS unless this says so.
        "OPTOUT_ALLOW_HOST_URL": "true",
        # Change events go to the embedded bus, and to event endpoints that may be plain http:// on this machine.
        "OPTOUT_EVENT_BUS_NAME": resources.event_bus_name,
        "OPTOUT_ALLOW_LOOPBACK_ENDPOINTS": "true",
        # The embedded endpoint answers in milliseconds, but a busy machine (a test run on every core) can hold it
        # for seconds: 2 s, right in AWS, would turn that into 503s here. The timeout test sets its own.
        "OPTOUT_AWS_READ_TIMEOUT": "10",
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": resources.region,
        "AWS_REGION": resources.region,
        **DUMMY_CREDENTIALS,
    }
    if public_base_url:
        env["OPTOUT_PUBLIC_BASE_URL"] = public_base_url
    env.update(extra or {})
    return env


# --- the API (chalice local) -----------------------------------------------------------------

# Started in front of `chalice local`: the server gets SIGTERM when the process that started it dies, even by
# SIGKILL (PR_SET_PDEATHSIG survives exec), so a killed test run or `make run` leaves no server behind.
_LAUNCHER = """
import ctypes, os, signal, sys
parent = int(sys.argv[1])
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (AttributeError, OSError):
    pass  # not Linux: stop() still ends the server
if os.getppid() != parent:
    sys.exit(1)  # the parent died before prctl
os.execv(sys.argv[2], sys.argv[2:])
"""


def _chalice_executable() -> str:
    beside_python = Path(sys.executable).parent / "chalice"  # the venv's, without resolving the symlink
    if beside_python.exists():
        return str(beside_python)
    raise FileNotFoundError(f"no chalice executable beside {sys.executable}: run `make venv`")


class ApiServer:
    """A running `chalice local` subprocess."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_file: IO[bytes] | None) -> None:
        self.process = process
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self._log_file = log_file

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, when it goes to a file."""
        if self._log_file is None:
            return ""
        self._log_file.flush()
        return "\n".join(Path(self._log_file.name).read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL after `timeout`; safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.close()

    def __enter__(self) -> ApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_api(
    env: dict[str, str], port: int | None = None, *, log_path: Path | None = None, timeout: float = 60
) -> ApiServer:
    """Run `chalice local` on 127.0.0.1:`port` (a free one when None) and wait until it answers HTTP.

    `env` is laid over this process's environment (minus inherited OPTOUT_* and AWS profile variables,
    which could point the server elsewhere). The server's output goes to `log_path`, or to this terminal.
    """
    port = port or free_port()
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("OPTOUT_") and name not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
    }
    full_env = inherited | {"PYTHONUNBUFFERED": "1"} | env
    command = [_chalice_executable(), "local", "--host", HOST, "--port", str(port), "--stage", "dev", "--no-autoreload"]
    log_file = log_path.open("ab") if log_path is not None else None
    process = subprocess.Popen(  # noqa: S603 (our own executable and arguments)
        [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *command],
        cwd=PROJECT_ROOT,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT if log_file is not None else None,
        start_new_session=True,  # a terminal's Ctrl-C reaches the caller, which stops the server in order
    )
    server = ApiServer(process, port, log_file)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"chalice local exited with {process.returncode} before answering on {server.url}"
                    + (f"; its log ends:\n{server.log_tail()}" if log_file else "")
                )
            try:
                _http("GET", f"{server.url}/", timeout=2)
                return server  # any HTTP answer will do: the app is loaded and serving
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"chalice local did not answer on {server.url} within {timeout} s")
            time.sleep(0.1)
    except BaseException:
        server.stop()
        raise


# --- the demo account ------------------------------------------------------------------------

#: The demo account's carriers, in the order the banner and `.run/demo.json` list them.
DEMO_CARRIERS = ("twilio", "aws", "telnyx", "plivo", "vonage", "bandwidth")
#: The Vonage signature method the demo account is set to (the dashboard's default is `md5hash`).
DEMO_VONAGE_SIGNATURE_METHOD = "hmac-sha256"


@dataclass(frozen=True)
class DemoAccount:
    """The demo account as create_demo_account() set it up: its admin token and each carrier's credentials.

    A carrier whose credentials are None is not configured on the account (only `aws` needs something from the
    caller: the account's two-way SMS topic).
    """

    account_id: str
    admin_token: str
    twilio_account_sid: str
    twilio_auth_token: str
    #: The account's two-way SMS topic (its `aws` carrier), when it has one.
    aws_topic_arn: str | None = None
    number: str = DEMO_NUMBER
    #: Telnyx: the Ed25519 key pair, raw 32-byte keys in base64; the account gets the public key, the private key
    #: signs as Telnyx would.
    telnyx_public_key: str | None = None
    telnyx_private_key: str | None = None
    plivo_auth_id: str | None = None
    plivo_auth_token: str | None = None
    vonage_api_key: str | None = None
    vonage_signature_secret: str | None = None
    vonage_signature_method: str | None = None
    #: Bandwidth's callback credentials (HTTP Basic).
    bandwidth_username: str | None = None
    bandwidth_password: str | None = None

    def carriers(self) -> dict[str, dict[str, str]]:
        """The `carriers` of the account, as PUT /v1/accounts/{id} takes them: each carrier's credentials form."""
        forms: dict[str, dict[str, str | None]] = {
            "twilio": {"account_sid": self.twilio_account_sid, "auth_token": self.twilio_auth_token},
            "aws": {"topic_arn": self.aws_topic_arn},
            "telnyx": {"public_key": self.telnyx_public_key},
            "plivo": {"auth_id": self.plivo_auth_id, "auth_token": self.plivo_auth_token},
            "vonage": {
                "api_key": self.vonage_api_key,
                "signature_secret": self.vonage_signature_secret,
                "signature_method": self.vonage_signature_method,
            },
            "bandwidth": {"callback_username": self.bandwidth_username, "callback_password": self.bandwidth_password},
        }
        return _configured(forms)

    def credentials(self) -> dict[str, dict[str, str]]:
        """Each configured carrier's credentials as `.run/demo.json` names them: what a script needs to sign as the
        carrier does (telnyx's private key too; bandwidth's callback credentials as `username` and `password`)."""
        documented: dict[str, dict[str, str | None]] = {
            "twilio": {"account_sid": self.twilio_account_sid, "auth_token": self.twilio_auth_token},
            "aws": {"topic_arn": self.aws_topic_arn},
            "telnyx": {"public_key": self.telnyx_public_key, "private_key": self.telnyx_private_key},
            "plivo": {"auth_id": self.plivo_auth_id, "auth_token": self.plivo_auth_token},
            "vonage": {
                "api_key": self.vonage_api_key,
                "signature_secret": self.vonage_signature_secret,
                "signature_method": self.vonage_signature_method,
            },
            "bandwidth": {"username": self.bandwidth_username, "password": self.bandwidth_password},
        }
        return _configured(documented)


def _configured(by_carrier: dict[str, dict[str, str | None]]) -> dict[str, dict[str, str]]:
    """The carriers whose fields are all set, in DEMO_CARRIERS order (a partly set one is a mistake: ValueError)."""
    configured = {}
    for name in DEMO_CARRIERS:
        fields = by_carrier[name]
        if all(value is None for value in fields.values()):
            continue
        missing = [field for field, value in fields.items() if value is None]
        if missing:
            raise ValueError(f"the demo account's {name} credentials lack {', '.join(missing)}")
        configured[name] = {field: str(value) for field, value in fields.items()}
    return configured


def ed25519_key_pair() -> tuple[str, str]:
    """A new Ed25519 key pair as (public key, private key): raw 32-byte keys in base64, as Telnyx shows its public
    key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    private_bytes = private.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    public_bytes = private.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
    return base64.b64encode(public_bytes).decode("ascii"), base64.b64encode(private_bytes).decode("ascii")


def new_demo_credentials(account_id: str, *, topic_arn: str | None = None) -> DemoAccount:
    """Fresh local credentials for every carrier (no admin token yet): random secrets in each carrier's format, a
    new Telnyx key pair, Vonage signing with HMAC-SHA256; `aws` only with `topic_arn`."""
    telnyx_public_key, telnyx_private_key = ed25519_key_pair()
    return DemoAccount(
        account_id=account_id,
        admin_token="",
        twilio_account_sid="AC" + secrets.token_hex(16),
        twilio_auth_token=secrets.token_hex(16),
        aws_topic_arn=topic_arn,
        telnyx_public_key=telnyx_public_key,
        telnyx_private_key=telnyx_private_key,
        plivo_auth_id="MA" + secrets.token_hex(9).upper(),  # MA (a main account) and 18 letters or digits
        plivo_auth_token=secrets.token_hex(20),
        vonage_api_key=secrets.token_hex(4),  # Vonage's API keys are 8 hex digits
        vonage_signature_secret=secrets.token_hex(24),
        vonage_signature_method=DEMO_VONAGE_SIGNATURE_METHOD,
        bandwidth_username=f"{account_id}-callbacks",
        bandwidth_password=secrets.token_urlsafe(24),
    )


class DemoAccountError(RuntimeError):
    """The API refused to create the demo account."""


def create_demo_account(
    api_url: str,
    operator_token: str,
    *,
    account_id: str = "demo",
    topic_arn: str | None = None,
    timeout: float = 30,
) -> DemoAccount:
    """Create (or update) the demo account over HTTP, sending through `local` (nothing leaves the machine), with a
    new admin token and fresh local credentials for every carrier (new_demo_credentials()), all in one request;
    with `topic_arn`, the `aws` carrier too (the account's two-way SMS topic)."""
    credentials = new_demo_credentials(account_id, topic_arn=topic_arn)
    body = {
        "name": "Demo business",
        "default_region": "US",
        # Texts are recorded in the outbound log instead of going to a carrier.
        "sms_provider": "local",
        "issue_token": True,
        "carriers": credentials.carriers(),
    }
    url = f"{api_url}/v1/accounts/{account_id}"
    status, answer = _http(
        "PUT",
        url,
        json.dumps(body).encode(),
        {"Authorization": f"Bearer {operator_token}", "Content-Type": "application/json"},
        timeout=timeout,
    )
    if status not in (200, 201):
        raise DemoAccountError(f"PUT {url} answered {status}: {answer.decode(errors='replace')[:500]}")
    try:
        document = json.loads(answer)
        return replace(
            credentials,
            account_id=str(document["account"].get("account_id", account_id)),
            admin_token=str(document["token"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise DemoAccountError(f"PUT {url} answered {status} without account and token: {answer[:500]!r}") from error


# --- the demo file (.run/demo.json) ----------------------------------------------------------


def webhook_urls(base_url: str, carrier: str, account_id: str) -> tuple[str, str]:
    """(inbound, status) webhook URLs of one carrier for one account under `base_url`."""
    webhook = f"{base_url.rstrip('/')}/webhooks/{carrier}/{account_id}"
    return webhook, f"{webhook}/status"


def demo_document(
    demo: DemoAccount,
    *,
    api_url: str,
    aws_endpoint: str,
    operator_token: str,
    public_base_url: str | None = None,
) -> dict[str, Any]:
    """What `.run/demo.json` holds, a shape outside scripts rely on:

    `{"api", "aws_endpoint", "operator_token", "account_id", "admin_token", "carriers": {name: {"webhook_url",
    "status_url", "number", and the carrier's own credentials: twilio `account_sid`, `auth_token`; aws `topic_arn`;
    telnyx `public_key`, `private_key` (base64 raw Ed25519 keys); plivo `auth_id`, `auth_token`; vonage `api_key`,
    `signature_secret`, `signature_method`; bandwidth `username`, `password` (its callback credentials)}}}`, for
    each carrier the account has. Webhook URLs are under `public_base_url` when carriers reach the API through one.
    """
    carriers: dict[str, dict[str, str]] = {}
    for name, credentials in demo.credentials().items():
        webhook, status = webhook_urls(public_base_url or api_url, name, demo.account_id)
        carriers[name] = {"webhook_url": webhook, "status_url": status, "number": demo.number, **credentials}
    return {
        "api": api_url,
        "aws_endpoint": aws_endpoint,
        "operator_token": operator_token,
        "account_id": demo.account_id,
        "admin_token": demo.admin_token,
        "carriers": carriers,
    }


def write_demo_file(document: dict[str, Any], path: Path = DEMO_FILE) -> Path:
    """Write `document` to `path` as JSON, replacing what was there: atomically (a temporary file in the same
    directory, renamed over it: a reader sees the old file or the new one, never a part) and readable by this user
    only (0600: it holds tokens). The directory is created (0700) when missing."""
    text = json.dumps(document, indent=2) + "\n"  # before any file exists: a value JSON cannot hold changes nothing
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)  # mkstemp's mode already; said here because the file holds tokens
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path
