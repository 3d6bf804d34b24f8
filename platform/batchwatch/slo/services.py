"""SLO evaluation, counted in runs. Writes SLOState rows and emits signals on changes.

One path evaluates states, ``_evaluate_states``: the periodic tick (``slo_evaluate``) calls it
for the states that may be out of date, and ingest (``slo_evaluate_after_runs``) for the SLOs
of the jobs whose runs just finished. The maths is in ``slo.sli``, the reads in
``slo.selectors``, deadline predictions in ``slo.predictions``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from batchwatch.catalog.models import Job
from batchwatch.runs.ledger import evaluate as ledger_evaluate
from batchwatch.runs.ledger import signal_build, signals_emit
from batchwatch.runs.models import Run, RunState, Signal
from batchwatch.runs.selectors_grid import HEALTH, base_health, job_runs_grid
from batchwatch.slo.metrics import snapshot_state
from batchwatch.slo.models import SLO, JobHealth, SLOState
from batchwatch.slo.predictions import predicted_misses_many
from batchwatch.slo.selectors import (
    Checked,
    jobs_by_team,
    runs_changed_since,
    slo_covers,
    slo_jobs_among,
    slos_for_jobs,
    states_checked,
    window_runs,
)
from batchwatch.slo.sli import (
    FIGURES,
    Evaluation,
    days_read,
    evaluate_window,
    next_change,
    runs_needed,
    verdicts,
    window_of,
)

logger = logging.getLogger("batchwatch.slo")

STATE_FIELDS = [*FIGURES, "evaluated_at", "changed_at", "checked_at", "next_change_at"]

SEVERITY = {
    SLOState.Status.BREACHED: Signal.Severity.CRITICAL,
    SLOState.Status.WARNING: Signal.Severity.WARNING,
    SLOState.Status.OK: Signal.Severity.INFO,
}

# SLOs, each with the jobs to evaluate it for.
Covered = list[tuple[SLO, list[Job]]]

# Run states whose verdict an SLO counts: a run reaching one may change its job's SLOs.
FINISHED = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.MISSED})

# Up to this many changed states are written with one plain UPDATE each (cheaper than
# bulk_update's CASE for a few rows: what an ingest evaluating one job's SLOs writes).
FEW = 10


def _locked_states(*, slos: list[SLO], jobs) -> list[SLOState]:
    """The states of these SLOs for these jobs, locked: the tick and an ingest evaluating the
    same states wait for each other (one signal per change). Every evaluator locks all it
    evaluates in one statement, in primary-key order, so that two cannot deadlock."""
    return list(
        SLOState.objects.select_for_update().filter(slo__in=slos, job__in=jobs).order_by("pk")
    )


def _runs_by_slo(covered: Covered, *, now: datetime) -> dict[int, dict[int, list]]:
    """The runs each SLO's window needs, by SLO and job. SLOs counted in runs over the same
    jobs (one job's SLOs, at ingest) share one query, which reads as many runs as the
    largest needs."""
    out: dict[int, dict[int, list]] = {}
    by_jobs: dict[frozenset[int], list[SLO]] = {}
    for slo, jobs in covered:
        if slo.window_unit == SLO.WindowUnit.DAYS:
            out[slo.pk] = window_runs([j.pk for j in jobs], now=now, days=days_read(slo))
        else:
            by_jobs.setdefault(frozenset(j.pk for j in jobs), []).append(slo)
    for job_ids, slos in by_jobs.items():
        newest = max(runs_needed(slo) for slo in slos)
        runs = window_runs(sorted(job_ids), now=now, newest=newest)
        for slo in slos:
            need = runs_needed(slo)
            out[slo.pk] = runs if need == newest else {job: rs[:need] for job, rs in runs.items()}
    return out


def _apply_evaluation(state: SLOState, slo: SLO, job: Job, result: Evaluation, now: datetime):
    """Copy the result onto the state; the signal for a change of status, if any."""
    changed = state.status != result.status
    for field in FIGURES:
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


def _evaluate_states(covered: Covered, *, now: datetime, wall: datetime) -> int:
    """Each SLO for the jobs it covers (``covered``), as of ``now``, in the caller's
    transaction: one statement locks their states, one query per SLO window reads the runs
    (windows counted in runs over the same jobs share one), bulk writes store the states,
    and a change of status emits its signal. ``wall``: when the states were checked.

    Returns how many states are new or changed (figures or status)."""
    jobs = {j.pk: j for _, js in covered for j in js}
    locked = {
        (s.slo_id, s.job_id): s
        for s in _locked_states(slos=[slo for slo, _ in covered], jobs=list(jobs.values()))
    }
    runs_by_slo = _runs_by_slo(covered, now=now)
    new, changed, touched, signals = [], [], [], []
    for slo, js in covered:
        for job in js:
            runs = runs_by_slo[slo.pk].get(job.pk, [])
            window = window_of(slo, verdicts(slo, runs, now=now), now=now)
            state = locked.get((slo.pk, job.pk))
            if state is None:
                state = SLOState(slo=slo, job=job)
                new.append(state)
                before = None
            else:
                before = [getattr(state, f) for f in FIGURES]
            signal = _apply_evaluation(state, slo, job, evaluate_window(slo, window), now)
            if signal is not None:
                signals.append(signal)
            state.checked_at = wall
            state.next_change_at = next_change(slo, runs, window, now=now)
            if before is not None:
                same = before == [getattr(state, f) for f in FIGURES]
                (touched if same else changed).append(state)
    _write_states(new, changed, touched, now=now, wall=wall)
    signals_emit(signals)
    return len(new) + len(changed)


def _write_states(new, changed, touched, *, now: datetime, wall: datetime) -> None:
    """Insert the new states, update the changed ones, and mark the unchanged as evaluated
    and checked: one UPDATE per distinct next_change_at (most share one per SLO)."""
    SLOState.objects.bulk_create(new, ignore_conflicts=True)
    if len(changed) <= FEW:
        for state in changed:
            state.save(update_fields=STATE_FIELDS)
    else:
        SLOState.objects.bulk_update(changed, STATE_FIELDS, batch_size=500)
    by_next: dict[datetime | None, list[int]] = {}
    for state in touched:
        by_next.setdefault(state.next_change_at, []).append(state.pk)
    for next_change_at, pks in by_next.items():
        for i in range(0, len(pks), 5000):
            SLOState.objects.filter(pk__in=pks[i : i + 5000]).update(
                evaluated_at=now, checked_at=wall, next_change_at=next_change_at
            )


def _covered_jobs(slo: SLO, jobs) -> list[Job]:
    """Which of these jobs the SLO covers, as the tick counts them (``slo_jobs_among``): an
    SLO on one job covers it, one over a team or labels covers active jobs only."""
    return [j for j in jobs if (slo.job_id is not None or j.is_active) and slo_covers(slo, j)]


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
    slos = slos_for_jobs(jobs)
    if not slos:
        return 0
    covered = [(slo, js) for slo in slos if (js := _covered_jobs(slo, jobs.values()))]
    try:
        with transaction.atomic():
            _evaluate_states(covered, now=now, wall=timezone.now())
            return sum(len(js) for _, js in covered)
    except (OperationalError, InterfaceError) as exc:
        if not connection.is_usable():
            raise
        logger.warning("slo.evaluate_after_runs_failed", extra={"error": str(exc)[:200]})
    except Exception:
        logger.exception("slo.evaluate_after_runs_failed", extra={"jobs": sorted(jobs)[:20]})
    return 0


def _check_margin() -> timedelta:
    """Runs written this close before a state's last check are looked at again: a writer's
    transaction that set ``updated_at`` before the check but committed after the pass read
    (so the margin must exceed the longest run-writing transaction), and clock skew."""
    return timedelta(seconds=settings.BATCHWATCH_SLO_CHECK_MARGIN_SECONDS)


def _needs_evaluation(
    state: Checked | None, slo: SLO, changed_at, now: datetime, margin: timedelta
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
    every other state is confirmed as of ``now`` with one bulk update. Each SLO's states are
    evaluated in a transaction of their own.
    """
    wall, margin = timezone.now(), _check_margin()
    checked = states_checked()
    oldest = min((c.checked_at for c in checked.values() if c.checked_at), default=None)
    runs_changed = runs_changed_since(oldest - margin if oldest is not None else None)
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
            with transaction.atomic():
                changed += _evaluate_states([(slo, stale)], now=now, wall=wall)
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
    result = {**ledger_evaluate(now), **slo_evaluate(now)}
    ledger_changed = any(result.get(k) for k in ("expected", "late", "missed", "overran"))
    snapshot_state(changed=ledger_changed or bool(result["slo_states_changed"]))
    return result


def job_health_refresh(now: datetime) -> int:
    """Bring the jobs' health rows (:class:`JobHealth`) up to date as of ``now``: of the jobs
    whose runs were written since their last check (less the check margin, as for SLO
    states), whose next occurrence came due, or that have none yet. Returns how many were
    computed; four queries when none was stale, the grid's reads of the stale jobs else."""
    wall, margin = timezone.now(), _check_margin()
    last = JobHealth.objects.aggregate(last=Max("checked_at"))["last"]
    changed = runs_changed_since(last - margin if last is not None else None)
    checked = dict(
        JobHealth.objects.filter(job_id__in=list(changed)).values_list("job_id", "checked_at")
    )
    stale = {
        job_id
        for job_id, written in changed.items()
        if job_id not in checked or written > checked[job_id] - margin
    }
    due = Q(health__isnull=True) | Q(health__next_change_at__lte=now)
    stale.update(Job.objects.filter(due).values_list("pk", flat=True))
    ordered = sorted(stale)
    for i in range(0, len(ordered), 2000):  # (the first pass reads every job's squares)
        chunk = ordered[i : i + 2000]
        grid = job_runs_grid(chunk, now=now)
        rows = [
            JobHealth(
                job_id=job_id,
                rank=HEALTH.index(base_health(grid[job_id])),
                checked_at=wall,
                next_change_at=grid[job_id].next_expected,
            )
            for job_id in chunk
            if job_id in grid
        ]
        JobHealth.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["job"],
            update_fields=["rank", "checked_at", "next_change_at"],
        )
    return len(ordered)


@transaction.atomic
def slo_save(slo: SLO) -> SLO:
    """Create or update an SLO, validated as in admin and YAML (``clean`` included)."""
    slo.full_clean()
    slo.save()
    return slo
