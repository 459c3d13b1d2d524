"""What the event-endpoint calls read and answer (`event_endpoints.py`), as pydantic models: the OpenAPI document is
generated from them, as from `schemas.py`."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import AwareDatetime, Field, model_validator

from chalicelib.api.schemas import PATH_DESCRIPTIONS, PATH_PATTERNS, AsciiInt, Cursor, Query
from chalicelib.domain.change_events import (
    CHANGE_EVENT_ID_PATTERN,
    ENDPOINT_ID_PATTERN,
    MAX_URL_LENGTH,
    ChangeEvent,
    Delivery,
    DeliveryStatus,
    EventEndpoint,
    EventType,
)
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import Frozen

# The document describes every path parameter from these two maps.
PATH_PATTERNS["endpoint_id"] = ENDPOINT_ID_PATTERN
PATH_DESCRIPTIONS["endpoint_id"] = "an event endpoint's id (`ep_...`), as its creation answered"
_ENDPOINT_ID = re.compile(ENDPOINT_ID_PATTERN)


def endpoint_id_value(value: str) -> str:
    """A decoded `{endpoint_id}`, when it fits its pattern; InvalidRequest (400) otherwise."""
    if not _ENDPOINT_ID.fullmatch(value):
        raise InvalidRequest(f"endpoint_id is not valid: {PATH_DESCRIPTIONS['endpoint_id']}", field="endpoint_id")
    return value


# --- request bodies and query strings ----------------------------------------------------------------------------


class EndpointIn(Frozen):
    """An endpoint to send change events to: https:// to a public host (http:// to this machine only where the
    deployment allows loopback endpoints, i.e. a local run)."""

    url: str = Field(
        max_length=MAX_URL_LENGTH, description="where events are POSTed, e.g. https://crm.example.com/hooks"
    )
    description: str | None = Field(default=None, max_length=200, description="for people: whose, what for")
    types: list[EventType] | None = Field(
        default=None, min_length=1, max_length=2, description="the event types it wants (default: every type)"
    )


class DeliveriesQuery(Query):
    cursor: Cursor | None = Field(default=None, description="`next_cursor` of the page before")
    limit: AsciiInt = Field(default=50, ge=1, le=200, description="entries per page")


class ReplayQuery(Query):
    """`since` (every event sent to the endpoint from then on) or `event_id` (that one event)."""

    since: AwareDatetime | None = Field(
        default=None, description="a time with its offset, e.g. 2026-11-22T10:00:00Z: events recorded from then on"
    )
    after: str | None = Field(
        default=None, pattern=CHANGE_EVENT_ID_PATTERN, description="with `since`: continue after this event id"
    )
    event_id: str | None = Field(default=None, pattern=CHANGE_EVENT_ID_PATTERN, description="one change event's id")
    limit: AsciiInt = Field(default=100, ge=1, le=500, description="with `since`: events replayed at most")

    @model_validator(mode="after")
    def _one_of(self) -> ReplayQuery:
        if (self.since is None) == (self.event_id is None):
            raise ValueError("give either since (a time) or event_id (a change event's id)")
        if self.after is not None and self.since is None:
            raise ValueError("after continues a replay since a time: give since too")
        return self


# --- answers -----------------------------------------------------------------------------------------------------


class EndpointView(Frozen):
    """An event endpoint. Its secret is never shown again after its creation."""

    endpoint_id: str
    url: str
    description: str | None
    types: list[EventType]
    active: bool = Field(description="false once deleted, or disabled by a 410 Gone answer")
    created_at: datetime
    created_by: str
    disabled_at: datetime | None
    disabled_reason: str | None
    deleted_at: datetime | None

    @classmethod
    def of(cls, endpoint: EventEndpoint) -> EndpointView:
        fields = {name: getattr(endpoint, name) for name in cls.model_fields if name not in ("types", "active")}
        return cls(**fields, types=list(endpoint.types), active=endpoint.active)


class EndpointCreated(Frozen):
    endpoint: EndpointView
    secret: str = Field(
        description="the signing secret (`whsec_` + base64), shown this once: verify each event's `webhook-signature` "
        "with it (Standard Webhooks)"
    )


class EndpointList(Frozen):
    endpoints: list[EndpointView] = Field(description="the account's endpoints, oldest first (deleted ones not)")


class DeliveryView(Frozen):
    """One change event sent to the endpoint: how its attempts went."""

    event: ChangeEvent
    status: DeliveryStatus = Field(
        description="pending, retrying, delivered, failed (after a day of retries, or 410 Gone), cancelled"
    )
    attempts: int
    scheduled_at: datetime = Field(description="when the current run of attempts began (first sent, or replayed)")
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="the receiver's HTTP status; null when it did not answer")
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryView:
        return cls.model_validate({name: getattr(delivery, name) for name in cls.model_fields})


class DeliveriesPage(Frozen):
    deliveries: list[DeliveryView] = Field(description="newest change event first")
    next_cursor: str | None = Field(description="the next page's `cursor`; null on the last page")


class ReplayAnswer(Frozen):
    replayed: list[str] = Field(description="the change event ids queued again, oldest first")
    next_after: str | None = Field(
        description="set when `limit` cut the replay short: call again with the same `since` and `after` this"
    )
