"""EventPublisher on an EventBridge bus: each change event as one bus event (PutEvents, ten per call)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.change_events import ChangeEvent
from chalicelib.domain.errors import StoreUnavailable

#: The events' `source`: rules match on it (`{"source": ["sms-optout"], "detail-type": ["suppression.created"]}`).
SOURCE = "sms-optout"
#: PutEvents takes at most ten entries.
PUT_EVENTS_LIMIT = 10


class EventBridgePublisher:
    """`client` is a boto3 EventBridge (`events`) client; `bus_name` the bus's name or ARN.

    An event's `detail-type` is the change event's type, its `detail` the webhook's body (`{"type", "timestamp",
    "data"}`), its `time` when the change occurred.
    """

    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus = bus_name

    def publish(self, events: Sequence[ChangeEvent]) -> None:
        """Put every event on the bus; StoreUnavailable when EventBridge refused the call or any entry."""
        for start in range(0, len(events), PUT_EVENTS_LIMIT):
            chunk = events[start : start + PUT_EVENTS_LIMIT]
            entries = [
                {
                    "EventBusName": self._bus,
                    "Source": SOURCE,
                    "DetailType": event.type,
                    "Detail": event.body().decode(),
                    "Time": event.occurred_at,
                }
                for event in chunk
            ]
            try:
                response = self._client.put_events(Entries=entries)
            except (ClientError, BotoCoreError) as error:
                raise StoreUnavailable(f"the event bus {self._bus} did not take the events: {error}") from error
            if response.get("FailedEntryCount"):
                failures = {entry.get("ErrorCode") for entry in response.get("Entries", []) if entry.get("ErrorCode")}
                raise StoreUnavailable(f"the event bus {self._bus} refused events: {', '.join(sorted(failures))}")


class NoEventBus:
    """The publisher when no bus is configured (OPTOUT_EVENT_BUS_NAME unset): events go to endpoints only."""

    def publish(self, events: Sequence[ChangeEvent]) -> None:
        return None
