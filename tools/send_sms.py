"""Text the demo account of a running `make run` as a contact would, through any of its carriers: post what that
carrier posts for an inbound text to the account's webhook URL for it, signed now as that carrier signs.

    python -m tools.send_sms --carrier telnyx --from +14155550123 --body STOP

Prints the HTTP status and body of the answer (exit status 0 for a 2xx). Everything comes from the demo file that
`make run` writes (`.run/demo.json`, or OPTOUT_DEMO_FILE, or --demo-file): the URLs, the demo account's number on
the carrier (`--to` overrides it) and the carrier's credentials. Each run is a new text (a new carrier message id)
unless `--message-id` repeats one, which is the same text delivered again.

What each carrier's request is (chalicelib/adapters/carriers/<carrier>.py checks them):

- twilio: a form (MessageSid, AccountSid, From, To, Body, ...), `X-Twilio-Signature`: HMAC-SHA1 of the URL and the
  sorted fields with the auth token.
- telnyx: a `message.received` event (JSON), Ed25519-signed over `{timestamp}|{body}` with the demo's private key:
  `telnyx-signature-ed25519`, `telnyx-timestamp` (checked within 300 s). `autoresponse_type` is null, as from a
  messaging profile whose own opt-out handling is off (so the service confirms a STOP itself).
- plivo: a form (From, To as digits without `+`, Text, Type, MessageUUID, ...), signed V3 with the auth token and a
  new nonce: `X-Plivo-Signature-V3`, `X-Plivo-Signature-V3-Nonce`. No `MessageIntent` (Plivo sets `optout` when it
  matched a standard keyword, and the service then leaves the confirmation to Plivo).
- vonage: a form (api-key, msisdn, to, messageId, text, type, keyword, message-timestamp, timestamp, nonce) with
  `sig` by the account's signature method and secret (the timestamp is checked against the clock).
- bandwidth: a JSON array with one `message-received` event, first without credentials (Bandwidth's first try:
  the answer is a 401 with a Basic challenge), then with the callback credentials (HTTP Basic), as Bandwidth does.
- aws: AWS End User Messaging SMS's two-way payload published on the account's SNS topic on the embedded endpoint
  (`make run` bridges the topic to `handle_sms_topic`; the aws webhook URL takes only SNS messages signed by AWS).
  The status is that of SNS's Publish; the text reaches the service within a second or two.

Standard library, boto3, cryptography and the carriers' own signing functions (chalicelib/adapters/carriers).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tools.demo_file import DEMO_FILE, DEMO_FILE_VARIABLE, DemoFileError, demo_file_path, read_demo_file

CARRIERS = ("twilio", "aws", "telnyx", "plivo", "vonage", "bandwidth")
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass(frozen=True)
class CarrierRequest:
    """One webhook request as the carrier would make it."""

    url: str
    body: bytes
    headers: dict[str, str]
    #: The carrier's id of the text: the service records it as event `<carrier>:<message_id>`.
    message_id: str


@dataclass(frozen=True)
class Answer:
    """What the service answered (for aws: what SNS answered the publish)."""

    carrier: str
    #: Where the text went: the webhook URL, or the topic ARN for aws.
    target: str
    message_id: str
    status: int
    body: str
    #: Anything else worth saying (Bandwidth's first, unauthenticated try).
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def event_id(self) -> str:
        """The id of the event the service records for this text."""
        return f"{self.carrier}:{self.message_id}"


class SendError(Exception):
    """The text could not be sent: no such carrier in the demo file, or nothing answered."""


# --- each carrier's request ------------------------------------------------------------------


def _digits(number: str) -> str:
    """A number as Plivo and Vonage write it: international digits without `+`."""
    return number.strip().removeprefix("+")


def _iso(moment: datetime, *, ms: bool = True) -> str:
    return moment.isoformat(timespec="milliseconds" if ms else "microseconds").replace("+00:00", "Z")


def twilio_request(
    carrier: Mapping[str, str], *, origination: str, to: str, text: str, message_id: str | None, now: float
) -> CarrierRequest:
    from chalicelib.adapters.carriers.twilio import compute_signature

    sid = message_id or "SM" + secrets.token_hex(16)
    params = [
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", text),
        ("To", to),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", carrier["account_sid"]),
        ("From", origination),
        ("ApiVersion", "2010-04-01"),
    ]
    url = carrier["webhook_url"]
    signature = compute_signature(url, params, carrier["auth_token"])
    headers = {"Content-Type": FORM, "X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
    return CarrierRequest(url, urlencode(params).encode(), headers, sid)


def telnyx_request(
    carrier: Mapping[str, str], *, origination: str, to: str, text: str, message_id: str | None, now: float
) -> CarrierRequest:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    url = carrier["webhook_url"]
    moment = datetime.fromtimestamp(now, UTC)
    message = message_id or str(uuid.uuid4())
    event = {
        "data": {
            "event_type": "message.received",
            "id": str(uuid.uuid4()),
            "occurred_at": _iso(moment),
            "payload": {
                "autoresponse_type": None,
                "cc": [],
                "completed_at": None,
                "cost": None,
                "direction": "inbound",
                "encoding": "GSM-7",
                "errors": [],
                "from": {"carrier": "Verizon Wireless", "line_type": "Wireless", "phone_number": origination},
                "id": message,
                "media": [],
                "parts": 1,
                "received_at": _iso(moment),
                "record_type": "message",
                "sent_at": None,
                "subject": "",
                "tags": [],
                "text": text,
                "to": [
                    {"carrier": "Telnyx", "line_type": "Wireless", "phone_number": to, "status": "webhook_delivered"}
                ],
                "type": "SMS",
                "valid_until": None,
                "webhook_failover_url": None,
                "webhook_url": url,
            },
            "record_type": "event",
        },
        "meta": {"attempt": 1, "delivered_to": url},
    }
    body = json.dumps(event, separators=(",", ":")).encode()
    timestamp = str(int(now))
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(carrier["private_key"]))
    signature = base64.b64encode(key.sign(timestamp.encode("ascii") + b"|" + body)).decode("ascii")
    headers = {
        "Content-Type": JSON,
        "telnyx-signature-ed25519": signature,
        "telnyx-timestamp": timestamp,
        "User-Agent": "telnyx-webhooks",
    }
    return CarrierRequest(url, body, headers, message)


def plivo_request(
    carrier: Mapping[str, str], *, origination: str, to: str, text: str, message_id: str | None, now: float
) -> CarrierRequest:
    from chalicelib.adapters.carriers.plivo import signature_v3

    message = message_id or str(uuid.uuid4())
    fields = [
        ("From", _digits(origination)),
        ("TotalRate", "0.00000"),
        ("Text", text),
        ("To", _digits(to)),
        ("Units", "1"),
        ("TotalAmount", "0.00000"),
        ("Type", "sms"),
        ("MessageUUID", message),
        ("PowerpackUUID", ""),
    ]
    url = carrier["webhook_url"]
    nonce = "".join(secrets.choice("0123456789") for _ in range(20))  # Plivo's nonces are 20 digits
    headers = {
        "Content-Type": FORM,
        "X-Plivo-Signature-V3": signature_v3("POST", url, fields, nonce, carrier["auth_token"]),
        "X-Plivo-Signature-V3-Nonce": nonce,
    }
    return CarrierRequest(url, urlencode(fields).encode(), headers, message)


def vonage_request(
    carrier: Mapping[str, str], *, origination: str, to: str, text: str, message_id: str | None, now: float
) -> CarrierRequest:
    from chalicelib.adapters.carriers.vonage import compute_signature

    message = message_id or secrets.token_hex(8).upper()
    words = text.split()
    fields = {
        "api-key": carrier["api_key"],
        "msisdn": _digits(origination),
        "to": _digits(to),
        "messageId": message,
        "text": text,
        "type": "text" if text.isascii() else "unicode",
        "keyword": words[0].upper() if words else "",
        "message-timestamp": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "timestamp": str(int(now)),
        "nonce": str(uuid.uuid4()),
    }
    fields["sig"] = compute_signature(fields, carrier["signature_secret"], carrier["signature_method"])
    url = carrier["webhook_url"]
    return CarrierRequest(url, urlencode(fields).encode(), {"Content-Type": FORM}, message)


def bandwidth_request(
    carrier: Mapping[str, str], *, origination: str, to: str, text: str, message_id: str | None, now: float
) -> CarrierRequest:
    """The callback with its Basic credentials (send() first posts it without them, as Bandwidth does)."""
    moment = datetime.fromtimestamp(now, UTC)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    message = message_id or f"{int(now * 1000)}" + "".join(secrets.choice(alphabet) for _ in range(15))
    event = {
        "time": _iso(moment, ms=False),
        "type": "message-received",
        "to": to,
        "description": "Incoming message received",
        "message": {
            "id": message,
            "owner": to,
            "applicationId": str(uuid.uuid5(uuid.NAMESPACE_URL, carrier["webhook_url"])),
            "time": _iso(moment, ms=False),
            "segmentCount": 1,
            "direction": "in",
            "to": [to],
            "from": origination,
            "text": text,
        },
    }
    credentials = base64.b64encode(f"{carrier['username']}:{carrier['password']}".encode()).decode("ascii")
    headers = {"Content-Type": JSON, "Authorization": f"Basic {credentials}", "User-Agent": "BandwidthAPI/v2"}
    return CarrierRequest(carrier["webhook_url"], json.dumps([event]).encode(), headers, message)


BUILDERS = {
    "twilio": twilio_request,
    "telnyx": telnyx_request,
    "plivo": plivo_request,
    "vonage": vonage_request,
    "bandwidth": bandwidth_request,
}


# --- sending ---------------------------------------------------------------------------------


def _post(request: CarrierRequest, headers: Mapping[str, str], timeout: float) -> tuple[int, str, dict[str, str]]:
    """(status, body, headers) of one POST; 4xx and 5xx are answers too. SendError when nothing answers."""
    outgoing = urllib.request.Request(request.url, data=request.body, method="POST", headers=dict(headers))
    try:
        with urllib.request.urlopen(outgoing, timeout=timeout) as response:  # noqa: S310 (the demo's URLs)
            return response.status, response.read().decode(errors="replace"), dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode(errors="replace"), dict(error.headers)
    except OSError as error:
        raise SendError(f"nothing answered at {request.url} (is `make run` running?): {error}") from None


def _publish_aws(
    document: Mapping[str, Any],
    carrier: Mapping[str, str],
    *,
    origination: str,
    to: str,
    text: str,
    message_id: str | None,
) -> Answer:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from tools.publish_sms import two_way_sms

    topic_arn = carrier["topic_arn"]
    payload = two_way_sms(
        origination_number=origination,
        destination_number=to,
        body=text,
        keyword=f"KEYWORD_{topic_arn.split(':')[4]}",
        inbound_message_id=message_id,
    )
    endpoint = document.get("aws_endpoint") or None
    if endpoint:  # the embedded endpoint accepts any credentials
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    sns = boto3.client("sns", endpoint_url=endpoint, region_name=topic_arn.split(":")[3])
    try:
        response = sns.publish(TopicArn=topic_arn, Message=json.dumps(payload))
    except (BotoCoreError, ClientError) as error:
        raise SendError(f"could not publish to {topic_arn} (is `make run` running?): {error}") from None
    return Answer(
        carrier="aws",
        target=topic_arn,
        message_id=payload["inboundMessageId"],
        status=int(response["ResponseMetadata"]["HTTPStatusCode"]),
        body=json.dumps({"MessageId": response["MessageId"], "Message": payload}),
        notes=("published on the topic; the SNS bridge hands it to handle_sms_topic",),
    )


def send(
    carrier: str,
    *,
    origination: str,
    text: str,
    to: str | None = None,
    message_id: str | None = None,
    demo: Mapping[str, Any] | None = None,
    demo_file: Path | None = None,
    now: float | None = None,
    timeout: float = 10,
) -> Answer:
    """Send the text `text` from `origination` (E.164) to the demo account through `carrier`, as that carrier would,
    signed at `now` (default: now); the answer.

    `demo` is the demo file's document, else it is read from `demo_file` (default: demo_file_path()). DemoFileError
    when the demo file has no such carrier; SendError when nothing answers.
    """
    document = demo if demo is not None else read_demo_file(demo_file)
    credentials = document["carriers"].get(carrier)
    if not isinstance(credentials, dict):
        known = ", ".join(document["carriers"])
        raise DemoFileError(f"the demo file has no {carrier} carrier (it has {known})")
    to = to or credentials["number"]
    if carrier == "aws":
        return _publish_aws(document, credentials, origination=origination, to=to, text=text, message_id=message_id)
    builder = BUILDERS.get(carrier)
    if builder is None:
        raise DemoFileError(f"send_sms does not know how {carrier} signs (it knows {', '.join(CARRIERS)})")
    request = builder(
        credentials,
        origination=origination,
        to=to,
        text=text,
        message_id=message_id,
        now=time.time() if now is None else now,
    )
    notes: list[str] = []
    if carrier == "bandwidth":
        # Bandwidth first calls without its credentials and sends them only when challenged.
        anonymous = {name: value for name, value in request.headers.items() if name != "Authorization"}
        status, body, headers = _post(request, anonymous, timeout)
        challenge = {name.lower(): value for name, value in headers.items()}.get("www-authenticate", "")
        if status != 401 or not challenge.lower().startswith("basic"):
            return Answer(carrier, request.url, request.message_id, status, body, ("sent without credentials",))
        notes.append(f"without credentials: {status}, challenge {challenge!r}; sent them")
    status, body, _ = _post(request, request.headers, timeout)
    return Answer(carrier, request.url, request.message_id, status, body, tuple(notes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.send_sms", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--carrier", required=True, choices=CARRIERS, help="the carrier the text comes through")
    parser.add_argument("--from", dest="origination", required=True, help="the contact's number, E.164")
    parser.add_argument("--body", required=True, help="the text, e.g. STOP")
    parser.add_argument("--to", help="the number texted (default: the demo account's number on the carrier)")
    parser.add_argument("--message-id", help="the carrier's message id: the same one twice is one text delivered twice")
    parser.add_argument("--demo-file", type=Path, help=f"default: ${DEMO_FILE_VARIABLE}, else {DEMO_FILE}")
    args = parser.parse_args(argv)
    demo_file = args.demo_file or demo_file_path()
    try:
        answer = send(
            args.carrier,
            origination=args.origination,
            text=args.body,
            to=args.to,
            message_id=args.message_id,
            demo_file=demo_file,
        )
    except (DemoFileError, SendError) as error:
        print(f"send_sms: {error}", file=sys.stderr)
        return 1
    print(f"{answer.carrier}: {args.body!r} from {args.origination} to {answer.target} (event {answer.event_id})")
    for note in answer.notes:
        print(f"  {note}")
    print(f"HTTP {answer.status}")
    print(answer.body if answer.body else "(empty body)")
    return 0 if answer.ok else 1


if __name__ == "__main__":
    sys.exit(main())
