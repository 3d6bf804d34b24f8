"""SLO evaluation, counted in runs. Writes SLOState rows and emits signals on changes."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Max, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from batchwatch.catalog.models import Job
from batchwatch.runs.ledger import signal_build, signals_emit
from batchwatch.runs.models import Run, RunState, Signal
from batchwatch.slo.models import SLO, SLOState

logger = logging.getLogger("batchwatch.slo")

BURN_WINDOWS = (3, 7)  # short windows, in runs; the whole window is the third
HISTORY_FOR_PREDICTION = 20
PREDICTION_PERCENTILE = 0.9


def slo_jobs(slo: SLO) -> QuerySet[Job]:
    if slo.job_id is not None:
        return Job.objects.filter(pk=slo.job_id)
    jobs = Job.objects.filter(is_active=True)
    if slo.team_id is not None:
        jobs = jobs.filter(owner_team_id=slo.team_id)
    for key, value in (slo.label_selector or {}).items():
        jobs = jobs.filter(**{f"labels__{key}": value})
    return jobs


def deadline_for(slo: SLO, scheduled_at: datetime) -> datetime:
    """The instant a run for logical date D must succeed by: deadline_time on D + offset."""
    zone = ZoneInfo(slo.deadline_timezone)
    day = scheduled_at.astimezone(zone).date() + timedelta(days=slo.deadline_day_offset)
    return datetime.combine(day, slo.deadline_time or time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Verdict:
    at: datetime
    good: bool


def verdicts(slo: SLO, runs: list[Run], *, now: datetime) -> list[Verdict]:
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


def _window(slo: SLO, judged: list[Verdict], *, now: datetime) -> list[Verdict]:
    if slo.window_unit == SLO.WindowUnit.RUNS:
        return judged[-slo.window_size :]
    if slo.window_type == SLO.WindowType.CALENDAR:
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        start = now - timedelta(days=slo.window_size)
    return [v for v in judged if v.at >= start]


def _runs_for(slo: SLO, job: Job, *, now: datetime) -> list:
    """The runs one job's window needs, as named rows of the fields verdicts read."""
    runs = Run.objects.filter(job=job)
    if slo.window_unit == SLO.WindowUnit.DAYS:
        days = 31 if slo.window_type == SLO.WindowType.CALENDAR else slo.window_size
        runs = runs.filter(scheduled_at__gte=now - timedelta(days=days + 2)) | Run.objects.filter(
            job=job, scheduled_at__isnull=True, started_at__gte=now - timedelta(days=days + 2)
        )
        return list(runs.values_list(*VERDICT_FIELDS, named=True))
    # Enough recent runs to find window_size final verdicts (undecided ones are skipped).
    runs = runs.exclude(state=RunState.SCHEDULED, scheduled_at__gt=now).order_by(*RECENT_FIRST)
    return list(runs.values_list(*VERDICT_FIELDS, named=True)[: _runs_needed(slo)])


# Newest first, the same on PostgreSQL and SQLite (which sort NULLs differently by default).
RECENT_FIRST = (
    F("scheduled_at").desc(nulls_last=True),
    F("started_at").desc(nulls_last=True),
    F("id").desc(),
)


def _runs_needed(slo: SLO) -> int:
    # Future expected runs are excluded from the fetch; a few undecided (running, or not yet
    # past their deadline) may still come first.
    return slo.window_size + 10


