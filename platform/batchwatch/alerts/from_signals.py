"""Our own signals (the ledger's judgements, SLO changes) as alerts.

The intake claims signals not routed yet, turns each into an alert event and hands them to
``alerts_receive`` like any integration's. A batch job's alert resolves when the job
recovers: a late start when the run starts, a failure (or miss, overrun) when a later run
succeeds, an SLO alert when the SLO is back to ok, a predicted miss when it is cleared.

* One occurrence's late start and its miss are **one alert** (fingerprint
  ``not_started:run<id>``): the miss updates the late-start alert, whose severity escalates
  (warning → critical) in whatever incident holds it, instead of firing a second alert.
* A signal about a run older than the job's latest successful run (or a failure of a run
  that has since succeeded on a retry) is **superseded**: recorded as routed, never an
  alert, so it opens no incident and pages nobody about what has already recovered.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Max

from batchwatch.alerts.models import Alert
from batchwatch.alerts.services import SIGNALS_SOURCE, alerts_receive
from batchwatch.alerts.wire import RESOLVE, TRIGGER, AlertEvent
from batchwatch.runs.models import Run, RunState, Signal

ALERTNAMES: dict[str, str] = {
    Signal.Kind.MISSED: "BatchJobMissed",
    Signal.Kind.LATE_START: "BatchJobLateStart",
    Signal.Kind.OVERRAN: "BatchJobOverran",
    Signal.Kind.TOO_FAST: "BatchJobTooFast",
    Signal.Kind.FAILED: "BatchJobFailed",
    Signal.Kind.RETRIED: "BatchJobRetried",
    Signal.Kind.SLO: "BatchSLO",
    Signal.Kind.PREDICTED_MISS: "BatchPredictedMiss",
}
# Signals older than this when first seen (a backlog after downtime, demo history) are
# recorded as routed without paging anyone about the past.
MAX_AGE = timedelta(hours=1)
RECOVER_ON_SUCCESS: set[str] = {
    Signal.Kind.FAILED,
    Signal.Kind.MISSED,
    Signal.Kind.OVERRAN,
    Signal.Kind.LATE_START,
    Signal.Kind.RETRIED,
    Signal.Kind.TOO_FAST,
}


# One occurrence that has not started: late first, then missed, as the same alert.
NOT_STARTED: set[str] = {Signal.Kind.LATE_START, Signal.Kind.MISSED}
# A signal about a run that has itself succeeded since (on a retry) is superseded too; not
# the kinds said of a succeeded run (overran, too fast, and retried: the informational
# "failed on try 1 of 2, then succeeded" is the point of that signal).
SUPERSEDED_BY_OWN_SUCCESS: set[str] = {
    Signal.Kind.FAILED,
    Signal.Kind.MISSED,
    Signal.Kind.LATE_START,
}


def fingerprint_of(signal: Signal) -> str:
    """The alert identity of a signal: its dedup key, but one per occurrence that has not
    started (late start, then missed) and one per (job, SLO)."""
    if signal.kind in NOT_STARTED and signal.run_id:
        return f"not_started:run{signal.run_id}"
    if signal.kind == Signal.Kind.SLO:
        # "slo:job<pk>:<slug>:<status>:<time>": one alert per (job, SLO), ok resolves it.
        return ":".join(signal.dedup_key.split(":", 4)[:3])
    return signal.dedup_key


def _run_time(run: Run) -> datetime | None:
    return run.started_at or run.scheduled_at or run.expected_at


def signals_superseded(signals: list[Signal]) -> set[int]:
    """The ids of those ``signals`` a success of their job has overtaken: their run has
    succeeded since, or the job's latest successful run started after their run's time.
    (Their runs must be set on them, as ``signals_route`` does: one query for all.)"""
    about_runs = [s for s in signals if s.kind in RECOVER_ON_SUCCESS and s.run is not None]
    if not about_runs:
        return set()
    latest = dict(
        Run.objects.filter(
            job_id__in={s.job_id for s in about_runs},
            state=RunState.SUCCEEDED,
            started_at__isnull=False,
        )
        .values("job_id")
        .annotate(latest=Max("started_at"))
        .values_list("job_id", "latest")
    )
    superseded = set()
    for signal in about_runs:
        run = signal.run
        assert run is not None  # (filtered above)
        if signal.kind in SUPERSEDED_BY_OWN_SUCCESS and run.state == RunState.SUCCEEDED:
            superseded.add(signal.pk)
            continue
        success, when = latest.get(signal.job_id), _run_time(run)
        if success is not None and when is not None and success > when:
            superseded.add(signal.pk)
    return superseded


def _with_attempts(signal: Signal) -> tuple[str, str]:
    """The signal's summary with what became of each try of its run ("failed on try 1 of 2
    (OOM), then succeeded"), and that sentence; the summary alone for a run of one try."""
    run = signal.run
    story = run.attempts_story if run is not None else ""
    if not story or story in signal.summary:
        return signal.summary, story
    return f"{signal.summary} — {story}"[:500], story


