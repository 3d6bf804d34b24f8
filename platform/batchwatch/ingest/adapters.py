"""Engine adapters: which spans are runs, and what they say about them.

Each adapter looks at one ``SpanRecord`` and returns a ``RunObservation`` when the span stands
for a run of a job (an Airflow DAG run or task run, a Spark application, a Temporal workflow,
a Prefect flow run, a CI pipeline run, or anything using our generic ``batch.*`` attributes).
Other spans are kept for the trace view only. The attribute sets are listed in
docs/telemetry.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from batchwatch.runs.models import RunSource
from batchwatch.runs.observations import (
    Invalid,
    RunObservation,
    SpanRecord,
    observation_problem,
    span_ref,
    utc_time,
)

STATUS_ERROR = 2
ENGINES = {"spark", "flink", "airflow", "flyte", "prefect", "temporal", "luigi", "dbt", "ci",
           "other"}  # fmt: skip
_NAME_SAFE = re.compile(r"\s+")


class SpanRejected(Exception):
    """A span that claims to be a run but cannot be one; refused through partial success."""


def _namespace(value: Any, what: str) -> str | None:
    """An explicit namespace attribute: a string (whitespace becomes '_', as in names) of at
    most 200 characters; anything else is refused rather than guessed at."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Invalid("invalid_namespace", f"{what} must be a string, not {type(value).__name__}")
    cleaned = _NAME_SAFE.sub("_", value.strip())
    if len(cleaned) > 200:
        raise Invalid("invalid_namespace", f"{what} is longer than 200 characters")
    return cleaned or None


def namespace_of(span: SpanRecord, default: str) -> str:
    """``batchwatch.namespace``, else ``service.namespace``, else ``service.name``."""
    for key in ("batchwatch.namespace", "service.namespace", "service.name"):
        value = span.attributes.get(key) or span.resource.get(key)
        if value and not str(value).startswith("unknown_service"):
            return _clean(str(value))
    return default


def labels_of(span: SpanRecord) -> dict[str, str]:
    """``batchwatch.label.<key>`` attributes, on the resource or the span."""
    labels = {}
    for source in (span.resource, span.attributes):
        for key, value in source.items():
            if key.startswith("batchwatch.label.") and value is not None:
                labels[key.removeprefix("batchwatch.label.")] = str(value)[:200]
    return labels


def parse_time(value: Any, what: str = "time") -> datetime | None:
    """ISO 8601 strings (Airflow writes '2026-11-22 03:15:51.744918+00:00') or epoch numbers,
    in UTC; None if it is not a time. A time outside the years 1970-9999 in UTC (what the
    database can read back) raises :class:`Invalid` with a sentence naming ``what``."""
    if value in (None, "", "None") or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value  # epoch ms or s
        try:
            parsed = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            if seconds != seconds:  # NaN: not a time at all
                return None
            raise Invalid(
                "invalid_time", f"{what} {value!r} is outside the years 1970-9999 (in UTC)"
            ) from None
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
    return utc_time(parsed, what)


def _clean(name: str) -> str:
    return _NAME_SAFE.sub("_", name.strip())[:200]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _status_state(span: SpanRecord) -> str:
    """A finished span is a finished run: failed if its status is ERROR."""
    return "failed" if span.status_code == STATUS_ERROR else "succeeded"


def _failure(span: SpanRecord, default: str = "failed") -> str:
    if span.status_code != STATUS_ERROR:
        return ""
    for event in span.events:
        attrs = event.get("attributes", {})
        if attrs.get("exception.type") or attrs.get("exception.message"):
            return f"{attrs.get('exception.type', '')}: {attrs.get('exception.message', '')}"[
                :2000
            ].strip(": ")
    return span.status_message or default


def _told(span: SpanRecord) -> bool:
    """Whether a failed span says why (an exception event or a status message): otherwise
    the reason an adapter writes is a placeholder that any specific reason beats."""
    if span.status_message:
        return True
    return any(
        e.get("attributes", {}).get("exception.type")
        or e.get("attributes", {}).get("exception.message")
        for e in span.events
    )


