"""Change events: every applied change of a number's suppressions, told to the account's systems at once.

An applied opt-out, opt-in, lift, bounce or import makes one `ChangeEvent` per scope it changed
(`suppression.created`, `suppression.lifted`): what a CRM needs to grey out the contact at once. They ride in one
`ChangeEventJob`, stored with the history event in the same write (the outbox the email jobs use), then queued. The
send function fans the job out (`fan_out`): onto the event bus, and one `DeliveryJob` per endpoint of the account.
Each delivery (`deliver`) is an HTTPS POST signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
`webhook-signature`: `v1,` + base64 HMAC-SHA256 over `<id>.<timestamp>.<body>` with the endpoint's `whsec_` secret),
retried with backoff for a day, then dead-lettered; every attempt goes into the endpoint's delivery log, from which
`replay` sends events again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import secrets as random_source
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import Field

from chalicelib.domain.errors import InvalidRequest, RequestNotFound, StoreUnavailable
from chalicelib.domain.models import ACCOUNT_ID_PATTERN, Action, EventRecord, Frozen, NumberState, Source

if TYPE_CHECKING:
    from chalicelib.domain.ports import DeliveryQueue, EventEndpoints, EventPublisher, SecretStore, WebhookSender

EventType = Literal["suppression.created", "suppression.lifted"]
EVENT_TYPES: tuple[EventType, ...] = ("suppression.created", "suppression.lifted")
NumberStatus = Literal["sendable", "blocked", "partly_blocked"]

#: The queue record kinds (`kind`) of this module's jobs, beside send requests and `notification` email jobs.
FAN_OUT_KIND = "change_events"
DELIVERY_KIND = "change_event_delivery"
KINDS = frozenset({FAN_OUT_KIND, DELIVERY_KIND})

#: A change event's id: `evt_`, the time it was recorded (so ids sort by it), and a digest of what it is. It is the
#: `webhook-id`: the same on every attempt and replay (receivers dedupe on it), with no `.` (the spec forbids one).
CHANGE_EVENT_ID_PATTERN = r"^evt_[0-9]{8}T[0-9]{12}Z_[0-9a-f]{20}$"
ENDPOINT_ID_PATTERN = r"^ep_[a-z0-9]{1,40}$"
_ID_TIME = "%Y%m%dT%H%M%S%fZ"
#: Active endpoints an account may have, and endpoints (deleted ones included) its endpoints item keeps.
MAX_ACTIVE_ENDPOINTS = 10
MAX_KEPT_ENDPOINTS = 100
MAX_URL_LENGTH = 2048
#: Standard Webhooks: a symmetric secret is 24 to 64 random bytes, base64, prefixed `whsec_`.
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32

#: When each attempt after the first is due, counted from the start of the run of attempts (`scheduled_at`): five
#: attempts in a day (the send queue dead-letters a record after five receives), then the delivery is dead-lettered.
RETRY_SCHEDULE = (timedelta(minutes=5), timedelta(hours=1), timedelta(hours=12), timedelta(hours=24))
RETRY_WINDOW = RETRY_SCHEDULE[-1]
#: SQS keeps a received record hidden for at most 12 hours: no wait between two attempts is longer.
MAX_DELAY_SECONDS = 12 * 3600
#: The longest `Retry-After` honoured, and how much of a receiver's error answer the delivery log keeps.
MAX_ERROR_LENGTH = 300
#: Optimistic retries of a change to an account's endpoints item before giving up (503).
MAX_ENDPOINT_WRITES = 5


class EndpointNotFound(RequestNotFound):
    """No such event endpoint (or it was deleted): a 404, as any other missing thing of an account."""

    code = "endpoint_not_found"


class DeliveryNotFound(RequestNotFound):
    """The endpoint was never sent that change event."""

    code = "delivery_not_found"


# --- the events ----------------------------------------------------------------------------------


class ChangeEvent(Frozen):
    """One scope of one number suppressed or lifted: the `data` of the webhook's body and of the bus's event."""

    id: str = Field(pattern=CHANGE_EVENT_ID_PATTERN, description="the change event's id: the `webhook-id`")
    type: EventType
    account_id: str = Field(pattern=ACCOUNT_ID_PATTERN)
    phone: str = Field(description="E.164")
    scope: str = Field(description="`all`, `sender:<E.164>` or `group:<id>`")
    source: Source = Field(description="the suppression's source (for a lift: the source of what was lifted)")
    action: Action = Field(description="what happened: opt_out, opt_in (the contact), lift (an admin), reply")
    occurred_at: datetime = Field(description="carrier time (or when an admin acted)")
    received_at: datetime = Field(description="when the service recorded it")
    event_id: str = Field(description="the history event that made the change (GET .../numbers/{phone}/history)")
    actor: str = Field(description="who: the carrier message id, the admin token's fingerprint, the import")
    number_status: NumberStatus = Field(
        description="the number after the change: sendable, blocked (everything) or partly_blocked"
    )

    def body(self) -> bytes:
        """The webhook's body, as sent and signed: Standard Webhooks' `{"type", "timestamp", "data"}`, compact."""
        data = self.model_dump(mode="json", exclude={"type"})
        payload = {"type": self.type, "timestamp": data["occurred_at"], "data": data}
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class ChangeEventJob(Frozen):
    """The change events of one history event: stored with it (the outbox), queued, then fanned out."""

    kind: Literal["change_events"] = "change_events"
    job_id: str
    account_id: str
    phone: str
    event_id: str
    received_at: datetime
    events: tuple[ChangeEvent, ...] = Field(min_length=1)


class DeliveryJob(Frozen):
    """One change event for one endpoint, on the queue until it is delivered or dead-lettered."""

    kind: Literal["change_event_delivery"] = "change_event_delivery"
    account_id: str = Field(pattern=ACCOUNT_ID_PATTERN)
    endpoint_id: str = Field(pattern=ENDPOINT_ID_PATTERN)
    event_id: str = Field(pattern=CHANGE_EVENT_ID_PATTERN)
    #: The run of attempts this job belongs to (a replay starts a new one; a job of an older run stops).
    scheduled_at: datetime


def change_event_id(record: EventRecord, scope: str) -> str:
    """The id of the change `record` made to `scope`: the same whenever it is computed."""
    event = record.event
    digest = hashlib.sha256("\n".join((event.account_id, event.phone, event.event_id, scope)).encode()).hexdigest()
    return f"evt_{event.received_at.astimezone(UTC).strftime(_ID_TIME)}_{digest[:20]}"


def change_event_id_floor(when: datetime) -> str:
    """The smallest change event id recorded at or after `when` (naive: UTC): ids sort by recording time."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return f"evt_{aware.astimezone(UTC).strftime(_ID_TIME)}"


