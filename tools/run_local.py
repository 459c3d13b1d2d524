"""`make run`: the whole service on this machine, with moto's server as the embedded AWS endpoint.

Starts the embedded AWS endpoint (AWS_PORT, else 4566, else a free port), creates the table and queues, starts
`chalice local` (PORT, else 8000, else a free port) and the queue worker, creates the demo account, prints the
credentials and `ready`, and runs until Ctrl-C or SIGTERM, which stop everything it started.

Environment: OPTOUT_OPERATOR_TOKEN (generated and printed when unset), OPTOUT_PUBLIC_BASE_URL (when carriers
reach the API through a tunnel), PORT, AWS_PORT.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shlex
import signal
import sys
import time
from typing import Any, NoReturn
from urllib.parse import quote

from tools.local_stack import (
    DemoAccount,
    DemoAccountError,
    create_demo_account,
    create_resources,
    free_port,
    port_is_free,
    service_environment,
    start_api,
    start_aws,
)
from tools.local_worker import LocalWorker

DEFAULT_API_PORT = 8000
DEFAULT_AWS_PORT = 4566  # where AWS tools usually look for a local endpoint
CONTACT = "+14155550123"
OUR_NUMBER = "+14155550100"

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


def _signed_stop_curl(webhook_url: str, demo: DemoAccount) -> str:
    """A curl command that posts what Twilio would for a STOP from CONTACT, signed with the demo's auth token."""
    from chalicelib.adapters.carriers.twilio import compute_signature

    params = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": demo.twilio_account_sid,
        "From": CONTACT,
        "To": OUR_NUMBER,
        "Body": "STOP",
    }
    signature = compute_signature(webhook_url, sorted(params.items()), demo.twilio_auth_token)
    fields = " ".join(f"--data-urlencode {shlex.quote(f'{name}={value}')}" for name, value in params.items())
    return f"curl -X POST {webhook_url} -H {shlex.quote('X-Twilio-Signature: ' + signature)} {fields}"


def _banner(aws_url: str, api_url: str, operator_token: str, generated: bool, demo: DemoAccount, webhook: str) -> None:
    number_url = f"{api_url}/v1/accounts/{demo.account_id}/numbers/{quote(CONTACT, safe='')}"
    say()
    say(f"embedded AWS endpoint   {aws_url}   (aws --endpoint-url {aws_url} ...)")
    say(f"API                     {api_url}")
    note = "   (generated: set OPTOUT_OPERATOR_TOKEN to keep one)" if generated else ""
    say(f"operator token          {operator_token}{note}")
    say(f"demo account            {demo.account_id}")
    say(f"  admin token           {demo.admin_token}")
    say(f"  Twilio account SID    {demo.twilio_account_sid}")
    say(f"  Twilio auth token     {demo.twilio_auth_token}")
    say(f"  webhook URL           {webhook}")
    say(f"  status callback URL   {webhook}/status")
    say()
    auth = shlex.quote("Authorization: Bearer " + demo.admin_token)
    sends = f"{api_url}/v1/accounts/{demo.account_id}/sends"
    body = json.dumps(
        {
            "requests": [
                {
                    "request_id": "demo-1",
                    "to": CONTACT,
                    "sender": "+14155550100",
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
    say(f"# 2. {CONTACT} texts STOP (signed as Twilio would sign it):")
    say(_signed_stop_curl(webhook, demo))
    say("# 3. the number's state, and the emails Ana and the contact got (make mail):")
    say(f"curl {number_url} -H {auth}")
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
            say(f"created table {resources.table_name}, queues {resources.queue_name} and {resources.dlq_name}")

            operator_token = os.environ.get("OPTOUT_OPERATOR_TOKEN") or ""
            generated = not operator_token
            operator_token = operator_token or secrets.token_urlsafe(32)
            public_base_url = os.environ.get("OPTOUT_PUBLIC_BASE_URL") or None
            env = service_environment(aws.url, resources, operator_token, public_base_url=public_base_url)
            os.environ.update(env)  # the worker runs the send function in this process

            api = start_api(env, _port("PORT", DEFAULT_API_PORT))
            started.callback(api.stop)
            say(f"API (chalice local) on {api.url}")

            # A short long poll: Ctrl-C waits for the one in progress.
            worker = LocalWorker(resources.queue_url, endpoint_url=aws.url, region=resources.region, wait_seconds=2)
            started.callback(worker.start().stop)
            say(f"queue worker polling {resources.queue_name}")

            try:
                demo = create_demo_account(api.url, operator_token)
            except DemoAccountError as error:
                say(f"FAILED to create the demo account: {error}")
                return 1
            webhook = f"{public_base_url or api.url}/webhooks/twilio/{demo.account_id}"
            _banner(aws.url, api.url, operator_token, generated, demo, webhook)
            say(f"ready  api={api.url}  aws={aws.url}  (Ctrl-C stops everything)")

            while True:
                time.sleep(0.5)
                if not api.running():
                    say(f"FAILED: chalice local exited with {api.process.returncode}")
                    return 1
                if not worker.alive:
                    say("FAILED: the queue worker stopped")
                    return 1
        except KeyboardInterrupt:
            say("stopping")
            return 0
        finally:
            _ignore_signals()  # from here on, only the shutdown


if __name__ == "__main__":
    sys.exit(main())
