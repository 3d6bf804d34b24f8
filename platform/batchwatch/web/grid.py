"""The health grid: the overview and the team pages read this.

Per job: its latest runs as squares, its last run and next occurrence, the occurrence due now
against its deadline (from the ledger: a late start still open shows as late even when the
previous run succeeded), its open incident; per team: who is on call and its open incidents.
Teams and jobs worst first (missed, failed, late, at risk, ok), ties by name. Everyone signed
in reads the catalog, so every team's jobs are listed. A fixed number of queries whatever the
number of jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.utils.safestring import SafeString

from batchwatch.alerts.selectors_jobs import OpenIncident, open_incidents
from batchwatch.alerts.selectors_people import incidents_visible_to
from batchwatch.catalog.models import Job, Team
from batchwatch.catalog.selectors import job_list
from batchwatch.oncall.selectors import OnCallNow, oncall_now
from batchwatch.runs.models import RunState
from batchwatch.runs.selectors_grid import (
    GRID_RUNS,
    JobRuns,
    Square,
    job_runs_grid,
    jobs_at_risk,
    next_by_schedule,
)
from batchwatch.slo.models import SLOState
from batchwatch.web import human
from batchwatch.web.grid_html import squares_html

# Worst first: the order of jobs within a team and of teams.
HEALTH = ("missed", "failed", "late", "at_risk", "ok", "none")
HEALTH_LABELS = {
    "missed": "Missed",
    "failed": "Failed",
    "late": "Late",
    "at_risk": "At risk",
    "ok": "OK",
    "none": "No runs yet",
}


@dataclass(frozen=True)
class Occurrence:
    """The occurrence due now, against its deadline."""

    run: Square
    state: str  # waiting | late | missed | running | overrunning | on_time | late_finish | failed
    label: str
    deadline: datetime | None  # when a late start becomes missed


@dataclass
class GridJob:
    job: Job
    runs: JobRuns
    health: str
    occurrence: Occurrence | None
    incident: OpenIncident | None
    slo_status: str | None  # the worst status of its SLOs (breached, warning), if any
    now: datetime

    @property
    def squares(self) -> list[Square | None]:
        """Oldest on the left, newest on the right, padded on the left to the grid's width."""
        runs = list(reversed(self.runs.squares))
        return [None] * (GRID_RUNS - len(runs)) + runs

    @property
    def squares_html(self) -> SafeString:
        return squares_html(self.squares)

    @property
    def health_label(self) -> str:
        return HEALTH_LABELS[self.health]

    @property
    def last_run_ago(self) -> str:
        last = self.runs.last_run
        return human.ago(last.started_at, now=self.now) if last and last.started_at else ""

    @cached_property
    def next_expected(self) -> datetime | None:
        """The next occurrence: the ledger's, else (beyond its lookahead) the schedule's, read
        only for the rows a page shows."""
        return self.runs.next_expected or next_by_schedule(self.job, now=self.now)

    @property
    def deadline_in(self) -> str:
        deadline = self.occurrence.deadline if self.occurrence else None
        return human.ago(deadline, now=self.now) if deadline else ""

    @property
    def next_in(self) -> str:
        upcoming = self.next_expected
        return human.ago(upcoming, now=self.now) if upcoming else ""


@dataclass
class GridTeam:
    team: Team | None  # None: the jobs nobody owns
    jobs: list[GridJob]  # worst first; on the overview, only the first few
    oncall: list[OnCallNow] = field(default_factory=list)
    incidents: list[OpenIncident] = field(default_factory=list)
    healths: list[str] = field(default_factory=list)  # of every matching job, shown or not

    @property
    def health(self) -> str:
        return min(self.healths, key=HEALTH.index, default="none")

    @property
    def counts(self) -> list[tuple[str, str, int]]:
        """(health, label, how many jobs) for each health but OK and none, worst first."""
        found = self.healths
        return [(h, HEALTH_LABELS[h], found.count(h)) for h in HEALTH[:4] if h in found]

    @property
    def total(self) -> int:
        return len(self.healths)

    @property
    def more(self) -> int:
        """Matching jobs not shown (the team's page shows them all)."""
        return len(self.healths) - len(self.jobs)

    @property
    def name(self) -> str:
        return self.team.name if self.team else "Unowned jobs"


@dataclass
class HealthGrid:
    now: datetime
    teams: list[GridTeam]
    filtering: bool  # any filter, the team's included
    narrowed: bool  # by health, engine or text: teams without a matching job are left out

    @property
    def job_total(self) -> int:
        return sum(t.total for t in self.teams)


