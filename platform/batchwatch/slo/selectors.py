"""SLO reads: state for pages (per job, with burn-down points), which
jobs an SLO covers, and what evaluation reads (window runs, check times, durations)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter

from django.db.models import F, Max, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from batchwatch.catalog.models import Job
from batchwatch.runs.models import Run, RunState, Signal
from batchwatch.slo.models import SLO, SLOState
from batchwatch.slo.sli import VERDICT_FIELDS, deadline_for


@dataclass
class BurnDown:
    points: str  # SVG polyline points in a 0..300 x 0..100 box
    zero_y: float  # where "budget exhausted" lies


def burn_down(state: SLOState, *, width: int = 300, height: int = 100) -> BurnDown | None:
    """The error budget left after each judged run of the window, oldest first.

    Starts at 100% and steps down at each bad run; below the zero line, the budget is overspent.
    """
    history = state.history or []
    if not history or state.budget_total <= 0:
        return None
    remaining, values = 1.0, [1.0]
    for _, good in history:
        if not good:
            remaining -= 1 / state.budget_total
        values.append(max(remaining, -1.0))
    top, bottom = 1.0, min(-0.2, min(values))
    step = width / max(1, len(values) - 1)

    def y(value: float) -> float:
        return round((top - value) / (top - bottom) * height, 2)

    points = " ".join(f"{round(i * step, 2)},{y(v)}" for i, v in enumerate(values))
    return BurnDown(points=points, zero_y=y(0.0))


def job_slo_states(job_id: int) -> list[tuple[SLOState, BurnDown | None]]:
    states = SLOState.objects.filter(job_id=job_id).select_related("slo").order_by("slo__slug")
    return [(state, burn_down(state)) for state in states]


# Coverage: which jobs an SLO covers (a job, or active jobs of a team and/or with labels).


def slo_jobs(slo: SLO) -> QuerySet[Job]:
    if slo.job_id is not None:
        return Job.objects.filter(pk=slo.job_id)
    jobs = Job.objects.filter(is_active=True)
    if slo.team_id is not None:
        jobs = jobs.filter(owner_team_id=slo.team_id)
    for key, value in (slo.label_selector or {}).items():
        jobs = jobs.filter(**{f"labels__{key}": value})
    return jobs


def slo_covers(slo: SLO, job: Job) -> bool:
    """``slo_jobs`` for one job in memory (the caller decides whether inactive jobs count)."""
    if slo.job_id is not None:
        return job.pk == slo.job_id
    if slo.team_id is not None and job.owner_team_id != slo.team_id:
        return False
    return all((job.labels or {}).get(k) == v for k, v in (slo.label_selector or {}).items())


def slo_jobs_among(slo: SLO, active: list[Job], by_team: dict[int, list[Job]]) -> list[Job]:
    """``slo_jobs`` in memory, over active jobs loaded once (``by_team``: them by team)."""
    if slo.job_id is not None:
        return [slo.job]
    candidates = active if slo.team_id is None else by_team.get(slo.team_id, [])
    return [job for job in candidates if slo_covers(slo, job)]


def jobs_by_team(jobs: list[Job]) -> dict[int, list[Job]]:
    by_team: dict[int, list[Job]] = {}
    for job in jobs:
        by_team.setdefault(job.owner_team_id, []).append(job)
    return by_team


def slos_for_jobs(jobs: dict[int, Job]) -> list[SLO]:
    """The active SLOs that may cover these jobs: one query (coverage is then in memory)."""
    teams = {j.owner_team_id for j in jobs.values() if j.owner_team_id is not None}
    team = Q(job__isnull=True) & (Q(team__isnull=True) | Q(team_id__in=teams))
    return list(SLO.objects.filter(is_active=True).filter(Q(job_id__in=list(jobs)) | team))


# What evaluation reads.

# Newest first, the same on PostgreSQL and SQLite (which sort NULLs differently by default).
RECENT_FIRST = (
    F("scheduled_at").desc(nulls_last=True),
    F("started_at").desc(nulls_last=True),
    F("id").desc(),
)


def window_runs(
    job_ids: list[int], *, now: datetime, days: int | None = None, newest: int | None = None
) -> dict[int, list]:
    """The runs of these jobs a window reads, by job, in one query: those of the last
    ``days`` days, or each job's ``newest`` runs, newest first. Expected runs still in the
    future are never read.

    Named rows, not model instances: a team's SLO reads thousands of runs per pass, and the
    verdicts need five fields of each."""
    runs = Run.objects.filter(job_id__in=job_ids).exclude(
        state=RunState.SCHEDULED, scheduled_at__gt=now
    )
    if days is not None:
        since = now - timedelta(days=days)
        rows = runs.filter(
            Q(scheduled_at__gte=since) | Q(scheduled_at__isnull=True, started_at__gte=since)
        ).values_list(*VERDICT_FIELDS, named=True)
    elif len(job_ids) == 1:
        # One job (an ingest): LIMIT on the index reads only the runs it keeps, however long
        # the job's history.
        rows = runs.order_by(*RECENT_FIRST).values_list(*VERDICT_FIELDS, named=True)[:newest]
    else:
        rows = (
            runs.annotate(
                recency=Window(RowNumber(), partition_by=[F("job_id")], order_by=list(RECENT_FIRST))
            )
            .filter(recency__lte=newest)
            .values_list(*VERDICT_FIELDS, "recency", named=True)
        )
    by_job: dict[int, list] = {}
    for run in rows:
        by_job.setdefault(run.job_id, []).append(run)
    if newest is not None and len(job_ids) > 1:
        for job_runs in by_job.values():
            job_runs.sort(key=attrgetter("recency"))  # (most often in that order already)
    return by_job


@dataclass(frozen=True)
class Checked:
    """When a state was last evaluated and checked, and when time alone may change it."""

    pk: int
    evaluated_at: datetime | None
    checked_at: datetime | None
    next_change_at: datetime | None


def states_checked() -> dict[tuple[int, int], Checked]:
    """Every SLO state's check times, by (SLO, job), in one query."""
    return {
        (slo_id, job_id): Checked(pk, evaluated_at, checked_at, next_change_at)
        for pk, slo_id, job_id, evaluated_at, checked_at, next_change_at in (
            SLOState.objects.values_list(
                "pk", "slo_id", "job_id", "evaluated_at", "checked_at", "next_change_at"
            )
        )
    }


