"""The SLO maths, without the database: verdicts on runs, the window, the SLI, the error
budget, burn rates, when time alone changes a result, and deadline predictions.

Runs are anything with the fields of ``VERDICT_FIELDS`` (model instances or named rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from batchwatch.runs.models import RunState
from batchwatch.slo.models import SLO, SLOState

BURN_WINDOWS = (3, 7)  # short windows, in runs; the whole window is the third
PREDICTION_PERCENTILE = 0.9

# The fields of a run that verdicts and next_change read.
VERDICT_FIELDS = ("job_id", "state", "scheduled_at", "started_at", "ended_at", "duration_seconds")


def deadline_for(slo: SLO, scheduled_at: datetime) -> datetime:
    """The instant a run for logical date D must succeed by: deadline_time on D + offset."""
    zone = ZoneInfo(slo.deadline_timezone)
    day = scheduled_at.astimezone(zone).date() + timedelta(days=slo.deadline_day_offset)
    return datetime.combine(day, slo.deadline_time or time(0), tzinfo=zone).astimezone(UTC)


def next_deadline(slo: SLO, now: datetime) -> datetime:
    """The next instant after ``now`` at which one of the SLO's daily deadlines passes."""
    zone = ZoneInfo(slo.deadline_timezone)
    day = now.astimezone(zone).date()
    for offset in range(3):
        at = datetime.combine(day + timedelta(days=offset), slo.deadline_time or time(0), zone)
        if at.astimezone(UTC) > now:
            return at.astimezone(UTC)
    raise AssertionError("a daily deadline always comes within two days")


@dataclass(frozen=True)
class Verdict:
    at: datetime
    good: bool


def verdicts(slo: SLO, runs: list, *, now: datetime) -> list[Verdict]:
    """Final good/bad verdicts for the runs (oldest first); undecided runs are left out."""
    out: list[Verdict] = []
    if slo.kind == SLO.Kind.DEADLINE:
        for run in runs:
            if run.scheduled_at is None:
                continue
            deadline = deadline_for(slo, run.scheduled_at)
            in_time = run.state == RunState.SUCCEEDED and run.ended_at and run.ended_at <= deadline
            if in_time or deadline <= now:
                out.append(Verdict(run.scheduled_at, bool(in_time)))
    elif slo.kind == SLO.Kind.SUCCESS_RATIO:
        for run in runs:
            if run.state in (RunState.SUCCEEDED, RunState.FAILED, RunState.MISSED):
                when = run.ended_at or run.scheduled_at or run.started_at
                out.append(Verdict(when, run.state == RunState.SUCCEEDED))
    elif slo.kind == SLO.Kind.DURATION:
        limit = slo.duration_threshold.total_seconds()
        for run in runs:
            if run.state == RunState.SUCCEEDED and run.duration_seconds is not None:
                out.append(Verdict(run.ended_at or run.started_at, run.duration_seconds <= limit))
    elif slo.kind == SLO.Kind.FRESHNESS:
        successes = sorted(r.ended_at for r in runs if r.state == RunState.SUCCEEDED and r.ended_at)
        for previous, current in pairwise(successes):
            out.append(Verdict(current, current - previous <= slo.max_age))
        if successes and now - successes[-1] > slo.max_age:
            out.append(Verdict(now, False))  # stale right now
    return sorted(out, key=lambda v: v.at)


def window_of(slo: SLO, judged: list[Verdict], *, now: datetime) -> list[Verdict]:
    """The verdicts the SLO's window holds as of ``now`` (``judged`` oldest first)."""
    if slo.window_unit == SLO.WindowUnit.RUNS:
        return judged[-slo.window_size :]
    if slo.window_type == SLO.WindowType.CALENDAR:
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        start = now - timedelta(days=slo.window_size)
    return [v for v in judged if v.at >= start]


def runs_needed(slo: SLO) -> int:
    """How many of a job's newest runs a window counted in runs reads.

    Future expected runs are not read; a few undecided ones (running, or not yet past their
    deadline) may still come first."""
    return slo.window_size + 10


def days_read(slo: SLO) -> int:
    """How many days of a job's runs a window counted in days reads (with two to spare for
    runs judged at a deadline after their scheduled day)."""
    days = 31 if slo.window_type == SLO.WindowType.CALENDAR else slo.window_size
    return days + 2


