"""``/metrics``: a prometheus-client collector over the current state of jobs, runs and SLOs.

Labels are bounded: job, team, engine, state, slo, window; never a run id. Each scrape runs a
handful of grouped queries (no per-job queries).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Case, Count, IntegerField, Max, Min, Q, Sum, When
from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector, CollectorRegistry

from batchwatch.catalog.models import Job, Team
from batchwatch.core.cache import cache_get, cache_set
from batchwatch.core.quarantine import quarantine_counts_by_state
from batchwatch.core.scheduler import current_scheduler
from batchwatch.ingest.models import RunReportBatch
from batchwatch.ingest.stats import INGEST_STATS, LATENCY_BUCKETS
from batchwatch.runs.models import Run, RunState
from batchwatch.slo.models import SLO, SLOState

DURATION_BUCKETS = (60, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400)
JOB_LABELS = ["job", "team", "engine"]


def _job_labels() -> dict[int, list[str]]:
    return {
        pk: [key, team or "", engine]
        for pk, key, team, engine in Job.objects.values_list(
            "pk", "key", "owner_team__slug", "engine"
        )
    }


class StateCollector(Collector):
    """Jobs, runs and SLOs: what changes when the evaluator runs (snapshotted after each pass)."""

    def collect(self):
        jobs = _job_labels()
        yield from _run_counts(jobs)
        yield from _duration_histogram(jobs)
        yield from _last_success_and_missed(jobs)
        yield from _slo_figures()


def _run_counts(jobs: dict[int, list[str]]):
    """Runs by job and state: one grouped query."""
    runs = CounterMetricFamily(
        "batchwatch_job_runs",
        "Runs recorded, by final or current state.",
        labels=[*JOB_LABELS, "state"],
    )
    for job_id, state, count in (
        Run.objects.exclude(state=RunState.SCHEDULED)
        .values_list("job_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    ):
        runs.add_metric([*jobs[job_id], state], count)
    yield runs


def _duration_histogram(jobs: dict[int, list[str]]):
    """Every job's run durations as a histogram: one grouped query computes the buckets."""
    buckets = {
        f"le_{b}": Sum(
            Case(When(duration_seconds__lte=b, then=1), default=0, output_field=IntegerField())
        )
        for b in DURATION_BUCKETS
    }
    histogram = HistogramMetricFamily(
        "batchwatch_job_run_duration_seconds", "Duration of finished runs.", labels=JOB_LABELS
    )
    for row in (
        Run.objects.filter(duration_seconds__isnull=False)
        .values("job_id")
        .annotate(count=Count("id"), total=Sum("duration_seconds"), **buckets)
        .order_by()
    ):
        histogram.add_metric(
            jobs[row["job_id"]],
            [(str(float(b)), row[f"le_{b}"]) for b in DURATION_BUCKETS] + [("+Inf", row["count"])],
            row["total"] or 0.0,
        )
    yield histogram


def _last_success_and_missed(jobs: dict[int, list[str]]):
    """When each job last succeeded and how many of its runs were missed: one grouped query."""
    last_success = GaugeMetricFamily(
        "batchwatch_job_last_success_timestamp_seconds",
        "When the job last succeeded (Unix time).",
        labels=JOB_LABELS,
    )
    missed = CounterMetricFamily(
        "batchwatch_job_expected_runs_missed",
        "Expected runs that never started.",
        labels=JOB_LABELS,
    )
    for job_id, last, missed_count in (
        Run.objects.values_list("job_id")
        .annotate(
            last=Max("ended_at", filter=Q(state=RunState.SUCCEEDED)),
            missed=Count("id", filter=Q(state=RunState.MISSED)),
        )
        .order_by()
    ):
        if last is not None:
            last_success.add_metric(jobs[job_id], last.timestamp())
        missed.add_metric(jobs[job_id], missed_count)
    yield last_success
    yield missed


