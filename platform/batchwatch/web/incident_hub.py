"""What the incident page and ``GET /api/v1/incidents/{id}/hub/`` show of one incident: its
alerts with their links and moments, what ran since, lineage both ways, the runbook and its
first steps, the silence form prefilled (who was paged: ``notify.selectors.incident_deliveries``
on the page, ``incident_pages`` in the API). Reads only; a fixed number of queries
whatever the number of alerts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.utils.safestring import SafeString, mark_safe

from batchwatch.alerts.models import Incident
from batchwatch.alerts.selectors_hub import (
    DownstreamJob,
    HubAlert,
    UpstreamIncident,
    downstream_jobs,
    incident_alerts,
    upstream_incidents,
)
from batchwatch.alerts.selectors_silences import incident_silence_matchers
from batchwatch.core.links import path_for
from batchwatch.runbooks.models import Runbook
from batchwatch.runbooks.rendering import render as render_markdown
from batchwatch.runbooks.selectors import incident_context, incident_runbook

# The runbook section shown inline, by heading, in this order of preference; else the first
# section with a numbered list, else the first section.
FIRST_STEP_HEADINGS = ("first steps", "what to do", "diagnosis", "mitigation", "steps")
_HEADING = re.compile(r"^##\s+(.+?)\s*#*\s*$", re.MULTILINE)
_NUMBERED = re.compile(r"^\s*1\.\s", re.MULTILINE)


@dataclass(frozen=True)
class FirstSteps:
    heading: str
    html: SafeString


@dataclass(frozen=True)
class IncidentHub:
    incident: Incident
    alerts: list[HubAlert]
    # The fewest successes since among the alerts when every alert's job recovered, else 0.
    recovered: int
    downstream: list[DownstreamJob]
    upstream: list[UpstreamIncident]
    runbook: Runbook | None
    first_steps: FirstSteps | None
    silence_url: str


def incident_hub(incident: Incident, *, now: datetime) -> IncidentHub:
    alerts = incident_alerts(incident)
    runbook = incident_runbook(incident)
    return IncidentHub(
        incident=incident,
        alerts=alerts,
        recovered=_recovered(alerts),
        downstream=downstream_jobs(alerts),
        upstream=upstream_incidents(incident, alerts),
        runbook=runbook,
        first_steps=first_steps(runbook, incident) if runbook else None,
        silence_url=path_for("web:silences", query=_silence_query(incident)) + "#new-silence",
    )


def runbook_sections(body: str) -> list[tuple[str, str]]:
    """A runbook's ``## `` sections as (heading, Markdown of the section's body)."""
    marks = list(_HEADING.finditer(body))
    return [
        (mark.group(1), body[mark.end() : marks[i + 1].start() if i + 1 < len(marks) else None])
        for i, mark in enumerate(marks)
    ]


def first_steps(runbook: Runbook, incident: Incident) -> FirstSteps | None:
    """The runbook's first steps, rendered with the incident's values (escaped, sanitised)."""
    sections = runbook_sections(runbook.body)
    if not sections:
        return None
    by_name = {heading.strip().lower(): (heading, text) for heading, text in sections}
    chosen = next((by_name[h] for h in FIRST_STEP_HEADINGS if h in by_name), None)
    chosen = chosen or next((s for s in sections if _NUMBERED.search(s[1])), sections[0])
    heading, text = chosen
    html = render_markdown(text, incident_context(incident), link_query=f"?incident={incident.pk}")
    # Sanitised by nh3 in render_markdown: no scripts, handlers or javascript: links.
    return FirstSteps(heading, mark_safe(html))  # noqa: S308


def _recovered(alerts: list[HubAlert]) -> int:
    since = [a.runs_since for a in alerts]
    if not since or any(s is None or not s.recovered for s in since):
        return 0
    return min(s.succeeded for s in since if s is not None)


def _silence_query(incident: Incident) -> dict[str, object]:
    """The silence form prefilled with the incident's matchers (its group labels)."""
    query: dict[str, object] = {
        "matcher": incident_silence_matchers(incident),
        "comment": f"Incident #{incident.pk}: {incident.title}"[:200],
    }
    if incident.team_id is not None and incident.team is not None:
        query["team"] = incident.team.slug
    return query
