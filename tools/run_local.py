"""`make run`: the whole service on this machine, with moto's server as the embedded AWS endpoint.

Starts the embedded AWS endpoint (AWS_PORT, else 4566, else a free port), creates the table, the queues and the demo
account's two-way SMS topic, starts `chalice local` (PORT, else 8000, else a free port), the queue worker and the SNS
bridge (the topic to the `on_sns_message` function, `handle_sms_topic`), creates the demo account with every carrier
(twilio, aws, telnyx, plivo, vonage, bandwidth: local credentials, generated each time; it sends through `local`, so
nothing goes anywhere), writes `.run/demo.json` (every carrier's URLs and credentials), prints the tokens, each
carrier's webhook URLs, examples to paste (a STOP per carrier through `python -m tools.send_sms`) and `ready`, and
runs until Ctrl-C or SIGTERM, which stop everything it started (the demo file stays; the next start overwrites it).

Environment: OPTOUT_OPERATOR_TOKEN (generated and printed when unset), OPTOUT_PUBLIC_BASE_URL (when carriers
reach the API through a tunnel), PORT, AWS_PORT, OPTOUT_DEMO_FILE (the demo file's path instead of `.run/demo.json`:
a second `make run`, a test's say, then leaves the first one's file alone; tools/demo_file.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

from tools.demo_file import DEMO_FILE, demo_file_path
from tools.local_sns import LocalSnsBridge
from tools.local_stack import (
    INBOUND_TOPIC_PREFIX,
    PROJECT_ROOT,
    DemoAccount,
    DemoAccountError,
    create_demo_account,
    create_inbound_topic,
    create_resources,
    demo_document,
    free_port,
    port_is_free,
    service_environment,
    start_api,
    start_aws,
    write_demo_file,
)
from tools.local_worker import LocalWorker

DEFAULT_API_PORT = 8000
DEFAULT_AWS_PORT = 4566  # where AWS tools usually look for a local endpoint
DEMO_ACCOUNT_ID = "demo"
CONTACT = "+14155550123"
#: The demo account's named groups (kind, id, name): what the console's New unsubscribe finds by name.
DEMO_GROUPS = (
    ("event", "gala-2026", "Annual Charity Gala 2026"),
    ("event", "spring-fair", "Spring Fair"),
    ("organisation", "acme-corp", "ACME Corporation"),
    ("employee", "emp-ana", "Ana García (sales)"),
    ("topic", "newsletter", "Weekly newsletter"),
    ("group", "vip", "VIP customers"),
)

log = logging.getLogger("run_local")


def say(text: str = "") -> None:
    print(text, flush=True)


def _port(variable: str, default: int) -> int:
    """The port in `variable` exactly (it must be free), else `default`, else a free one."""
    raw = os.environ.get(variable)
    if raw:
        try:
            port = int(raw)
        except ValueError:
            raise SystemExit(f"{variable}={raw!r} is not a port number") from None
        if not port_is_free(port):
            raise SystemExit(f"{variable}={port}, but something listens on 127.0.0.1:{port}")
        return port
    if port_is_free(default):
        return default
    port = free_port()
    say(f"port {default} is taken: using {port} (set {variable} to choose)")
    return port


def _interrupt(signum: int, frame: Any) -> NoReturn:
    # The first Ctrl-C or SIGTERM stops everything; more of them must not cut that short and leave a server behind.
    _ignore_signals()
    raise KeyboardInterrupt


def _ignore_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _signed_stop_curl(carrier: dict[str, str]) -> str:
    """A curl command that posts what Twilio would for a STOP from CONTACT, signed with the demo's auth token (Twilio
    signs no time, so it can be printed ahead)."""
    from chalicelib.adapters.carriers.twilio import compute_signature

    params = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": carrier["account_sid"],
        "From": CONTACT,
        "To": carrier["number"],
        "Body": "STOP",
    }
    webhook_url = carrier["webhook_url"]
    signature = compute_signature(webhook_url, sorted(params.items()), carrier["auth_token"])
    fields = " ".join(f"--data-urlencode {shlex.quote(f'{name}={value}')}" for name, value in params.items())
    return f"curl -X POST {webhook_url} -H {shlex.quote('X-Twilio-Signature: ' + signature)} {fields}"


def _tool_command(module: str, arguments: str, demo_file: Path) -> str:
    """`python -m tools.<module> <arguments>`, runnable as printed: this Python, from the project directory, with
    the demo file when it is not the default one."""
    python = Path(sys.executable)
    if python.is_relative_to(PROJECT_ROOT):
        python = python.relative_to(PROJECT_ROOT)
    command = f"{shlex.quote(str(python))} -m tools.{module} {arguments}"
    if demo_file != DEMO_FILE:
        command += f" --demo-file {shlex.quote(str(demo_file))}"
    # `-m tools...` needs the project directory as the current one.
    return command if Path.cwd() == PROJECT_ROOT else f"cd {shlex.quote(str(PROJECT_ROOT))} && {command}"


def _aws_cli_publish_command(aws_url: str, topic_arn: str, number: str) -> str:
    """The same STOP with the aws CLI: the embedded endpoint accepts any credentials, but the CLI needs some."""
    message = {
        "originationNumber": CONTACT,
        "destinationNumber": number,
        "messageKeyword": f"KEYWORD_{topic_arn.split(':')[4]}",
        "messageBody": "STOP",
        "inboundMessageId": str(uuid.uuid4()),
    }
    return (
        f"AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url {aws_url}"
        f" --region {topic_arn.split(':')[3]} sns publish --topic-arn {topic_arn}"
        f" --message {shlex.quote(json.dumps(message, separators=(',', ':')))}"
    )


def create_demo_groups(api_url: str, account_id: str, admin_token: str) -> list[str]:
    """The demo account's named groups, created through the API (an id it has already is left as it is)."""
    import urllib.error
    import urllib.request

    created = []
    for kind, group_id, name in DEMO_GROUPS:
        request = urllib.request.Request(  # noqa: S310 (the local API)
            f"{api_url}/v1/accounts/{account_id}/groups",
            data=json.dumps({"kind": kind, "id": group_id, "name": name}).encode(),
            headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30):  # noqa: S310
                created.append(group_id)
        except urllib.error.HTTPError as error:
            if error.code != 409:
                raise DemoAccountError(f"POST .../groups answered {error.code}: {error.read()[:300]!r}") from None
    return created


