"""Open incidents by team and by job, for the health grid (the overview and team pages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet

from batchwatch.alerts.models import Incident


@dataclass(frozen=True)
class OpenIncident:
    id: int
    title: str
    state: str  # triggered | acknowledged
    urgency: str
    team_id: int | None
    created_at: datetime

    @property
    def acknowledged(self) -> bool:
        return self.state == Incident.State.ACKNOWLEDGED


@dataclass
class OpenIncidents:
    by_team: dict[int | None, list[OpenIncident]] = field(default_factory=dict)
    # Per job: the open incident one of its alerts is in (triggered before acknowledged,
    # then the newest).
    by_job: dict[int, OpenIncident] = field(default_factory=dict)


def open_incidents(
    team_ids: list[int] | None, *, among: QuerySet[Incident] | None = None
) -> OpenIncidents:
    """The open incidents of the teams (``None``: every team's) among ``among`` (default:
    every incident; pages pass those the reader may see), by team and by the jobs their
    alerts are about: one query (a row per incident and job)."""
    # The open states listed rather than "not resolved": PostgreSQL then reads the few open
    # incidents of the teams from the (team, state) index instead of all theirs.
    query = (Incident.objects.all() if among is None else among).filter(
        state__in=[Incident.State.TRIGGERED, Incident.State.ACKNOWLEDGED]
    )
    if team_ids is not None:
        query = query.filter(team_id__in=team_ids)
    rows = query.order_by("-created_at", "-id").values_list(
        "id", "title", "state", "urgency", "team_id", "created_at", "memberships__alert__job_id"
    )
    found = OpenIncidents()
    seen: set[int] = set()
    for pk, title, state, urgency, team_id, created_at, job_id in rows:
        incident = OpenIncident(pk, title, state, urgency, team_id, created_at)
        if pk not in seen:
            seen.add(pk)
            found.by_team.setdefault(team_id, []).append(incident)
        if job_id is None:
            continue
        held = found.by_job.get(job_id)
        if held is None or (held.acknowledged and not incident.acknowledged):
            found.by_job[job_id] = incident
    return found