def number_status(state: NumberState) -> NumberStatus:
    """sendable (nothing blocks), blocked (for everything) or partly_blocked (some senders or groups)."""
    if not state.suppressed:
        return "sendable"
    return "blocked" if state.blocking() else "partly_blocked"


def job_for(record: EventRecord, state: NumberState) -> ChangeEventJob | None:
    """The change events an applied event calls for (one per scope it changed), with the number's `state` after it;
    None when it changed nothing (a duplicate, an older event superseded, a note)."""
    if record.outcome != "applied" or not record.changes:
        return None
    event = record.event
    status = number_status(state)
    events = tuple(
        ChangeEvent(
            id=change_event_id(record, change.scope),
            type="suppression.created" if change.change == "suppressed" else "suppression.lifted",
            account_id=event.account_id,
            phone=event.phone,
            scope=change.scope,
            source=change.source,
            action=event.action,
            occurred_at=event.occurred_at,
            received_at=event.received_at,
            event_id=event.event_id,
            actor=event.actor,
            number_status=status,
        )
        for change in record.changes
    )
    return ChangeEventJob(
        job_id=f"changes:{event.event_id}",
        account_id=event.account_id,
        phone=event.phone,
        event_id=event.event_id,
        received_at=event.received_at,
        events=events,
    )


# --- signing (Standard Webhooks, symmetric) ------------------------------------------------------