def _event(signal: Signal) -> AlertEvent:
    labels = {**signal.labels, "alertname": ALERTNAMES.get(signal.kind, "BatchSignal")}
    fingerprint, action = fingerprint_of(signal), TRIGGER
    if signal.kind == Signal.Kind.SLO:
        parts = signal.dedup_key.split(":", 4)
        if len(parts) > 3 and parts[3] == "ok":
            action = RESOLVE
    if signal.resolved:
        action = RESOLVE
    annotations = {f"{name}_url": url for name, url in (signal.links or {}).items() if url}
    summary, story = _with_attempts(signal)
    if story:
        annotations["attempts"] = story
    return AlertEvent(
        action=action,
        labels=labels,
        fingerprint=fingerprint,
        annotations={"summary": summary, **annotations},
        summary=summary,
        severity=signal.severity,
        starts_at=signal.created_at,
    )


def signals_route(*, now: datetime, limit: int = 2000) -> int:
    """Claim unrouted signals and route them; returns how many were claimed."""
    with transaction.atomic():
        query = Signal.objects.filter(routed_at__isnull=True).order_by("created_at", "id")
        if connection.vendor == "postgresql":
            query = query.select_for_update(skip_locked=True)
        signals = list(query.select_related("job")[:limit])
        if not signals:
            return 0
        # Their runs in one more query (what became of each try goes into the alert): joined
        # above, the nullable side of the join could not be locked FOR UPDATE.
        runs = Run.objects.in_bulk({s.run_id for s in signals if s.run_id})
        for signal in signals:
            if signal.run_id:
                signal.run = runs.get(signal.run_id)
        Signal.objects.filter(pk__in=[s.pk for s in signals]).update(routed_at=now)
        superseded = signals_superseded(signals)
        fresh = [s for s in signals if now - s.created_at <= MAX_AGE and s.pk not in superseded]
        pairs = [(_event(s), s) for s in fresh]
        alerts_receive(
            events=[event for event, _ in pairs],
            source=SIGNALS_SOURCE,
            now=now,
            job_by_fingerprint={event.fingerprint: s.job for event, s in pairs},
            signal_by_fingerprint={event.fingerprint: s.pk for event, s in pairs},
        )
    return len(signals)


def signal_alerts_recover(*, now: datetime) -> int:
    """Resolve firing signal alerts whose job recovered; returns how many."""
    firing = list(
        Alert.objects.filter(
            source=SIGNALS_SOURCE, status=Alert.Status.FIRING, signal__isnull=False
        ).select_related("signal__run")
    )
    if not firing:
        return 0
    last_success = dict(
        Run.objects.filter(job_id__in={a.job_id for a in firing}, state=RunState.SUCCEEDED)
        .values("job_id")
        .annotate(latest=Max("ended_at"))
        .values_list("job_id", "latest")
    )
    recovered = []
    for alert in firing:
        signal = alert.signal
        if signal is None:  # (the query's signal__isnull=False leaves none)
            continue
        run = signal.run
        success = last_success.get(alert.job_id) if alert.job_id is not None else None
        if (
            signal.resolved
            or (signal.kind == Signal.Kind.LATE_START and run and run.started_at)
            or (signal.kind == Signal.Kind.OVERRAN and run and run.ended_at)
            or (signal.kind in RECOVER_ON_SUCCESS and success and success > alert.starts_at)
        ):
            # The run's tries as they ended ("failed on try 1 of 2, then succeeded") replace
            # what the alert said while it fired.
            summary, story = _with_attempts(signal)
            recovered.append(
                AlertEvent(
                    action=RESOLVE,
                    labels={},
                    fingerprint=alert.fingerprint,
                    annotations={**alert.annotations, "summary": summary, "attempts": story}
                    if story
                    else {},
                    summary=summary if story else "",
                )
            )
    if recovered:
        alerts_receive(events=recovered, source=SIGNALS_SOURCE, now=now)
    return len(recovered)
