"""The ledger of expected runs: what the schedules promise, and what became of it.

* ``ledger_materialise`` writes each scheduled occurrence (cron in the job's IANA zone, so
  02:00 New York stays 02:00 across DST; calendar skip days left out) as a run in state
  ``scheduled`` ahead of time.
* Observed runs are matched to them in ``runs_record`` (by logical time, else by start time
  within the job's miss grace), so one row tells the whole story of an occurrence.
* ``ledger_sweep`` judges what time alone decides: late start, missed, overran. It needs no
  engine to be alive: silence is what it detects.
* ``judge_runs`` judges what a report decides: failed, too fast, retried.

Every judgement emits a signal once (``signal_emit``, deduplicated by key).
``evaluate(now)`` runs all of it; the CLI (`evaluate --at`), the embedded scheduler and Celery
beat call it with their notion of now.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Value
from django.db.models.expressions import CombinedExpression
from django.urls import get_script_prefix, get_urlconf
from django.utils import timezone

from batchwatch.catalog.links import job_dashboard_url
from batchwatch.catalog.models import Job
from batchwatch.catalog.selectors import schedule_occurrences
from batchwatch.core.links import absolute_url, absolute_urls_by_id
from batchwatch.runs.models import (
    Run,
    RunSource,
    RunState,
    Signal,
    expected_external_id,
)

logger = logging.getLogger("batchwatch.ledger")

LOOKAHEAD = timedelta(hours=24)
LOOKBACK = timedelta(days=2)  # how far back a first evaluation materialises


def occurrences(job: Job, start: datetime, end: datetime) -> list[datetime]:
    """Scheduled instants in (start, end]: the catalog's schedule walker."""
    return schedule_occurrences(job, start, end)


# Per process, per job: (schedule, last expectation, the next occurrence after it). A pass
# skips the schedule walk of a job whose schedule and last expectation are unchanged while
# that next occurrence is beyond the horizon (most jobs, most passes).
_NEXT_AFTER: dict[int, tuple[tuple, datetime, datetime]] = {}


def _schedule_key(job: Job) -> tuple:
    calendar = job.calendar
    skips = (repr(calendar.skip_weekdays), repr(calendar.skip_dates)) if calendar else None
    return (job.schedule_cron, job.schedule_timezone, skips)


def ledger_materialise(now: datetime, *, job_ids: list[int] | None = None) -> int:
    """Write expected runs from each scheduled job's last expectation up to now + lookahead."""
    jobs = Job.objects.filter(is_active=True).exclude(schedule_cron="").select_related("calendar")
    if job_ids is not None:
        jobs = jobs.filter(pk__in=job_ids)
    horizon = now + LOOKAHEAD
    latest = dict(
        Run.objects.filter(job__in=jobs, expected_at__isnull=False)
        .values("job_id")
        .annotate(last=Max("expected_at"))
        .values_list("job_id", "last")
    )
    created = 0
    batch: list[Run] = []
    for job in jobs.iterator(chunk_size=2000):
        since = latest.get(job.pk) or max(job.created_at, now - LOOKBACK)
        schedule = _schedule_key(job)
        known = _NEXT_AFTER.get(job.pk)
        if known is not None and known[:2] == (schedule, since) and known[2] > horizon:
            continue  # nothing new to expect yet: skip the schedule walk
        found = occurrences(job, since, horizon)
        last = found[-1] if found else since
        upcoming = schedule_occurrences(job, last, None, limit=1)
        if upcoming:
            _NEXT_AFTER[job.pk] = (schedule, last, upcoming[0])
        for scheduled in found:
            batch.append(
                Run(
                    job_id=job.pk,
                    external_id=expected_external_id(scheduled),
                    expected_at=scheduled,
                    state=RunState.SCHEDULED,
                    scheduled_at=scheduled,
                    source=RunSource.LEDGER,
                )
            )
        if len(batch) >= 5000:
            created += _insert_expected(batch)
            batch = []
    created += _insert_expected(batch)
    return created


def _insert_expected(batch: list[Run]) -> int:
    if not batch:
        return 0
    # An occurrence an engine already reported (matched earlier) is not expected again.
    Run.objects.bulk_create(batch, ignore_conflicts=True)
    return len(batch)


@dataclass
class SweepResult:
    late: int = 0
    missed: int = 0
    overran: int = 0


