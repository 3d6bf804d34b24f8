"""What the provider stand-ins of tests/notify share: a real HTTP server on a local port
(``tests/local_server.py``) that records every request and can be told to answer the next
ones with an error (status, body, ``Retry-After``) before it answers as the provider does."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlparse

from tests.local_server import LocalServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: object = None  # a dict (sent as JSON), bytes, or None (no body)
    headers: dict[str, str] | None = None


class StandIn(LocalServer):
    """Subclasses answer in ``answer(request)``; tests read ``requests`` and call ``fail``."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._failures: list[Answer] = []
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._start(_handler(self))

    def close(self) -> None:
        # Connections are kept alive, and the sender's pool keeps them: a later test's
        # stand-in given the same port would otherwise see its requests answered by this one.
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        super().close()

    def fail(self, status: int, body: object = None, *, times: int = 1, retry_after=None):
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        self._failures.extend(Answer(status, body, headers) for _ in range(times))

    def answer(self, request: Request) -> Answer:
        raise NotImplementedError

    def _serve(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            if self._failures:
                return self._failures.pop(0)
            return self.answer(request)


def _handler(stand_in: StandIn):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # kept alive, as the real services do

        def setup(self):
            super().setup()
            with stand_in._lock:
                stand_in._connections.append(self.connection)

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                self.command,
                urlparse(self.path).path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            answer = stand_in._serve(request)
            if isinstance(answer.body, dict | list):
                data, content_type = json.dumps(answer.body).encode(), "application/json"
            else:
                data, content_type = answer.body or b"", "text/plain"
            self.send_response(answer.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (answer.headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args):
            pass

    return Handler
