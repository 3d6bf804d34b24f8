"""What a row of the run page's waterfall is called: the thing a span stands for, read from the
attributes the engines send and our importers store (docs/telemetry.md), not the span's name
alone, which engines share between siblings (every Spark stage is ``spark.stage``).

Pure: a span (a stored ``runs.models.Span`` or a decoded ``SpanRecord``) in, a short text
out; a span no rule knows keeps its name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

# Generic attributes that tell siblings apart when no engine rule applies (the OpenTelemetry
# SDK's examples and our own probes use them): the first one present follows the name.
GENERIC_KEYS = ("task.id", "task.index", "job.id", "step.name")
LABEL_MAX = 200


class SpanLike(Protocol):
    name: str
    attributes: Any


def span_label(span: SpanLike) -> str:
    """``stage 3: count at job.py:36``, ``task extract [2] · try 2``, ``checkpoint 41
    (COMPLETED)``...; the span's name when no rule knows it."""
    attributes = span.attributes if isinstance(span.attributes, Mapping) else {}
    for rule in RULES:
        label = rule(span.name, attributes)
        if label:
            return label[:LABEL_MAX]
    return span.name


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value).strip()


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _spark(name: str, a: Mapping[str, Any]) -> str:
    """The Spark event log importer's spans (ingest/sparklog.py) and OTLP traces of the same
    shape: application, job, stage (id, attempt, name), task (id, partition, attempt)."""
    if _text(a.get("spark.stage.id")):
        label = f"stage {_text(a['spark.stage.id'])}"
        attempt = _int(a.get("spark.stage.attempt"))
        if attempt:
            label += f" (attempt {attempt})"
        stage_name = _text(a.get("spark.stage.name"))
        return f"{label}: {stage_name}" if stage_name else label
    if _text(a.get("spark.job.id")):
        return f"job {_text(a['spark.job.id'])}"
    if name == "spark.task" and _text(a.get("task_id")):
        label = f"task {_text(a['task_id'])}"
        parts = []
        if _int(a.get("index")) is not None:
            parts.append(f"partition {_int(a.get('index'))}")
        if _int(a.get("attempt")):
            parts.append(f"attempt {_int(a.get('attempt'))}")
        if _text(a.get("executor")):
            parts.append(f"executor {_text(a.get('executor'))}")
        return f"{label} ({', '.join(parts)})" if parts else label
    if name == "spark.application" and "spark.app.name" in a:
        app = _text(a.get("spark.app.name"))
        app_id = _text(a.get("spark.app.id"))
        return f"application {app} ({app_id})" if app_id else f"application {app}"
    return ""


def _airflow_task(task_id: str, a: Mapping[str, Any], *, map_key: str, try_key: str) -> str:
    label = f"task {task_id}"
    index = _int(a.get(map_key))
    if index is not None and index >= 0:
        label += f" [{index}]"
    tries = _int(a.get(try_key))
    if tries is not None and tries > 1:
        label += f" · try {tries}"
    return label


def _airflow(name: str, a: Mapping[str, Any]) -> str:
    """Airflow 3.2+ (``airflow.dag_id``, ``airflow.task_id``), 3.0/3.1
    (``airflow.dag_run.*``, ``airflow.task_instance.*``) and 2.10 (unprefixed)."""
    if "airflow.task_id" in a:
        task = _airflow_task(
            _text(a["airflow.task_id"]),
            a,
            map_key="airflow.task_instance.map_index",
            try_key="airflow.task_instance.try_number",
        )
        # The worker's own span and its detail spans carry the task's attributes too.
        if name.startswith("worker."):
            return f"worker of {task}"
        if name.startswith("task_run.") or name == _text(a["airflow.task_id"]):
            return task
        return f"{name} · {task}"
    if "airflow.dag_id" in a and "airflow.dag_run.run_id" in a:
        return f"DAG run {_text(a['airflow.dag_id'])}"
    if "airflow.task_instance.task_id" in a:
        return _airflow_task(
            _text(a["airflow.task_instance.task_id"]),
            a,
            map_key="airflow.task_instance.map_index",
            try_key="airflow.task_instance.try_number",
        )
    if "airflow.dag_run.dag_id" in a:
        return f"DAG run {_text(a['airflow.dag_run.dag_id'])}"
    if a.get("category") == "DAG runs" and "dag_id" in a:
        return f"DAG run {_text(a['dag_id'])}"
    if "dag_id" in a and "task_id" in a and "try_number" in a:
        return _airflow_task(_text(a["task_id"]), a, map_key="map_index", try_key="try_number")
    return ""


def _flink(name: str, a: Mapping[str, Any]) -> str:
    """Flink's trace reporter: one ``Checkpoint`` span per checkpoint, ``JobInitialization``."""
    if name == "Checkpoint" and "checkpointId" in a:
        status = _text(a.get("checkpointStatus"))
        label = f"checkpoint {_text(a['checkpointId'])}"
        return f"{label} ({status})" if status else label
    if name == "JobInitialization" and ("jobId" in a or "job_id" in a):
        return f"job initialisation {_text(a.get('jobName') or a.get('job_name'))}".strip()
    return ""


def _others(name: str, a: Mapping[str, Any]) -> str:
    """Temporal activities, Prefect task runs, CI tasks (OTel CICD conventions)."""
    if "temporalActivityID" in a:
        return f"{name} · activity {_text(a['temporalActivityID'])}"
    if a.get("prefect.run.type") == "task" and _text(a.get("prefect.run.name")):
        return f"task run {_text(a['prefect.run.name'])}"
    if _text(a.get("cicd.pipeline.task.name")):
        return f"task {_text(a['cicd.pipeline.task.name'])}"
    for key in GENERIC_KEYS:
        value = _text(a.get(key))
        if value:
            return f"{name} {value}"
    return ""


RULES: tuple[Callable[[str, Mapping[str, Any]], str], ...] = (_spark, _airflow, _flink, _others)