def ledger_sweep(now: datetime) -> SweepResult:
    """Judge what the clock decides: late starts, missed runs, overruns. Idempotent.

    Set-based: one read and one UPDATE per judgement, and one insert for all its signals, so a
    backlog of thousands of occurrences costs a few statements, not thousands.
    """
    waiting = Run.objects.filter(state=RunState.SCHEDULED, scheduled_at__lte=now).select_related(
        "job__owner_team"
    )
    late = _judge_all(
        waiting.filter(late_start=False, scheduled_at__lte=_before(now, "job__start_grace")),
        {"late_start": True},
        Signal.Kind.LATE_START,
        Signal.Severity.WARNING,
        now=now,
        summary=lambda run: (
            f"{run.job.key}: the run scheduled for {_local(run)} has not "
            f"started ({_ago(now - run.scheduled_at)} after its scheduled time)"
        ),
    )
    missed = _judge_all(
        waiting.filter(scheduled_at__lte=_before(now, "job__miss_grace")),
        {"state": RunState.MISSED, "late_start": True},
        Signal.Kind.MISSED,
        Signal.Severity.CRITICAL,
        now=now,
        summary=lambda run: f"{run.job.key}: the run scheduled for {_local(run)} never started",
    )
    overran = _judge_all(
        Run.objects.filter(
            state=RunState.RUNNING,
            overran=False,
            started_at__isnull=False,
            job__max_runtime__isnull=False,
            started_at__lte=_before(now, "job__max_runtime"),
        ).select_related("job__owner_team"),
        {"overran": True},
        Signal.Kind.OVERRAN,
        Signal.Severity.WARNING,
        now=now,
        summary=lambda run: (
            f"{run.job.key}: still running after {_ago(now - run.started_at)} "
            f"(maximum {_ago(run.job.max_runtime)})"
        ),
    )
    return SweepResult(late=late, missed=missed, overran=overran)


def _judge_all(runs, changes: dict, kind: str, severity: str, *, now: datetime, summary) -> int:
    """Apply one judgement to every run the query finds; signal each once. Returns new ones."""
    judged = list(runs)
    _update_in_chunks([r.pk for r in judged], **changes)
    urls = SignalUrls.make()
    return signals_emit(
        [
            signal_build(
                run=run, kind=kind, severity=severity, now=now, summary=summary(run), urls=urls
            )
            for run in judged
        ]
    )


def _update_in_chunks(pks: list[int], **values) -> None:
    for i in range(0, len(pks), 5000):
        Run.objects.filter(pk__in=pks[i : i + 5000]).update(**values, updated_at=timezone.now())


def judge_runs(runs: list[Run], *, now: datetime) -> None:
    """Judgements a report decides: failed, too fast, retried, overran (finished too late)."""
    for run in runs:
        job = run.job
        if run.state == RunState.FAILED:
            signal_emit(
                run=run,
                kind=Signal.Kind.FAILED,
                severity=Signal.Severity.CRITICAL,
                now=now,
                key_suffix=f"attempt{run.attempt}",
                summary=f"{job.key}: run failed: {run.failure_reason or 'no reason given'}"[:500],
            )
        if run.retried:
            signal_emit(
                run=run,
                kind=Signal.Kind.RETRIED,
                severity=Signal.Severity.INFO,
                now=now,
                key_suffix=f"attempt{run.attempt}",
                summary=f"{job.key}: {run.attempts_story or f'run is on attempt {run.attempt}'}"[
                    :500
                ],
            )
        if run.state == RunState.SUCCEEDED and run.duration_seconds is not None:
            took = timedelta(seconds=run.duration_seconds)
            if job.min_runtime and took < job.min_runtime:
                _judge(
                    run,
                    "too_fast",
                    Signal.Kind.TOO_FAST,
                    now=now,
                    summary=f"{job.key}: finished in {run.duration_seconds:.0f}s, under "
                    f"the {_ago(job.min_runtime)} minimum (empty input?)",
                )
            if job.max_runtime and took > job.max_runtime:
                _judge(
                    run,
                    "overran",
                    Signal.Kind.OVERRAN,
                    now=now,
                    summary=f"{job.key}: took {_ago(took)}, over the "
                    f"{_ago(job.max_runtime)} maximum",
                )


def _judge(run: Run, flag: str, kind: str, *, now: datetime, summary: str) -> None:
    """Set a judgement flag on the run (once) and signal it (once)."""
    if not getattr(run, flag):
        Run.objects.filter(pk=run.pk).update(**{flag: True}, updated_at=timezone.now())
        setattr(run, flag, True)
    signal_emit(run=run, kind=kind, severity=Signal.Severity.WARNING, now=now, summary=summary)