def _base(
    span: SpanRecord, *, engine: str, job_name: str, external_id: str, **kw
) -> RunObservation:
    """An observation with the span's own facts as defaults; ``kw`` overrides them."""
    if kw.get("failure_reason") and "failure_generic" not in kw:
        kw["failure_generic"] = not _told(span)
    facts = {
        "started_at": span.start,
        "ended_at": span.end,
        "trace_id": span.trace_id,
        "root_span_id": span.span_id,
        "labels": labels_of(span),
        **kw,
    }
    namespace = facts.pop("namespace", None) or namespace_of(span, engine)
    observation = RunObservation(
        engine=engine,
        namespace=namespace,
        job_name=_clean(job_name),
        external_id=str(external_id)[:255],
        source=RunSource.OTLP,
        **facts,
    )
    if not observation.parent_ref and span.parent_span_id:
        observation.parent_ref = span_ref(span.trace_id, span.parent_span_id)
    return observation


# --- Airflow ---------------------------------------------------------------------------------
AIRFLOW_TASK_STATES = {
    "success": "succeeded",
    "skipped": "succeeded",
    "failed": "failed",
    "upstream_failed": "failed",
    "up_for_retry": "running",
    "up_for_reschedule": "running",
    "running": "running",
    "queued": "running",
    "deferred": "running",
}
AIRFLOW_DAG_STATES = {"success": "succeeded", "failed": "failed", "running": "running"}


def airflow(span: SpanRecord) -> RunObservation | None:
    a = span.attributes
    # Airflow 3.2+: dag_run.<dag_id> and task_run.<task_id>.
    if "airflow.dag_id" in a and "airflow.dag_run.run_id" in a:
        dag_id, run_id = str(a["airflow.dag_id"]), str(a["airflow.dag_run.run_id"])
        is_dag_run = "airflow.dag_run.logical_date" in a and "airflow.task_id" not in a
        if span.name.startswith("dag_run.") or is_dag_run:
            return _base(
                span,
                engine="airflow",
                job_name=dag_id,
                external_id=run_id,
                state=_status_state(span),
                failure_reason=_failure(span, default="DAG run failed"),
                scheduled_at=parse_time(
                    a.get("airflow.dag_run.logical_date"), "airflow.dag_run.logical_date"
                ),
                started_at=parse_time(a.get("airflow.dag_run.start_date"), "start_date")
                or span.start,
                ended_at=parse_time(a.get("airflow.dag_run.end_date"), "end_date") or span.end,
                attributes={"run_type": a.get("airflow.dag_run.run_type", "")},
            )
        if "airflow.task_id" in a:
            observation = _airflow_task(
                span, dag_id, str(a["airflow.task_id"]), run_id,
                state=a.get("airflow.task_instance.state"),
                try_number=a.get("airflow.task_instance.try_number"),
                map_index=a.get("airflow.task_instance.map_index"),
            )  # fmt: skip
            # The API server's task_run.<task> span is the task run; the worker's
            # worker.<task> (and any detail span with these attributes) lies below it.
            if not span.name.startswith("task_run."):
                observation.root_rank = 1
            return observation
    # Airflow 3.0/3.1: root span <dag_id> with airflow.dag_run.* attributes.
    if "airflow.dag_run.dag_id" in a and "airflow.dag_run.run_id" in a:
        return _airflow_dag_run(span, prefix="airflow.dag_run.", logical_date="logical_date")
    if "airflow.task_instance.task_id" in a and "airflow.task_instance.dag_id" in a:
        return _airflow_task(
            span, str(a["airflow.task_instance.dag_id"]), str(a["airflow.task_instance.task_id"]),
            str(a.get("airflow.task_instance.run_id", span.trace_id)),
            state=a.get("airflow.task_instance.state"),
            try_number=a.get("airflow.task_instance.try_number"),
            map_index=a.get("airflow.task_instance.map_index"),
        )  # fmt: skip
    # Airflow 2.10: the same facts, unprefixed.
    if a.get("category") == "DAG runs" and "dag_id" in a and "run_id" in a:
        return _airflow_dag_run(span, prefix="", logical_date="execution_date")
    if "dag_id" in a and "task_id" in a and "try_number" in a:
        return _airflow_task(
            span, str(a["dag_id"]), str(a["task_id"]), str(a.get("run_id", span.trace_id)),
            state=a.get("state"), try_number=a.get("try_number"), map_index=a.get("map_index"),
        )  # fmt: skip
    return None