def _runs_for_jobs(slo: SLO, job_ids: list[int], *, now: datetime) -> dict[int, list[Run]]:
    """The runs each job's window needs, for all the SLO's jobs in one query."""
    runs = Run.objects.filter(job_id__in=job_ids).exclude(
        state=RunState.SCHEDULED, scheduled_at__gt=now
    )
    if slo.window_unit == SLO.WindowUnit.DAYS:
        days = 31 if slo.window_type == SLO.WindowType.CALENDAR else slo.window_size
        since = now - timedelta(days=days + 2)
        runs = runs.filter(
            Q(scheduled_at__gte=since) | Q(scheduled_at__isnull=True, started_at__gte=since)
        )
    else:
        runs = runs.annotate(
            recency=Window(RowNumber(), partition_by=[F("job_id")], order_by=list(RECENT_FIRST))
        ).filter(recency__lte=_runs_needed(slo))
    # Named rows, not model instances: a team's SLO reads thousands of runs per pass, and the
    # verdicts need five fields of each.
    by_job: dict[int, list] = {}
    for run in runs.values_list(*VERDICT_FIELDS, named=True):
        by_job.setdefault(run.job_id, []).append(run)
    return by_job


VERDICT_FIELDS = ("job_id", "state", "scheduled_at", "started_at", "ended_at", "duration_seconds")


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


def evaluate_window(slo: SLO, window: list[Verdict]) -> Evaluation:
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


SEVERITY = {
    SLOState.Status.BREACHED: Signal.Severity.CRITICAL,
    SLOState.Status.WARNING: Signal.Severity.WARNING,
    SLOState.Status.OK: Signal.Severity.INFO,
}


@transaction.atomic
def slo_evaluate_job(slo: SLO, job: Job, *, now: datetime) -> SLOState:
    """Evaluate one SLO for one job as of ``now`` (the incremental path after a new run)."""
    runs = _runs_for(slo, job, now=now)
    window = _window(slo, verdicts(slo, runs, now=now), now=now)
    result = evaluate_window(slo, window)
    state, created = SLOState.objects.select_for_update().get_or_create(slo=slo, job=job)
    signal = _apply_evaluation(state, slo, job, result, now)
    state.checked_at = timezone.now()
    state.next_change_at = next_change(slo, runs, window, now=now)
    state.save(update_fields=None if created else STATE_FIELDS)
    if signal is not None:
        signals_emit([signal])
    return state


@transaction.atomic
def slo_evaluate_for_job(job: Job, *, now: datetime) -> list[SLOState]:
    """Every active SLO covering ``job``, evaluated now (after a run of it was recorded)."""
    return _evaluate_for_job(job, _slos_for_jobs({job.pk: job}), now=now)


# Run states whose verdict an SLO counts: a run reaching one may change its job's SLOs.
FINISHED = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.MISSED})


def slo_evaluate_after_runs(runs: list[Run], *, now: datetime) -> int:
    """The SLOs of the jobs whose runs just finished, evaluated in the caller's transaction.

    Ingest calls it with the runs it recorded, so that an SLO turning to warning or breached
    is signalled with the run that caused it rather than at the next tick (which evaluates
    them again, as it evaluates every job whose runs changed). Returns how many states.

    A failure here never costs the runs their record: the evaluation runs in a savepoint, and
    an error in it is logged and left to the tick (a database that went away still fails the
    caller, which retries).
    """
    jobs = {run.job_id: run.job for run in runs if run.state in FINISHED}
    if not jobs:
        return 0
    slos = _slos_for_jobs(jobs)
    if not slos:
        return 0
    try:
        with transaction.atomic():
            return _evaluate_after_runs(jobs, slos, now=now)
    except (OperationalError, InterfaceError) as exc:
        if not connection.is_usable():
            raise
        logger.warning("slo.evaluate_after_runs_failed", extra={"error": str(exc)[:200]})
    except Exception:
        logger.exception("slo.evaluate_after_runs_failed", extra={"jobs": sorted(jobs)[:20]})
    return 0