@dataclass(frozen=True)
class SignalUrls:
    """The links of many signals, each view reversed once (``absolute_urls_by_id``)."""

    run: Callable[[int | str], str]
    job: Callable[[int | str], str]
    trace: Callable[[int | str], str]
    runbook_for: str

    @classmethod
    def make(cls) -> SignalUrls:
        """The links as the base URL, URLconf and script prefix in force make them. Kept per
        process for each of those: a signal built on its own (an SLO's, at every change of
        status; a failed run's) would otherwise reverse its views again (three reverse()
        calls, ~0.2 ms, per signal)."""
        return _signal_urls(
            settings.BATCHWATCH_BASE_URL,
            settings.ROOT_URLCONF,
            get_urlconf(),
            get_script_prefix(),
        )


@functools.lru_cache(maxsize=16)
def _signal_urls(base_url: str, root_urlconf: str, urlconf: str | None, prefix: str) -> SignalUrls:
    """``SignalUrls`` for these settings (the arguments are the cache's key: what
    ``absolute_urls_by_id`` reads when it makes its text around an id)."""
    return SignalUrls(
        run=absolute_urls_by_id("web:run"),
        job=absolute_urls_by_id("web:job"),
        trace=absolute_urls_by_id("trace"),
        runbook_for=absolute_url("web:runbook-for"),
    )


def signal_build(
    *,
    run: Run | None,
    kind: str,
    severity: str,
    summary: str,
    now: datetime,
    key_suffix: str = "",
    job: Job | None = None,
    extra_labels: dict[str, str] | None = None,
    urls: SignalUrls | None = None,
) -> Signal:
    """A signal with the labels and links an alert needs to be routed and acted on.

    ``run`` may be None for a job-level signal (an SLO). The dedup key makes the same fact
    (this judgement of this run) a single signal however often it is judged. ``urls``: the
    views of the links, reversed once (``SignalUrls.make()``, the default).
    """
    if job is None:
        assert run is not None, "a signal is about a run or a job"
        job = run.job
    labels = {
        "team": job.owner_team.slug if job.owner_team else "",
        "job": job.key,
        "engine": job.engine,
        "severity": severity,
        "kind": kind,
        "tier": str(job.tier),
        **(extra_labels or {}),
    }
    urls = urls or SignalUrls.make()
    job_url = urls.job(job.pk)
    links = {
        "run": urls.run(run.pk) if run else "",
        "job": job_url,
        "trace": urls.trace(run.trace_id) if run and run.trace_id else "",
        # Resolved when opened: the most specific runbook at that time, with this run's values.
        "runbook": urls.runbook_for
        + "?"
        + urlencode({"kind": kind, **({"run": run.pk} if run else {"job": job.pk})}),
        "dashboard": job_dashboard_url(job, page_url=job_url),
    }
    subject = f"run{run.pk}" if run else f"job{job.pk}"
    dedup_key = f"{kind}:{subject}" + (f":{key_suffix}" if key_suffix else "")
    return Signal(
        kind=kind,
        severity=severity,
        job=job,
        run=run,
        summary=summary[:500],
        labels=labels,
        links=links,
        dedup_key=dedup_key,
        created_at=now,
    )


def signals_emit(signals: list[Signal]) -> int:
    """Record signals not recorded before (by dedup key); returns how many were new.

    The one entry point the alerting pipeline will take over.
    """
    if not signals:
        return 0
    keys = [s.dedup_key for s in signals]
    known = set(Signal.objects.filter(dedup_key__in=keys).values_list("dedup_key", flat=True))
    new = list({s.dedup_key: s for s in signals if s.dedup_key not in known}.values())
    Signal.objects.bulk_create(new, ignore_conflicts=True, batch_size=2000)
    for signal in new:
        logger.debug("ledger.signal", extra={"kind": str(signal.kind), "job": signal.job.key})
    return len(new)


def signal_emit(**kwargs) -> int:
    """One signal: see :func:`signal_build` and :func:`signals_emit`."""
    return signals_emit([signal_build(**kwargs)])