def new_secret() -> str:
    """A new endpoint secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(random_source.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` + base64(HMAC-SHA256(key, `<message id>.<timestamp>.<body>`)), the key being the secret's bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one attempt: the id (the same on every attempt), the attempt's time, and its signature."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


# --- endpoints -----------------------------------------------------------------------------------


class EventEndpoint(Frozen):
    """An HTTPS endpoint of the account's that receives its change events, signed with its own secret."""

    endpoint_id: str = Field(pattern=ENDPOINT_ID_PATTERN)
    account_id: str = Field(pattern=ACCOUNT_ID_PATTERN)
    url: str = Field(max_length=MAX_URL_LENGTH)
    description: str | None = Field(default=None, max_length=200)
    types: tuple[EventType, ...] = EVENT_TYPES
    created_at: datetime
    created_by: str
    #: Set when the receiver answered 410 Gone (Standard Webhooks: stop sending): nothing more goes to it.
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    deleted_at: datetime | None = None
    deleted_by: str | None = None

    @property
    def active(self) -> bool:
        return self.deleted_at is None and self.disabled_at is None


def secret_name(account_id: str, endpoint_id: str) -> str:
    """The secret store's name of an endpoint's signing secret (beside the account's carrier secrets)."""
    return f"accounts/{account_id}/event-endpoints/{endpoint_id}"


_PRINTABLE_URL = re.compile(r"[\x21-\x7e]+")


def check_endpoint_url(url: str, *, allow_loopback: bool) -> str:
    """`url` when the service may post events to it; InvalidRequest (400) with the reason otherwise.

    HTTPS to a public host name; no credentials or fragment in it. With `allow_loopback` (a local run, never a
    deployed stage) also plain HTTP to this machine (127.0.0.0/8, ::1, localhost), for a receiver in a test.
    """
    if len(url) > MAX_URL_LENGTH or not _PRINTABLE_URL.fullmatch(url):
        raise _bad_url(f"a URL of at most {MAX_URL_LENGTH} printable ASCII characters, without spaces")
    parts = urlsplit(url)
    try:
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a port out of range or not a number raises here
    except ValueError:
        raise _bad_url("the URL's host or port is not valid") from None
    if parts.username is not None or parts.password is not None:
        raise _bad_url("no user name or password in the URL: the signature authenticates the events")
    if parts.fragment:
        raise _bad_url("no #fragment in the URL")
    if not host:
        raise _bad_url("the URL has no host")
    loopback = is_loopback(host)
    if parts.scheme == "https" and (loopback and allow_loopback or is_public_host(host)):
        return url
    if parts.scheme == "http" and loopback and allow_loopback:
        return url
    if parts.scheme == "https":
        raise _bad_url("the host must be a public host name (not a private, loopback or link-local address)")
    raise _bad_url("the URL must start with https://")


def _bad_url(problem: str) -> InvalidRequest:
    return InvalidRequest(f"url: {problem}", field="url")


def is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_public_host(host: str) -> bool:
    """A host name with a dot and a public top-level part, or a global IP address."""
    host = host.lower().rstrip(".")
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        pass
    if "." not in host or is_loopback(host):
        return False
    return host.rsplit(".", 1)[1] not in {"internal", "local", "localdomain", "lan", "home", "corp", "intranet"}


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: EventEndpoint
    #: Shown once, in the answer that created the endpoint; afterwards only the secret store has it.
    secret: str


def create_endpoint(
    endpoints: EventEndpoints,
    secrets: SecretStore,
    account_id: str,
    url: str,
    *,
    description: str | None,
    types: Sequence[EventType] | None,
    actor: str,
    now: datetime,
    allow_loopback: bool,
) -> CreatedEndpoint:
    """Add an endpoint with a new secret (stored before the endpoint: no endpoint is ever without its secret).

    InvalidRequest for a URL the service may not post to, or when the account has MAX_ACTIVE_ENDPOINTS already.
    """
    check_endpoint_url(url, allow_loopback=allow_loopback)
    _check_room(active_endpoints(endpoints, account_id))
    endpoint = EventEndpoint(
        endpoint_id="ep_" + random_source.token_hex(12),
        account_id=account_id,
        url=url,
        description=description,
        types=tuple(dict.fromkeys(types)) if types else EVENT_TYPES,
        created_at=now,
        created_by=actor,
    )
    secret = new_secret()
    secrets.put(secret_name(account_id, endpoint.endpoint_id), secret)

    def add(current: list[EventEndpoint]) -> list[EventEndpoint]:
        _check_room([e for e in current if e.active])
        kept = [*current, endpoint]
        while len(kept) > MAX_KEPT_ENDPOINTS:  # forget the oldest deleted or disabled ones
            kept.remove(next(e for e in kept if not e.active))
        return kept

    _change_endpoints(endpoints, account_id, add)
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


