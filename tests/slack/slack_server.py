"""A local Slack Web API test server (a real HTTP server; not Slack).

It stands in for ``https://slack.com/api/`` in tests: slack-sdk's ``WebClient(base_url=...)``
talks to it over HTTP. It follows Slack's documented contract for the methods we use —
``chat.postMessage`` (returns ``channel`` ID and ``ts``), ``chat.update``,
``conversations.history`` / ``conversations.replies`` (with message metadata),
``conversations.list``, ``users.lookupByEmail``, ``users.info``, ``auth.test`` — with HTTP 200
and ``{"ok": false, "error": ...}`` for API errors, HTTP 429 with ``Retry-After`` for rate
limits, and it serves ``/hooks/...`` as interaction response URLs. It records every call and
can be told to fail the next calls of a method (status, error code, Retry-After).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from tests.local_server import LocalServer

TOKEN = "xoxb-test-token"


@dataclass
class Call:
    method: str
    params: dict
    authorization: str


@dataclass
class Failure:
    status: int = 200
    error: str = ""
    retry_after: int | None = None
    body: str | None = None


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list | None
    metadata: dict | None
    thread_ts: str = ""
    updates: int = 0


@dataclass
class FakeSlack(LocalServer):
    channels: dict[str, str] = field(
        default_factory=lambda: {"C0LEDGER01": "ledger-oncall", "C0RISK0001": "risk-oncall"}
    )
    not_member: set[str] = field(default_factory=set)
    users: dict[str, dict] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._start(_handler(self))

    # --- what tests use ------------------------------------------------------------------
    def fail(self, method: str, *, times: int = 1, **failure) -> None:
        self.failures.setdefault(method, []).extend(Failure(**failure) for _ in range(times))

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def top_level(self, channel: str | None = None) -> list[Message]:
        return [
            m
            for m in self.messages
            if not m.thread_ts and (channel is None or m.channel == channel)
        ]

    def thread(self, ts: str) -> list[Message]:
        return [m for m in self.messages if m.thread_ts == ts]

    def add_user(self, user_id: str, email: str, tz: str = "Europe/London") -> None:
        self.users[email] = {"id": user_id, "name": email.split("@")[0], "tz": tz}

    # --- the API ---------------------------------------------------------------------------
    def handle(self, method: str, params: dict, authorization: str) -> tuple[int, dict, dict]:
        with self._lock:
            self.calls.append(Call(method, params, authorization))
            queued = self.failures.get(method) or []
            if queued:
                failure = queued.pop(0)
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
                if failure.body is not None:
                    return failure.status, {"__raw__": failure.body}, headers
                return (
                    failure.status,
                    {"ok": False, "error": failure.error or "ratelimited"},
                    headers,
                )
            if method.startswith("hooks/"):
                return 200, {"__raw__": "ok"}, {}
            if authorization != f"Bearer {TOKEN}":
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            handler = getattr(self, "api_" + method.replace(".", "_"), None)
            if handler is None:
                return 404, {"ok": False, "error": "unknown_method"}, {}
            return 200, handler(params), {}

    def _channel(self, value: str) -> str | None:
        if value in self.channels:
            return value
        name = value.lstrip("#")
        return next((cid for cid, cname in self.channels.items() if cname == name), None)

    def api_auth_test(self, params):
        return {
            "ok": True,
            "user": "batchwatch",
            "team": "Lender",
            "url": "https://lender.slack.com/",
        }

    def api_chat_postMessage(self, params):
        channel = self._channel(params.get("channel", ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        # Slack's ts is the posting time (seconds.microseconds), unique per channel.
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = Message(
            channel=channel,
            ts=ts,
            text=params.get("text", ""),
            blocks=params.get("blocks"),
            metadata=params.get("metadata"),
            thread_ts=params.get("thread_ts", ""),
        )
        if message.thread_ts and not any(m.ts == message.thread_ts for m in self.messages):
            return {"ok": False, "error": "thread_not_found"}
        self.messages.append(message)
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "message": {"text": message.text, "ts": ts},
        }

    def api_chat_update(self, params):
        found = next(
            (
                m
                for m in self.messages
                if m.channel == params.get("channel") and m.ts == params.get("ts")
            ),
            None,
        )
        if found is None:
            return {"ok": False, "error": "message_not_found"}
        found.text = params.get("text", found.text)
        found.blocks = params.get("blocks", found.blocks)
        found.updates += 1
        return {"ok": True, "channel": found.channel, "ts": found.ts, "text": found.text}

    def _as_api(self, m: Message) -> dict:
        data = {"type": "message", "ts": m.ts, "text": m.text}
        if m.thread_ts:
            data["thread_ts"] = m.thread_ts
        if m.metadata:
            data["metadata"] = m.metadata
        return data

    def api_conversations_history(self, params):
        channel = params.get("channel", "")
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(params.get("oldest") or 0)
        messages = [
            self._as_api(m)
            for m in reversed(self.messages)
            if m.channel == channel and not m.thread_ts and float(m.ts) >= oldest
        ]
        return {"ok": True, "messages": messages, "has_more": False}

    def api_conversations_replies(self, params):
        ts = params.get("ts", "")
        parent = [m for m in self.messages if m.ts == ts and m.channel == params.get("channel")]
        if not parent:
            return {"ok": False, "error": "thread_not_found"}
        return {"ok": True, "messages": [self._as_api(m) for m in parent + self.thread(ts)]}

    def api_conversations_list(self, params):
        return {
            "ok": True,
            "channels": [{"id": cid, "name": name} for cid, name in self.channels.items()],
            "response_metadata": {"next_cursor": ""},
        }

    def api_users_lookupByEmail(self, params):
        user = self.users.get(params.get("email", ""))
        if user is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": user}

    def api_users_info(self, params):
        user = next((u for u in self.users.values() if u["id"] == params.get("user")), None)
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}


_JSON_FIELDS = ("blocks", "metadata", "attachments")


def _handler(fake: FakeSlack):
    class Handler(BaseHTTPRequestHandler):
        def _params(self) -> dict:
            query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if raw and "json" in (self.headers.get("Content-Type") or ""):
                query.update(json.loads(raw))
            elif raw:
                query.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
            for name in _JSON_FIELDS:  # form-encoded calls send these as JSON strings
                if isinstance(query.get(name), str):
                    with contextlib.suppress(ValueError):
                        query[name] = json.loads(query[name])
            return query

        def _serve(self):
            path = urlparse(self.path).path
            if path.startswith("/api/"):
                method = path[len("/api/") :]
            elif path.startswith("/hooks/"):
                method = "hooks/" + path[len("/hooks/") :]
            else:
                self.send_error(404)
                return
            status, body, headers = fake.handle(
                method, self._params(), self.headers.get("Authorization", "")
            )
            raw = body.pop("__raw__", None)
            data = raw.encode() if raw is not None else json.dumps(body).encode()
            self.send_response(status)
            content_type = "text/plain" if raw is not None else "application/json; charset=utf-8"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args):
            pass

    return Handler
