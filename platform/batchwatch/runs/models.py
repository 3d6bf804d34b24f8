"""Runs of jobs, and the spans of their traces."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import models

from batchwatch.catalog.models import Job
from batchwatch.core.fields import BulkJSONField
from batchwatch.runs.convergence import attempts_of, attempts_story, sources_of
from batchwatch.runs.states import RunState

__all__ = ["RunState"]  # (defined in runs.states, which convergence reads without the ORM)


TERMINAL_STATES = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.MISSED})


EXPECTED_PREFIX = "expected:"


def expected_external_id(scheduled_at: datetime) -> str:
    return f"{EXPECTED_PREFIX}{scheduled_at.astimezone(UTC).isoformat()}"


class RunSource(models.TextChoices):
    OTLP = "otlp", "OTLP traces"
    OTLP_LOGS = "otlp_logs", "OTLP logs"
    OTLP_METRICS = "otlp_metrics", "OTLP metrics"
    OPENLINEAGE = "openlineage", "OpenLineage"
    SPARK_EVENTLOG = "spark_eventlog", "Spark event log"
    FLINK_REST = "flink_rest", "Flink REST API"
    LEDGER = "ledger", "Expected by schedule"


class Run(models.Model):
    """One execution of a job, converged from every report that mentions it.

    ``external_id`` is the engine's own run identity (Airflow run_id, Spark app id, an
    OpenLineage runId, a Flink job id); ``(job, external_id)`` is unique, so repeated or
    out-of-order reports update one row.
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    external_id = models.CharField(max_length=255)
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.RUNNING)
    scheduled_at = models.DateTimeField(
        null=True, blank=True, help_text="Logical or nominal time the run is for."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    failure_reason = models.TextField(blank=True)
    trace_id = models.CharField(max_length=32, blank=True, db_index=True)
    root_span_id = models.CharField(max_length=16, blank=True)
    parent_run = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="child_runs"
    )
    # How a report names the parent before the parent is known: "<job key>#<external id>" or
    # "span:<trace id>/<span id>". Kept so the link is made whichever arrives first.
    parent_ref = models.CharField(max_length=600, blank=True, db_index=True)
    # How an OpenLineage integration names the run ("ol:<namespace>/<name>#<runId>") when its
    # events are filed under the engine's identity (external_id): runs that name it as their
    # OpenLineage parent find it by this.
    lineage_ref = models.CharField(max_length=600, blank=True, db_index=True)
    source = models.CharField(max_length=16, choices=RunSource.choices)
    # The scheduled occurrence this run stands for (the ledger wrote it, or an engine's run
    # claimed it); unique per job, so an occurrence is never expected twice.
    expected_at = models.DateTimeField(null=True, blank=True)
    # Judgements of the ledger, kept apart from the state: a run can be late and succeed.
    late_start = models.BooleanField(default=False)
    overran = models.BooleanField(default=False)
    too_fast = models.BooleanField(default=False)
    attributes = BulkJSONField(default=dict, blank=True)
    # What later reports are judged against: the standing of the report that gave the state
    # and the rank of each value held (root span, failure reason, attributes), and the
    # sources that reported the run. Written only by runs/convergence.py.
    convergence = BulkJSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Every write path sets it (bulk updates too): SLO passes re-evaluate jobs whose runs
    # changed since their last check.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "external_id"], name="run_unique_job_external"),
            models.UniqueConstraint(
                fields=["job", "expected_at"],
                name="run_unique_job_occurrence",
                condition=models.Q(expected_at__isnull=False),
            ),
        ]
        indexes = [
            models.Index(fields=["job", "-started_at"], name="run_job_started_idx"),
            models.Index(fields=["state", "-started_at"], name="run_state_started_idx"),
            # The API's run list, newest first, a page at a time (runs.api.RunPagination).
            models.Index(fields=["-started_at", "-id"], name="run_started_idx"),
            # The Now page: jobs that succeeded on time in the last day (runs_needing_attention).
            models.Index(fields=["state", "ended_at"], name="run_state_ended_idx"),
            # The ledger's sweeps: expected runs still waiting, runs still running.
            models.Index(
                fields=["state", "scheduled_at"],
                name="run_waiting_idx",
                condition=models.Q(state__in=["scheduled", "running"]),
            ),
            models.Index(fields=["job", "expected_at"], name="run_job_expected_idx"),
            # Incremental SLO passes and /metrics snapshots: "runs changed since".
            models.Index(fields=["updated_at"], name="run_updated_idx"),
        ]
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.job.key} #{self.external_id}"

    @property
    def retried(self) -> bool:
        return self.attempt > 1

    @property
    def attempt_facts(self) -> list[dict[str, Any]]:
        """Each try's state, times and failure reason (runs.convergence.attempts_of)."""
        return attempts_of(self)

    @property
    def attempts_story(self) -> str:
        """What became of each try ("failed on try 1 of 2 (OOM), then succeeded"); empty for
        a run of one try (runs.convergence.attempts_story)."""
        return attempts_story(self.attempt_facts)

    @property
    def sources(self) -> list[str]:
        """Every source that reported the run, richest first (runs.convergence.sources_of)."""
        return sources_of(self)

    @property
    def source_labels(self) -> list[str]:
        labels = dict(RunSource.choices)
        return [labels.get(source, source) for source in self.sources]

    @property
    def is_expected_only(self) -> bool:
        """An occurrence the schedule expects and no engine has reported yet."""
        return self.external_id.startswith(EXPECTED_PREFIX)


class Span(models.Model):
    """A span kept for trace views; ``(trace_id, span_id)`` dedupes retried exports."""

    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True)
    name = models.CharField(max_length=300)
    kind = models.PositiveSmallIntegerField(default=0)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(default=0)  # 0 unset, 1 ok, 2 error
    status_message = models.TextField(blank=True)
    service_name = models.CharField(max_length=200, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    events = models.JSONField(default=list, blank=True)
    # Where it ran: the resource attributes kept for triage (runs.observations.kept_resource).
    resource = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trace_id", "span_id"], name="span_unique_trace_span")
        ]
        indexes = [
            # The run page's tree: a trace's first spans by start time, without sorting
            # every span of a large trace (runs.selectors_trace.trace_shape).
            models.Index(fields=["trace_id", "start_time"], name="span_trace_start_idx"),
            # ... and its error spans beyond them.
            models.Index(
                fields=["trace_id"], condition=models.Q(status_code=2), name="span_trace_error_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.trace_id}/{self.span_id})"

    @property
    def duration_ms(self) -> float:
        return (self.end_time - self.start_time).total_seconds() * 1000


class Signal(models.Model):
    """A change worth telling someone about: a run judged late, missed, failed, overran...

    Emitted through ``runs.services.signal_emit``; the alerting pipeline consumes them.
    """

    class Kind(models.TextChoices):
        MISSED = "missed", "Missed"
        LATE_START = "late_start", "Late start"
        OVERRAN = "overran", "Overran"
        TOO_FAST = "too_fast", "Finished too fast"
        FAILED = "failed", "Failed"
        RETRIED = "retried", "Retried"
        SLO = "slo", "SLO status"
        PREDICTED_MISS = "predicted_miss", "Predicted deadline miss"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="signals")
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, null=True, blank=True, related_name="signals"
    )
    summary = models.CharField(max_length=500)
    labels = BulkJSONField(default=dict)
    links = BulkJSONField(default=dict)
    # The same fact is signalled once: e.g. "late_start:<run id>".
    dedup_key = models.CharField(max_length=300, unique=True)
    resolved = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    # Set when the alerting pipeline took the signal in (its intake claims unrouted ones).
    routed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["job", "-created_at"], name="signal_job_idx"),
            # The alert intake: "signals not routed yet".
            models.Index(
                fields=["created_at"],
                name="signal_unrouted_idx",
                condition=models.Q(routed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.job} {self.created_at:%Y-%m-%d %H:%M}"
