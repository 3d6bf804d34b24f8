"""What an open incident says of itself, from its alerts now: its title, its severity and its
urgency. Recomputed whenever alerts join it, change or resolve (``incidents_refresh``), never
frozen at the first alert.

* **Severity** is the highest severity of its firing alerts (all of them once none fires),
  ranked by :data:`SEVERITY_RANK`.
* **Urgency** is that severity through the escalation policy's severity → urgency mapping,
  snapshotted with the policy when the incident opened (``urgency_by_severity``;
  :data:`URGENCY_BY_SEVERITY` for incidents without one). Becoming high while triggered
  resumes the escalation where it stopped; becoming low stops it after the current step.
* **Title**: one alert → that alert's title; alerts about several jobs → "3 jobs of Ledger
  failed" (the team's name, the verb from their common alert name); several alerts of one
  job (or without a job label) → the newest alert's title and how many more fire.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from batchwatch.alerts.models import Alert, Incident, IncidentAlert, TimelineEntry, Timer
from batchwatch.alerts.services.timeline import timeline_entry
from batchwatch.alerts.services.timers import OPEN_STATES, _timer_set, _timers_cancel
from batchwatch.core.bulk import update_rows
from batchwatch.oncall.models import HIGH_URGENCY_SEVERITIES

# Higher is worse. Unknown severities rank between warning and error: unknown is not benign.
SEVERITY_RANK: dict[str, int] = {
    "critical": 60,
    "page": 60,
    "p1": 60,
    "high": 50,
    "error": 50,
    "p2": 50,
    "warning": 30,
    "medium": 30,
    "p3": 30,
    "low": 20,
    "p4": 20,
    "info": 10,
    "p5": 10,
    "none": 0,
    "": 0,
}
UNKNOWN_RANK = 40
# The default severity → urgency mapping (a policy's ``urgency_by_severity`` overrides it):
# anything not named here is low.
URGENCY_BY_SEVERITY: dict[str, str] = dict.fromkeys(HIGH_URGENCY_SEVERITIES, Incident.Urgency.HIGH)

# What several jobs' alerts of one kind have in common, for a title: "3 jobs of Ledger failed".
JOB_VERBS: dict[str, str] = {
    "BatchJobFailed": "failed",
    "BatchJobMissed": "missed their run",
    "BatchJobLateStart": "started late",
    "BatchJobOverran": "overran",
    "BatchJobTooFast": "finished too fast",
    "BatchJobRetried": "were retried",
    "BatchSLO": "are burning their SLO budget",
    "BatchPredictedMiss": "may miss their deadline",
}


class AlertState(NamedTuple):
    """What the title, severity and urgency read of an alert."""

    fingerprint: str
    status: str
    labels: dict[str, Any]
    summary: str
    severity: str
    starts_at: datetime


def severity_of(alert: AlertState) -> str:
    return (alert.severity or str(alert.labels.get("severity", ""))).lower()


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity.lower(), UNKNOWN_RANK)


def urgency_for(severity: str, *, snapshot: dict[str, Any] | None) -> str:
    """The urgency a severity maps to through the (snapshotted) policy's mapping."""
    mapping = (snapshot or {}).get("urgency_by_severity") or URGENCY_BY_SEVERITY
    return str(mapping.get(severity.lower(), Incident.Urgency.LOW))


def _title_of(alert: AlertState) -> str:
    """Its summary; else its name, with its job when it has one."""
    if alert.summary:
        return alert.summary
    name, job = alert.labels.get("alertname"), alert.labels.get("job")
    if name and job:
        return f"{name} — job={job}"
    return name or alert.fingerprint


def incident_title(alerts: Sequence[AlertState], *, team_name: str = "") -> str:
    """The title of an incident holding ``alerts`` (the current ones: see module doc)."""
    newest = max(alerts, key=lambda a: (a.starts_at, a.fingerprint))
    if len(alerts) == 1:
        return _title_of(newest)
    jobs = {str(a.labels["job"]) for a in alerts if a.labels.get("job")}
    if len(jobs) >= 2:
        names = {a.labels.get("alertname", "") for a in alerts}
        of_team = f" of {team_name}" if team_name else ""
        if len(names) == 1:
            name = next(iter(names))
            if name in JOB_VERBS:
                return f"{len(jobs)} jobs{of_team} {JOB_VERBS[name]}"
            return f"{len(jobs)} jobs{of_team}: {name or 'alerting'}"
        return f"{len(jobs)} jobs{of_team} are alerting; newest: {_title_of(newest)}"
    more = len(alerts) - 1
    return f"{_title_of(newest)} (+{more} more alert{'s' if more > 1 else ''})"