def _check_room(active: list[EventEndpoint]) -> None:
    if len(active) >= MAX_ACTIVE_ENDPOINTS:
        raise InvalidRequest(
            f"an account has at most {MAX_ACTIVE_ENDPOINTS} event endpoints: delete one first",
            limit=MAX_ACTIVE_ENDPOINTS,
        )


def active_endpoints(endpoints: EventEndpoints, account_id: str) -> list[EventEndpoint]:
    """The account's endpoints that receive events, oldest first."""
    return [e for e in endpoints.load_endpoints(account_id)[0] if e.active]


def get_endpoint(endpoints: EventEndpoints, account_id: str, endpoint_id: str) -> EventEndpoint:
    """One endpoint of the account, deleted ones excepted; EndpointNotFound (404) otherwise."""
    for endpoint in endpoints.load_endpoints(account_id)[0]:
        if endpoint.endpoint_id == endpoint_id and endpoint.deleted_at is None:
            return endpoint
    raise EndpointNotFound(f"no event endpoint {endpoint_id}", endpoint_id=endpoint_id)


def delete_endpoint(
    endpoints: EventEndpoints, account_id: str, endpoint_id: str, *, actor: str, now: datetime
) -> EventEndpoint:
    """Stop sending events to the endpoint; its deliveries not yet made are cancelled. Returns it, deleted."""
    deleted: list[EventEndpoint] = []

    def delete(current: list[EventEndpoint]) -> list[EventEndpoint]:
        deleted.clear()
        changed = []
        for endpoint in current:
            if endpoint.endpoint_id == endpoint_id and endpoint.deleted_at is None:
                endpoint = endpoint.model_copy(update={"deleted_at": now, "deleted_by": actor})
                deleted.append(endpoint)
            changed.append(endpoint)
        if not deleted:
            raise EndpointNotFound(f"no event endpoint {endpoint_id}", endpoint_id=endpoint_id)
        return changed

    _change_endpoints(endpoints, account_id, delete)
    return deleted[0]


def _disable_endpoint(endpoints: EventEndpoints, account_id: str, endpoint_id: str, reason: str, now: datetime) -> None:
    def disable(current: list[EventEndpoint]) -> list[EventEndpoint]:
        return [
            e.model_copy(update={"disabled_at": now, "disabled_reason": reason})
            if e.endpoint_id == endpoint_id and e.active
            else e
            for e in current
        ]

    _change_endpoints(endpoints, account_id, disable)


def _change_endpoints(
    endpoints: EventEndpoints, account_id: str, change: Callable[[list[EventEndpoint]], list[EventEndpoint]]
) -> None:
    """Read, change and write the account's endpoints, conditional on no other change in between (retried)."""
    for _ in range(MAX_ENDPOINT_WRITES):
        current, version = endpoints.load_endpoints(account_id)
        if endpoints.save_endpoints(account_id, change(current), version):
            return
    raise StoreUnavailable("the account's event endpoints are changing too fast; retry")


# --- the delivery log ----------------------------------------------------------------------------

DeliveryStatus = Literal["pending", "retrying", "delivered", "failed", "cancelled"]


