"""Two-way SMS topics invoking the function directly (SNS -> Lambda): what `/webhooks/aws/{account}` does over
HTTPS, without the signature check (IAM authenticates the invoke).

Each account's topic is named `OPTOUT_INBOUND_TOPIC_PREFIX` + the account id, and must be the topic the account
set as its `aws` carrier's `topic_arn`. A record that fails raises, so Lambda retries it and then hands it to the
function's on-failure destination: nothing is dropped silently.
"""

from __future__ import annotations

from typing import Any, cast

from chalicelib.domain import carrier_webhooks
from chalicelib.domain.errors import InvalidSignature
from chalicelib.domain.ports import TopicCarrier
from chalicelib.observability import logger
from chalicelib.wiring import container

CARRIER = "aws"


class UnroutableMessage(Exception):
    """A topic message no account of ours expects."""


def handle(event: dict[str, Any]) -> dict[str, int]:
    """Store every record's message or delivery event; returns how many records were handled."""
    parts = container()
    carrier = cast(TopicCarrier, parts.carriers.get(CARRIER))
    prefix = parts.settings.inbound_topic_prefix
    handled = 0
    for record in event.get("Records", []):
        sns = record["Sns"]
        topic_arn = str(sns["TopicArn"])
        topic_name = topic_arn.rsplit(":", 1)[-1]
        if not topic_name.startswith(prefix):
            raise UnroutableMessage(f"topic {topic_arn} is not named {prefix}<account id>")
        account_id = topic_name.removeprefix(prefix)
        account = parts.stores.accounts.get_account(account_id)
        configured = account.carriers.get(CARRIER) if account is not None else None
        if account is None or configured is None or configured.settings.get("topic_arn") != topic_arn:
            logger.error("topic message for no account", extra={"topic_arn": topic_arn, "account_id": account_id})
            raise InvalidSignature(f"no account expects messages from {topic_arn}")
        notice = carrier.notice_from_topic(
            str(sns["Message"]),
            message_id=str(sns["MessageId"]),
            timestamp=str(sns["Timestamp"]),
            account_id=account.account_id,
            default_region=account.default_region,
            received_at=parts.clock.now(),
        )
        carrier_webhooks.store_notice(parts.stores, parts.queue, carrier, account, notice, status=False)
        handled += 1
    return {"handled": handled}
