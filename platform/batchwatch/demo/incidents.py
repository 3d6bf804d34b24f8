"""The demo's incidents: its history replayed through the alerting services at the instants
it happened (resolved long ago, their pages in the inbox), and one current incident paging
the on-call engineer of Ledger & Accounting now.

Everything goes through the same services as live alerts (signals routed, timers run,
acknowledged, recovered): the timelines, pages and escalations are the product's own.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from batchwatch.alerts.from_signals import signal_alerts_recover, signals_route
from batchwatch.alerts.models import Incident
from batchwatch.alerts.services import incident_acknowledge, incident_resolve, timers_run_due
from batchwatch.catalog.models import Job
from batchwatch.demo.engines import failure_reason
from batchwatch.demo.history import History, finished, spans_for
from batchwatch.notify.models import Notification
from batchwatch.notify.services import deliver_due
from batchwatch.runs.ledger import occurrences as scheduled_between
from batchwatch.runs.models import Run, RunSource, Signal
from batchwatch.runs.observations import RunObservation
from batchwatch.runs.services import runs_record, spans_store

# The current incident: a job that runs every four hours, so "it failed minutes ago" is true
# whatever the hour the demo starts.
CURRENT_JOB = "temporal:payments/disbursement_reconciliation"
# How long ago the current run failed when the demo loads (less when it started later: it
# is the latest occurrence's, so the job's next run, hours away, is what recovers it).
CURRENT_AGE = timedelta(minutes=6)

# How many of the history's failures become (resolved) incidents: the latest few.
REPLAYED = 4


def signals_settle(*, now: datetime, keep: Signal | None = None) -> int:
    """The history's signals are old news: taken in as routed, paging nobody (but ``keep``)."""
    unrouted = Signal.objects.filter(routed_at__isnull=True)
    if keep is not None:
        unrouted = unrouted.exclude(pk=keep.pk)
    return unrouted.update(routed_at=now)


def _step(now: datetime) -> None:
    """What the scheduler would do at ``now``: due timers, then due deliveries."""
    timers_run_due(now=now)
    deliver_due(now=now)


class _Recorder:
    """Records the history's runs in the order they ended, up to an instant at a time, as
    the engines would have reported them."""

    def __init__(self, history: History, now: datetime) -> None:
        self.pending = list(history.observations)
        self.now = now

    def until(self, instant: datetime) -> None:
        batch = [o for o in self.pending if finished(o, self.now) <= instant]
        if batch:
            self.pending = self.pending[len(batch) :]
            runs_record(batch, seen_at=instant)

    def rest(self) -> int:
        batch, self.pending = self.pending, []
        runs_record(batch, seen_at=self.now)
        return len(batch)


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    """The history's incidents and pages are not news: kept out of the terminal's log."""
    logger = logging.getLogger("batchwatch")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def record_and_replay(history: History, *, now: datetime) -> int:
    """Record the history in order; its latest failures become incidents as they happened:
    opened, paged, acknowledged by the person paged, resolved when the re-run succeeded.
    Every other judgement of the past is old news. Returns how many runs were recorded."""
    with _quietly():
        return _record_and_replay(history, now=now)


def _record_and_replay(history: History, *, now: datetime) -> int:
    recorder = _Recorder(history, now)
    total = len(history.observations)
    for failed, rerun in history.failures[-REPLAYED:]:
        failed_at, recovered_at = finished(failed, now), finished(rerun, now)
        recorder.until(failed_at)
        signal = Signal.objects.filter(
            run__job__key=failed.job_key,
            run__external_id=failed.external_id,
            kind=Signal.Kind.FAILED,
            routed_at__isnull=True,
        ).first()
        signals_settle(now=failed_at, keep=signal)
        if signal is None:
            continue
        signals_route(now=failed_at + timedelta(seconds=5))
        for delay in (40, 70):
            _step(failed_at + timedelta(seconds=delay))
        incident = Incident.objects.filter(alerts__signal=signal).first()
        if incident is None:
            continue
        paged = (
            Notification.objects.filter(incident=incident, user__isnull=False)
            .order_by("created_at")
            .first()
        )
        person = paged.user if paged is not None else None
        incident_acknowledge(incident, now=failed_at + timedelta(minutes=4), actor=person)
        recorder.until(recovered_at)
        signals_settle(now=recovered_at)
        signal_alerts_recover(now=recovered_at + timedelta(seconds=10))
        for delay in (10, 70, 6 * 60):
            _step(recovered_at + timedelta(seconds=delay))
        incident.refresh_from_db()
        if incident.state != Incident.State.RESOLVED:
            incident_resolve(
                incident, now=recovered_at + timedelta(minutes=7), actor=person, force=True
            )
            _step(recovered_at + timedelta(minutes=8))
    recorder.rest()
    spans_store(history.spans)
    return total


def record_current_failure(*, now: datetime) -> Signal | None:
    """A Temporal workflow that failed minutes ago (its run recorded, its signal not routed
    yet: :func:`open_current_incident`). Nothing when an incident is already open (loading
    again leaves one) or its run is known (loaded again within the same four hours)."""
    if Incident.objects.exclude(state=Incident.State.RESOLVED).exists():
        return None
    job = Job.objects.filter(key=CURRENT_JOB).first()
    scheduled = current_occurrence(job, now=now) if job is not None else None
    if job is None or scheduled is None:
        return None
    if Run.objects.filter(job=job, scheduled_at=scheduled, started_at__isnull=False).exists():
        return None
    external_id = f"scheduled__{scheduled.isoformat()}"
    # (An occurrence of the last minutes started a little early: it has had time to fail.)
    started = min(scheduled + timedelta(seconds=40), now - timedelta(seconds=100))
    rng = random.Random(int(scheduled.timestamp()))  # noqa: S311 - demo data, not secrets
    failed = RunObservation(
        engine=job.engine,
        namespace=job.namespace,
        job_name=job.name,
        external_id=external_id,
        source=RunSource.OPENLINEAGE,
        state="failed",
        scheduled_at=scheduled,
        started_at=started,
        ended_at=max(started + timedelta(seconds=60), now - CURRENT_AGE),
        failure_reason=failure_reason(job.engine),
        # Traced: the incident links its run's trace, where the failing activity shows.
        trace_id=f"{rng.getrandbits(128):032x}",
        root_span_id=f"{rng.getrandbits(64):016x}",
    )
    runs_record([failed], seen_at=now)
    spans_store(spans_for(failed, rng))
    return Signal.objects.filter(
        run__job=job, run__external_id=external_id, kind=Signal.Kind.FAILED
    ).first()


def open_current_incident(signal: Signal | None, *, now: datetime) -> Incident | None:
    """Route the current failure's signal (everything else was settled as old news): its
    incident opens now and pages the on-call engineer once the group wait has passed (under
    ``serve``, into the inbox). Returns the open incident."""
    if signal is not None:
        signals_route(now=now)
    return Incident.objects.exclude(state=Incident.State.RESOLVED).first()


def current_occurrence(job: Job, *, now: datetime) -> datetime | None:
    """The occurrence of ``job`` whose run is the current incident's: its latest, so no run
    of the job is due (and recovers it) before hours have passed."""
    due = scheduled_between(job, now - timedelta(days=1), now)
    return due[-1] if due else None