class Delivery(Frozen):
    """One change event for one endpoint, in the endpoint's delivery log: how its attempts went."""

    account_id: str
    endpoint_id: str
    event: ChangeEvent
    #: pending (not tried yet), retrying, delivered, failed (dead-lettered after a day, or the receiver said 410
    #: Gone), cancelled (the endpoint was deleted first).
    status: DeliveryStatus = "pending"
    attempts: int = 0
    #: When the current run of attempts began (the first fan-out, or the last replay): a day of retries from here.
    scheduled_at: datetime
    last_attempt_at: datetime | None = None
    #: The receiver's HTTP status on the last attempt; None when there was no answer (timeout, refused, DNS).
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class FanOut:
    published: int
    #: Deliveries queued now (a fan-out done before queues none again).
    queued: int


def fan_out(
    job: ChangeEventJob,
    *,
    endpoints: EventEndpoints,
    publisher: EventPublisher,
    queue: DeliveryQueue,
    now: datetime,
) -> FanOut:
    """Publish the job's events on the bus and queue one delivery per event and active endpoint that wants it.

    Safe to run again (a redelivered job): a delivery already in an endpoint's log is not queued again unless it
    never left (scheduled, then the queue refused it). The bus gets the events again: it is at-least-once, and its
    consumers dedupe on `detail.data.id`. StoreUnavailable when the bus, the store or the queue failed: retry.
    """
    publisher.publish(job.events)
    deliveries: list[DeliveryJob] = []
    for endpoint in active_endpoints(endpoints, job.account_id):
        for event in job.events:
            if event.type not in endpoint.types:
                continue
            wanted = Delivery(
                account_id=job.account_id, endpoint_id=endpoint.endpoint_id, event=event, scheduled_at=now
            )
            stored = endpoints.schedule_delivery(wanted)
            if stored.status == "pending" and stored.attempts == 0:
                deliveries.append(_job(stored))
    queue.enqueue_deliveries(deliveries)
    return FanOut(published=len(job.events), queued=len(deliveries))


def _job(delivery: Delivery) -> DeliveryJob:
    return DeliveryJob(
        account_id=delivery.account_id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event.id,
        scheduled_at=delivery.scheduled_at,
    )


@dataclass(frozen=True)
class ReceiverAnswer:
    """What a receiver made of one POST: its status (None: no answer at all) and, on failure, why."""

    status: int | None
    error: str | None = None
    #: The receiver's Retry-After, in seconds, when it gave one.
    retry_after: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Outcome = Literal["delivered", "retry", "dead_letter", "done"]


@dataclass(frozen=True)
class Attempt:
    """What handling one delivery job did, and what its queue record should do next.

    `delivered` and `done` (nothing to send: delivered before, cancelled, a newer run took over, stopped by 410
    Gone): the record is finished. `retry`: back on the queue after `delay` seconds. `dead_letter`: failed for good,
    to the dead-letter queue.
    """

    outcome: Outcome
    detail: str
    delivery: Delivery | None = None
    delay: int = 0


