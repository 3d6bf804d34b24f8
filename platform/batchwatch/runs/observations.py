"""Plain typed objects that ingest hands to the runs domain. No wire formats past this line."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class RunObservation:
    """What one report says about one run. Missing facts are None and change nothing."""

    engine: str
    namespace: str
    job_name: str
    external_id: str
    source: str
    state: str | None = None  # running | succeeded | failed
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    attempt: int | None = None
    failure_reason: str = ""
    trace_id: str = ""
    root_span_id: str = ""
    parent_ref: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    owner_team_id: int | None = None  # the ingest key's team, for jobs it registers
    # False when the report does not say its engine (an OpenLineage event without a jobType):
    # then a catalog job with the same namespace and name is that job, whatever its engine.
    engine_known: bool = True

    @property
    def job_key(self) -> str:
        return f"{self.engine}:{self.namespace}/{self.job_name}"


_TIMES = ("scheduled_at", "started_at", "ended_at")


def _default(f):
    return f.default_factory() if f.default_factory is not MISSING else f.default


# Fields with a default, and the default: a stored record leaves out what equals it.
_DEFAULTS = tuple(
    (f.name, _default(f))
    for f in fields(RunObservation)
    if f.default is not MISSING or f.default_factory is not MISSING
)
_REQUIRED = tuple(
    f.name for f in fields(RunObservation) if f.default is MISSING and f.default_factory is MISSING
)


def observation_record(observation: RunObservation) -> dict[str, Any]:
    """An observation in the stored form of the ingest queue (JSON: times as ISO 8601; facts
    the report does not give are left out, as :func:`observation_from_record` restores them:
    a queued request's observations are about half the size)."""
    record = {name: getattr(observation, name) for name in _REQUIRED}
    for name, default in _DEFAULTS:
        value = getattr(observation, name)
        if value != default:
            record[name] = value.isoformat() if name in _TIMES else value
    return record


def observation_from_record(record: dict[str, Any]) -> RunObservation:
    values = dict(record)
    for name in _TIMES:
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name])
    return RunObservation(**values)


@dataclass(slots=True)
class SpanRecord:
    """One decoded span, ids as lower-case hex."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    start: datetime
    end: datetime
    status_code: int
    status_message: str
    service_name: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    resource: dict[str, Any]
    scope: str


@dataclass(slots=True)
class LineageObservation:
    """Datasets a run read and wrote, for job → job edges."""

    job_key: str
    inputs: list[tuple[str, str]]
    outputs: list[tuple[str, str]]
    parent_job_key: str | None = None


def span_ref(trace_id: str, span_id: str) -> str:
    return f"span:{trace_id}/{span_id}"
