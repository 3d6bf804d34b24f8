"""What a page says about its incident, for transports that show more than a subject line
(Teams cards, PagerDuty events, push notifications, SMS and calls).

Notify sits below alerts and does not read incidents itself: alerts registers the reader at
start-up (``AlertsConfig.ready``), as Slack registers its transports here. Without one, or for
a notification about no incident, the facts come from the notification itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from batchwatch.core.links import absolute_url


@dataclass(frozen=True)
class IncidentFacts:
    number: int | None
    title: str
    state: str = "triggered"  # triggered, acknowledged, resolved
    urgency: str = "high"  # high, low
    severity: str = ""
    team: str = ""
    url: str = ""
    jobs: tuple[str, ...] = ()
    # "job", "run", "runbook", "dashboard": absolute http(s) URLs Batchwatch links to.
    links: Mapping[str, str] = field(default_factory=dict)


FactsReader = Callable[[int], IncidentFacts | None]

_reader: FactsReader | None = None


def register(reader: FactsReader) -> None:
    """Install the reader of an incident's facts (the last registered wins)."""
    global _reader
    _reader = reader


_URGENCY = re.compile(r"^\[(HIGH|LOW)\]", re.IGNORECASE)


def facts_for(notification) -> IncidentFacts:
    """The facts of ``notification``'s incident, or what the notification itself says."""
    if notification.incident_id and _reader is not None:
        found = _reader(notification.incident_id)
        if found is not None:
            return found
    urgency = _URGENCY.match(notification.subject or "")
    return IncidentFacts(
        number=notification.incident_id,
        title=notification.subject,
        urgency=urgency.group(1).lower() if urgency else "high",
        url=absolute_url("web:incident", notification.incident_id)
        if notification.incident_id
        else "",
    )


def one_line(text: object, limit: int) -> str:
    """``text`` on one line without control characters, cut at ``limit`` with "..." (ASCII,
    so a cut SMS stays GSM-7): a sender's title may hold line breaks, escapes or NULs."""
    clean = " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())
    return clean if len(clean) <= limit else clean[: max(limit - 3, 0)].rstrip() + "..."


def action_links(notification) -> dict[str, str]:
    """The one-time action links a page carries (``payload["action_links"]``: action name
    to URL, e.g. ``{"acknowledge": ..., "resolve": ...}``), http(s) URLs only."""
    given = (notification.payload or {}).get("action_links")
    if not isinstance(given, dict):
        return {}
    return {
        str(name): url
        for name, url in given.items()
        if isinstance(url, str) and url.startswith(("https://", "http://"))
    }
