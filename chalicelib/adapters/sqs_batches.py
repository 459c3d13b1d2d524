"""Messages to an SQS queue ten at a time: what the send queue's producers and the change-event fan-out share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import StoreUnavailable

#: SQS takes at most ten messages in one SendMessageBatch.
SEND_BATCH_LIMIT = 10


def send_in_batches(
    client: Any, queue_url: str, bodies: Sequence[str], what: str, *, refuse_unsent: bool = False
) -> list[tuple[int, dict[str, Any]]]:
    """Send `bodies`, ten per SendMessageBatch; the messages SQS refused, as (their index in `bodies`, its failure
    entry). When a call fails (the batches before it went): StoreUnavailable, naming `what`; or, with
    `refuse_unsent`, no more calls, and that call's messages and every later one refused with the error as Message."""
    refused: list[tuple[int, dict[str, Any]]] = []
    for start in range(0, len(bodies), SEND_BATCH_LIMIT):
        entries = [
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + SEND_BATCH_LIMIT])
        ]
        try:
            response = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as error:
            message = f"could not queue {what}: {error}"
            if not refuse_unsent:
                raise StoreUnavailable(message) from error
            failure = {"Code": "NotSent", "Message": message}
            return refused + [(index, failure) for index in range(start, len(bodies))]
        refused += [(start + int(failure["Id"]), failure) for failure in response.get("Failed", [])]
    return refused