def _banner(demo: DemoAccount, document: dict[str, Any], generated: bool, demo_file: Path) -> None:
    api_url, aws_url = document["api"], document["aws_endpoint"]
    number_url = f"{api_url}/v1/accounts/{demo.account_id}/numbers/{quote(CONTACT, safe='')}"
    carriers: dict[str, dict[str, str]] = document["carriers"]
    say()
    say(f"embedded AWS endpoint   {aws_url}   (aws --endpoint-url {aws_url} ...)")
    say(f"API                     {api_url}")
    note = "   (generated: set OPTOUT_OPERATOR_TOKEN to keep one)" if generated else ""
    say(f"operator token          {document['operator_token']}{note}")
    say(f"demo account            {demo.account_id}   (number {demo.number} on every carrier; sends nothing anywhere)")
    say(f"  admin token           {demo.admin_token}")
    say("  carrier               webhook URL, and status callback URL (credentials: in the demo file)")
    width = max((len(carrier["webhook_url"]) for carrier in carriers.values()), default=0)
    for name, carrier in carriers.items():
        say(f"  {name:<20}  {carrier['webhook_url']:<{width}}   {carrier['status_url']}")
        if name == "aws":
            say(
                f"  {'':<20}  (texts arrive on topic {carrier['topic_arn'].rsplit(':', 1)[-1]}, bridged to"
                " handle_sms_topic; the URLs take only SNS signed by AWS)"
            )
    say(f"demo file               {demo_file}   (kept after Ctrl-C; the next make run overwrites it)")
    say()
    auth = shlex.quote("Authorization: Bearer " + demo.admin_token)
    sends = f"{api_url}/v1/accounts/{demo.account_id}/sends"
    body = json.dumps(
        {
            "requests": [
                {
                    "request_id": "demo-1",
                    "to": CONTACT,
                    "sender": demo.number,
                    "body": "Hello from the demo",
                    "campaign_id": "demo",
                    "user_email": "ana@example.com",
                    "contact_email": "bo@example.com",
                }
            ]
        }
    )
    say("# 1. ana@example.com texts the contact (the demo account's texts go to the log, not a carrier):")
    say(f"curl -X POST {sends} -H {auth} -H 'Content-Type: application/json' -d {shlex.quote(body)}")
    say(f"curl '{sends}?campaign=demo' -H {auth}")
    say(f"# 2. {CONTACT} texts STOP through any one carrier, posted and signed now as that carrier does (the answer")
    say("#    is printed; aws publishes on the topic):")
    for name in carriers:
        say(_tool_command("send_sms", f"--carrier {name} --from {CONTACT} --body STOP", demo_file))
    if "twilio" in carriers:
        say("#    the twilio one as plain curl (Twilio's signature holds no time, so it can be printed ahead):")
        say(_signed_stop_curl(carriers["twilio"]))
    if "aws" in carriers and shutil.which("aws"):
        say("#    the aws one with the aws CLI:")
        say(_aws_cli_publish_command(aws_url, carriers["aws"]["topic_arn"], carriers["aws"]["number"]))
    say("# 3. the number's state, and the emails Ana and the contact got (make mail):")
    say(f"curl {number_url} -H {auth}")
    say(f"# 4. the admin console: {api_url}/console/ (sign in with account {demo.account_id} and the admin token)")
    say()


