"""A local stand-in for PagerDuty's Events API v2 (a real HTTP server; not PagerDuty).

``POST /v2/enqueue`` with ``routing_key`` (32 characters), ``event_action`` (trigger,
acknowledge, resolve), ``dedup_key`` (≤ 255; a new one when a trigger has none) and, for a
trigger, ``payload`` with ``summary`` (≤ 1,024), ``source`` and ``severity`` (critical,
error, warning, info). Answers 202 ``{"status": "success", "message": "Event processed",
"dedup_key": ...}`` or 400 ``{"status": "invalid event", "message": "Event object is
invalid", "errors": [...]}``, as documented. Like PagerDuty it keeps one alert per open
``dedup_key``: a second trigger is deduplicated into it, acknowledge and resolve change it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from tests.notify.stand_in import Answer, Request, StandIn

ROUTING_KEY = "R0123456789abcdef0123456789abcde"
SEVERITIES = {"critical", "error", "warning", "info"}


@dataclass
class PDAlert:
    dedup_key: str
    summary: str
    state: str = "triggered"
    events: list[dict] = field(default_factory=list)


def invalid(*errors: str) -> Answer:
    return Answer(
        400,
        {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)},
    )


class FakePagerDuty(StandIn):
    def __init__(self):
        self.alerts: dict[str, PDAlert] = {}
        super().__init__()

    @property
    def events_url(self) -> str:
        return f"{self.url}/v2/enqueue"

    def answer(self, request: Request) -> Answer:
        if request.method != "POST" or request.path != "/v2/enqueue":
            return Answer(404, {"status": "not found"})
        try:
            event = json.loads(request.body)
        except ValueError:
            return invalid("Event must be JSON")
        errors = []
        if len(str(event.get("routing_key", ""))) != 32:
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append(
                "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"
            )
        key = event.get("dedup_key") or (str(uuid.uuid4()) if action == "trigger" else "")
        if not key or len(key) > 255:
            errors.append("'dedup_key' is missing or longer than 255 characters")
        if action == "trigger":
            payload = event.get("payload") or {}
            if not payload.get("summary") or len(payload["summary"]) > 1024:
                errors.append("'payload.summary' is missing or too long")
            if not payload.get("source"):
                errors.append("'payload.source' is missing")
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' is invalid")
        if errors:
            return invalid(*errors)
        alert = self.alerts.get(key)
        if action == "trigger" and (alert is None or alert.state == "resolved"):
            alert = self.alerts[key] = PDAlert(key, event["payload"]["summary"])
        if alert is not None:
            alert.events.append(event)
            if action == "acknowledge" and alert.state == "triggered":
                alert.state = "acknowledged"
            elif action == "resolve":
                alert.state = "resolved"
        return Answer(202, {"status": "success", "message": "Event processed", "dedup_key": key})
