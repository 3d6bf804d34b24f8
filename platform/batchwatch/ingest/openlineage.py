"""OpenLineage RunEvents at the edge (the Marquez-compatible ``POST /api/v1/lineage``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from batchwatch.ingest.adapters import ENGINES, parse_time
from batchwatch.ingest.errors import IngestError
from batchwatch.runs.models import RunSource
from batchwatch.runs.observations import LineageObservation, RunObservation

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
    if not isinstance(value, str) or not value.strip():
        raise IngestError(400, f"{where} must be a non-empty string.")
    if len(value) > max_length:
        raise IngestError(400, f"{where} is longer than {max_length} characters.")
    return value.strip()


def _engine(event: dict) -> str | None:
    job_facets = event.get("job", {}).get("facets") or {}
    integration = str((job_facets.get("jobType") or {}).get("integration", "")).upper()
    if integration in INTEGRATIONS:
        return INTEGRATIONS[integration]
    run_facets = event.get("run", {}).get("facets") or {}
    processing = str((run_facets.get("processing_engine") or {}).get("name", "")).lower()
    return processing if processing in ENGINES else None


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
    event_time = parse_time(_require(event, "eventTime", ""))
    if event_time is None:
        raise IngestError(400, "eventTime must be an ISO 8601 date-time with a zone.")
    if event_time.year < 2000 or (event_time - now).days > 1:
        raise IngestError(400, f"eventTime {event_time.isoformat()} is not plausible.")
    run = _require(event, "run", "")
    run_id = _string(_require(run, "runId", "run"), "run.runId", max_length=255)
    job = _require(event, "job", "")
    namespace = _string(_require(job, "namespace", "job"), "job.namespace", max_length=200)
    name = _string(_require(job, "name", "job"), "job.name")
    facets = run.get("facets") or {}
    if not isinstance(facets, dict):
        raise IngestError(400, "run.facets must be an object.")
    state = EVENT_STATES[event_type]
    failure = ""
    if state == "failed":
        message = (facets.get("errorMessage") or {}).get("message")
        failure = (
            str(message)[:2000] if message else ("aborted" if event_type == "ABORT" else "failed")
        )
    nominal = (facets.get("nominalTime") or {}).get("nominalStartTime")
    parent = facets.get("parent") or {}
    parent_ref, parent_job_key = "", None
    engine = _engine(event)
    if parent:
        p_run = (parent.get("run") or {}).get("runId")
        p_job = parent.get("job") or {}
        if p_run and p_job.get("namespace") and p_job.get("name"):
            parent_ref = f"ol:{p_job['namespace']}/{p_job['name']}#{p_run}"
            parent_job_key = _parent_job_key(p_job)
    observation = RunObservation(
        engine=engine or "other",
        engine_known=engine is not None,
        namespace=namespace.replace(" ", "_"),
        job_name=name.replace(" ", "_"),
        external_id=run_id,
        source=RunSource.OPENLINEAGE,
        state=state,
        scheduled_at=parse_time(nominal),
        started_at=event_time if event_type == "START" else None,
        ended_at=event_time if state in ("succeeded", "failed") else None,
        failure_reason=failure,
        parent_ref=parent_ref,
        attributes={"producer": str(event.get("producer", ""))[:300]},
    )
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


def _parent_job_key(parent_job: dict) -> str | None:
    """The parent's job key when we can tell its engine (Airflow DAGs and tasks say so)."""
    from batchwatch.catalog.models import Job

    match = (
        Job.objects.filter(namespace=parent_job["namespace"], name=parent_job["name"])
        .values_list("key", flat=True)
        .first()
    )
    return match