def _evaluate_after_runs(jobs: dict[int, Job], slos: list[SLO], *, now: datetime) -> int:
    if len(jobs) == 1:
        [job] = jobs.values()
        return len(_evaluate_for_job(job, slos, now=now))
    covered = {
        slo: [
            j
            for j in jobs.values()
            if (slo.job_id is not None or j.is_active) and slo_covers(slo, j)
        ]
        for slo in slos
    }
    covered = {slo: js for slo, js in covered.items() if js}
    locked: dict[tuple[int, int], SLOState] = {
        (s.slo_id, s.job_id): s for s in _locked_states(slos=list(covered), jobs=list(jobs))
    }
    wall = timezone.now()
    for slo, js in covered.items():
        states = {j.pk: locked[slo.pk, j.pk] for j in js if (slo.pk, j.pk) in locked}
        _evaluate_jobs(slo, js, states, now=now, wall=wall)
    return sum(len(js) for js in covered.values())


def _slos_for_jobs(jobs: dict[int, Job]) -> list[SLO]:
    """The active SLOs that may cover these jobs: one query (coverage is then in memory)."""
    teams = {j.owner_team_id for j in jobs.values() if j.owner_team_id is not None}
    team = Q(job__isnull=True) & (Q(team__isnull=True) | Q(team_id__in=teams))
    return list(SLO.objects.filter(is_active=True).filter(Q(job_id__in=list(jobs)) | team))


def _evaluate_for_job(job: Job, candidates: list[SLO], *, now: datetime) -> list[SLOState]:
    """One query for their states (locked), one per SLO window (run-counted windows share
    one), one UPDATE per state; in the caller's transaction."""
    slos = [slo for slo in candidates if slo_covers(slo, job)]
    if not slos:
        return []
    states = {s.slo_id: s for s in _locked_states(slos=slos, jobs=[job])}
    wall, results, new, signals = timezone.now(), [], [], []
    # SLOs with windows counted in runs read the same newest runs: one query for them all.
    by_runs = [slo for slo in slos if slo.window_unit == SLO.WindowUnit.RUNS]
    newest = _runs_for(max(by_runs, key=_runs_needed), job, now=now) if by_runs else []
    for slo in slos:
        if slo.window_unit == SLO.WindowUnit.RUNS:
            runs = newest[: _runs_needed(slo)]
        else:
            runs = _runs_for(slo, job, now=now)
        window = _window(slo, verdicts(slo, runs, now=now), now=now)
        state = states.get(slo.pk)
        if state is None:
            state = SLOState(slo=slo, job=job)
            new.append(state)
        signal = _apply_evaluation(state, slo, job, evaluate_window(slo, window), now)
        if signal is not None:
            signals.append(signal)
        state.checked_at, state.next_change_at = wall, next_change(slo, runs, window, now=now)
        results.append(state)
    SLOState.objects.bulk_create(new, ignore_conflicts=True)
    for state in results:
        if state.pk:  # (plain UPDATEs: cheaper than bulk_update's CASE for a few rows)
            state.save(update_fields=STATE_FIELDS)
    signals_emit(signals)
    return results


def predicted_misses(slo: SLO, job: Job, *, now: datetime) -> int:
    """Predicted deadline misses for one job: see :func:`predicted_misses_many`."""
    return predicted_misses_many([(slo, job)], now=now)