def is_occurrence(job: Job, instant: datetime) -> bool:
    """Whether ``instant`` is one of the job's scheduled occurrences (in its own zone)."""
    if not job.schedule_cron or instant is None:
        return False
    local = instant.astimezone(ZoneInfo(job.schedule_timezone))
    return croniter.match(job.schedule_cron, local) and local.second == 0


def expected_window(
    candidates: list, *, jobs_by_id: dict[int, Job]
) -> tuple[set[int], datetime, datetime] | None:
    """Where the occurrences ``candidates`` may fulfil lie: ``(job ids, earliest, latest)``
    of ``expected_at``, or None when none of them is of a scheduled job.

    ``candidates`` are ``(key, job_id, scheduled_at, started_at)``, as for
    :func:`match_expected`.
    """
    candidates = [c for c in candidates if jobs_by_id[c[1]].schedule_cron and (c[2] or c[3])]
    if not candidates:
        return None
    times = [t for _, _, s, st in candidates for t in (s, st) if t]
    slack = max(jobs_by_id[c[1]].miss_grace for c in candidates) + timedelta(minutes=15)
    return {c[1] for c in candidates}, min(times) - slack, max(times) + slack


def match_expected(
    candidates: list, *, jobs_by_id: dict[int, Job], known: list[Run]
) -> tuple[dict, dict]:
    """For observations of new runs of scheduled jobs, the occurrence each one fulfils.

    ``candidates`` are ``(key, job_id, scheduled_at, started_at)``. Returns ``(matched,
    claims)``: ``matched[key]`` is the expected run (written by the ledger, not yet claimed)
    to take over: the one at exactly ``scheduled_at`` (the logical or nominal time), else the
    closest that ``started_at`` falls in [scheduled - 15 min, scheduled + miss grace] of.
    ``claims[key]`` is an occurrence to record on a new run, when the report's logical time is
    an occurrence the ledger has not written yet (so it never will).

    ``known`` are the runs, read and locked by the caller, with ``expected_at`` in the
    :func:`expected_window` of these candidates (or of more).
    """
    candidates = [c for c in candidates if jobs_by_id[c[1]].schedule_cron and (c[2] or c[3])]
    if not candidates:
        return {}, {}
    open_by_job: dict[int, list[Run]] = {}
    occupied = {(r.job_id, r.expected_at) for r in known}
    for run in known:
        if run.is_expected_only and run.state in (RunState.SCHEDULED, RunState.MISSED):
            open_by_job.setdefault(run.job_id, []).append(run)
    matched, claims, taken = {}, {}, set()
    for key, job_id, scheduled_at, started_at in candidates:
        options = [r for r in open_by_job.get(job_id, []) if r.pk not in taken]
        choice = None
        if scheduled_at is not None:
            choice = next((r for r in options if r.expected_at == scheduled_at), None)
            if (
                choice is None
                and (job_id, scheduled_at) not in occupied
                and is_occurrence(jobs_by_id[job_id], scheduled_at)
            ):
                claims[key] = scheduled_at
                occupied.add((job_id, scheduled_at))
                continue
        elif started_at is not None:
            grace = jobs_by_id[job_id].miss_grace
            # (open expectations: every option has its expected_at)
            near = [
                r
                for r in options
                if r.expected_at is not None
                and r.expected_at - timedelta(minutes=15) <= started_at <= r.expected_at + grace
            ]
            choice = min(near, key=lambda r: abs(started_at - r.expected_at), default=None)
        if choice is not None:
            taken.add(choice.pk)
            matched[key] = choice
    return matched, claims


def evaluate(now: datetime) -> dict[str, int]:
    """The whole ledger as of ``now``: expectations, then the clock's judgements."""
    with transaction.atomic():
        materialised = ledger_materialise(now)
    with transaction.atomic():
        sweep = ledger_sweep(now)
    result = {
        "expected": materialised,
        "late": sweep.late,
        "missed": sweep.missed,
        "overran": sweep.overran,
    }
    if sweep.late or sweep.missed or sweep.overran:
        logger.info("ledger.evaluated", extra=result)
    return result


def _before(now: datetime, interval_field: str) -> CombinedExpression:
    """``now`` minus a job's interval column, computed by the database (``now - F(...)``,
    spelled so that the type checker sees an expression, not a datetime)."""
    return CombinedExpression(Value(now), "-", F(interval_field))


def _local(run: Run) -> str:
    zone = ZoneInfo(run.job.schedule_timezone or "UTC")
    assert run.scheduled_at is not None  # (judged runs are scheduled ones)
    return run.scheduled_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
