"""Text the demo account through AWS End User Messaging SMS, as a contact would: publish the two-way SMS payload AWS
publishes for an inbound text to the demo account's topic on the embedded endpoint of a running `make run` (which
bridges the topic to the app's `handle_sms_topic`, its `on_sns_message` function).

    python -m tools.publish_sms --from +14155550123 --body STOP

`python -m tools.send_sms --carrier aws ...` does the same (and texts through the other carriers too).

Reads the endpoint, the topic and the demo account's number from the demo file written by `make run`
(`.run/demo.json`, or OPTOUT_DEMO_FILE: tools/demo_file.py). The
payload is AWS's (https://docs.aws.amazon.com/sms-voice/latest/userguide/two-way-sms-payload.html): originationNumber,
destinationNumber, messageKeyword, messageBody, inboundMessageId (a new one each time, unless given) and, when given,
previousPublishedMessageId.

Standard library and boto3 only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tools.demo_file import DEMO_FILE, DEMO_FILE_VARIABLE, DemoFileError, demo_file_path, read_demo_file

CARRIER = "aws"


def read_demo(path: Path | None = None) -> dict[str, Any]:
    """The demo file's `aws` carrier with the endpoint: `{"aws_endpoint", "topic_arn", "number", ...}`."""
    path = path or demo_file_path()
    document = read_demo_file(path)
    carrier = document["carriers"].get(CARRIER)
    if not isinstance(carrier, dict) or not carrier.get("topic_arn"):
        raise DemoFileError(f"{path} has no {CARRIER} carrier with a topic_arn")
    return {**carrier, "aws_endpoint": document.get("aws_endpoint")}


def two_way_sms(
    *,
    origination_number: str,
    destination_number: str,
    body: str,
    keyword: str,
    inbound_message_id: str | None = None,
    previous_published_message_id: str | None = None,
) -> dict[str, str]:
    """The JSON AWS End User Messaging SMS publishes to the number's two-way topic for one inbound text."""
    payload = {
        "originationNumber": origination_number,
        "destinationNumber": destination_number,
        "messageKeyword": keyword,
        "messageBody": body,
        "inboundMessageId": inbound_message_id or str(uuid.uuid4()),
    }
    if previous_published_message_id:
        payload["previousPublishedMessageId"] = previous_published_message_id
    return payload


def publish(topic_arn: str, payload: dict[str, str], *, endpoint_url: str | None) -> str:
    """Publish `payload` to `topic_arn` as AWS does (the JSON as the message, no subject); the SNS MessageId."""
    if endpoint_url:  # the embedded endpoint accepts any credentials
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    sns = boto3.client("sns", endpoint_url=endpoint_url, region_name=topic_arn.split(":")[3])
    return str(sns.publish(TopicArn=topic_arn, Message=json.dumps(payload))["MessageId"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.publish_sms", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--from", dest="origination", required=True, help="the contact's number, E.164")
    parser.add_argument("--body", required=True, help="the text, e.g. STOP")
    parser.add_argument("--to", help="the number texted (default: the demo account's aws number)")
    parser.add_argument("--keyword", help="messageKeyword (default: KEYWORD_<AWS account id>)")
    parser.add_argument("--inbound-message-id", help="the same id twice is the same text delivered twice")
    parser.add_argument("--previous-message-id", help="previousPublishedMessageId: the text being answered")
    parser.add_argument(
        "--demo-file", type=Path, default=None, help=f"default: ${DEMO_FILE_VARIABLE}, else {DEMO_FILE}"
    )
    args = parser.parse_args(argv)
    try:
        demo = read_demo(args.demo_file)
    except DemoFileError as error:
        print(f"publish_sms: {error}", file=sys.stderr)
        return 1
    topic_arn = str(demo["topic_arn"])
    payload = two_way_sms(
        origination_number=args.origination,
        destination_number=args.to or str(demo.get("number") or ""),
        body=args.body,
        keyword=args.keyword or f"KEYWORD_{topic_arn.split(':')[4]}",
        inbound_message_id=args.inbound_message_id,
        previous_published_message_id=args.previous_message_id,
    )
    try:
        message_id = publish(topic_arn, payload, endpoint_url=demo.get("aws_endpoint"))
    except (BotoCoreError, ClientError) as error:
        print(f"publish_sms: could not publish to {topic_arn} (is `make run` running?): {error}", file=sys.stderr)
        return 1
    print(f"published SNS message {message_id} to {topic_arn}")
    print(json.dumps(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
