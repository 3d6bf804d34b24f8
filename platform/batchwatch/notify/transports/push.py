"""Push notifications through ntfy (open source, self-hostable, Android and iOS apps).

One JSON publish to the root of ``BATCHWATCH_NTFY_URL`` per page (JSON rather than ``X-``
headers: a sender's title may hold commas, semicolons and line breaks, which the header
syntax of actions would take as separators), to the person's own topic (the notification's
address): title, message, priority 5 for high urgency (the apps' most insistent alert, which
a user may let through Do Not Disturb) and 3 for low, a click that opens the incident, and up
to three ``http`` action buttons (Acknowledge, Resolve, Snooze) that POST to the one-time
links the page carries. ``Authorization: Bearer`` with ``BATCHWATCH_NTFY_TOKEN`` when set.

ntfy takes no idempotency key: a publish whose answer was lost is published again on retry
(at least once). 429 and 5xx are retried; 401/403 (token, topic access) and other 4xx are
not. Returns ntfy's message id.
"""

from __future__ import annotations

import json

from django.conf import settings

from batchwatch.notify.transports.base import TransportError, post, retry_after, temporary_status
from batchwatch.notify.transports.facts import action_links, facts_for, one_line

ACTIONS = (("acknowledge", "Acknowledge"), ("resolve", "Resolve"), ("snooze", "Snooze 1 h"))
MESSAGE_LENGTH = 4000  # ntfy's default message limit is 4,096 bytes


def publish_body(notification) -> dict:
    """The JSON ntfy's publish API takes for this page."""
    facts = facts_for(notification)
    links = action_links(notification)
    high = facts.urgency == "high" and facts.state == "triggered"
    tags = {"resolved": ["white_check_mark"], "acknowledged": ["eyes"]}.get(
        facts.state, ["rotating_light" if high else "warning"]
    )
    number = f"#{facts.number} " if facts.number else ""
    lines = [notification.body, ", ".join(facts.jobs), facts.team and f"Team: {facts.team}"]
    body: dict = {
        "topic": notification.address,
        "title": one_line(f"{number}{facts.title}", 250),
        "message": "\n".join(one_line(line, 1000) for line in lines if line)[:MESSAGE_LENGTH]
        or one_line(facts.title, 1000),
        "priority": 5 if high else 3,
        "tags": tags,
    }
    if facts.url:
        body["click"] = facts.url
    actions = [
        {"action": "http", "label": label, "url": links[name], "method": "POST", "clear": True}
        for name, label in ACTIONS
        if name in links
    ]
    if actions:
        body["actions"] = actions[:3]
    return body


def send_push(notification) -> str | None:
    base = settings.BATCHWATCH_NTFY_URL
    if not base:
        raise TransportError(
            "push is not configured (BATCHWATCH_NTFY_URL)", permanent=True, breaks_channel=False
        )
    if not notification.address or "/" in notification.address:
        raise TransportError("a push address is an ntfy topic name", permanent=True)
    headers = {"Content-Type": "application/json"}
    if settings.BATCHWATCH_NTFY_TOKEN:
        headers["Authorization"] = f"Bearer {settings.BATCHWATCH_NTFY_TOKEN}"
    body = json.dumps(publish_body(notification)).encode()
    response = post(base + "/", body=body, headers=headers, what="ntfy")
    status = response.status
    if status < 300:
        try:
            answer = json.loads(response.data)
        except ValueError:
            return None
        return str(answer.get("id") or "")[:100] or None if isinstance(answer, dict) else None
    text = f"ntfy HTTP {status}: {one_line(response.data.decode('utf-8', 'replace'), 200)}"
    if temporary_status(status):
        raise TransportError(text, retry_after=retry_after(response.headers.get("Retry-After")))
    raise TransportError(text, permanent=True, breaks_channel=status in (401, 403))
