"""Inbound texts as each carrier posts them to `/webhooks/{carrier}/{account_id}`: its payload, signed its way, with
fresh credentials for every carrier (as `make run` gives its demo account), for tests and benchmarks that go
through the app.

The requests are built by the carriers' own builders of `tools/send_sms.py`. For `aws`, an SNS notification carries
the two-way SMS payload of `tools/publish_sms.py`, signed with a self-signed certificate that `fetch` serves at an SNS
URL (it stands in for SNS's certificate host: give it to the AwsCarrier as its `fetch`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.sns_signing import certificate_pem, make_key, sign
from tools import send_sms
from tools.local_stack import new_demo_credentials, webhook_urls
from tools.publish_sms import two_way_sms

#: Every carrier, in the order the tools list them.
CARRIERS = send_sms.CARRIERS
ACCOUNT = "acme"
BASE_URL = "https://sms.example.com/api"
OUR_NUMBER = "+12125550101"
TOPIC = f"arn:aws:sns:us-east-1:123456789012:optout-inbound-{ACCOUNT}"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000000000000a.pem"


@dataclass(frozen=True)
class SignedRequest:
    """One webhook request as the carrier makes it."""

    carrier: str
    #: The path under the API's base URL (`/webhooks/<carrier>/<account>`).
    path: str
    headers: dict[str, str]
    body: str
    #: The carrier's id of the text (the event is `<carrier>:<message_id>`).
    message_id: str


class CarrierSigner:
    """Every carrier's credentials for one account, and inbound texts signed with them."""

    def __init__(self, account_id: str = ACCOUNT, base_url: str = BASE_URL) -> None:
        self.account_id = account_id
        self.base_url = base_url.rstrip("/")
        self.demo = new_demo_credentials(account_id, topic_arn=TOPIC)
        self._key = make_key()
        now = datetime.now(UTC)
        self.certificate = certificate_pem(
            self._key, not_before=now - timedelta(days=1), not_after=now + timedelta(days=30)
        )

    def account_carriers(self, *carriers: str) -> dict[str, dict[str, str]]:
        """The `carriers` of PUT /v1/accounts/{id} for these carriers (default: all)."""
        forms = self.demo.carriers()
        return {name: forms[name] for name in carriers or CARRIERS}

    def fetch(self, url: str) -> bytes:
        """The AwsCarrier's `fetch`: the signing certificate at CERT_URL."""
        from chalicelib.adapters.carriers.sns import FetchFailed

        if url != CERT_URL:
            raise FetchFailed("HTTP 404", transient=False)
        return self.certificate

    def inbound(
        self, carrier: str, *, sender: str, text: str = "STOP", message_id: str | None = None, at: datetime
    ) -> SignedRequest:
        """A text from `sender` to OUR_NUMBER through `carrier`, signed at `at` (the receiving clock's time)."""
        url, _ = webhook_urls(self.base_url, carrier, self.account_id)
        path = url.removeprefix(self.base_url)
        if carrier == "aws":
            return self._sns_notification(path, sender=sender, text=text, message_id=message_id, at=at)
        credentials: dict[str, Any] = {**self.demo.credentials()[carrier], "webhook_url": url}
        request = send_sms.BUILDERS[carrier](
            credentials, origination=sender, to=OUR_NUMBER, text=text, message_id=message_id, now=at.timestamp()
        )
        return SignedRequest(carrier, path, dict(request.headers), request.body.decode(), request.message_id)

    def _sns_notification(
        self, path: str, *, sender: str, text: str, message_id: str | None, at: datetime
    ) -> SignedRequest:
        words = text.split()
        payload = two_way_sms(
            origination_number=sender,
            destination_number=OUR_NUMBER,
            body=text,
            keyword=words[0].upper() if words else "",
            inbound_message_id=message_id,
        )
        fields = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": TOPIC,
            "Message": json.dumps(payload),
            "Timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "SigningCertURL": CERT_URL,
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        }
        headers = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}
        return SignedRequest("aws", path, headers, json.dumps(sign(fields, self._key)), payload["inboundMessageId"])