def incident_severity(alerts: Sequence[AlertState]) -> str:
    return max((severity_of(a) for a in alerts), key=severity_rank, default="")


def incidents_refresh(incident_ids: Iterable[int], *, now: datetime) -> list[int]:
    """Recompute title, severity and urgency of these incidents (the open ones) from their
    grouped alerts (not those attached by lineage). Returns the ids of those that changed.

    Writes only the three fields (and the escalation timer when urgency changed): safe
    beside a flush of the same incident in flight, which writes none of them.
    """
    ids = set(incident_ids)
    if not ids:
        return []
    incidents = list(
        Incident.objects.filter(pk__in=ids, state__in=OPEN_STATES).select_related("team")
    )
    members: dict[int, list[AlertState]] = {}
    rows = IncidentAlert.objects.filter(incident__in=incidents, attached_reason="").values_list(
        "incident_id",
        "alert__fingerprint",
        "alert__status",
        "alert__labels",
        "alert__summary",
        "alert__severity",
        "alert__starts_at",
    )
    for incident_id, *fields in rows:
        members.setdefault(incident_id, []).append(AlertState(*fields))
    changed: list[Incident] = []
    entries: list[TimelineEntry] = []
    for incident in incidents:
        alerts = members.get(incident.pk)
        if not alerts:
            continue
        firing = [a for a in alerts if a.status == Alert.Status.FIRING]
        current = firing or alerts
        title = incident_title(current, team_name=incident.team.name if incident.team else "")
        severity = incident_severity(current)[:20]
        # With nothing firing the incident waits for its flush to resolve it: keep its urgency.
        urgency = urgency_for(severity, snapshot=incident.escalation_snapshot) if firing else None
        before = (incident.title, incident.severity, incident.urgency)
        incident.title, incident.severity = title[:500], severity
        if urgency is not None and urgency != incident.urgency:
            entries.append(_urgency_changed(incident, urgency, severity, now))
        if (incident.title, incident.severity, incident.urgency) != before:
            changed.append(incident)
    update_rows(changed, ["title", "severity", "urgency"])
    TimelineEntry.objects.bulk_create(entries)
    return [i.pk for i in changed]


def _urgency_changed(
    incident: Incident, urgency: str, severity: str, now: datetime
) -> TimelineEntry:
    """Set the new urgency and adapt the escalation; the timeline entry saying so."""
    old = incident.urgency
    incident.urgency = urgency
    steps = (incident.escalation_snapshot or {}).get("steps") or []
    if incident.state == Incident.State.TRIGGERED and steps and incident.escalation_step >= 0:
        if urgency == Incident.Urgency.HIGH:
            _resume_escalation(incident, steps, now)
        else:
            _timers_cancel(incident, Timer.Kind.ESCALATE)
    return timeline_entry(
        incident,
        at=now,
        kind=TimelineEntry.Kind.URGENCY_CHANGED,
        message=f"Urgency {old} → {urgency} (highest firing severity: {severity or 'none'})",
        data={"from": old, "to": urgency, "severity": severity},
    )


def _resume_escalation(incident: Incident, steps: list[dict[str, Any]], now: datetime) -> None:
    """Low urgency paged the current step and stopped: go on to the next after its wait."""
    step, loop = incident.escalation_step, incident.escalation_loop
    if step + 1 < len(steps):
        nxt, nxt_loop = step + 1, loop
    elif loop < (incident.escalation_snapshot or {}).get("repeat", 0):
        nxt, nxt_loop = 0, loop + 1
    else:
        return
    _timer_set(
        incident,
        Timer.Kind.ESCALATE,
        now + timedelta(seconds=steps[step]["wait_seconds"]),
        token=incident.escalation_token,
        step=nxt,
        loop=nxt_loop,
        earliest=True,
    )
