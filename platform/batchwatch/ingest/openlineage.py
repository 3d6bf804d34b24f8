"""OpenLineage RunEvents at the edge (the Marquez-compatible ``POST /api/v1/lineage``)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from batchwatch.catalog.models import Job
from batchwatch.ingest.adapters import ENGINES, parse_time
from batchwatch.ingest.errors import IngestError
from batchwatch.runs.models import RunSource
from batchwatch.runs.observations import (
    Invalid,
    LineageObservation,
    RunObservation,
    clean_text,
    observation_problem,
)

_WHITESPACE = re.compile(r"\s+")

EVENT_STATES = {
    "START": "running",
    "RUNNING": "running",
    "COMPLETE": "succeeded",
    "FAIL": "failed",
    "ABORT": "failed",
    "OTHER": None,
}
# OpenLineage's jobType.integration values that name one of our engines.
INTEGRATIONS = {"SPARK": "spark", "FLINK": "flink", "AIRFLOW": "airflow", "DBT": "dbt",
                "FLYTE": "flyte", "PREFECT": "prefect", "TEMPORAL": "temporal",
                "LUIGI": "luigi"}  # fmt: skip


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        path = f"{where}.{key}" if where else key
        raise IngestError(400, f"Missing required field {path}.")
    return mapping[key]


def _string(value: Any, where: str, *, max_length: int = 300) -> str:
    """A non-empty string, without NUL (removed) or lone surrogates (replaced)."""
    if not isinstance(value, str) or not value.strip():
        raise IngestError(400, f"{where} must be a non-empty string.")
    if len(value) > max_length:
        raise IngestError(400, f"{where} is longer than {max_length} characters.")
    value = clean_text(value).strip()
    if not value:
        raise IngestError(400, f"{where} must be a non-empty string.")
    return value


def _name(value: Any, where: str, *, max_length: int) -> str:
    """A job's namespace or name: whitespace (spaces, tabs, line breaks) becomes '_', as the
    OTLP adapters write names; the catalog's keys have none."""
    return _WHITESPACE.sub("_", _string(value, where, max_length=max_length))


def _object(mapping: dict, key: str, where: str) -> dict:
    """``mapping[key]`` when it is an object, {} when absent or null; 400 otherwise (facets
    are objects in every OpenLineage schema)."""
    value = mapping.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise IngestError(400, f"{where}.{key} must be an object, not {type(value).__name__}.")
    return value


def _engine(job_facets: dict, run_facets: dict) -> str | None:
    integration = str(_object(job_facets, "jobType", "job.facets").get("integration", ""))
    if integration.upper() in INTEGRATIONS:
        return INTEGRATIONS[integration.upper()]
    processing = _object(run_facets, "processing_engine", "run.facets").get("name", "")
    processing = str(processing).lower()
    return processing if processing in ENGINES else None


def _time(value: Any, where: str) -> datetime | None:
    try:
        return parse_time(value, where)
    except Invalid as exc:
        raise IngestError(400, f"{exc.message[:1].upper()}{exc.message[1:]}.") from None


def _datasets(event: dict, key: str) -> list[tuple[str, str]]:
    items = event.get(key) or []
    if not isinstance(items, list):
        raise IngestError(400, f"{key} must be a list of datasets.")
    datasets = []
    for i, item in enumerate(items):
        datasets.append(
            (
                _string(_require(item, "namespace", f"{key}[{i}]"), f"{key}[{i}].namespace"),
                _string(_require(item, "name", f"{key}[{i}]"), f"{key}[{i}].name", max_length=500),
            )
        )
    return datasets


