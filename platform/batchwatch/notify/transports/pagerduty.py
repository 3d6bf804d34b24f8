"""Forward to PagerDuty: Events API v2 (``BATCHWATCH_PAGERDUTY_EVENTS_URL``), for teams that
keep a SaaS pager while they move.

A channel's address is the integration's routing key. Every event about one incident carries
the same ``dedup_key`` (``batchwatch-incident-<id>``), so PagerDuty keeps one alert per
Batchwatch incident: a trigger sent twice (a retry after a lost answer) is deduplicated there,
and acknowledge and resolve reach the alert the trigger opened. The action follows the
incident's state when the event is sent: triggered → ``trigger`` (with summary, source,
severity, custom details and links), acknowledged → ``acknowledge``, resolved → ``resolve``.

202 is accepted; 400 is final (an invalid event or routing key: the channel is marked
broken); 429 (about 120 events a minute per key), 5xx and unreachable are retried, honouring
``Retry-After``. Returns the ``dedup_key``.

Changes made in PagerDuty (acknowledged or resolved there) are not brought back: that needs
PagerDuty's webhooks (v3) received and verified, which Batchwatch does not take yet.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings

from batchwatch.notify.transports.base import TransportError, post, retry_after, temporary_status
from batchwatch.notify.transports.facts import IncidentFacts, facts_for, one_line

SEVERITIES = frozenset({"critical", "error", "warning", "info"})
ACTIONS = {"acknowledged": "acknowledge", "resolved": "resolve"}


def dedup_key(notification) -> str:
    if notification.incident_id:
        return f"batchwatch-incident-{notification.incident_id}"
    digest = hashlib.sha256(notification.idempotency_key.encode()).hexdigest()[:32]
    return f"batchwatch-notification-{digest}"


def _severity(facts: IncidentFacts) -> str:
    if facts.severity.lower() in SEVERITIES:
        return facts.severity.lower()
    return "critical" if facts.urgency == "high" else "warning"


def event(notification) -> dict:
    """The Events API v2 body for this notification."""
    facts = facts_for(notification)
    resolved = (notification.payload or {}).get("status") == "resolved"
    action = "resolve" if resolved else ACTIONS.get(facts.state, "trigger")
    body: dict = {
        "routing_key": notification.address,
        "event_action": action,
        "dedup_key": dedup_key(notification),
    }
    if action != "trigger":
        return body
    number = f"#{facts.number} " if facts.number else ""
    body["payload"] = {
        "summary": one_line(f"{number}{facts.title}", 1024),
        "source": one_line(", ".join(facts.jobs[:5]) or facts.team or "batchwatch", 255),
        "severity": _severity(facts),
        "component": one_line(facts.jobs[0], 255) if facts.jobs else None,
        "group": facts.team or None,
        "class": "batchwatch-incident",
        "custom_details": {
            "incident": facts.number,
            "state": facts.state,
            "urgency": facts.urgency,
            "team": facts.team,
            "jobs": list(facts.jobs[:20]),
            "text": notification.body[:4000],
        },
    }
    body["payload"] = {k: v for k, v in body["payload"].items() if v is not None}
    links = [{"href": facts.url, "text": "Batchwatch incident"}] if facts.url else []
    links += [
        {"href": url, "text": name.capitalize()}
        for name, url in facts.links.items()
        if url.startswith(("https://", "http://"))
    ]
    if links:
        body["links"] = links[:5]
    body["client"], body["client_url"] = "Batchwatch", facts.url or settings.BATCHWATCH_BASE_URL
    return body


def send_pagerduty(notification) -> str:
    url = settings.BATCHWATCH_PAGERDUTY_EVENTS_URL
    body = event(notification)
    response = post(
        url,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        what="PagerDuty",
    )
    status = response.status
    if status < 300:
        return str(body["dedup_key"])
    text = f"PagerDuty HTTP {status}: {one_line(response.data.decode('utf-8', 'replace'), 300)}"
    if temporary_status(status):
        raise TransportError(text, retry_after=retry_after(response.headers.get("Retry-After")))
    raise TransportError(text, permanent=True)
