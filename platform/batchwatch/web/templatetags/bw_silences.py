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
def silence_url(matchers: Sequence[str]) -> str:
    """The silence form with these matchers in its rows."""
    return path_for("web:silences", query={"matcher": list(matchers)}) + "#new-silence"


def subject_matchers(subject: Incident | Alert | Job | None) -> list[str]:
    if isinstance(subject, Incident):
        return incident_silence_matchers(subject)
    if isinstance(subject, Alert):
        return alert_silence_matchers(subject)
    if isinstance(subject, Job):
        return job_silence_matchers(subject.key)
    return []


@register.inclusion_tag("web/_silence_this.html")
def silence_this(subject: Incident | Alert | Job | None, label: str = "Silence this") -> dict:
    return {"matchers": subject_matchers(subject), "label": label}