def parse_run_event(event: Any, *, now: datetime) -> tuple[RunObservation, LineageObservation]:
    """One RunEvent → what it says about its run and its lineage. 400 with a sentence if not."""
    if not isinstance(event, dict):
        raise IngestError(400, "The body must be one OpenLineage RunEvent (a JSON object).")
    event_type = str(event.get("eventType") or "OTHER").upper()
    if event_type not in EVENT_STATES:
        raise IngestError(400, f"eventType {event_type!r} is not one of {', '.join(EVENT_STATES)}.")
    event_time = _time(_require(event, "eventTime", ""), "eventTime")
    if event_time is None:
        raise IngestError(400, "eventTime must be an ISO 8601 date-time with a zone.")
    if event_time.year < 2000 or (event_time - now).days > 1:
        raise IngestError(400, f"eventTime {event_time.isoformat()} is not plausible.")
    run = _require(event, "run", "")
    run_id = _string(_require(run, "runId", "run"), "run.runId", max_length=255)
    job = _require(event, "job", "")
    namespace = _name(_require(job, "namespace", "job"), "job.namespace", max_length=200)
    name = _name(_require(job, "name", "job"), "job.name", max_length=300)
    facets = _object(run, "facets", "run")
    job_facets = _object(job, "facets", "job")
    state = EVENT_STATES[event_type]
    failure, generic = "", False
    if state == "failed":
        message = _object(facets, "errorMessage", "run.facets").get("message")
        failure = (
            clean_text(str(message))[:2000]
            if message
            else ("aborted" if event_type == "ABORT" else "failed")
        )
        generic = not message
    nominal = _object(facets, "nominalTime", "run.facets").get("nominalStartTime")
    parent = _object(facets, "parent", "run.facets")
    parent_ref, parent_job_key = "", None
    engine = _engine(job_facets, facets)
    if parent:
        p_run = _object(parent, "run", "run.facets.parent").get("runId")
        p_job = _object(parent, "job", "run.facets.parent")
        if p_run and p_job.get("namespace") and p_job.get("name"):
            where = "run.facets.parent"
            p_namespace = _name(p_job["namespace"], f"{where}.job.namespace", max_length=200)
            p_name = _name(p_job["name"], f"{where}.job.name", max_length=300)
            p_run = _string(p_run, f"{where}.run.runId", max_length=255)
            parent_ref = f"ol:{p_namespace}/{p_name}#{p_run}"
            if len(parent_ref) > 600:
                raise IngestError(400, f"{where} names a parent longer than 600 characters.")
            parent_job_key = _parent_job_key(p_namespace, p_name)
    observation = RunObservation(
        engine=engine or "other",
        engine_known=engine is not None,
        namespace=namespace,
        job_name=name,
        external_id=run_id,
        source=RunSource.OPENLINEAGE,
        state=state,
        scheduled_at=_time(nominal, "run.facets.nominalTime.nominalStartTime"),
        started_at=event_time if event_type == "START" else None,
        ended_at=event_time if state in ("succeeded", "failed") else None,
        failure_reason=failure,
        failure_generic=generic,
        parent_ref=parent_ref,
        attributes={"producer": clean_text(str(event.get("producer", "")))[:300]},
    )
    identity = _identity(engine, facets)
    if identity is not None:
        parent_job_key = _adopt_identity(observation, identity, run_id=run_id) or parent_job_key
    problem = observation_problem(observation)
    if problem is not None:
        raise IngestError(400, f"{problem.message[:1].upper()}{problem.message[1:]}.")
    if event_type != "START" and state is not None:
        # A run we first hear of when it ends still started at some point: no later than now.
        observation.started_at = observation.started_at or event_time
    lineage = LineageObservation(
        job_key=observation.job_key,
        inputs=_datasets(event, "inputs"),
        outputs=_datasets(event, "outputs"),
        parent_job_key=parent_job_key,
    )
    return observation, lineage


def _parent_job_key(namespace: str, name: str) -> str | None:
    """The parent's job key when we can tell its engine (Airflow DAGs and tasks say so)."""
    match = Job.objects.filter(namespace=namespace, name=name).values_list("key", flat=True).first()
    return match


# --- One run whatever reports it -----------------------------------------------------------
# An engine's OpenLineage integration names a run by a UUID of its own, while its traces, event
# logs and REST API name it by the engine's identity. The facets carry that identity, so an
# event of a known integration is filed under it: the run its other reports speak of.


def _facet_text(value: Any, where: str, *, max_length: int = 250) -> str | None:
    if value is None or value == "" or isinstance(value, dict | list | bool):
        return None
    return _string(str(value), where, max_length=max_length)


def _airflow_identity(facets: dict) -> dict | None:
    """The Airflow provider's ``airflow`` facet (task runs: ``dag``, ``dagRun``, ``task``,
    ``taskInstance``) or ``airflowDagRun`` facet (DAG runs): dag_id, run_id, and for a task
    its task_id, map_index and try number."""
    task_facet = _object(facets, "airflow", "run.facets")
    dag_facet = task_facet or _object(facets, "airflowDagRun", "run.facets")
    if not dag_facet:
        return None
    where = "run.facets.airflow" if task_facet else "run.facets.airflowDagRun"
    dag_run = _object(dag_facet, "dagRun", where)
    dag = _object(dag_facet, "dag", where)
    dag_id = _facet_text(dag_run.get("dag_id") or dag.get("dag_id"), f"{where}.dag.dag_id")
    run_id = _facet_text(dag_run.get("run_id"), f"{where}.dagRun.run_id")
    if not dag_id or not run_id:
        return None
    identity = {"engine": "airflow", "dag_id": dag_id, "run_id": run_id}
    if task_facet:
        task = _object(task_facet, "task", where)
        instance = _object(task_facet, "taskInstance", where)
        task_id = _facet_text(
            task.get("task_id") or instance.get("task_id"), f"{where}.task.task_id"
        )
        if not task_id:
            return None
        identity["task_id"] = task_id
        identity["map_index"] = _whole(instance.get("map_index"))
        identity["try_number"] = _whole(instance.get("try_number"))
    return identity