def _slo_figures():
    """Each SLO state's objective, SLI, budget left and burn rates."""
    labels = ["slo", "job", "team"]
    objective = GaugeMetricFamily(
        "batchwatch_slo_objective_ratio", "SLO objective (0-1).", labels=labels
    )
    sli = GaugeMetricFamily(
        "batchwatch_slo_sli_ratio", "Good runs over the window (0-1).", labels=labels
    )
    budget = GaugeMetricFamily(
        "batchwatch_slo_error_budget_remaining_ratio",
        "Share of the error budget left (negative: overspent).",
        labels=labels,
    )
    burn = GaugeMetricFamily(
        "batchwatch_slo_burn_rate",
        "Error ratio over the objective's allowance, per window of runs.",
        labels=[*labels, "window"],
    )
    for state in SLOState.objects.select_related("slo", "job__owner_team"):
        values = [
            state.slo.slug,
            state.job.key,
            state.job.owner_team.slug if state.job.owner_team else "",
        ]
        objective.add_metric(values, state.slo.objective_ratio)
        if state.sli is not None:
            sli.add_metric(values, state.sli)
        if state.budget_remaining_ratio is not None:
            budget.add_metric(values, state.budget_remaining_ratio)
        for window, rate in (state.burn_rates or {}).items():
            burn.add_metric([*values, window], rate)
    yield from (objective, sli, budget, burn)


class PlatformCollector(Collector):
    """This process's own figures: always live."""

    def collect(self):
        yield from _platform_metrics()


def _platform_metrics():
    spans = CounterMetricFamily("batchwatch_ingest_spans", "Spans accepted by this process.")
    spans.add_metric([], INGEST_STATS.spans)
    yield spans
    latency = HistogramMetricFamily(
        "batchwatch_ingest_request_duration_seconds", "Ingest request latency in this process."
    )
    latency.add_metric(
        [],
        [(str(b), n) for b, n in zip(LATENCY_BUCKETS, INGEST_STATS.latency_buckets, strict=True)]
        + [("+Inf", INGEST_STATS.requests)],
        INGEST_STATS.latency_sum,
    )
    yield latency
    requests = CounterMetricFamily("batchwatch_ingest_requests", "Ingest requests served.")
    requests.add_metric([], INGEST_STATS.requests)
    yield requests
    errors = CounterMetricFamily(
        "batchwatch_ingest_errors", "Refused ingest requests.", labels=["status"]
    )
    for status, count in sorted(INGEST_STATS.errors.items()):
        errors.add_metric([str(status)], count)
    yield errors
    yield from _run_report_queue()
    yield from _quarantine()
    scheduler = current_scheduler()
    if scheduler is not None:
        lag = GaugeMetricFamily(
            "batchwatch_scheduler_lag_seconds", "How late the embedded scheduler's last task ran."
        )
        lag.add_metric([], scheduler.stats.last_lag.total_seconds())
        yield lag


def _quarantine():
    """What was accepted but not processed (``core.quarantine``), from one grouped query:
    every item ever quarantined by kind and reason (a counter: alert on its increase), and
    those still waiting for someone by kind. Both label sets are bounded codes."""
    counts = quarantine_counts_by_state()
    total = CounterMetricFamily(
        "batchwatch_quarantined",
        "Items accepted but quarantined (not processed), by kind and reason.",
        labels=["kind", "reason"],
    )
    waiting = GaugeMetricFamily(
        "batchwatch_quarantine_waiting_items",
        "Quarantined items not retried or discarded yet, by kind.",
        labels=["kind"],
    )
    by_reason: dict[tuple[str, str], int] = {}
    by_kind: dict[str, int] = {}
    for (kind, reason, state), n in counts.items():
        by_reason[kind, reason] = by_reason.get((kind, reason), 0) + n
        if state == "quarantined":
            by_kind[kind] = by_kind.get(kind, 0) + n
    for (kind, reason), n in sorted(by_reason.items()):
        total.add_metric([kind, reason], n)
    for kind, n in sorted(by_kind.items()):
        waiting.add_metric([kind], n)
    yield total
    yield waiting


