"""Predicted deadline misses: a warning before a run is late, cleared if it was not."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from batchwatch.catalog.models import Job
from batchwatch.runs.ledger import signal_build, signals_emit
from batchwatch.runs.models import Signal
from batchwatch.slo.models import SLO
from batchwatch.slo.selectors import pending_runs, recent_durations
from batchwatch.slo.sli import finished_in_time, predicted_end, typical_duration

HISTORY_FOR_PREDICTION = 20


def predicted_misses_many(pairs: list[tuple[SLO, Job]], *, now: datetime) -> int:
    """Warn about runs predicted to miss their deadline; clear warnings that did not come true.

    The estimate: start (or now, for a run not started) plus the 90th percentile of the job's
    last 20 successful durations (``sli.predicted_end``). A warning is raised once the
    deadline is within that estimate plus the SLO's prediction lead, and cleared when the run
    succeeds in time. Three queries for any number of (deadline SLO, job) pairs, plus one
    UPDATE per warning cleared. Returns how many warnings were emitted.
    """
    slo_by_job: dict[int, list[SLO]] = {}
    for slo, job in pairs:
        if slo.kind == SLO.Kind.DEADLINE:
            slo_by_job.setdefault(job.pk, []).append(slo)
    if not slo_by_job:
        return 0
    _clear_come_true(slo_by_job)
    pending = pending_runs(set(slo_by_job), now=now)
    if not pending:
        return 0
    durations = recent_durations({r.job_id for r in pending}, newest=HISTORY_FOR_PREDICTION)
    signals = []
    for run in pending:
        typical = typical_duration(durations.get(run.job_id, []))
        if typical is None:
            continue
        for slo in slo_by_job[run.job_id]:
            predicted = predicted_end(slo, run, typical, now=now)
            if predicted is not None:
                signals.append(_warning(slo, run, *predicted, now=now))
    return signals_emit(signals)


def _clear_come_true(slo_by_job: dict[int, list[SLO]]) -> None:
    """Resolve the open warnings whose run has since succeeded in time."""
    for signal in Signal.objects.filter(
        job_id__in=list(slo_by_job), kind=Signal.Kind.PREDICTED_MISS, resolved=False
    ).select_related("run"):
        slug = signal.labels.get("slo")
        slo = next((s for s in slo_by_job.get(signal.job_id, []) if s.slug == slug), None)
        if slo and signal.run and finished_in_time(slo, signal.run):
            signal.resolved = True
            signal.save(update_fields=["resolved"])


def _warning(slo: SLO, run, estimate: datetime, deadline: datetime, *, now: datetime):
    zone = ZoneInfo(slo.deadline_timezone)
    return signal_build(
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
