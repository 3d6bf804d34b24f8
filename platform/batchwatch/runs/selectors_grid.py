"""Reads of the health grid (the overview and team pages): each job's latest runs as squares,
the occurrence the ledger expects now and the next one, in three queries whatever the number
of jobs (a window function and two index-driven subqueries, on SQLite and PostgreSQL alike)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from django.db.models import F, OuterRef, Q, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber

from batchwatch.catalog.models import Job
from batchwatch.catalog.selectors import schedule_occurrences
from batchwatch.runs.models import Run, RunState

GRID_RUNS = 14
# A job's health, worst first: the order of jobs and teams on the grid. "at_risk" comes from
# the SLOs and deadline predictions; the others from the runs and the ledger (base_health).
HEALTH = ("missed", "failed", "late", "at_risk", "ok", "none")
# The squares read runs of this long ago at most: the window function then sorts a few weeks
# of runs per job rather than a job's whole history.
GRID_LOOKBACK = timedelta(days=62)
# Newest first: an occurrence by its scheduled time, a run nobody expected by its start.
_NEWEST_FIRST = (Coalesce("scheduled_at", "started_at").desc(nulls_last=True), F("id").desc())
# What a square shows: named rows of these, not model instances (a page of thousands of jobs
# reads tens of thousands of runs; the JSON columns are never read).
SQUARE_FIELDS = (
    "id",
    "job_id",
    "state",
    "scheduled_at",
    "started_at",
    "late_start",
    "overran",
    "too_fast",
)
# A run as a square: a named row of SQUARE_FIELDS (``values_list(named=True)``).
Square = Any


@dataclass
class JobRuns:
    """What the ledger and the runs say about one job now."""

    squares: list[Square] = field(default_factory=list)  # newest first, due occurrences too
    occurrence: Square | None = None  # the latest occurrence due by now (expected or claimed)
    next_expected: datetime | None = None  # the next occurrence after now

    @property
    def last_run(self) -> Square | None:
        """The newest run that started (an occurrence still waiting or missed did not)."""
        return next((r for r in self.squares if r.started_at is not None), None)

    @property
    def waiting_late(self) -> list[Square]:
        """Due occurrences not started past their start grace: open late starts."""
        return [r for r in self.squares if r.state == RunState.SCHEDULED and r.late_start]


def job_runs_grid(
    job_ids: Sequence[int], *, now: datetime, per_job: int = GRID_RUNS
) -> dict[int, JobRuns]:
    """For each of the jobs: its ``per_job`` newest runs and due occurrences (of the last
    :data:`GRID_LOOKBACK`), its current occurrence and the next one the ledger expects (it
    writes them a day ahead: :func:`next_by_schedule` tells the others). Three queries at
    most, however many jobs."""
    job_ids = list(job_ids)
    since = now - GRID_LOOKBACK
    squares = (
        Run.objects.filter(job_id__in=job_ids)
        .filter(Q(scheduled_at__gte=since) | Q(scheduled_at__isnull=True, started_at__gte=since))
        .exclude(state=RunState.SCHEDULED, scheduled_at__gt=now)
        .order_by()
        .annotate(
            recency=Window(RowNumber(), partition_by=[F("job_id")], order_by=list(_NEWEST_FIRST))
        )
        .filter(recency__lte=per_job)
        .values_list(*SQUARE_FIELDS, "recency", named=True)
    )
    grid: dict[int, JobRuns] = {}
    for run in squares:
        grid.setdefault(run.job_id, JobRuns()).squares.append(run)
    for entry in grid.values():
        entry.squares.sort(key=attrgetter("recency"))
    # The current and the next occurrence of each job: one lookup each on (job, expected_at).
    current = Run.objects.filter(
        job_id=OuterRef("pk"), expected_at__isnull=False, expected_at__lte=now
    ).order_by("-expected_at")
    upcoming = Run.objects.filter(job_id=OuterRef("pk"), expected_at__gt=now).order_by(
        "expected_at"
    )
    marks = (
        Job.objects.filter(pk__in=job_ids)
        .order_by()
        .annotate(
            current_id=Subquery(current.values("id")[:1]),
            next_at=Subquery(upcoming.values("expected_at")[:1]),
        )
        .values_list("pk", "current_id", "next_at")
    )
    current_ids: dict[int, int] = {}
    for job_id, current_id, next_at in marks:
        grid.setdefault(job_id, JobRuns()).next_expected = next_at
        if current_id is not None:
            current_ids[job_id] = current_id
    shown = {run.id: run for entry in grid.values() for run in entry.squares}
    missing = [pk for pk in current_ids.values() if pk not in shown]
    if missing:  # (most current occurrences are among the squares: only the others are read)
        others = Run.objects.filter(pk__in=missing).values_list(*SQUARE_FIELDS, named=True)
        shown.update({run.id: run for run in others})
    for job_id, run_id in current_ids.items():
        grid[job_id].occurrence = shown.get(run_id)
    return grid


def base_health(runs: JobRuns) -> str:
    """The worst of: the occurrence due now (missed, failed, late, overrunning), the latest
    outcome (missed or failed: nothing finished since), open late starts of earlier
    occurrences; else "ok" (or "none": no run and nothing due). Not the SLOs' "at_risk"."""
    due = runs.occurrence if runs.occurrence and runs.occurrence.scheduled_at else None
    kind = due.state if due else None
    outcome = next((r.state for r in runs.squares if r.state in _OUTCOMES), None)
    if RunState.MISSED in (kind, outcome):
        return "missed"
    if RunState.FAILED in (kind, outcome):
        return "failed"
    late_start = due is not None and kind == RunState.SCHEDULED and due.late_start
    overrunning = due is not None and kind == RunState.RUNNING and due.overran
    if late_start or overrunning or runs.waiting_late:
        return "late"
    return "ok" if runs.squares or due is not None else "none"


_OUTCOMES = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.MISSED})


def next_by_schedule(job: Job, *, now: datetime) -> datetime | None:
    """The next occurrence of an active scheduled job from its schedule (no query when its
    calendar is loaded): for occurrences beyond the ledger's lookahead."""
    if not job.schedule_cron or not job.is_active:
        return None
    found = schedule_occurrences(job, now, None, limit=1)
    return found[0] if found else None