@dataclass
class Evaluation:
    good: int
    total: int
    sli: float | None
    budget_total: float
    budget_remaining_ratio: float | None
    burn_rates: dict[str, float]
    status: str
    history: list[list]


# The state fields an Evaluation sets, in SLOState's terms (the figures of a state).
FIGURES = (
    "good",
    "total",
    "sli",
    "budget_total",
    "budget_remaining_ratio",
    "burn_rates",
    "status",
    "history",
)


def evaluate_window(slo: SLO, window: list[Verdict]) -> Evaluation:
    """SLI, error budget, burn rates (last 3 runs, last 7, the window) and status."""
    total = len(window)
    good = sum(v.good for v in window)
    bad = total - good
    allowed_ratio = 1 - slo.objective_ratio
    budget_total = allowed_ratio * total
    if total == 0:
        return Evaluation(0, 0, None, 0.0, None, {}, SLOState.Status.NO_DATA, [])
    remaining = 1 - bad / budget_total if budget_total > 0 else (1.0 if bad == 0 else -math.inf)
    burn = {}
    for k in (*BURN_WINDOWS, total):
        last = window[-k:]
        error_ratio = sum(not v.good for v in last) / len(last)
        burn["window" if k == total else f"{k}_runs"] = round(error_ratio / allowed_ratio, 3)
    sli = good / total
    if sli < slo.objective_ratio:
        status = SLOState.Status.BREACHED
    elif remaining < float(slo.warning_budget_ratio):
        status = SLOState.Status.WARNING
    else:
        status = SLOState.Status.OK
    history = [[v.at.isoformat(), v.good] for v in window]
    return Evaluation(good, total, sli, budget_total, max(remaining, -10.0), burn, status, history)


def next_change(slo: SLO, runs: list, window: list[Verdict], *, now: datetime) -> datetime | None:
    """When time alone (no new run) may change this evaluation: a verdict leaves a days
    window, a month starts, a deadline passes, a success grows stale. None: only runs can."""
    moments = []
    if slo.window_unit == SLO.WindowUnit.DAYS:
        if slo.window_type == SLO.WindowType.CALENDAR:
            first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            moments.append((first + timedelta(days=32)).replace(day=1))
        elif window:
            moments.append(window[0].at + timedelta(days=slo.window_size))
    if slo.kind == SLO.Kind.DEADLINE:
        moments.append(next_deadline(slo, now))
    elif slo.kind == SLO.Kind.FRESHNESS:
        successes = [r.ended_at for r in runs if r.state == RunState.SUCCEEDED and r.ended_at]
        if successes:
            moments.append(max(max(successes) + slo.max_age, now))  # stale: every pass
    return min(moments) if moments else None


def typical_duration(durations: list[float]) -> timedelta | None:
    """The 90th percentile of a job's recent successful durations (seconds); None if none."""
    if not durations:
        return None
    history = sorted(durations)
    return timedelta(
        seconds=history[min(len(history) - 1, int(len(history) * PREDICTION_PERCENTILE))]
    )


def predicted_end(
    slo: SLO, run, typical: timedelta, *, now: datetime
) -> tuple[datetime, datetime] | None:
    """``(estimate, deadline)`` when a pending run is predicted to miss its deadline.

    The estimate: start (or now, for a run not started) plus the typical duration. A run is
    judged once its deadline is within that duration plus the SLO's prediction lead, and
    not after the deadline passed (the verdict then says it)."""
    deadline = deadline_for(slo, run.scheduled_at)
    if deadline <= now or now < deadline - typical - slo.prediction_lead:
        return None
    start = run.started_at if run.started_at else max(now, run.scheduled_at)
    estimate = max(now, start + typical)
    return (estimate, deadline) if estimate > deadline else None


def finished_in_time(slo: SLO, run) -> bool:
    """Whether a run succeeded by its deadline (what clears a predicted miss)."""
    return bool(
        run.state == RunState.SUCCEEDED
        and run.scheduled_at
        and run.ended_at
        and run.ended_at <= deadline_for(slo, run.scheduled_at)
    )