def _airflow_dag_run(span: SpanRecord, *, prefix: str, logical_date: str) -> RunObservation:
    """A DAG run as Airflow before 3.2 reports it: ``<prefix>dag_id``, ``run_id``, ``state``,
    ``error`` (true on failure), ``run_type`` and the logical date under ``logical_date``."""
    a = span.attributes
    failed = a.get(f"{prefix}error") in (True, "True", "true")
    state = AIRFLOW_DAG_STATES.get(str(a.get(f"{prefix}state", "")).lower())
    return _base(
        span,
        engine="airflow",
        job_name=str(a[f"{prefix}dag_id"]),
        external_id=str(a[f"{prefix}run_id"]),
        state="failed" if failed else state or _status_state(span),
        failure_reason=_failure(span) or ("DAG run failed" if failed else ""),
        scheduled_at=parse_time(a.get(f"{prefix}{logical_date}"), f"{prefix}{logical_date}"),
        attributes={"run_type": a.get(f"{prefix}run_type", "")},
    )


def _airflow_task(span, dag_id, task_id, run_id, *, state, try_number, map_index):
    """A task instance is a run of the job ``<dag_id>.<task_id>`` (OpenLineage's naming)."""
    index = _int(map_index)
    external = run_id if index is None or index < 0 else f"{run_id}[{index}]"
    mapped = AIRFLOW_TASK_STATES.get(str(state or "").lower())
    observation = _base(
        span,
        engine="airflow",
        job_name=f"{dag_id}.{task_id}",
        external_id=external,
        state=mapped or _status_state(span),
        attempt=_int(try_number),
        failure_reason=(
            _failure(span, default=f"task {task_id} {state or 'failed'} (try {try_number})")
            or f"task {task_id} {state}"
            if (mapped or _status_state(span)) == "failed"
            else ""
        ),
    )
    observation.parent_ref = f"airflow:{observation.namespace}/{dag_id}#{run_id}"
    return observation


# --- Spark (the spark.application → spark.job → spark.stage shape) ----------------------------
def spark(span: SpanRecord) -> RunObservation | None:
    a = span.attributes
    if span.name != "spark.application" and "spark.app.id" not in a:
        return None
    if span.name not in ("spark.application",) and span.parent_span_id:
        return None  # jobs and stages carry the app id too; only the application is the run
    app_id = str(a.get("spark.app.id") or span.trace_id)
    return _base(
        span,
        engine="spark",
        job_name=str(a.get("spark.app.name") or span.name),
        external_id=app_id,
        state=_status_state(span),
        failure_reason=_failure(span),
        attempt=_int(a.get("spark.app.attempt")),
    )


# --- Flink trace reporter: Checkpoint and JobInitialization spans --------------------------
def flink(span: SpanRecord) -> RunObservation | None:
    a = span.attributes
    if span.name not in ("Checkpoint", "JobInitialization"):
        return None
    job_id = a.get("jobId") or a.get("job_id")
    if not job_id:
        return None
    attributes = {}
    if span.name == "Checkpoint":
        attributes = {
            "last_checkpoint_id": a.get("checkpointId"),
            "last_checkpoint_status": a.get("checkpointStatus"),
            "last_checkpoint_size": a.get("checkpointedSize"),
        }
    observation = _base(
        span,
        engine="flink",
        job_name=str(a.get("jobName") or a.get("job_name") or job_id),
        external_id=str(job_id),
        state="running",
        attributes=attributes,
    )
    observation.ended_at = None  # a checkpoint does not end the job
    observation.root_span_id = ""
    return observation