def deliver(
    job: DeliveryJob,
    *,
    endpoints: EventEndpoints,
    secrets: SecretStore,
    sender: WebhookSender,
    now: datetime,
    last_receive: bool,
) -> Attempt:
    """Post the job's change event to its endpoint once, signed, and log the attempt.

    A failure (no answer, not 2xx, a redirect) is retried on RETRY_SCHEDULE; the attempt on the queue record's
    last receive (`last_receive`) or past a day from `scheduled_at` is the last, and the delivery is `failed`
    (dead-lettered). 410 Gone is final at once and disables the endpoint, as Standard Webhooks says.
    """
    delivery = endpoints.get_delivery(job.account_id, job.endpoint_id, job.event_id)
    if delivery is None:
        return Attempt("done", "no such delivery in the endpoint's log")
    if delivery.scheduled_at != job.scheduled_at:
        return Attempt("done", "a replay started a newer run of attempts", delivery)
    if delivery.status in ("delivered", "cancelled"):
        return Attempt("done", f"already {delivery.status}", delivery)
    if delivery.status == "failed":
        return Attempt("dead_letter", f"failed for good: {delivery.last_error}", delivery)
    endpoint = next((e for e in endpoints.load_endpoints(job.account_id)[0] if e.endpoint_id == job.endpoint_id), None)
    if endpoint is None or not endpoint.active:
        cancelled = delivery.model_copy(update={"status": "cancelled", "next_attempt_at": None})
        endpoints.put_delivery(cancelled)
        return Attempt("done", "the endpoint was deleted or disabled", cancelled)
    secret = secrets.get(secret_name(job.account_id, job.endpoint_id))
    if secret is None:
        answer = ReceiverAnswer(status=None, error="the endpoint's signing secret is missing from the secret store")
    else:
        body = delivery.event.body()
        headers = signed_headers(secret, delivery.event.id, int(now.timestamp()), body)
        answer = sender.post(endpoint.url, body, headers)
    attempted = delivery.model_copy(
        update={
            "attempts": delivery.attempts + 1,
            "last_attempt_at": now,
            "last_status_code": answer.status,
            "last_error": None if answer.ok else (answer.error or f"HTTP {answer.status}")[:MAX_ERROR_LENGTH],
            "next_attempt_at": None,
        }
    )
    if answer.ok:
        done = attempted.model_copy(update={"status": "delivered", "delivered_at": now})
        endpoints.put_delivery(done)
        return Attempt("delivered", f"HTTP {answer.status}", done)
    if answer.status == 410:
        gone = attempted.model_copy(update={"status": "failed"})
        endpoints.put_delivery(gone)
        _disable_endpoint(endpoints, job.account_id, job.endpoint_id, "the receiver answered 410 Gone", now)
        return Attempt("done", "410 Gone: the endpoint is disabled", gone)
    due = _next_attempt(delivery.scheduled_at, attempted.attempts)
    if last_receive or due is None or now >= delivery.scheduled_at + RETRY_WINDOW:
        dead = attempted.model_copy(update={"status": "failed"})
        endpoints.put_delivery(dead)
        return Attempt("dead_letter", f"{attempted.attempts} attempts failed: {attempted.last_error}", dead)
    delay = min(MAX_DELAY_SECONDS, max(1, int((due - now).total_seconds()), answer.retry_after or 0))
    retrying = attempted.model_copy(update={"status": "retrying", "next_attempt_at": now + timedelta(seconds=delay)})
    endpoints.put_delivery(retrying)
    return Attempt("retry", f"attempt {attempted.attempts} failed: {attempted.last_error}", retrying, delay)


def _next_attempt(scheduled_at: datetime, attempts: int) -> datetime | None:
    """When attempt `attempts + 1` is due; None after the last."""
    if attempts > len(RETRY_SCHEDULE):
        return None
    return scheduled_at + RETRY_SCHEDULE[attempts - 1]


@dataclass(frozen=True)
class Replayed:
    event_ids: tuple[str, ...]
    #: Set when `limit` cut the replay short: call again with the same `since` and `after` this (the last id).
    next_after: str | None


def replay(
    endpoints: EventEndpoints,
    queue: DeliveryQueue,
    account_id: str,
    endpoint_id: str,
    *,
    since: datetime | None,
    event_id: str | None,
    limit: int,
    now: datetime,
    after: str | None = None,
) -> Replayed:
    """Send the endpoint again the events its log holds from `since` (oldest first, after the change event `after`
    when given, up to `limit`), or the one change event `event_id`: each starts a new run of attempts (a day of
    retries), under its original id (receivers dedupe on it)."""
    get_endpoint(endpoints, account_id, endpoint_id)
    if event_id is not None:
        found = endpoints.get_delivery(account_id, endpoint_id, event_id)
        if found is None:
            raise DeliveryNotFound(f"the endpoint was never sent {event_id}", event_id=event_id)
        chosen = [found]
    elif since is not None:
        chosen = endpoints.deliveries_since(account_id, endpoint_id, since, limit, after=after)
    else:
        raise InvalidRequest("give since (a time) or event_id (a change event's id)")
    jobs = []
    for delivery in chosen:
        again = delivery.model_copy(update={"status": "pending", "scheduled_at": now, "next_attempt_at": None})
        endpoints.put_delivery(again)
        jobs.append(_job(again))
    queue.enqueue_deliveries(jobs)
    more = event_id is None and len(chosen) == limit
    return Replayed(event_ids=tuple(d.event.id for d in chosen), next_after=chosen[-1].event.id if more else None)
