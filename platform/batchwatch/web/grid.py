"""The health grid: the overview and the team pages read this.

Per job: its latest runs as squares, its last run and next occurrence, the occurrence due now
against its deadline (from the ledger: a late start still open shows as late even when the
previous run succeeded), its open incident; per team: who is on call and its open incidents.
Teams and jobs worst first (missed, failed, late, at risk, ok), ties by name, a page of jobs
at a time. Everyone signed in reads the catalog, so every team is listed, with its counts by
health. A fixed number of queries whatever the number of jobs: the order and the counts come
from the jobs' health rows (``slo.models.JobHealth``) in SQL, the runs are read only for the
jobs shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.db.models import (
    Case,
    Count,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Lower
from django.utils.safestring import SafeString, mark_safe

from batchwatch.alerts.selectors_jobs import OpenIncident, OpenIncidents, open_incidents
from batchwatch.alerts.selectors_people import incidents_visible_to
from batchwatch.catalog.models import Job, Team
from batchwatch.catalog.selectors import job_list
from batchwatch.core.links import path_for
from batchwatch.oncall.selectors import OnCallNow, oncall_now
from batchwatch.runs.models import RunState, Signal
from batchwatch.runs.selectors_grid import (
    GRID_RUNS,
    HEALTH,
    JobRuns,
    Square,
    job_runs_grid,
    next_by_schedule,
)
from batchwatch.slo.models import SLOState
from batchwatch.slo.services import job_health_refresh
from batchwatch.web import human
from batchwatch.web.grid_html import counts_html, facts_html, row_html, squares_html

__all__ = ["HEALTH", "HEALTH_LABELS", "GridJob", "GridTeam", "HealthGrid", "health_grid"]

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
    def url(self) -> str:
        return path_for("web:job", self.job.pk)

    @property
    def last_run_url(self) -> str:
        last = self.runs.last_run
        return path_for("web:run", last.id) if last else ""

    @property
    def occurrence_url(self) -> str:
        return path_for("web:run", self.occurrence.run.id) if self.occurrence else ""

    @property
    def incident_url(self) -> str:
        return path_for("web:incident", self.incident.id) if self.incident else ""

    @property
    def squares_html(self) -> SafeString:
        return squares_html(self.squares)

    @property
    def html(self) -> SafeString:
        return row_html(self)

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
    jobs: list[GridJob]  # worst first: those of the page shown
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
        """Matching jobs not on this page."""
        return len(self.healths) - len(self.jobs)

    @property
    def name(self) -> str:
        return self.team.name if self.team else "Unowned jobs"

    @property
    def path(self) -> str:
        """The team's page; the unowned jobs' is the overview (with ``?team=-``)."""
        return path_for("web:team", self.team.slug) if self.team else path_for("web:overview")

    @property
    def counts_html(self) -> SafeString:
        """Its counts in its header: "all OK" when it has rows and none is unwell."""
        return counts_html(self.counts, all_ok=bool(self.jobs))

    @property
    def others_counts_html(self) -> SafeString:
        """Its counts in the other teams' list: "all OK" when it has jobs, none unwell."""
        return counts_html(self.counts, all_ok=bool(self.total))

    @property
    def facts_html(self) -> SafeString:
        return facts_html(self)

    @property
    def rows_html(self) -> SafeString:
        return mark_safe("".join(row.html for row in self.jobs))  # noqa: S308 (escaped rows)

    @property
    def id(self) -> int | None:
        return self.team.pk if self.team else None


