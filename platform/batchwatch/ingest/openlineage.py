"""OpenLineage RunEvents at the edge (the Marquez-compatible ``POST /api/v1/lineage``)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

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
    failure = ""
    if state == "failed":
        message = _object(facets, "errorMessage", "run.facets").get("message")
        failure = (
            clean_text(str(message))[:2000]
            if message
            else ("aborted" if event_type == "ABORT" else "failed")
        )
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
        parent_ref=parent_ref,
        attributes={"producer": clean_text(str(event.get("producer", "")))[:300]},
    )
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
    from batchwatch.catalog.models import Job

    match = Job.objects.filter(namespace=namespace, name=name).values_list("key", flat=True).first()
    return match