def _run_report_queue():
    """Queued run reports (BATCHWATCH_INGEST_RUNS=queued): how many, and the drain's lag."""
    yield from queue_gauges(
        RunReportBatch,
        "batchwatch_ingest_run_reports",
        "Telemetry requests whose runs are not converged yet (queued ingest).",
    )


def queue_gauges(model, prefix: str, description: str):
    """``<prefix>_queued_batches`` and ``<prefix>_oldest_queued_seconds`` of a durable intake
    queue (``core/queues.py``): one indexed aggregate."""
    queued = model.objects.filter(processed_at=None).aggregate(
        n=Count("id"), oldest=Min("received_at")
    )
    backlog = GaugeMetricFamily(f"{prefix}_queued_batches", description)
    backlog.add_metric([], queued["n"])
    yield backlog
    lag = GaugeMetricFamily(
        f"{prefix}_oldest_queued_seconds",
        "Age of the oldest queued batch (0 when none): the drain's lag.",
    )
    oldest = queued["oldest"]
    lag.add_metric([], (datetime.now(UTC) - oldest).total_seconds() if oldest else 0)
    yield lag


STATE_REGISTRY = CollectorRegistry(auto_describe=False)
STATE_REGISTRY.register(StateCollector())
PLATFORM_REGISTRY = CollectorRegistry(auto_describe=False)
PLATFORM_REGISTRY.register(PlatformCollector())

SNAPSHOT_KEY = "batchwatch:metrics:state"
# A snapshot older than two evaluation intervals is not served: the scrape computes instead.
SNAPSHOT_MAX_AGE = 60.0


def _changed_since(taken_at: float) -> bool:
    """Whether anything the state families show was written since a snapshot was taken."""
    margin = timedelta(seconds=settings.BATCHWATCH_SLO_CHECK_MARGIN_SECONDS)
    since = datetime.fromtimestamp(taken_at, UTC) - margin
    return any(
        model.objects.filter(updated_at__gt=since).exists() for model in (Run, Job, Team, SLO)
    )


def snapshot_state(*, changed: bool = True) -> float:
    """Render the state families and keep them for scrapes; returns the seconds it took.

    Called after each evaluation, which is when job and SLO figures change. When the pass
    changed nothing (``changed`` false, and no run, job, team or SLO written since the last
    snapshot) the last snapshot is still true: it is kept and marked fresh, not re-rendered.
    """
    previous = cache_get(SNAPSHOT_KEY)
    if not changed and previous and not _changed_since(previous[0]):
        cache_set(SNAPSHOT_KEY, (time.time(), *previous[1:]), timeout=int(SNAPSHOT_MAX_AGE * 2))
        return 0.0
    started = time.perf_counter()
    body = generate_latest(STATE_REGISTRY)
    took = time.perf_counter() - started
    cache_set(SNAPSHOT_KEY, (time.time(), took, body), timeout=int(SNAPSHOT_MAX_AGE * 2))
    return took


def exposition() -> bytes:
    """What /metrics serves: the latest state snapshot if fresh, else a live rendering, and
    this process's platform figures."""
    snapshot = cache_get(SNAPSHOT_KEY)
    if snapshot and time.time() - snapshot[0] <= SNAPSHOT_MAX_AGE:
        taken_at, took, state = snapshot
        source = "snapshot"
    else:
        started = time.perf_counter()
        state, taken_at, source = generate_latest(STATE_REGISTRY), time.time(), "live"
        took = time.perf_counter() - started
    meta = (
        "# HELP batchwatch_metrics_state_age_seconds Age of the job and SLO figures served.\n"
        "# TYPE batchwatch_metrics_state_age_seconds gauge\n"
        f"batchwatch_metrics_state_age_seconds {max(0.0, time.time() - taken_at):.3f}\n"
        "# HELP batchwatch_metrics_state_render_seconds Time it took to compute them.\n"
        "# TYPE batchwatch_metrics_state_render_seconds gauge\n"
        f'batchwatch_metrics_state_render_seconds{{source="{source}"}} {took:.3f}\n'
    ).encode()
    return state + generate_latest(PLATFORM_REGISTRY) + meta
