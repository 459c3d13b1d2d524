"""Change events (chalicelib/domain/change_events.py): which changes make one, what it says, how it is signed, the
endpoints, the fan-out, the delivery schedule, the delivery log and replays; the worker and the HTTP calls, on
in-memory fakes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from chalice import Chalice
from chalice.test import Client
from openapi_spec_validator import validate

from chalicelib import wiring
from chalicelib.api import event_endpoints as event_endpoints_api
from chalicelib.api.openapi import OPERATIONS, document
from chalicelib.domain import change_events, policy
from chalicelib.domain.accounts import hash_token
from chalicelib.domain.change_events import (
    RETRY_SCHEDULE,
    ChangeEventJob,
    Delivery,
    DeliveryJob,
    EventEndpoint,
    ReceiverAnswer,
)
from chalicelib.domain.errors import InvalidRequest, StoreUnavailable
from chalicelib.domain.models import Account, Action, Event, NumberState, Source
from chalicelib.settings import Settings
from chalicelib.workers import change_events as worker
from tests.containers import fake_container
from tests.fakes import (
    FixedClock,
    InMemoryEventEndpoints,
    InMemorySecretStore,
    RecordingDeliveryQueue,
    RecordingEventPublisher,
    ScriptedWebhookSender,
    in_memory_stores,
)

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ACCOUNT = "acme"
PHONE = "+14155550123"
SENDER = "+14155550100"
URL = "https://crm.example.com/hooks/optout"


def event(action: Action = Action.OPT_OUT, **fields) -> Event:
    base = {
        "event_id": "twilio:SM1",
        "account_id": ACCOUNT,
        "phone": PHONE,
        "action": action,
        "scopes": ("all",),
        "source": Source.KEYWORD,
        "occurred_at": T0,
        "received_at": T0 + timedelta(seconds=2),
        "actor": "twilio:SM1",
        "message": "STOP",
    }
    return Event(**(base | fields))


def applied(state: NumberState, evt: Event) -> tuple[NumberState, ChangeEventJob | None]:
    new_state, record = policy.apply(state, evt)
    return new_state, change_events.job_for(record, new_state)


def empty() -> NumberState:
    return NumberState(account_id=ACCOUNT, phone=PHONE)


def stop_job() -> ChangeEventJob:
    job = applied(empty(), event())[1]
    assert job is not None
    return job


# --- which changes make events, and what they say -------------------------------------------------------------


def test_a_stop_makes_one_suppression_created_event_with_what_a_crm_needs() -> None:
    job = stop_job()
    assert (job.kind, job.job_id, job.event_id) == ("change_events", "changes:twilio:SM1", "twilio:SM1")
    (created,) = job.events
    assert created.type == "suppression.created"
    assert (created.account_id, created.phone, created.scope, created.source) == (ACCOUNT, PHONE, "all", Source.KEYWORD)
    assert (created.occurred_at, created.event_id, created.actor, created.action) == (
        T0,
        "twilio:SM1",
        "twilio:SM1",
        Action.OPT_OUT,
    )
    assert created.number_status == "blocked"


def test_an_opt_in_lifting_two_scopes_makes_two_lifted_events_with_the_lifted_sources() -> None:
    # Given an account-wide keyword opt-out and a carrier one for one sender
    state, _ = applied(empty(), event())
    state, _ = applied(state, event(event_id="c:1", scopes=(f"sender:{SENDER}",), source=Source.CARRIER))
    # When the contact texts START to that sender
    start = event(Action.OPT_IN, event_id="twilio:SM2", scopes=policy.opt_in_scopes(SENDER), source=None)
    state, job = applied(state, start.model_copy(update={"occurred_at": T0 + timedelta(minutes=1)}))
    # Then both are lifted, and the number is sendable again
    assert job is not None
    assert [(e.type, e.scope, e.source) for e in job.events] == [
        ("suppression.lifted", "all", Source.KEYWORD),
        ("suppression.lifted", f"sender:{SENDER}", Source.CARRIER),
    ]
    assert {e.number_status for e in job.events} == {"sendable"}
    assert len({e.id for e in job.events}) == 2


def test_a_bounce_an_import_and_an_admin_lift_make_events_too() -> None:
    bounce = applied(empty(), event(source=Source.BOUNCE, event_id="twilio:SM1:undelivered:30003"))[1]
    assert bounce is not None and bounce.events[0].source is Source.BOUNCE
    state, imported = applied(empty(), event(source=Source.IMPORT, event_id="import:i1:2", actor="import:i1"))
    assert imported is not None and imported.events[0].actor == "import:i1"
    lift = event(Action.LIFT, event_id="admin:1", source=None, occurred_at=T0 + timedelta(minutes=1))
    _, lifted = applied(state, lift)
    assert lifted is not None and [(e.type, e.action) for e in lifted.events] == [("suppression.lifted", Action.LIFT)]


def test_a_reply_from_a_bounced_number_lifts_the_bounce_with_an_event() -> None:
    state, _ = applied(empty(), event(source=Source.BOUNCE))
    reply = event(Action.REPLY, event_id="twilio:SM9", scopes=(), source=None, occurred_at=T0 + timedelta(minutes=1))
    _, job = applied(state, reply)
    assert job is not None and [(e.type, e.source) for e in job.events] == [("suppression.lifted", Source.BOUNCE)]


def test_what_changes_nothing_makes_no_event() -> None:
    state, _ = applied(empty(), event())
    # the same scope suppressed again (unchanged), an older event (superseded), a note
    assert applied(state, event(event_id="twilio:SM2"))[1] is None
    older = event(Action.OPT_IN, event_id="twilio:SM0", source=None, occurred_at=T0 - timedelta(minutes=1))
    assert applied(state, older)[1] is None
    assert applied(state, event(Action.NOTE, event_id="dismiss:1", scopes=(), source=None))[1] is None


def test_change_event_ids_are_stable_sort_by_recording_time_and_carry_no_dot() -> None:
    first, again = stop_job(), stop_job()
    assert first.events[0].id == again.events[0].id
    later = applied(empty(), event(event_id="twilio:SM2", received_at=T0 + timedelta(hours=1)))[1]
    assert later is not None and later.events[0].id > first.events[0].id
    assert "." not in first.events[0].id
    assert first.events[0].id.startswith(change_events.change_event_id_floor(T0 + timedelta(seconds=2)))


def test_the_body_is_standard_webhooks_type_timestamp_and_data() -> None:
    created = stop_job().events[0]
    body = json.loads(created.body())
    assert body["type"] == "suppression.created"
    assert body["timestamp"] == "2026-11-22T10:00:00Z"
    assert body["data"]["id"] == created.id
    assert {"account_id", "phone", "scope", "source", "occurred_at", "event_id", "actor"} <= set(body["data"])
    assert created.body() == created.body()  # what is signed is what is sent, every time


# --- signing ---------------------------------------------------------------------------------------------------


def test_signatures_match_the_standard_webhooks_test_vector() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = change_events.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_new_secret_is_whsec_and_32_random_bytes_and_signs_what_a_receiver_checks() -> None:
    secret = change_events.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert secret != change_events.new_secret()
    body = stop_job().events[0].body()
    headers = change_events.signed_headers(secret, "evt_1", 1700000000, body)
    # The receiver's side, as the spec says: HMAC-SHA256 of "<id>.<timestamp>.<body>" with the decoded secret.
    expected = hmac.new(base64.b64decode(secret[6:]), b"evt_1.1700000000." + body, hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()
    assert (headers["webhook-id"], headers["webhook-timestamp"]) == ("evt_1", "1700000000")


# --- endpoint URLs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://crm.example.com/hooks",
        "https://127.0.0.1/hooks",
        "https://10.0.0.5/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://localhost/hooks",
        "https://metadata/hooks",
        "https://db.internal/hooks",
        "https://user:pass@crm.example.com/hooks",
        "https://crm.example.com/hooks#frag",
        "https://crm.example.com:99999/hooks",
        "ftp://crm.example.com/",
        "https://crm.example.com/a b",
        "https:///nohost",
        "http://127.0.0.1:8080/hooks",
    ],
)
def test_deployed_stages_post_only_to_https_public_hosts(url: str) -> None:
    with pytest.raises(InvalidRequest):
        change_events.check_endpoint_url(url, allow_loopback=False)


def test_a_local_run_may_post_plain_http_to_loopback_and_nothing_else_private() -> None:
    for url in ("http://127.0.0.1:8080/hooks", "http://localhost:9/x", "http://[::1]:8080/", URL):
        assert change_events.check_endpoint_url(url, allow_loopback=True) == url
    for url in ("http://10.0.0.5/hooks", "http://crm.example.com/hooks", "https://192.168.1.1/"):
        with pytest.raises(InvalidRequest):
            change_events.check_endpoint_url(url, allow_loopback=True)
    assert change_events.check_endpoint_url(URL, allow_loopback=False) == URL


# --- endpoints -------------------------------------------------------------------------------------------------


def create(endpoints, secrets, url: str = URL, **fields):
    defaults = {"description": None, "types": None, "actor": "token:abc", "now": T0, "allow_loopback": False}
    return change_events.create_endpoint(endpoints, secrets, ACCOUNT, url, **(defaults | fields))


def test_creating_an_endpoint_stores_its_secret_first_and_shows_it_once() -> None:
    endpoints, secrets = InMemoryEventEndpoints(), InMemorySecretStore()
    created = create(endpoints, secrets, description="CRM")
    name = change_events.secret_name(ACCOUNT, created.endpoint.endpoint_id)
    assert secrets.values[name] == created.secret
    assert created.secret not in json.dumps([e.model_dump(mode="json") for e in endpoints.endpoints[ACCOUNT][0]])
    assert change_events.active_endpoints(endpoints, ACCOUNT) == [created.endpoint]
    assert created.endpoint.types == change_events.EVENT_TYPES


def test_an_account_has_at_most_ten_active_endpoints() -> None:
    endpoints, secrets = InMemoryEventEndpoints(), InMemorySecretStore()
    made = [create(endpoints, secrets, f"https://crm{n}.example.com/") for n in range(10)]
    with pytest.raises(InvalidRequest, match="at most 10"):
        create(endpoints, secrets)
    assert len(secrets.values) == 10  # no secret kept for an endpoint refused
    change_events.delete_endpoint(endpoints, ACCOUNT, made[0].endpoint.endpoint_id, actor="operator", now=T0)
    assert create(endpoints, secrets).endpoint.active


def test_a_deleted_endpoint_is_gone_for_the_api_and_deleting_it_again_is_a_404() -> None:
    endpoints, secrets = InMemoryEventEndpoints(), InMemorySecretStore()
    endpoint = create(endpoints, secrets).endpoint
    deleted = change_events.delete_endpoint(endpoints, ACCOUNT, endpoint.endpoint_id, actor="operator", now=T0)
    assert (deleted.deleted_at, deleted.deleted_by, deleted.active) == (T0, "operator", False)
    with pytest.raises(change_events.EndpointNotFound):
        change_events.get_endpoint(endpoints, ACCOUNT, endpoint.endpoint_id)
    with pytest.raises(change_events.EndpointNotFound):
        change_events.delete_endpoint(endpoints, ACCOUNT, endpoint.endpoint_id, actor="operator", now=T0)


def test_a_lost_race_on_the_endpoints_item_is_retried_then_a_503() -> None:
    class Racing(InMemoryEventEndpoints):
        losses = 2

        def save_endpoints(self, account_id, endpoints, expected_version):
            if self.losses:
                self.losses -= 1
                return False
            return super().save_endpoints(account_id, endpoints, expected_version)

    racing = Racing()
    assert create(racing, InMemorySecretStore()).endpoint.active
    racing.losses = 99
    with pytest.raises(StoreUnavailable):
        create(racing, InMemorySecretStore())


# --- fan-out, delivery, replay ---------------------------------------------------------------------------------


class Parts:
    """The ports of one test, with an account that has one endpoint."""

    def __init__(self, *answers: ReceiverAnswer, types=None) -> None:
        self.endpoints = InMemoryEventEndpoints()
        self.secrets = InMemorySecretStore()
        self.publisher = RecordingEventPublisher()
        self.queue = RecordingDeliveryQueue()
        self.sender = ScriptedWebhookSender(*answers)
        created = create(self.endpoints, self.secrets, types=types)
        self.endpoint, self.secret = created.endpoint, created.secret

    def fan_out(self, job: ChangeEventJob, now: datetime = T0):
        return change_events.fan_out(job, endpoints=self.endpoints, publisher=self.publisher, queue=self.queue, now=now)

    def deliver(self, job: DeliveryJob, now: datetime = T0, last_receive: bool = False):
        return change_events.deliver(
            job,
            endpoints=self.endpoints,
            secrets=self.secrets,
            sender=self.sender,
            now=now,
            last_receive=last_receive,
        )

    def delivery(self, job: DeliveryJob) -> Delivery:
        found = self.endpoints.get_delivery(job.account_id, job.endpoint_id, job.event_id)
        assert found is not None
        return found


def test_a_fan_out_publishes_every_event_and_queues_one_delivery_per_endpoint() -> None:
    parts = Parts()
    job = stop_job()
    assert parts.fan_out(job) == change_events.FanOut(published=1, queued=1)
    (delivery_job,) = parts.queue.jobs
    assert (delivery_job.endpoint_id, delivery_job.event_id) == (parts.endpoint.endpoint_id, job.events[0].id)
    assert parts.publisher.published == list(job.events)


def test_a_fan_out_delivered_again_sends_nothing_twice_to_an_endpoint() -> None:
    # Given a fanned-out job whose delivery was made
    parts = Parts()
    job = stop_job()
    parts.fan_out(job)
    parts.deliver(parts.queue.jobs[0])
    # When SQS delivers the job again, the bus gets it again (at least once: consumers dedupe on the id)
    assert parts.fan_out(job, now=T0 + timedelta(seconds=5)).queued == 0
    assert len(parts.queue.jobs) == 1 and len(parts.publisher.published) == 2
    # and the endpoint is not sent it again (a delivery never tried is queued again: its queueing may have failed;
    # the one that comes second finds it delivered)
    assert len(parts.sender.posts) == 1


def test_a_fan_out_whose_queueing_failed_queues_the_deliveries_on_its_retry() -> None:
    parts = Parts()
    parts.queue.fail = True
    with pytest.raises(StoreUnavailable):
        parts.fan_out(stop_job())
    parts.queue.fail = False
    assert parts.fan_out(stop_job()).queued == 1


def test_deleted_endpoints_and_endpoints_wanting_other_types_get_nothing() -> None:
    parts = Parts(types=["suppression.lifted"])
    other = create(parts.endpoints, parts.secrets, "https://other.example.com/").endpoint
    change_events.delete_endpoint(parts.endpoints, ACCOUNT, other.endpoint_id, actor="operator", now=T0)
    assert parts.fan_out(stop_job()).queued == 0


def test_a_delivery_is_signed_and_logged_as_delivered() -> None:
    parts = Parts(ReceiverAnswer(status=204))
    parts.fan_out(stop_job())
    (job,) = parts.queue.jobs
    now = T0 + timedelta(seconds=3)
    attempt = parts.deliver(job, now=now)
    assert attempt.outcome == "delivered"
    ((url, body, headers),) = parts.sender.posts
    assert url == URL and body == stop_job().events[0].body()
    assert headers["webhook-id"] == job.event_id and headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"] == change_events.sign(parts.secret, job.event_id, int(now.timestamp()), body)
    logged = parts.delivery(job)
    assert (logged.status, logged.attempts, logged.last_status_code, logged.delivered_at) == ("delivered", 1, 204, now)
    # A redelivered job sends nothing more
    assert parts.deliver(job).outcome == "done" and len(parts.sender.posts) == 1


def test_a_failing_receiver_is_retried_for_a_day_then_dead_lettered() -> None:
    parts = Parts(ReceiverAnswer(status=500, error="HTTP 500: boom"))
    parts.fan_out(stop_job())
    (job,) = parts.queue.jobs
    now, delays = T0, []
    for attempt_number in range(1, len(RETRY_SCHEDULE) + 1):
        attempt = parts.deliver(job, now=now)
        assert attempt.outcome == "retry", attempt_number
        delays.append(attempt.delay)
        now += timedelta(seconds=attempt.delay)
        logged = parts.delivery(job)
        assert (logged.status, logged.attempts, logged.last_status_code) == ("retrying", attempt_number, 500)
        assert logged.last_error == "HTTP 500: boom" and logged.next_attempt_at == now
    # Then attempts were due 5 minutes, 1 hour, 12 hours and 24 hours after the first, no wait longer than 12 hours
    assert delays == [300, 3300, 39600, 43200]
    assert now == T0 + timedelta(hours=24)
    # And the fifth attempt, a day after the first, is the last
    final = parts.deliver(job, now=now)
    assert final.outcome == "dead_letter" and parts.delivery(job).status == "failed"
    assert len(parts.sender.posts) == 5
    # A dead delivery's record keeps failing (to the dead-letter queue) without calling the receiver again
    assert parts.deliver(job, now=now).outcome == "dead_letter" and len(parts.sender.posts) == 5


def test_the_queue_records_last_receive_is_the_last_attempt() -> None:
    parts = Parts(ReceiverAnswer(status=None, error="no answer: timeout"))
    parts.fan_out(stop_job())
    attempt = parts.deliver(parts.queue.jobs[0], last_receive=True)
    assert attempt.outcome == "dead_letter"
    assert parts.delivery(parts.queue.jobs[0]).last_status_code is None


def test_retry_after_is_honoured_when_longer_than_the_schedule() -> None:
    parts = Parts(ReceiverAnswer(status=503, error="HTTP 503", retry_after=1800))
    parts.fan_out(stop_job())
    assert parts.deliver(parts.queue.jobs[0]).delay == 1800


def test_410_gone_stops_the_delivery_and_disables_the_endpoint() -> None:
    parts = Parts(ReceiverAnswer(status=410, error="HTTP 410"))
    parts.fan_out(stop_job())
    attempt = parts.deliver(parts.queue.jobs[0])
    assert attempt.outcome == "done" and parts.delivery(parts.queue.jobs[0]).status == "failed"
    (endpoint,) = parts.endpoints.load_endpoints(ACCOUNT)[0]
    assert not endpoint.active and "410" in (endpoint.disabled_reason or "")
    assert parts.fan_out(applied(empty(), event(event_id="twilio:SM7"))[1]).queued == 0


def test_a_delivery_to_an_endpoint_deleted_meanwhile_is_cancelled_unsent() -> None:
    parts = Parts()
    parts.fan_out(stop_job())
    change_events.delete_endpoint(parts.endpoints, ACCOUNT, parts.endpoint.endpoint_id, actor="operator", now=T0)
    assert parts.deliver(parts.queue.jobs[0]).outcome == "done"
    assert parts.delivery(parts.queue.jobs[0]).status == "cancelled" and parts.sender.posts == []


def test_a_missing_secret_is_a_failed_attempt_without_a_post() -> None:
    parts = Parts()
    parts.secrets.values.clear()
    parts.fan_out(stop_job())
    attempt = parts.deliver(parts.queue.jobs[0])
    assert attempt.outcome == "retry" and "secret" in (parts.delivery(parts.queue.jobs[0]).last_error or "")
    assert parts.sender.posts == []


def test_replay_since_a_time_sends_again_oldest_first_in_pages_and_older_runs_stop() -> None:
    # Given three events delivered to the endpoint, an hour apart
    parts = Parts()
    for n in range(3):
        job = applied(empty(), event(event_id=f"twilio:SM{n}", received_at=T0 + timedelta(hours=n)))[1]
        parts.fan_out(job)
    for job in list(parts.queue.jobs):
        parts.deliver(job)
    first_run = list(parts.queue.jobs)
    parts.queue.jobs.clear()
    # When the account replays from the second one on, two at a time... one at a time
    later = T0 + timedelta(days=2)
    replay = change_events.replay(
        parts.endpoints, parts.queue, ACCOUNT, parts.endpoint.endpoint_id,
        since=T0 + timedelta(minutes=30), event_id=None, limit=1, now=later,
    )  # fmt: skip
    assert replay.event_ids == (first_run[1].event_id,) and replay.next_after == first_run[1].event_id
    rest = change_events.replay(
        parts.endpoints, parts.queue, ACCOUNT, parts.endpoint.endpoint_id,
        since=T0 + timedelta(minutes=30), event_id=None, limit=1, now=later, after=replay.next_after,
    )  # fmt: skip
    assert rest.event_ids == (first_run[2].event_id,)
    # Then each is pending again with a new run of attempts, under its original id, and is delivered again
    assert [job.event_id for job in parts.queue.jobs] == [first_run[1].event_id, first_run[2].event_id]
    assert parts.delivery(parts.queue.jobs[0]).status == "pending"
    assert parts.deliver(parts.queue.jobs[0], now=later).outcome == "delivered"
    assert parts.sender.posts[-1][2]["webhook-id"] == first_run[1].event_id
    # And a job of the older run does nothing
    assert parts.deliver(first_run[2], now=later).detail == "a replay started a newer run of attempts"


def test_replay_of_one_event_and_of_one_never_sent() -> None:
    parts = Parts()
    parts.fan_out(stop_job())
    (job,) = parts.queue.jobs
    replayed = change_events.replay(
        parts.endpoints, parts.queue, ACCOUNT, parts.endpoint.endpoint_id,
        since=None, event_id=job.event_id, limit=100, now=T0,
    )  # fmt: skip
    assert replayed.event_ids == (job.event_id,) and replayed.next_after is None
    with pytest.raises(change_events.DeliveryNotFound):
        change_events.replay(
            parts.endpoints, parts.queue, ACCOUNT, parts.endpoint.endpoint_id,
            since=None, event_id="evt_20261122T100000000000Z_00000000000000000000", limit=100, now=T0,
        )  # fmt: skip


# --- the worker (what workers/send.py hands change-event records to) --------------------------------------------


@pytest.fixture
def deps():
    built = fake_container(Settings(operator_token="operator-token"), clock=FixedClock(T0))
    built.__dict__.update(
        event_publisher=RecordingEventPublisher(),
        delivery_queue=RecordingDeliveryQueue(),
        webhook_sender=ScriptedWebhookSender(ReceiverAnswer(status=500, error="HTTP 500"), ReceiverAnswer(status=200)),
    )
    yield built
    wiring.use(None)


def test_the_worker_parses_both_kinds_and_refuses_anything_else() -> None:
    job = stop_job()
    assert worker.parse(json.loads(job.model_dump_json())) == job
    assert {"change_events", "change_event_delivery"} == worker.KINDS
    with pytest.raises(ValueError):
        worker.parse({"kind": "change_event_delivery", "account_id": ACCOUNT})


def test_the_worker_fans_out_then_retries_a_failed_delivery_on_the_schedule(deps) -> None:
    created = create(deps.stores.endpoints, deps.secrets)
    assert worker.handle(stop_job(), receipt_handle="r1", receives=1) == "fanned_out"
    (delivery_job,) = deps.delivery_queue.jobs
    # The receiver answers 500: the record comes back in 5 minutes
    with pytest.raises(worker.RetryChangeEvents):
        worker.handle(worker.parse(json.loads(delivery_job.model_dump_json())), receipt_handle="r2", receives=1)
    assert deps.queue.delays == [("r2", 300)]
    # Later it answers 200
    deps.clock.advance(300)
    assert worker.handle(delivery_job, receipt_handle="r2", receives=2) == "delivered"
    assert (
        deps.stores.endpoints.get_delivery(ACCOUNT, created.endpoint.endpoint_id, delivery_job.event_id).attempts == 2
    )


def test_the_worker_dead_letters_on_the_last_receive_and_backs_off_a_failed_fan_out(deps) -> None:
    create(deps.stores.endpoints, deps.secrets)
    deps.event_publisher.fail = True
    with pytest.raises(worker.RetryChangeEvents):
        worker.handle(stop_job(), receipt_handle="f", receives=2)
    assert deps.queue.delays == [("f", 60)]
    deps.event_publisher.fail = False
    worker.handle(stop_job(), receipt_handle="f", receives=3)
    with pytest.raises(worker.DeadLetter):
        worker.handle(deps.delivery_queue.jobs[0], receipt_handle="d", receives=deps.settings.send_max_receives)
    assert deps.queue.delays[-1] == ("d", worker.DEAD_LETTER_DELAY_SECONDS)


# --- the HTTP calls ------------------------------------------------------------------------------------------------

OPERATOR = "operator-token"
TOKEN = "acme.admin-token"
OTHER_TOKEN = "beta.admin-token"


def api_app() -> Chalice:
    """app.py once it registers the blueprint; until then an app of the blueprint alone."""
    import app as application

    if event_endpoints_api.BASE in application.app.routes:
        return application.app
    app = Chalice(app_name="change-events-test")
    app.register_blueprint(event_endpoints_api.event_endpoints)
    return app


@pytest.fixture(scope="module")
def app() -> Chalice:
    return api_app()


@pytest.fixture
def api(app):
    built = fake_container(Settings(operator_token=OPERATOR), clock=FixedClock(T0))
    built.__dict__["delivery_queue"] = RecordingDeliveryQueue()
    for account_id, token in ((ACCOUNT, TOKEN), ("beta", OTHER_TOKEN)):
        account = Account(
            account_id=account_id, name=account_id, token_hashes=(hash_token(token),), created_at=T0, updated_at=T0
        )
        built.stores.accounts.put_account(account)
    with Client(app) as client:
        yield client, built
    wiring.use(None)


def call(client, method: str, path: str, token: str = TOKEN, body: object | None = None):
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    response = getattr(client.http, method)(
        path, headers=headers, body=json.dumps(body).encode() if body is not None else b""
    )
    return response.status_code, json.loads(response.body) if response.body else None


def test_an_admin_creates_lists_and_deletes_endpoints_and_sees_the_secret_once(api) -> None:
    client, deps = api
    base = f"/v1/accounts/{ACCOUNT}/event-endpoints"
    status, created = call(client, "post", base, body={"url": URL, "description": "CRM"})
    assert status == 201 and created["secret"].startswith("whsec_")
    endpoint_id = created["endpoint"]["endpoint_id"]
    assert created["endpoint"]["created_by"].startswith("token:")
    status, listed = call(client, "get", base)
    assert status == 200 and [e["endpoint_id"] for e in listed["endpoints"]] == [endpoint_id]
    assert created["secret"] not in json.dumps(listed)
    assert call(client, "get", f"{base}/{endpoint_id}")[1]["url"] == URL
    status, deleted = call(client, "delete", f"{base}/{endpoint_id}", token=OPERATOR)
    assert status == 200 and deleted["active"] is False and deleted["deleted_at"]
    assert call(client, "get", base)[1]["endpoints"] == []
    status, error = call(client, "get", f"{base}/{endpoint_id}")
    assert status == 404 and error["error"]["code"] == "endpoint_not_found"


def test_another_accounts_token_is_refused_and_bad_input_is_a_400(api) -> None:
    client, _ = api
    base = f"/v1/accounts/{ACCOUNT}/event-endpoints"
    assert call(client, "get", base, token=OTHER_TOKEN)[0] == 403
    assert call(client, "get", base, token="acme.wrong")[0] == 401
    status, error = call(client, "post", base, body={"url": "http://127.0.0.1:9999/hooks"})
    assert status == 400 and error["error"]["details"]["field"] == "url"
    assert call(client, "post", base, body={"url": URL, "types": ["suppression.deleted"]})[0] == 400
    assert call(client, "post", base, body={"url": URL, "secret": "mine"})[0] == 400
    assert call(client, "get", f"{base}/not-an-id")[0] == 400
    assert call(client, "get", f"{base}/ep_abc123/deliveries")[0] == 404


def test_the_delivery_log_pages_with_signed_cursors_and_replay_queues_again(api) -> None:
    client, deps = api
    base = f"/v1/accounts/{ACCOUNT}/event-endpoints"
    endpoint_id = call(client, "post", base, body={"url": URL})[1]["endpoint"]["endpoint_id"]
    parts = Parts()
    parts.endpoints = deps.stores.endpoints  # the API's store, holding the endpoint just created
    for n in range(3):
        job = applied(empty(), event(event_id=f"twilio:SM{n}", received_at=T0 + timedelta(minutes=n)))[1]
        parts.fan_out(job)
    # The log, newest first, two at a time
    status, page = call(client, "get", f"{base}/{endpoint_id}/deliveries?limit=2")
    assert status == 200 and [d["status"] for d in page["deliveries"]] == ["pending", "pending"]
    ids = [d["event"]["id"] for d in page["deliveries"]]
    assert ids == sorted(ids, reverse=True) and page["next_cursor"]
    status, rest = call(client, "get", f"{base}/{endpoint_id}/deliveries?cursor={page['next_cursor']}")
    assert status == 200 and len(rest["deliveries"]) == 1 and rest["next_cursor"] is None
    assert call(client, "get", f"{base}/{endpoint_id}/deliveries?cursor=forged.{'A' * 43}")[0] == 400
    # Replays: since a time, and one event
    status, replayed = call(client, "post", f"{base}/{endpoint_id}/replay?since=2026-11-22T10:00:00Z&limit=2")
    assert status == 202 and len(replayed["replayed"]) == 2 and replayed["next_after"] == replayed["replayed"][-1]
    status, one = call(client, "post", f"{base}/{endpoint_id}/replay?event_id={ids[0]}")
    assert status == 202 and one == {"replayed": [ids[0]], "next_after": None}
    assert len(deps.delivery_queue.jobs) == 3
    assert call(client, "post", f"{base}/{endpoint_id}/replay")[0] == 400
    assert call(client, "post", f"{base}/{endpoint_id}/replay?since=2026-11-22T10:00:00")[0] == 400  # no offset


def test_the_event_endpoint_operations_are_documented_as_openapi_3_1(app) -> None:
    routed = {
        (path, method)
        for path, methods in app.routes.items()
        if path.startswith(event_endpoints_api.BASE)
        for method in methods
    }
    ours = [op for op in OPERATIONS if op.path.startswith(event_endpoints_api.BASE)]
    assert {(op.path, op.method) for op in ours} == routed and len(routed) == 6
    doc = document(ours, carriers=())
    validate(doc)
    created = doc["paths"][event_endpoints_api.BASE]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/EndpointCreated"}


def test_the_store_fakes_hold_the_endpoints_store() -> None:
    assert isinstance(in_memory_stores().endpoints, InMemoryEventEndpoints)
    assert EventEndpoint.model_fields["types"].default == change_events.EVENT_TYPES
