"""A loopback HTTP server base for carriers' fake REST APIs: records every request, answers as a subclass says.

A subclass implements `respond(request) -> Reply`; the base serves it on 127.0.0.1 (a free port), in a thread, as
a context manager. Answers can be delayed (cut short when the server stops), so timeouts can be tested;
`refusing_url()` is a URL where nothing answers, so refused connections can be too.
"""

from __future__ import annotations

import base64
import binascii
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server received it."""

    method: str
    path: str
    #: Header names in lower case.
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> list[tuple[str, str]]:
        """The form fields of an application/x-www-form-urlencoded body, in order (else none)."""
        if not self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return []
        return parse_qsl(self.body.decode("utf-8"), keep_blank_values=True)

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.form)

    @property
    def json(self) -> Any:
        """The JSON body, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """The (username, password) of the Authorization header, or None when it is absent or not Basic."""
        scheme, _, encoded = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return username, password

    @property
    def bearer(self) -> str | None:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" and token else None


@dataclass(frozen=True)
class Reply:
    """What the server answers: a status, a JSON document (or raw bytes), headers, and an optional delay."""

    status: int
    document: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    #: Seconds to wait before answering (cut short when the server stops).
    delay: float = 0.0
    raw: bytes | None = None
    content_type: str = "application/json; charset=utf-8"


@dataclass
class LoopbackApiServer:
    """The server base: `requests` holds every request, authorised or not; subclasses implement `respond`."""

    requests: list[ReceivedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def respond(self, request: ReceivedRequest) -> Reply:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._stopping.clear()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.api = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        # Slow answers wait on this event, so stopping does not wait out their delay.
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _handle(self, request: ReceivedRequest) -> Reply | None:
        """Record and answer one request; None when the server stopped during the answer's delay."""
        with self._lock:
            self.requests.append(request)
        reply = self.respond(request)
        if reply.delay and self._stopping.wait(reply.delay):
            return None
        return reply


@contextmanager
def refusing_url() -> Iterator[str]:
    """A loopback base URL (`http://127.0.0.1:<port>`) that refuses connections while the block lasts: its port is
    bound but not listening, so connecting is refused and nothing else can take the port meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed_port:
        closed_port.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{closed_port.getsockname()[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "carrier-api-test-server"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = ReceivedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        api: LoopbackApiServer = self.server.api  # type: ignore[attr-defined]
        reply = api._handle(request)
        if reply is None:
            return
        payload = reply.raw if reply.raw is not None else json.dumps(reply.document).encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer

    do_GET = do_POST = do_PUT = do_DELETE = _serve  # http.server dispatches on these names

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet; `requests` holds what happened
