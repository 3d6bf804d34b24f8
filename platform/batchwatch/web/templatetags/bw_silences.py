""" "Silence this": ``{% silence_this incident %}`` (or an alert, or a job) links to the silence
form prefilled with the matchers of what it is on; ``{% silence_url matchers %}`` is the link.
"""

from __future__ import annotations

from collections.abc import Sequence

from django import template

from batchwatch.alerts.models import Alert, Incident
from batchwatch.alerts.selectors_silences import (
    alert_silence_matchers,
    incident_silence_matchers,
    job_silence_matchers,
)
from batchwatch.catalog.models import Job
from batchwatch.core.links import path_for

register = template.Library()


@register.simple_tag
def silence_url(matchers: Sequence[str], team: str = "") -> str:
    """The silence form with these matchers in its rows (and the team it is for chosen)."""
    query: dict[str, object] = {"matcher": list(matchers)}
    if team:
        query["team"] = team
    return path_for("web:silences", query=query) + "#new-silence"


def subject_matchers(subject: Incident | Alert | Job | None) -> tuple[list[str], str]:
    """The matchers of a silence of ``subject`` and the team it is for ("" if unknown): a
    member of several teams then need not choose."""
    if isinstance(subject, Incident):
        return incident_silence_matchers(subject), subject.team.slug if subject.team else ""
    if isinstance(subject, Alert):
        return alert_silence_matchers(subject), str(subject.labels.get("team", ""))
    if isinstance(subject, Job):
        return job_silence_matchers(subject.key), (
            subject.owner_team.slug if subject.owner_team else ""
        )
    return [], ""


@register.inclusion_tag("web/_silence_this.html")
def silence_this(subject: Incident | Alert | Job | None, label: str = "Silence this") -> dict:
    matchers, team = subject_matchers(subject)
    return {"matchers": matchers, "silence_team": team, "silence_label": label}