def runs_changed_since(since: datetime | None) -> dict[int, datetime]:
    """``{job_id: latest run write}`` for the jobs whose runs were written after ``since``."""
    if since is None:
        return {}
    return dict(
        Run.objects.filter(updated_at__gt=since)
        .values("job_id")
        .annotate(latest=Max("updated_at"))
        .values_list("job_id", "latest")
    )


def pending_runs(job_ids: set[int], *, now: datetime) -> list[Run]:
    """Runs of these jobs expected or running, scheduled up to a day ahead (with their job)."""
    return list(
        Run.objects.filter(
            job_id__in=job_ids,
            state__in=[RunState.SCHEDULED, RunState.RUNNING],
            scheduled_at__isnull=False,
            scheduled_at__lte=now + timedelta(days=1),
        ).select_related("job__owner_team")
    )


def recent_durations(job_ids: set[int], *, newest: int) -> dict[int, list[float]]:
    """The durations (seconds) of each job's ``newest`` successful runs, in one query."""
    durations: dict[int, list[float]] = {}
    for job_id, seconds in (
        Run.objects.filter(
            job_id__in=job_ids, state=RunState.SUCCEEDED, duration_seconds__isnull=False
        )
        .annotate(
            recency=Window(
                RowNumber(),
                partition_by=[F("job_id")],
                order_by=[F("ended_at").desc(nulls_last=True)],
            )
        )
        .filter(recency__lte=newest)
        .values_list("job_id", "duration_seconds")
    ):
        durations.setdefault(job_id, []).append(seconds)
    return durations


# The Now page: runs predicted to miss their deadline, SLOs burning their budget fastest.


@dataclass(frozen=True)
class AtRisk:
    run: Run
    slo: SLO
    deadline: datetime
    summary: str


def runs_at_risk(team_ids: list[int] | None, *, limit: int = 50) -> list[AtRisk]:
    """Runs not finished yet with an open predicted-miss warning (``slo.predictions``), each
    once, with the earliest deadline among its SLOs, soonest first: two queries."""
    signals = Signal.objects.filter(
        kind=Signal.Kind.PREDICTED_MISS,
        resolved=False,
        run__state__in=[RunState.SCHEDULED, RunState.RUNNING],
    ).select_related("run__job__owner_team")
    if team_ids is not None:
        signals = signals.filter(job__owner_team_id__in=team_ids)
    found = list(signals.order_by("-created_at")[: limit * 4])
    slos = {
        slo.slug: slo
        for slo in SLO.objects.filter(
            slug__in={str(s.labels.get("slo", "")) for s in found}, kind=SLO.Kind.DEADLINE
        )
    }
    by_run: dict[int, AtRisk] = {}
    for signal in found:
        slo = slos.get(str(signal.labels.get("slo", "")))
        run = signal.run
        if slo is None or run is None or run.scheduled_at is None:
            continue
        risk = AtRisk(run, slo, deadline_for(slo, run.scheduled_at), signal.summary)
        if run.pk not in by_run or risk.deadline < by_run[run.pk].deadline:
            by_run[run.pk] = risk
    return sorted(by_run.values(), key=attrgetter("deadline"))[:limit]


def fastest_burn(state: SLOState) -> tuple[str, float]:
    """The state's highest burn rate and its window (``3_runs``, ``7_runs``, ``window``)."""
    rates = [(k, float(v)) for k, v in (state.burn_rates or {}).items() if v is not None]
    return max(rates, key=lambda kv: kv[1], default=("", 0.0))


def slo_states_burning(team_ids: list[int] | None, *, limit: int = 5) -> list[SLOState]:
    """The SLO states of the teams' active jobs burning error budget fastest (a burn rate
    above 0), fastest first: one query, sorted in memory (burn rates are JSON)."""
    states = (
        SLOState.objects.filter(slo__is_active=True, job__is_active=True)
        .exclude(status=SLOState.Status.NO_DATA)
        .select_related("slo", "job__owner_team")
        .defer("history")
    )
    if team_ids is not None:
        states = states.filter(job__owner_team_id__in=team_ids)
    burning = [s for s in states if fastest_burn(s)[1] > 0]
    burning.sort(key=lambda s: (-fastest_burn(s)[1], s.budget_remaining_ratio or 0.0, s.pk))
    return burning[:limit]
