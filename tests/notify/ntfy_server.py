"""A local stand-in for an ntfy server's publish API (a real HTTP server; not ntfy).

As ntfy documents it: a JSON publish is ``POST /`` with ``topic`` (1-64 characters of
``[-_A-Za-z0-9]``), ``message``, ``title``, ``tags``, ``priority`` (1-5), ``click`` and
``actions`` (at most three; ``view``, ``broadcast`` or ``http`` with ``label`` and ``url``,
``http`` with ``method`` (default POST), ``headers``, ``body``, ``clear``). It answers 200
with the message as JSON (``id``, ``time``, ``event`` "message", ``topic``...), 400 with
ntfy's error JSON (``code``, ``http``, ``error``) for an invalid topic, priority or action,
and, when it has a token, 401 (40101) without the right ``Authorization: Bearer``.
"""

from __future__ import annotations

import itertools
import json
import re
import time

from tests.notify.stand_in import Answer, Request, StandIn

TOKEN = "tk_testntfytoken0000000000000000"
TOPIC = re.compile(r"^[-_A-Za-z0-9]{1,64}$")


def error(status: int, code: int, text: str) -> Answer:
    return Answer(status, {"code": code, "http": status, "error": text})


class FakeNtfy(StandIn):
    def __init__(self, *, token: str | None = TOKEN):
        self.token = token
        self.messages: list[dict] = []
        self._ids = itertools.count(1)
        super().__init__()

    def answer(self, request: Request) -> Answer:
        if request.method not in ("POST", "PUT") or request.path != "/":
            return error(404, 40401, "page not found")
        if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
            return error(401, 40101, "unauthorized")
        try:
            body = json.loads(request.body)
        except ValueError:
            return error(400, 40024, "invalid request: request body must be message JSON")
        if not TOPIC.match(str(body.get("topic", ""))):
            return error(400, 40009, "invalid request: topic invalid")
        if body.get("priority", 3) not in (1, 2, 3, 4, 5):
            return error(400, 40007, "invalid priority")
        actions = body.get("actions") or []
        valid = all(
            a.get("action") in ("view", "broadcast", "http")
            and a.get("label")
            and (a["action"] == "broadcast" or str(a.get("url", "")).startswith("http"))
            for a in actions
        )
        if len(actions) > 3 or not valid:
            return error(400, 40018, "invalid request: actions invalid")
        message = {
            "id": f"msg{next(self._ids):09d}",
            "time": int(time.time()),
            "event": "message",
            **{k: v for k, v in body.items() if k != "actions"},
        }
        if actions:
            message["actions"] = [
                {"id": f"act{i}", "method": "POST", **a} if a["action"] == "http" else a
                for i, a in enumerate(actions)
            ]
        self.messages.append(message)
        return Answer(200, message)