def health_grid(
    user,
    *,
    now: datetime,
    team: str | None = None,
    state: str | None = None,
    search: str | None = None,
    engine: str | None = None,
    per_team: int | None = None,
) -> HealthGrid:
    """The grid of the jobs matching the filters (``team``: a slug, or "-" for unowned
    jobs; ``state``: one of :data:`HEALTH`), worst first, as ``user`` sees it: every job
    (everyone signed in reads the catalog), the incidents they may see; at most ``per_team``
    jobs of each team (the worst)."""
    jobs_query = job_list(team=team, engine=engine, search=search).select_related("calendar")
    jobs = list(jobs_query)
    teams = list(Team.objects.order_by("name") if not team else Team.objects.filter(slug=team))
    team_ids = None if not team else [t.pk for t in teams]
    runs = job_runs_grid(jobs_query, now=now)
    incidents = open_incidents(team_ids, among=incidents_visible_to(user, now=now))
    at_risk = jobs_at_risk(team_ids)
    slo = _worst_slo_status(team_ids)
    rows: dict[int | None, list[GridJob]] = {}
    for job in jobs:
        entry = runs.get(job.pk) or JobRuns()
        occurrence = _occurrence(entry.occurrence, job, now=now)
        row = GridJob(
            job=job,
            runs=entry,
            health=_health(entry, occurrence, at_risk=job.pk in at_risk or job.pk in slo),
            occurrence=occurrence,
            incident=incidents.by_job.get(job.pk),
            slo_status=slo.get(job.pk),
            now=now,
        )
        if state is None or row.health == state:
            rows.setdefault(job.owner_team_id, []).append(row)
    oncall: dict[int, list[OnCallNow]] = {}
    for entry_now in oncall_now(team_ids, now):
        oncall.setdefault(entry_now.rotation.team_id, []).append(entry_now)
    filtering = bool(state or search or engine)
    groups = [
        GridTeam(t, rows.get(t.pk, []), oncall.get(t.pk, []), incidents.by_team.get(t.pk, []))
        for t in teams
        if not filtering or t.pk in rows
    ]
    if rows.get(None) and team in (None, "-"):
        groups.append(GridTeam(None, rows[None]))
    for group in groups:
        group.jobs.sort(key=lambda j: (HEALTH.index(j.health), j.job.name.lower(), j.job.key))
        group.healths = [j.health for j in group.jobs]
        group.jobs = group.jobs[:per_team]
    groups.sort(key=lambda g: (HEALTH.index(g.health), g.team is None, g.name.lower()))
    return HealthGrid(now=now, teams=groups, filtering=bool(filtering or team), narrowed=filtering)


def _worst_slo_status(team_ids: list[int] | None) -> dict[int, str]:
    """Jobs with an active SLO breached or burning (warning), the worse of them: one query."""
    states = SLOState.objects.filter(
        slo__is_active=True,
        status__in=[SLOState.Status.BREACHED, SLOState.Status.WARNING],
    )
    if team_ids is not None:
        states = states.filter(job__owner_team_id__in=team_ids)
    worst: dict[int, str] = {}
    for job_id, status in states.values_list("job_id", "status"):
        if worst.get(job_id) != SLOState.Status.BREACHED:
            worst[job_id] = status
    return worst


def _occurrence(run: Square | None, job: Job, *, now: datetime) -> Occurrence | None:
    if run is None or run.scheduled_at is None:
        return None
    deadline = run.scheduled_at + job.miss_grace
    if run.state == RunState.SCHEDULED:
        if run.late_start:
            due = human.ago(run.scheduled_at, now=now)
            return Occurrence(run, "late", f"late: not started, due {due}", deadline)
        return Occurrence(run, "waiting", "due: waiting to start", deadline)
    if run.state == RunState.MISSED:
        return Occurrence(run, "missed", "missed: never started", None)
    if run.state == RunState.RUNNING:
        if run.overran:
            return Occurrence(run, "overrunning", "running longer than its maximum", None)
        return Occurrence(run, "running", "running", None)
    if run.state == RunState.FAILED:
        return Occurrence(run, "failed", "failed", None)
    if run.late_start:
        return Occurrence(run, "late_finish", "succeeded, started late", None)
    return Occurrence(run, "on_time", "succeeded on time", None)


def _health(runs: JobRuns, occurrence: Occurrence | None, *, at_risk: bool) -> str:
    """The worst of: the occurrence due now (missed, late, overrunning), the latest outcome
    (missed or failed: nothing finished since), open late starts of earlier occurrences, the
    SLOs (at risk)."""
    kind = occurrence.state if occurrence else None
    outcome = next((r.state for r in runs.squares if r.state in _OUTCOMES), None)
    if kind == "missed" or outcome == RunState.MISSED:
        return "missed"
    if kind == "failed" or outcome == RunState.FAILED:
        return "failed"
    if kind in ("late", "overrunning") or runs.waiting_late:
        return "late"
    if at_risk:
        return "at_risk"
    if runs.squares or occurrence is not None:
        return "ok"
    return "none"


_OUTCOMES = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.MISSED})
