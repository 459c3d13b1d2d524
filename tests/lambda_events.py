"""Events as Lambda hands them to the functions, for tests that invoke a handler directly."""

from __future__ import annotations

import json
import uuid


def sqs_event(*bodies: object, receive_count: int = 1) -> dict:
    """An SQS event of the send queue with one record per body (a dict is sent as its JSON), each with its own
    messageId (Chalice's test client gives every record the same one), delivered `receive_count` times."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"receipt-{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:optout-send",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }
