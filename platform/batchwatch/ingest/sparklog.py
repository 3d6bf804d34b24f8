"""Spark event logs at the edge: files in, typed run and span records out.

Handles what Spark writes: one plain JSON-lines file per application, the same compressed
(``.zstd``, ``.lz4``, ``.snappy``; zstd frames, lz4-java block streams, xerial snappy streams),
and Spark 4's default rolling directories ``eventlog_v2_<appId>/events_<N>_<appId>[.zstd]``.
Parsing is lenient: unknown events are skipped, a truncated in-progress log reads up to its
last whole line.

Tasks are not kept one by one: each stage keeps aggregates (counts, run time, GC, spill,
shuffle) and spans for its failed tasks and its slowest few, so one run stays bounded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from batchwatch.ingest.sparkfiles import (  # noqa: F401 - the importer's interface
    EventLog,
    EventLogError,
    event_lines,
    find_logs,
)
from batchwatch.runs.models import RunSource
from batchwatch.runs.observations import (
    RunObservation,
    SpanRecord,
    clean_json,
    clean_text,
    observation_problem,
)

_WHITESPACE = re.compile(r"\s+")

SLOWEST_TASKS_KEPT = 5
FAILED_TASKS_KEPT = 20


# --- Interpretation ------------------------------------------------------------------------------
def _ms(value: Any) -> datetime | None:
    if not isinstance(value, int | float) or value <= 0:
        return None
    try:  # (beyond year 9999, or NaN: not a time we can store)
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _stable_id(*parts: Any, length: int) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:length]


@dataclass
class _Stage:
    stage_id: int
    attempt: int
    name: str = ""
    num_tasks: int = 0
    submitted: datetime | None = None
    completed: datetime | None = None
    failure: str = ""
    job_id: int | None = None
    tasks: int = 0
    failed_tasks: int = 0
    run_time_ms: int = 0
    gc_ms: int = 0
    spilled_bytes: int = 0
    shuffle_read_bytes: int = 0
    shuffle_write_bytes: int = 0
    max_task_ms: int = 0
    task_time_ms: int = 0  # the tasks' wall times (launch to finish), summed
    kept: list[dict] = field(default_factory=list)  # the slowest and the failed tasks


@dataclass
class _Job:
    job_id: int
    submitted: datetime | None = None
    completed: datetime | None = None
    succeeded: bool | None = None
    failure: str = ""
    stage_ids: list[int] = field(default_factory=list)


@dataclass
class ParsedApplication:
    app_id: str
    app_name: str
    user: str
    started: datetime | None
    ended: datetime | None
    attempt: int | None
    jobs: dict[int, _Job]
    stages: dict[tuple[int, int], _Stage]
    properties: dict[str, str]
    events: int
    stage_to_job: dict[int, int] = field(default_factory=dict)


def parse_application(events: Iterator[dict[str, Any]]) -> ParsedApplication:
    app = ParsedApplication(
        app_id="",
        app_name="",
        user="",
        started=None,
        ended=None,
        attempt=None,
        jobs={},
        stages={},
        properties={},
        events=0,
    )
    stage_to_job = app.stage_to_job
    for event in events:
        app.events += 1
        kind = event.get("Event", "")
        if kind == "SparkListenerApplicationStart":
            app.app_id = str(event.get("App ID") or app.app_id)
            app.app_name = str(event.get("App Name") or "")
            app.user = str(event.get("User") or "")
            app.started = _ms(event.get("Timestamp"))
            app.attempt = event.get("App Attempt ID") and int(event["App Attempt ID"])
        elif kind == "SparkListenerApplicationEnd":
            app.ended = _ms(event.get("Timestamp"))
        elif kind == "SparkListenerEnvironmentUpdate":
            props = event.get("Spark Properties") or {}
            if isinstance(props, dict):
                app.properties = {
                    k: str(v)
                    for k, v in props.items()
                    if k.startswith(("spark.batchwatch.", "spark.app."))
                }
        elif kind == "SparkListenerJobStart":
            job = app.jobs.setdefault(event.get("Job ID", -1), _Job(event.get("Job ID", -1)))
            job.submitted = _ms(event.get("Submission Time"))
            job.stage_ids = list(event.get("Stage IDs") or [])
            for stage_id in job.stage_ids:
                stage_to_job[stage_id] = job.job_id
        elif kind == "SparkListenerJobEnd":
            job = app.jobs.setdefault(event.get("Job ID", -1), _Job(event.get("Job ID", -1)))
            job.completed = _ms(event.get("Completion Time"))
            result = event.get("Job Result") or {}
            job.succeeded = result.get("Result") == "JobSucceeded"
            if not job.succeeded:
                exc = result.get("Exception") or {}
                job.failure = str(exc.get("Message") or result.get("Result") or "job failed")
        elif kind in ("SparkListenerStageSubmitted", "SparkListenerStageCompleted"):
            info = event.get("Stage Info") or {}
            stage = _stage(app, info.get("Stage ID", -1), info.get("Stage Attempt ID", 0))
            stage.name = str(info.get("Stage Name") or stage.name)
            stage.num_tasks = int(info.get("Number of Tasks") or stage.num_tasks)
            stage.submitted = _ms(info.get("Submission Time")) or stage.submitted
            stage.completed = _ms(info.get("Completion Time")) or stage.completed
            stage.failure = str(info.get("Failure Reason") or stage.failure)
            stage.job_id = stage_to_job.get(stage.stage_id)
        elif kind == "SparkListenerTaskEnd":
            _task_end(app, event)
    return app


def _stage(app: ParsedApplication, stage_id: int, attempt: int) -> _Stage:
    key = (stage_id, attempt)
    if key not in app.stages:
        app.stages[key] = _Stage(
            stage_id=stage_id, attempt=attempt, job_id=app.stage_to_job.get(stage_id)
        )
    return app.stages[key]


def _task_end(app: ParsedApplication, event: dict) -> None:
    stage = _stage(app, event.get("Stage ID", -1), event.get("Stage Attempt ID", 0))
    info = event.get("Task Info") or {}
    metrics = event.get("Task Metrics") or {}
    reason = event.get("Task End Reason") or {}
    launch, finish = info.get("Launch Time") or 0, info.get("Finish Time") or 0
    took = max(0, finish - launch)
    failed = reason.get("Reason", "Success") != "Success"
    stage.tasks += 1
    stage.failed_tasks += failed
    stage.run_time_ms += int(metrics.get("Executor Run Time") or 0)
    stage.gc_ms += int(metrics.get("JVM GC Time") or 0)
    stage.spilled_bytes += int(metrics.get("Memory Bytes Spilled") or 0) + int(
        metrics.get("Disk Bytes Spilled") or 0
    )
    read = metrics.get("Shuffle Read Metrics") or {}
    stage.shuffle_read_bytes += int(read.get("Remote Bytes Read") or 0) + int(
        read.get("Local Bytes Read") or 0
    )
    stage.shuffle_write_bytes += int(
        (metrics.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written") or 0
    )
    stage.max_task_ms = max(stage.max_task_ms, took)
    stage.task_time_ms += took
    task = {
        "task_id": info.get("Task ID"),
        "index": info.get("Index"),
        "attempt": info.get("Attempt"),
        "executor": info.get("Executor ID"),
        "host": info.get("Host"),
        "launch": launch,
        "finish": finish,
        "took_ms": took,
        "failed": failed,
        "reason": _task_failure(reason) if failed else "",
    }
    stage.kept.append(task)
    # Keep the failed ones (bounded) and the slowest few; aggregates carry the rest.
    failed_kept = [t for t in stage.kept if t["failed"]][:FAILED_TASKS_KEPT]
    slowest = sorted((t for t in stage.kept if not t["failed"]), key=lambda t: -t["took_ms"])
    stage.kept = failed_kept + slowest[:SLOWEST_TASKS_KEPT]


_EXCEPTION_LINE = re.compile(r"^[\w.$]+(Error|Exception|Failure|Exit)\b(:.*)?$")


def headline(text: str) -> str:
    """The line of a failure that says what failed: a Python traceback's exception line, or a
    Java trace's deepest 'Caused by:'; otherwise the first line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    if len(lines) > 1:
        for line in reversed(lines):
            candidate = line.removeprefix("Caused by: ")
            if _EXCEPTION_LINE.match(candidate):
                return candidate[:500]
    return lines[0][:500]


def _task_failure(reason: dict) -> str:
    kind = reason.get("Reason", "")
    if kind == "ExceptionFailure":
        return f"{reason.get('Class Name', 'Exception')}: {reason.get('Description', '')}"[:2000]
    if kind == "FetchFailed":
        return f"FetchFailed: {reason.get('Message', '')}"[:2000]
    if kind == "ExecutorLostFailure":
        return f"ExecutorLostFailure: {reason.get('Loss Reason', '')}"[:2000]
    return kind


@dataclass
class ImportedApplication:
    observation: RunObservation
    spans: list[SpanRecord]
    events: int


def application_records(
    app: ParsedApplication, *, namespace: str, in_progress: bool, fallback_id: str
) -> ImportedApplication:
    """The run and its spans (application → jobs → stages → kept tasks), with stable ids so
    that importing the same log again changes nothing."""
    app_id = app.app_id or fallback_id
    trace_id = _stable_id("spark", app_id, length=32)
    app_span = _stable_id("app", app_id, length=16)
    failed_jobs = [j for j in app.jobs.values() if j.succeeded is False]
    finished = app.ended is not None and not in_progress
    state = ("failed" if failed_jobs else "succeeded") if finished else "running"
    reason = _failure_reason(app, failed_jobs)
    namespace = app.properties.get("spark.batchwatch.namespace", namespace)
    labels = {
        k.removeprefix("spark.batchwatch.label."): v
        for k, v in app.properties.items()
        if k.startswith("spark.batchwatch.label.")
    }
    job_name = str(app.properties.get("spark.batchwatch.job") or app.app_name or app_id)
    observation = RunObservation(
        engine="spark",
        namespace=_WHITESPACE.sub("_", clean_text(str(namespace)).strip()),
        job_name=_WHITESPACE.sub("_", clean_text(job_name).strip())[:300],
        external_id=app_id,
        source=RunSource.SPARK_EVENTLOG,
        state=state,
        started_at=app.started,
        ended_at=app.ended if finished else None,
        attempt=app.attempt,
        failure_reason=clean_text(reason[:2000]),
        trace_id=trace_id,
        root_span_id=app_span,
        labels=labels,
        attributes={
            "user": clean_text(str(app.user or "")),
            "jobs": len(app.jobs),
            "failed_jobs": len(failed_jobs),
            "stages": len(app.stages),
        },
    )
    spans = _application_spans(app, app_id, trace_id=trace_id, app_span=app_span, error=reason)
    return ImportedApplication(observation=observation, spans=spans, events=app.events)


def _failure_reason(app: ParsedApplication, failed_jobs: list[_Job]) -> str:
    """Why the first failed job failed: its first failed task's reason (a killed task is a
    consequence, not a cause), else its failed stage's, else the job's own; "" if none failed."""
    if not failed_jobs:
        return ""
    first = min(failed_jobs, key=lambda j: j.job_id)
    failed_stage = next(
        (s for s in app.stages.values() if s.job_id == first.job_id and s.failure), None
    )
    failed_task = next(
        (
            t
            for s in app.stages.values()
            if s.job_id == first.job_id
            for t in s.kept
            if t["failed"] and t["reason"] and t["reason"] != "TaskKilled"
        ),
        None,
    )
    detail = (failed_task or {}).get("reason") or (
        failed_stage.failure if failed_stage else first.failure
    )
    return f"job {first.job_id} failed: {headline(detail)}"


def _application_spans(
    app: ParsedApplication, app_id: str, *, trace_id: str, app_span: str, error: str
) -> list[SpanRecord]:
    """The application span, a span per job, and each job's stages (and kept tasks) under it;
    stages of no known job hang under the application."""
    spans: list[SpanRecord] = []
    span = _span_writer(spans, trace_id=trace_id, service=clean_text(f"spark:{app.app_name}")[:200])
    span(
        app_span,
        "",
        "spark.application",
        app.started,
        app.ended or _latest(app),
        error=error,
        attributes={"spark.app.id": app_id, "spark.app.name": app.app_name},
    )
    for job in app.jobs.values():
        job_span = _stable_id("job", app_id, job.job_id, length=16)
        span(
            job_span,
            app_span,
            "spark.job",
            job.submitted,
            job.completed,
            error=job.failure,
            attributes={"spark.job.id": job.job_id},
        )
        for stage in (s for s in app.stages.values() if s.job_id == job.job_id):
            _stage_spans(span, app_id, job_span, stage)
    for stage in (s for s in app.stages.values() if s.job_id is None):
        _stage_spans(span, app_id, app_span, stage)
    return spans


def _span_writer(spans: list[SpanRecord], *, trace_id: str, service: str):
    """A function that appends one span of this trace to ``spans``; a span with no start
    time is left out, one with no end ends where it starts."""

    def span(span_id, parent, name, start, end, *, error="", attributes=None):
        if start is None:
            return
        end = end or start
        spans.append(
            SpanRecord(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                name=clean_text(name)[:300],
                kind=1,
                start=start,
                end=max(start, end),
                status_code=2 if error else 0,
                status_message=clean_text(error[:2000]),
                service_name=service,
                attributes=clean_json(attributes or {}),
                events=[],
                resource={},
                scope="batchwatch.sparklog",
            )
        )

    return span


def _stage_spans(span, app_id: str, parent: str, stage: _Stage) -> None:
    stage_span = _stable_id("stage", app_id, stage.stage_id, stage.attempt, length=16)
    # A log cut short may hold task ends of a stage whose submission it never recorded.
    launches = [_ms(t["launch"]) for t in stage.kept if t["launch"]]
    finishes = [_ms(t["finish"]) for t in stage.kept if t["finish"]]
    span(
        stage_span,
        parent,
        "spark.stage",
        stage.submitted or min(launches, default=None),
        stage.completed or max(finishes, default=None),
        error=headline(stage.failure),
        attributes={
            "spark.stage.id": stage.stage_id,
            "spark.stage.attempt": stage.attempt,
            "spark.stage.name": stage.name,
            "tasks": stage.tasks,
            "failed_tasks": stage.failed_tasks,
            "executor_run_time_ms": stage.run_time_ms,
            "jvm_gc_time_ms": stage.gc_ms,
            "spilled_bytes": stage.spilled_bytes,
            "shuffle_read_bytes": stage.shuffle_read_bytes,
            "shuffle_write_bytes": stage.shuffle_write_bytes,
            "max_task_ms": stage.max_task_ms,
            # The longest task against the mean task, both wall times (launch to finish): a
            # data-skew signal; 1.0 when all tasks took as long (a one-task stage).
            "skew_ratio": skew_ratio(stage.max_task_ms, stage.task_time_ms, stage.tasks),
        },
    )
    for task in stage.kept:
        span(
            _stable_id("task", app_id, task["task_id"], length=16),
            stage_span,
            "spark.task",
            _ms(task["launch"]),
            _ms(task["finish"]),
            error=task["reason"],
            attributes={
                k: task[k] for k in ("task_id", "index", "attempt", "executor", "host", "took_ms")
            },
        )


def skew_ratio(longest_ms: int, total_ms: int, tasks: int) -> float | None:
    """Longest task / mean task of a stage; None without tasks or time."""
    if not tasks or not total_ms:
        return None
    return round(longest_ms / (total_ms / tasks), 2)


def _latest(app: ParsedApplication) -> datetime | None:
    ends = [j.completed for j in app.jobs.values() if j.completed]
    ends += [s.completed for s in app.stages.values() if s.completed]
    return max(ends, default=None)


def read_event_log(log: EventLog, *, namespace: str, progress=None) -> ImportedApplication:
    app = parse_application(event_lines(list(log.files), progress=progress))
    if not app.events:
        raise EventLogError(f"{log.path.name}: no Spark events found (is this an event log?)")
    fallback = log.path.name.removeprefix("eventlog_v2_").removesuffix(".inprogress")
    imported = application_records(
        app, namespace=namespace, in_progress=log.in_progress, fallback_id=fallback
    )
    problem = observation_problem(imported.observation)
    if problem is not None:  # (a label key or a name the catalog refuses: said, not raised)
        raise EventLogError(f"{log.path.name}: {problem.message}")
    return imported