def main() -> int:
    code = _run()
    log.info("stopped everything it started")
    return code


def _run() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)  # "Found credentials in environment variables"
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)  # as cleanly as Ctrl-C
    with contextlib.ExitStack() as started:  # closed last in, first out: worker, API, AWS
        try:
            aws = start_aws(_port("AWS_PORT", DEFAULT_AWS_PORT))
            started.callback(aws.stop)
            say(f"embedded AWS endpoint on {aws.url}")
            resources = create_resources(aws.url)
            topic_arn = create_inbound_topic(aws.url, DEMO_ACCOUNT_ID, region=resources.region)
            say(
                f"created table {resources.table_name}, queues {resources.queue_name} and {resources.dlq_name},"
                f" topic {topic_arn.rsplit(':', 1)[-1]}"
            )

            operator_token = os.environ.get("OPTOUT_OPERATOR_TOKEN") or ""
            generated = not operator_token
            operator_token = operator_token or secrets.token_urlsafe(32)
            public_base_url = os.environ.get("OPTOUT_PUBLIC_BASE_URL") or None
            env = service_environment(
                aws.url,
                resources,
                operator_token,
                public_base_url=public_base_url,
                inbound_topic_prefix=INBOUND_TOPIC_PREFIX,
            )
            os.environ.update(env)  # the worker and the SNS bridge run their functions in this process

            api = start_api(env, _port("PORT", DEFAULT_API_PORT))
            started.callback(api.stop)
            say(f"API (chalice local) on {api.url}")

            # A short long poll: Ctrl-C waits for the one in progress.
            worker = LocalWorker(resources.queue_url, endpoint_url=aws.url, region=resources.region, wait_seconds=2)
            started.callback(worker.start().stop)
            say(f"queue worker polling {resources.queue_name}")
            # Subscribed before start() returns: whatever is published from here on reaches the function.
            bridge = LocalSnsBridge([topic_arn], endpoint_url=aws.url, region=resources.region, wait_seconds=2)
            started.callback(bridge.start().stop)
            say(f"SNS bridge: topic {topic_arn.rsplit(':', 1)[-1]} -> handle_sms_topic (via {bridge.queue_name})")

            try:
                demo = create_demo_account(api.url, operator_token, account_id=DEMO_ACCOUNT_ID, topic_arn=topic_arn)
                groups = create_demo_groups(api.url, demo.account_id, demo.admin_token)
            except DemoAccountError as error:
                say(f"FAILED to create the demo account: {error}")
                return 1
            say(f"demo account's named groups: {', '.join(groups)}")
            document = demo_document(
                demo,
                api_url=api.url,
                aws_endpoint=aws.url,
                operator_token=operator_token,
                public_base_url=public_base_url,
            )
            demo_file = write_demo_file(document, demo_file_path())
            _banner(demo, document, generated, demo_file)
            say(f"ready  api={api.url}  aws={aws.url}  (Ctrl-C stops everything)")

            while True:
                time.sleep(0.5)
                if not api.running():
                    say(f"FAILED: chalice local exited with {api.process.returncode}")
                    return 1
                if not worker.alive:
                    say("FAILED: the queue worker stopped")
                    return 1
                if not bridge.alive:
                    say("FAILED: the SNS bridge stopped")
                    return 1
        except KeyboardInterrupt:
            say("stopping")
            return 0
        finally:
            _ignore_signals()  # from here on, only the shutdown


if __name__ == "__main__":
    sys.exit(main())
