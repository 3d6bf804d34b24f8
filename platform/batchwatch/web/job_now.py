"""The top of a job page: today's occurrence against its deadline, the job's open incident,
who is on call for its team, its runbook; and each SLO as the sentence it means ("the run of
each day succeeds by 06:00 New York the next day"). Reads through the apps' selectors: a fixed
number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from batchwatch.alerts.models import Incident, IncidentAlert
from batchwatch.alerts.permissions import can_view_incident
from batchwatch.catalog.models import Job
from batchwatch.oncall.selectors import OnCallNow, oncall_now
from batchwatch.runbooks.models import Runbook
from batchwatch.runbooks.selectors import incident_runbook, runbook_for
from batchwatch.runs.models import Run, RunState
from batchwatch.runs.selectors import latest_run_by_job
from batchwatch.slo.models import SLO
from batchwatch.slo.sli import deadline_for, next_deadline
from batchwatch.web import human

# What became of today's occurrence so far → the runbook kind that helps with it.
RUNBOOK_KIND = {"failed": "failed", "missed": "missed", "late": "late_start"}


@dataclass(frozen=True)
class Occurrence:
    scheduled_at: datetime
    run: Run | None  # None: the ledger has not materialised it yet
    state: str  # due | waiting | late | running | succeeded | failed | missed
    deadline: datetime | None
    deadline_means: str  # "succeed" (an SLO's deadline) | "start" (the miss grace)
    deadline_slo: SLO | None

    @property
    def on_time(self) -> bool | None:
        """Whether it met its deadline; None while that is not decided."""
        run = self.run
        if self.deadline is None or run is None:
            return None
        if self.deadline_means == "start" and run.started_at is not None:
            return run.started_at <= self.deadline
        if run.state == RunState.SUCCEEDED and run.ended_at is not None:
            return run.ended_at <= self.deadline
        return None  # (a failed run may be retried in time: the clock decides)


@dataclass(frozen=True)
class JobNow:
    occurrence: Occurrence | None
    next_at: datetime | None  # the next scheduled instant, for "nothing today"
    incident: Incident | None
    oncall: list[OnCallNow]
    runbook: Runbook | None
    runbook_kind: str


@dataclass(frozen=True)
class SloSentence:
    slo: SLO
    text: str
    next_deadline: datetime | None
    next_words: str  # "today 06:00" in the deadline's zone

    @property
    def kind(self) -> str:
        """ "Deadline", "Freshness", "Success ratio", "Duration"."""
        return self.slo.get_kind_display().split(":", 1)[0]


def job_now(
    job: Job, *, user, runs: list[Run], next_runs: list[datetime], slos: list[SLO], now: datetime
) -> JobNow:
    """The "now" block of ``job`` for ``user`` at ``now``, from the runs and next scheduled
    instants the page already read (``runs`` newest first)."""
    occurrence = todays_occurrence(job, runs=runs, next_runs=next_runs, slos=slos, now=now)
    incident = open_incident_of(job)
    if incident is not None and not can_view_incident(user, incident, now):
        incident = None
    kind = RUNBOOK_KIND.get(occurrence.state, "") if occurrence else ""
    if incident is not None:
        runbook = incident_runbook(incident)
    else:
        labels = {"engine": job.engine, "job": job.key, "kind": kind}
        runbook = runbook_for(labels, job=job, failure_reason=_failure(occurrence))
    return JobNow(
        occurrence=occurrence,
        next_at=next_runs[0] if next_runs else None,
        incident=incident,
        oncall=oncall_now([job.owner_team_id], now) if job.owner_team_id else [],
        runbook=runbook,
        runbook_kind=kind,
    )


def _failure(occurrence: Occurrence | None) -> str:
    return (occurrence.run.failure_reason or "") if occurrence and occurrence.run else ""


def todays_occurrence(
    job: Job, *, runs: list[Run], next_runs: list[datetime], slos: list[SLO], now: datetime
) -> Occurrence | None:
    """The latest occurrence scheduled today (in the job's zone) up to ``now``, else the next
    one later today; None when the schedule has nothing today."""
    if not job.schedule_cron:
        return None
    zone = ZoneInfo(job.schedule_timezone)
    today = now.astimezone(zone).date()
    scheduled = [
        r
        for r in runs
        if r.scheduled_at is not None and r.scheduled_at.astimezone(zone).date() == today
    ]
    past = [r for r in scheduled if r.scheduled_at is not None and r.scheduled_at <= now]
    run = max(past, key=lambda r: r.scheduled_at or now) if past else None
    if run is not None and run.scheduled_at is not None:
        at = run.scheduled_at
    elif next_runs and next_runs[0].astimezone(zone).date() == today:
        at = next_runs[0]
        run = next((r for r in scheduled if r.scheduled_at == at), None)
    else:
        return None
    slo = _deadline_slo(slos, at)
    if slo is not None:
        deadline, means = deadline_for(slo, at), "succeed"
    else:
        deadline, means = at + job.miss_grace, "start"
    return Occurrence(at, run, _state(job, run, at, now=now), deadline, means, slo)


def _deadline_slo(slos: list[SLO], at: datetime) -> SLO | None:
    """The deadline SLO whose deadline for ``at`` comes first."""
    found = [s for s in slos if s.kind == SLO.Kind.DEADLINE and s.deadline_timezone]
    return min(found, key=lambda s: deadline_for(s, at), default=None)


def _state(job: Job, run: Run | None, at: datetime, *, now: datetime) -> str:
    if run is not None and run.state != RunState.SCHEDULED:
        return str(run.state)
    if now < at:
        return "due"
    late = (run is not None and run.late_start) or now > at + job.start_grace
    return "late" if late else "waiting"


def open_incident_of(job: Job) -> Incident | None:
    """The newest open incident one of the job's alerts belongs to (one query)."""
    member = (
        IncidentAlert.objects.filter(alert__job_id=job.pk)
        .exclude(incident__state=Incident.State.RESOLVED)
        .select_related("incident__team", "incident__assignee")
        .order_by("-incident__created_at", "-incident_id")
        .first()
    )
    return member.incident if member else None


def slo_sentence(slo: SLO, *, now: datetime) -> SloSentence:
    """What ``slo`` promises, in words, with its next deadline (deadline SLOs)."""
    if slo.kind == SLO.Kind.DEADLINE and slo.deadline_time and slo.deadline_timezone:
        zone = ZoneInfo(slo.deadline_timezone)
        offset = slo.deadline_day_offset
        day = {0: "the same day", 1: "the next day"}.get(offset, f"{offset} days later")
        text = (
            f"the run of each day succeeds by {slo.deadline_time:%H:%M} "
            f"{human.zone_label(zone)} {day}"
        )
        upcoming = next_deadline(slo, now)
        words = f"{human.day_word(upcoming, now=now, zone=zone)} {upcoming.astimezone(zone):%H:%M}"
        return SloSentence(slo, text, upcoming, words)
    if slo.kind == SLO.Kind.FRESHNESS and slo.max_age:
        text = f"a run succeeds at least every {human.duration(slo.max_age)}"
    elif slo.kind == SLO.Kind.DURATION and slo.duration_threshold:
        text = f"successful runs take at most {human.duration(slo.duration_threshold)}"
    elif slo.kind == SLO.Kind.SUCCESS_RATIO:
        text = "finished runs succeed"
    else:
        text = slo.get_kind_display()
    return SloSentence(slo, text, None, "")


def neighbour_runs(job: Job) -> None:
    """Give each of the job's lineage edges (prefetched by ``job_detail``) the latest run of
    the job at its other end, as ``latest_run`` (two queries whatever the number)."""
    ups, downs = list(job.upstream_edges.all()), list(job.downstream_edges.all())
    ids = [e.upstream_id for e in ups] + [e.downstream_id for e in downs]
    latest = latest_run_by_job(ids) if ids else {}
    for edge in ups:
        edge.latest_run = latest.get(edge.upstream_id)  # type: ignore[attr-defined]
    for edge in downs:
        edge.latest_run = latest.get(edge.downstream_id)  # type: ignore[attr-defined]