# --- Temporal (TracingInterceptor) --------------------------------------------------------------
def temporal(span: SpanRecord) -> RunObservation | None:
    if not span.name.startswith("RunWorkflow:"):
        return None
    a = span.attributes
    run_id = a.get("temporalRunID") or a.get("temporalWorkflowID") or span.trace_id
    return _base(
        span,
        engine="temporal",
        job_name=span.name.removeprefix("RunWorkflow:"),
        external_id=str(run_id),
        state=_status_state(span),
        failure_reason=_failure(span),
        attributes={"workflow_id": a.get("temporalWorkflowID", "")},
    )


# --- Prefect 3 ------------------------------------------------------------------------------------
def prefect(span: SpanRecord) -> RunObservation | None:
    a = span.attributes
    if a.get("prefect.run.type") != "flow":
        return None
    name = a.get("prefect.flow.name") or span.name
    return _base(
        span,
        engine="prefect",
        job_name=str(name),
        external_id=str(a.get("prefect.run.id") or span.span_id),
        state=_status_state(span),
        failure_reason=_failure(span),
        attributes={"run_name": a.get("prefect.run.name", "")},
    )


# --- CI/CD semantic conventions ---------------------------------------------------------------
CICD_RESULTS = {"success": "succeeded", "skip": "succeeded", "failure": "failed",
                "error": "failed", "timeout": "failed", "cancellation": "failed"}  # fmt: skip


def cicd(span: SpanRecord) -> RunObservation | None:
    a = span.attributes
    if "cicd.pipeline.name" not in a or "cicd.pipeline.task.name" in a:
        return None
    result = str(a.get("cicd.pipeline.result", "")).lower()
    state = CICD_RESULTS.get(result) or _status_state(span)
    return _base(
        span,
        engine="ci",
        job_name=str(a["cicd.pipeline.name"]),
        external_id=str(a.get("cicd.pipeline.run.id") or span.trace_id),
        state=state,
        failure_reason=(f"pipeline result: {result}" if state == "failed" else ""),
    )


# --- Generic: our own small attribute set -------------------------------------------------------
GENERIC_STATES = {"running": "running", "succeeded": "succeeded", "success": "succeeded",
                  "failed": "failed", "failure": "failed"}  # fmt: skip


def generic(span: SpanRecord) -> RunObservation | None:
    a = span.attributes
    name = a.get("batch.job.name")
    if not name:
        return None
    engine = str(a.get("batch.job.engine", "other")).lower()
    if engine not in ENGINES:
        raise SpanRejected(
            f"span {span.name!r} names an unknown engine {engine!r}; "
            f"use one of {', '.join(sorted(ENGINES))}"
        )
    state = GENERIC_STATES.get(str(a.get("batch.run.state", "")).lower()) or _status_state(span)
    return _base(
        span,
        engine=engine,
        namespace=_namespace(a.get("batch.job.namespace"), "batch.job.namespace"),
        job_name=str(name),
        external_id=str(a.get("batch.run.id") or span.trace_id),
        state=state,
        scheduled_at=parse_time(a.get("batch.run.scheduled_time"), "batch.run.scheduled_time"),
        attempt=_int(a.get("batch.run.attempt")),
        failure_reason=str(a.get("batch.run.failure_reason") or _failure(span))
        if state == "failed"
        else "",
        failure_generic=not a.get("batch.run.failure_reason") and not _told(span),
    )


ADAPTERS: list[Callable[[SpanRecord], RunObservation | None]] = [
    generic,  # explicit attributes win over guesses
    airflow,
    spark,
    flink,
    temporal,
    prefect,
    cicd,
]


def observe(span: SpanRecord) -> RunObservation | None:
    """The run ``span`` reports, if any. A run the catalog or the ledger could not store (a
    bad label key, an empty name, a time beyond year 9999...) is refused here, with its
    sentence, rather than accepted and left to fail later."""
    try:
        for adapter in ADAPTERS:
            observation = adapter(span)
            if observation is not None:
                break
        else:
            return None
    except Invalid as exc:
        raise SpanRejected(f"span {span.name[:100]!r}: {exc.message}") from None
    problem = observation_problem(observation)
    if problem is not None:
        raise SpanRejected(f"span {span.name[:100]!r}: {problem.message}")
    return observation
