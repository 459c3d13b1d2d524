"""A store that hangs: the webhook answers 503 (the carrier retries) well inside a carrier's webhook timeout.

The "store" is a TCP server on loopback that accepts connections and never answers, as a paused endpoint does.
Twilio gives a webhook 15 s; the service's AWS calls (connect 1 s, read 2 s, 3 attempts) give up well before.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlencode

import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.adapters.carriers import twilio
from chalicelib.settings import Settings
from tests.containers import RecordingQueue

BASE = "https://sms.example.com/api"
#: Twilio's webhook timeout: an answer later than this is no answer.
CARRIER_TIMEOUT_SECONDS = 15


@pytest.fixture
def paused_endpoint():
    """http://127.0.0.1:<port> of a server that takes every connection and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield type("Paused", (), {"url": f"http://127.0.0.1:{listener.getsockname()[1]}", "connections": held})
    stopping.set()
    thread.join(2)
    for connection in held:
        connection.close()
    listener.close()


def test_a_webhook_answers_503_well_inside_the_carriers_timeout_when_the_store_hangs(
    paused_endpoint, monkeypatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    settings = Settings(public_base_url=BASE, aws_endpoint_url=paused_endpoint.url, send_queue_url="unused")
    wiring.use(wiring.Container(settings, queue=RecordingQueue()))
    try:
        params = {"MessageSid": "SM1", "From": "+14155550123", "To": "+14155550100", "Body": "STOP"}
        path = "/webhooks/twilio/acme"
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio.compute_signature(BASE + path, sorted(params.items()), "a" * 32),
        }
        started = time.monotonic()
        with Client(application.app) as client:
            response = client.http.post(path, headers=headers, body=urlencode(params))
        elapsed = time.monotonic() - started
    finally:
        wiring.use(None)
    assert response.status_code == 503 and response.headers["Retry-After"]
    # The store really hung: every attempt connected and waited for an answer that never came
    assert len(paused_endpoint.connections) == settings.aws_max_attempts
    # A functional bound, not a benchmark: later than the carrier's timeout, the answer is lost.
    assert elapsed < CARRIER_TIMEOUT_SECONDS, elapsed