def predicted_misses_many(pairs: list[tuple[SLO, Job]], *, now: datetime) -> int:
    """Warn about runs predicted to miss their deadline; clear warnings that did not come true.

    The estimate: start (or now, for a run not started) plus the 90th percentile of the job's
    last 20 successful durations. A warning is raised once the deadline is within that estimate
    plus the SLO's prediction lead, and cleared when the run succeeds in time. Three queries
    for any number of (deadline SLO, job) pairs.
    """
    pairs = [(slo, job) for slo, job in pairs if slo.kind == SLO.Kind.DEADLINE]
    if not pairs:
        return 0
    job_ids = {job.pk for _, job in pairs}
    slo_by_job: dict[int, list[SLO]] = {}
    for slo, job in pairs:
        slo_by_job.setdefault(job.pk, []).append(slo)
    # Clear: warnings whose run has since succeeded in time.
    for signal in Signal.objects.filter(
        job_id__in=job_ids, kind=Signal.Kind.PREDICTED_MISS, resolved=False
    ).select_related("run"):
        run = signal.run
        slo = next(
            (s for s in slo_by_job.get(signal.job_id, []) if s.slug == signal.labels.get("slo")),
            None,
        )
        if (
            slo
            and run
            and run.state == RunState.SUCCEEDED
            and run.scheduled_at
            and (run.ended_at and run.ended_at <= deadline_for(slo, run.scheduled_at))
        ):
            signal.resolved = True
            signal.save(update_fields=["resolved"])
    pending = list(
        Run.objects.filter(
            job_id__in=job_ids,
            state__in=[RunState.SCHEDULED, RunState.RUNNING],
            scheduled_at__isnull=False,
            scheduled_at__lte=now + timedelta(days=1),
        ).select_related("job__owner_team")
    )
    if not pending:
        return 0
    durations: dict[int, list[float]] = {}
    for job_id, seconds in (
        Run.objects.filter(
            job_id__in={r.job_id for r in pending},
            state=RunState.SUCCEEDED,
            duration_seconds__isnull=False,
        )
        .annotate(
            recency=Window(
                RowNumber(),
                partition_by=[F("job_id")],
                order_by=[F("ended_at").desc(nulls_last=True)],
            )
        )
        .filter(recency__lte=HISTORY_FOR_PREDICTION)
        .values_list("job_id", "duration_seconds")
    ):
        durations.setdefault(job_id, []).append(seconds)
    signals = []
    for run in pending:
        history = sorted(durations.get(run.job_id, []))
        if not history:
            continue
        typical = timedelta(
            seconds=history[min(len(history) - 1, int(len(history) * PREDICTION_PERCENTILE))]
        )
        for slo in slo_by_job[run.job_id]:
            deadline = deadline_for(slo, run.scheduled_at)
            if deadline <= now or now < deadline - typical - slo.prediction_lead:
                continue
            start = run.started_at if run.started_at else max(now, run.scheduled_at)
            estimate = max(now, start + typical)
            if estimate > deadline:
                zone = ZoneInfo(slo.deadline_timezone)
                signals.append(
                    signal_build(
                        run=run,
                        kind=Signal.Kind.PREDICTED_MISS,
                        severity=Signal.Severity.WARNING,
                        now=now,
                        key_suffix=slo.slug,
                        extra_labels={"slo": slo.slug},
                        summary=f"{run.job.key}: predicted to finish around "
                        f"{estimate.astimezone(zone):%H:%M %Z}, after its "
                        f"{deadline.astimezone(zone):%H:%M %Z} deadline ({slo.name})",
                    )
                )
    return signals_emit(signals)


STATE_FIELDS = [
    "good",
    "total",
    "sli",
    "budget_total",
    "budget_remaining_ratio",
    "burn_rates",
    "status",
    "history",
    "evaluated_at",
    "changed_at",
    "checked_at",
    "next_change_at",
]


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


def _check_margin() -> timedelta:
    """Runs written this close before a state's last check are looked at again: a writer's
    transaction that set ``updated_at`` before the check but committed after the pass read
    (so the margin must exceed the longest run-writing transaction), and clock skew."""
    return timedelta(seconds=settings.BATCHWATCH_SLO_CHECK_MARGIN_SECONDS)


def next_deadline(slo: SLO, now: datetime) -> datetime:
    """The next instant after ``now`` at which one of the SLO's daily deadlines passes."""
    zone = ZoneInfo(slo.deadline_timezone)
    day = now.astimezone(zone).date()
    for offset in range(3):
        at = datetime.combine(day + timedelta(days=offset), slo.deadline_time or time(0), zone)
        if at.astimezone(UTC) > now:
            return at.astimezone(UTC)
    raise AssertionError("a daily deadline always comes within two days")


def next_change(slo: SLO, runs, window: list[Verdict], *, now: datetime) -> datetime | None:
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