@dataclass
class HealthGrid:
    now: datetime
    teams: list[GridTeam]  # those with jobs on this page, in full
    others: list[GridTeam]  # the teams with none on this page: their counts
    filtering: bool  # any filter, the team's included
    narrowed: bool  # by health, engine or text: teams without a matching job are left out
    page: int = 1
    pages: int = 1
    first: int = 0  # the 1-based positions of the first and last job shown, worst first
    last: int = 0
    total: int = 0  # the jobs matching the filters

    @property
    def job_total(self) -> int:
        return self.total

    @property
    def group_total(self) -> int:
        return len(self.teams) + len(self.others)

    @property
    def previous_page(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def next_page(self) -> int | None:
        return self.page + 1 if self.page < self.pages else None


def health_grid(
    user,
    *,
    now: datetime,
    team: str | None = None,
    state: str | None = None,
    search: str | None = None,
    engine: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> HealthGrid:
    """The grid of the jobs matching the filters (``team``: a slug, or "-" for unowned
    jobs; ``state``: one of :data:`HEALTH`) as ``user`` sees it: one page of the jobs, worst
    first across the teams, each in its team's group with the team's counts by health, who
    is on call and its open incidents (those ``user`` may see); the other teams with their
    counts. Everyone signed in reads the catalog. The order and the counts come from the
    jobs' health rows (brought up to date first); only the shown jobs' runs are read."""
    job_health_refresh(now)
    ranked = _ranked(job_list(team=team, engine=engine, search=search))
    if state is not None:
        ranked = ranked.filter(health_rank=HEALTH.index(state))
    counts: dict[int | None, list[str]] = {}
    for team_id, rank, n in (
        ranked.order_by().values_list("owner_team_id", "health_rank").annotate(n=Count("pk"))
    ):
        counts.setdefault(team_id, []).extend([HEALTH[rank]] * n)
    total = sum(len(found) for found in counts.values())
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    start = (page - 1) * page_size
    shown = _page_of(ranked, start, page_size)
    filtering = bool(state or search or engine)
    teams = Team.objects.order_by("name") if not team else Team.objects.filter(slug=team)
    groups = [
        GridTeam(t, [], healths=counts.get(t.pk, []))
        for t in teams
        if not filtering or t.pk in counts
    ]
    if counts.get(None) and team in (None, "-"):
        groups.append(GridTeam(None, [], healths=counts[None]))
    groups.sort(key=lambda g: (HEALTH.index(g.health), g.team is None, g.name.lower()))
    # A team's group in full where its jobs are shown (a team's page: always), else counted.
    with_rows = {job.owner_team_id for job in shown} if not team else {g.id for g in groups}
    full = [g for g in groups if g.id in with_rows]
    _fill_groups(user, full, shown, now=now)
    return HealthGrid(
        now=now,
        teams=full,
        others=[g for g in groups if g.id not in with_rows],
        filtering=bool(filtering or team),
        narrowed=filtering,
        page=page,
        pages=pages,
        first=start + 1 if shown else 0,
        last=start + len(shown),
        total=total,
    )


def _page_of(ranked: QuerySet[Job], start: int, size: int) -> list[Job]:
    """The jobs ``start`` to ``start + size`` worst first, ties by name: their ids sorted
    on narrow rows (the whole catalog's), then the jobs themselves."""
    order = ranked.order_by("health_rank", Lower("name"), "key").values_list("pk", "health_rank")
    ranks = dict(order[start : start + size])
    jobs = Job.objects.select_related("owner_team", "calendar").in_bulk(list(ranks))
    for pk, rank in ranks.items():
        jobs[pk].health_rank = rank
    return [jobs[pk] for pk in ranks if pk in jobs]


def _fill_groups(user, groups: list[GridTeam], shown: list[Job], *, now: datetime) -> None:
    """The shown jobs as rows of their teams' groups; each group's on call and incidents."""
    team_ids = [g.team.pk for g in groups if g.team]
    incidents = open_incidents(team_ids, among=incidents_visible_to(user, now=now))
    rows = _rows(shown, incidents, now=now)
    oncall: dict[int, list[OnCallNow]] = {}
    for entry_now in oncall_now(team_ids, now):
        oncall.setdefault(entry_now.rotation.team_id, []).append(entry_now)
    for group in groups:
        group.jobs = rows.get(group.id, [])
        if group.team:
            group.oncall = oncall.get(group.team.pk, [])
            group.incidents = incidents.by_team.get(group.team.pk, [])


def _ranked(jobs: QuerySet[Job]) -> QuerySet[Job]:
    """``jobs`` with ``health_rank``, the index of their health in :data:`HEALTH`: that of
    their runs (missed, failed, late) before the SLOs' (a breached or burning SLO, a
    predicted deadline miss: at risk), then OK or no runs; a job not checked yet is none."""
    base = Coalesce(F("health__rank"), Value(HEALTH.index("none")))
    return jobs.alias(base_rank=base).annotate(
        health_rank=Case(
            When(Q(base_rank__lt=HEALTH.index("at_risk")), then=F("base_rank")),
            When(pk__in=_jobs_at_risk(), then=Value(HEALTH.index("at_risk"))),
            default=F("base_rank"),
        )
    )


def _jobs_at_risk() -> list[int]:
    """Jobs with an active SLO breached or burning (warning), or a run not finished yet that
    an open predicted-miss warning (``slo.predictions``) is about: two queries, few rows."""
    burning = SLOState.objects.filter(
        slo__is_active=True, status__in=[SLOState.Status.BREACHED, SLOState.Status.WARNING]
    ).values_list("job_id", flat=True)
    predicted = Signal.objects.filter(
        kind=Signal.Kind.PREDICTED_MISS,
        resolved=False,
        run__state__in=[RunState.SCHEDULED, RunState.RUNNING],
    ).values_list("job_id", flat=True)
    return sorted({*burning.order_by(), *predicted.order_by()})


def _rows(
    shown: list[Job], incidents: OpenIncidents, *, now: datetime
) -> dict[int | None, list[GridJob]]:
    """The shown jobs as grid rows, in their order, by team."""
    runs = job_runs_grid([job.pk for job in shown], now=now)
    slo = _worst_slo_status([job.pk for job in shown])
    by_team: dict[int | None, list[GridJob]] = {}
    for job in shown:
        entry = runs.get(job.pk) or JobRuns()
        row = GridJob(
            job=job,
            runs=entry,
            health=HEALTH[job.health_rank],
            occurrence=_occurrence(entry.occurrence, job, now=now),
            incident=incidents.by_job.get(job.pk),
            slo_status=slo.get(job.pk),
            now=now,
        )
        by_team.setdefault(job.owner_team_id, []).append(row)
    return by_team


def _worst_slo_status(job_ids: list[int]) -> dict[int, str]:
    """Of these jobs, those with an active SLO breached or burning (warning), the worse of
    them: one query."""
    states = SLOState.objects.filter(
        job_id__in=job_ids,
        slo__is_active=True,
        status__in=[SLOState.Status.BREACHED, SLOState.Status.WARNING],
    )
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