def _spark_identity(facets: dict) -> dict | None:
    """openlineage-spark's ``spark_applicationDetails`` facet (the application's events):
    its application id and name; ``spark.batchwatch.job`` / ``.namespace`` from the
    ``spark_properties`` facet when they were captured, as the event log reads them."""
    details = _object(facets, "spark_applicationDetails", "run.facets")
    where = "run.facets.spark_applicationDetails"
    app_id = _facet_text(details.get("applicationId"), f"{where}.applicationId")
    if not app_id:
        return None
    properties = _object(
        _object(facets, "spark_properties", "run.facets"), "properties", "spark_properties"
    )
    name = properties.get("spark.batchwatch.job") or details.get("appName") or app_id
    return {
        "engine": "spark",
        "app_id": app_id,
        "name": _facet_text(name, f"{where}.appName", max_length=300) or app_id,
        "namespace": _facet_text(
            properties.get("spark.batchwatch.namespace"), "spark.batchwatch.namespace"
        ),
    }


def _flink_identity(facets: dict) -> dict | None:
    """openlineage-flink's ``flink_job`` facet (FlinkJobDetailsFacet): the Flink job id, the
    run id Flink's REST API, its archives and its status logs use."""
    where = "run.facets.flink_job"
    job_id = _facet_text(_object(facets, "flink_job", "run.facets").get("jobId"), f"{where}.jobId")
    return {"engine": "flink", "job_id": job_id} if job_id else None


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


IDENTITIES = {"airflow": _airflow_identity, "spark": _spark_identity, "flink": _flink_identity}


def _identity(engine: str | None, facets: dict) -> dict | None:
    """The engine's identity of the run, from the facets of its integration (of the engine
    the event names, or of any when it names none)."""
    for name, find in IDENTITIES.items():
        if engine in (name, None):
            identity = find(facets)
            if identity is not None:
                return identity
    return None


def _adopt_identity(observation: RunObservation, identity: dict, *, run_id: str) -> str | None:
    """File ``observation`` under the engine's identity (the job and run id its traces or
    event log use); keep the event's own reference so runs that name it as their OpenLineage
    parent still find it. Returns the parent's job key when the identity gives one."""
    observation.lineage_ref = f"ol:{observation.namespace}/{observation.job_name}#{run_id}"
    if identity["engine"] == "spark":
        observation.engine = "spark"
        observation.engine_known = True
        observation.namespace = _WHITESPACE.sub("_", identity["namespace"] or observation.namespace)
        observation.job_name = _WHITESPACE.sub("_", identity["name"])[:300]
        observation.external_id = identity["app_id"]
        return None
    if identity["engine"] == "flink":
        # The job keeps the event's namespace and name (as the REST poll and the status logs
        # name it: the Flink job name, blanks as underscores); the run is the Flink job id.
        observation.engine = "flink"
        observation.engine_known = True
        observation.job_name = _WHITESPACE.sub("_", observation.job_name)[:300]
        observation.external_id = identity["job_id"]
        return None
    # Named as the OTLP adapter names them (ingest.adapters.airflow).
    dag_id, run = _WHITESPACE.sub("_", identity["dag_id"])[:200], identity["run_id"]
    observation.engine = "airflow"
    observation.engine_known = True
    if "task_id" not in identity:
        observation.job_name = dag_id
        observation.external_id = run
        return None
    index = identity["map_index"]
    observation.job_name = f"{dag_id}.{_WHITESPACE.sub('_', identity['task_id'])}"[:200]
    observation.external_id = (run if index is None or index < 0 else f"{run}[{index}]")[:255]
    observation.attempt = identity["try_number"] or observation.attempt
    # As Airflow's traces name a task run's parent: its DAG run.
    observation.parent_ref = f"airflow:{observation.namespace}/{dag_id}#{run}"[:600]
    return f"airflow:{observation.namespace}/{dag_id}"