def _apply_evaluation(state: SLOState, slo: SLO, job: Job, result: Evaluation, now: datetime):
    """Copy the result onto the state; the signal for a change of status, if any."""
    changed = state.status != result.status
    for field in STATE_FIELDS[:8]:
        setattr(state, field, getattr(result, field))
    state.evaluated_at = now
    if not changed:
        return None
    previous, state.changed_at = state.changed_at, now
    if result.status == SLOState.Status.NO_DATA or (
        result.status == SLOState.Status.OK and previous is None
    ):
        return None  # no news: a new SLO that starts healthy, or nothing judged yet
    return signal_build(
        run=None,
        job=job,
        kind=Signal.Kind.SLO,
        severity=SEVERITY[result.status],
        now=now,
        key_suffix=f"{slo.slug}:{result.status}:{now.isoformat()}",
        extra_labels={"slo": slo.slug},
        summary=f"SLO {slo.name} for {job.key} is {result.status}: SLI {result.sli:.1%} "
        f"against {slo.objective}% over {result.total} run(s); "
        f"{max(result.budget_remaining_ratio, 0):.0%} of the error budget left",
    )


@transaction.atomic
def slo_evaluate_jobs(slo: SLO, jobs: list[Job], *, now: datetime, wall=None) -> int:
    """One SLO for many jobs: one query for their runs, bulk writes for their states.

    Returns how many states changed (figures or status)."""
    states = {s.job_id: s for s in _locked_states(slos=[slo], jobs=jobs)}
    return _evaluate_jobs(slo, jobs, states, now=now, wall=wall or timezone.now())


def _locked_states(*, slos: list[SLO], jobs) -> list[SLOState]:
    """The states of these SLOs for these jobs, locked: the tick and an ingest evaluating the
    same states wait for each other (one signal per change). Every evaluator locks all it
    evaluates in one statement, in primary-key order, so that two cannot deadlock."""
    return list(
        SLOState.objects.select_for_update().filter(slo__in=slos, job__in=jobs).order_by("pk")
    )


def _evaluate_jobs(
    slo: SLO, jobs: list[Job], states: dict[int, SLOState], *, now: datetime, wall
) -> int:
    """``slo_evaluate_jobs`` in the caller's transaction, ``states`` (by job) locked by it."""
    runs_by_job = _runs_for_jobs(slo, [j.pk for j in jobs], now=now)
    new, changed, touched, signals = [], [], [], []
    for job in jobs:
        runs = runs_by_job.get(job.pk, [])
        window = _window(slo, verdicts(slo, runs, now=now), now=now)
        result = evaluate_window(slo, window)
        state = states.get(job.pk)
        before = None
        if state is None:
            state = SLOState(slo=slo, job=job)
            new.append(state)
        else:
            before = [getattr(state, f) for f in STATE_FIELDS[:8]]
        signal = _apply_evaluation(state, slo, job, result, now)
        if signal is not None:
            signals.append(signal)
        state.checked_at = wall
        state.next_change_at = next_change(slo, runs, window, now=now)
        if before is not None:
            (
                changed if before != [getattr(state, f) for f in STATE_FIELDS[:8]] else touched
            ).append(state)
    SLOState.objects.bulk_create(new, ignore_conflicts=True)
    SLOState.objects.bulk_update(changed, STATE_FIELDS, batch_size=500)
    # Unchanged figures: one UPDATE per distinct next_change_at (most share one per SLO).
    by_next: dict[datetime | None, list[int]] = {}
    for state in touched:
        by_next.setdefault(state.next_change_at, []).append(state.pk)
    for next_change_at, pks in by_next.items():
        for i in range(0, len(pks), 5000):
            SLOState.objects.filter(pk__in=pks[i : i + 5000]).update(
                evaluated_at=now, checked_at=wall, next_change_at=next_change_at
            )
    signals_emit(signals)
    return len(new) + len(changed)


@dataclass(frozen=True)
class _Checked:
    pk: int
    evaluated_at: datetime | None
    checked_at: datetime | None
    next_change_at: datetime | None


def _needs_evaluation(
    state: _Checked | None, slo: SLO, changed_at, now: datetime, margin: timedelta
) -> bool:
    """Whether a (SLO, job) state may be out of date as of ``now``."""
    if state is None or state.checked_at is None or state.evaluated_at is None:
        return True
    since = state.checked_at - margin
    return (
        now < state.evaluated_at  # evaluating an earlier instant (a backfill, --at)
        or (state.next_change_at is not None and now >= state.next_change_at)
        or slo.updated_at > since  # the SLO was edited
        or (changed_at is not None and changed_at > since)  # a run of the job changed
    )


def slo_evaluate(now: datetime) -> dict[str, int]:
    """Every active SLO for every job it covers, as of ``now``.

    Incremental: a state is evaluated again only when a run of its job changed since it was
    last checked, its SLO was edited, or time alone may change it (``next_change_at``);
    every other state is confirmed as of ``now`` with one bulk update.
    """
    wall, margin = timezone.now(), _check_margin()
    checked: dict[tuple[int, int], _Checked] = {
        (slo_id, job_id): _Checked(pk, evaluated_at, checked_at, next_change_at)
        for pk, slo_id, job_id, evaluated_at, checked_at, next_change_at in (
            SLOState.objects.values_list(
                "pk", "slo_id", "job_id", "evaluated_at", "checked_at", "next_change_at"
            )
        )
    }
    oldest = min((c.checked_at for c in checked.values() if c.checked_at), default=None)
    runs_changed: dict[int, datetime] = {}
    if oldest is not None:
        runs_changed = dict(
            Run.objects.filter(updated_at__gt=oldest - margin)
            .values("job_id")
            .annotate(latest=Max("updated_at"))
            .values_list("job_id", "latest")
        )
    changed, evaluated, confirmed = 0, 0, []
    deadline_pairs: list[tuple[SLO, Job]] = []
    slos = list(SLO.objects.filter(is_active=True).select_related("job__owner_team", "team"))
    active = list(Job.objects.filter(is_active=True).select_related("owner_team"))
    by_team = jobs_by_team(active)
    for slo in slos:
        jobs = slo_jobs_among(slo, active, by_team)
        stale = []
        for job in jobs:
            state = checked.get((slo.pk, job.pk))
            if _needs_evaluation(state, slo, runs_changed.get(job.pk), now, margin):
                stale.append(job)
            else:
                confirmed.append(state.pk)
        if stale:
            changed += slo_evaluate_jobs(slo, stale, now=now, wall=wall)
            evaluated += len(stale)
        deadline_pairs += [(slo, job) for job in jobs if slo.kind == SLO.Kind.DEADLINE]
    for i in range(0, len(confirmed), 5000):
        SLOState.objects.filter(pk__in=confirmed[i : i + 5000]).update(
            evaluated_at=now, checked_at=wall
        )
    with transaction.atomic():
        predicted = predicted_misses_many(deadline_pairs, now=now)
    return {
        "slo_states": evaluated,
        "slo_states_unchanged": len(confirmed),
        "slo_states_changed": changed,
        "predicted_misses": predicted,
    }


def evaluate_all(now: datetime) -> dict[str, int]:
    """The ledger, then the SLOs, as of ``now``: what the CLI and the schedulers run; then a
    fresh /metrics snapshot of what changed."""
    from batchwatch.runs.ledger import evaluate
    from batchwatch.slo.metrics import snapshot_state

    result = {**evaluate(now), **slo_evaluate(now)}
    ledger_changed = any(result.get(k) for k in ("expected", "late", "missed", "overran"))
    snapshot_state(changed=ledger_changed or bool(result["slo_states_changed"]))
    return result


@transaction.atomic
def slo_save(slo: SLO) -> SLO:
    """Create or update an SLO, validated as in admin and YAML (``clean`` included)."""
    slo.full_clean()
    slo.save()
    return slo
