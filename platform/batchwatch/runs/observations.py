"""Plain typed objects that ingest hands to the runs domain. No wire formats past this line."""

from __future__ import annotations

import math
import re
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from batchwatch.catalog.models import Engine
from batchwatch.catalog.validators import LABEL_KEY_RE


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
    # True when the reason is our placeholder for a report that says only "it failed" (a
    # Flink status event, a span with status ERROR and no message): a specific reason from
    # another report beats it, whatever the order (runs/convergence.py).
    failure_generic: bool = False
    trace_id: str = ""
    root_span_id: str = ""
    # 0 when root_span_id is the span that represents the run itself by the engine's
    # convention (Airflow's task_run.<task>); 1 for another span that also reports the run
    # (Airflow's worker.<task>): it is the run's root only until the run's own span arrives.
    root_rank: int = 0
    parent_ref: str = ""
    # How an OpenLineage event named the run ('ol:<namespace>/<name>#<runId>') when it is
    # filed under the engine's identity instead: runs that name it as their parent find it.
    lineage_ref: str = ""
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


# The resource attributes a span keeps for triage (where it ran, which deployment); the rest
# (SDK versions, process command lines) are left out. Documented in docs/telemetry.md.
RESOURCE_KEYS = frozenset(
    {
        "service.name", "service.namespace", "service.version", "service.instance.id",
        "deployment.environment", "deployment.environment.name", "host.name", "host.id",
        "host.arch", "os.type", "container.name", "container.id", "container.image.name",
        "container.image.tag", "process.pid", "telemetry.sdk.language",
    }
)  # fmt: skip
RESOURCE_PREFIXES = ("batchwatch.", "k8s.", "cloud.", "faas.", "aws.", "gcp.", "azure.")
MAX_RESOURCE_KEYS = 64


def kept_resource(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource attributes a stored span keeps (``RESOURCE_KEYS``, ``RESOURCE_PREFIXES``;
    at most ``MAX_RESOURCE_KEYS``, in key order)."""
    kept = {}
    for key in sorted(resource):
        if key in RESOURCE_KEYS or key.startswith(RESOURCE_PREFIXES):
            kept[key] = resource[key]
            if len(kept) >= MAX_RESOURCE_KEYS:
                break
    return kept


def span_ref(trace_id: str, span_id: str) -> str:
    return f"span:{trace_id}/{span_id}"


# --- Validation: what the catalog and the database accept, checked before anything is stored --
# (the ingest edge refuses an observation that fails with its sentence; the drain quarantines it)

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ATTEMPT = 2**31 - 1  # Run.attempt is a 32-bit integer column
_NO_SPACE = re.compile(r"\S+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_STATES = frozenset({None, "running", "succeeded", "failed"})


class Invalid(ValueError):
    """An observation (or a value meant for one) that cannot be stored: a bounded ``code``
    (a metric label) and a sentence for the sender."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def text_problem(value: str) -> str:
    """Why a string cannot be stored as text (NUL, a lone surrogate), or ''."""
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (not valid Unicode)"
    return ""


def clean_text(value: str) -> str:
    """``value`` without NUL characters and with lone surrogates replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = _SURROGATE.sub("\ufffd", value)
    return value


def clean_json(value: Any, depth: int = 0) -> Any:
    """A decoded JSON-like tree made storable: strings (keys too) through :func:`clean_text`,
    NaN and infinities as the strings 'NaN', 'Infinity', '-Infinity' (JSON has no such
    numbers and PostgreSQL's jsonb refuses them)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else _non_finite(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v, depth + 1) for v in value]
    return value


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def utc_time(value: datetime, what: str) -> datetime:
    """``value`` in UTC, refused unless it is aware and within the years 1970-9999 in UTC
    (what the database stores and reads back: 9999-12-31T23:00-05:00 is year 10000)."""
    if value.tzinfo is UTC and value >= EARLIEST:  # (what the edge parsers give: no work)
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise Invalid("invalid_time", f"{what} {value.isoformat()} has no time zone")
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or utc < EARLIEST:
        raise Invalid(
            "invalid_time",
            f"{what} {value.isoformat()} is outside the years 1970-9999 (in UTC)",
        )
    return utc


def _check_name(value: Any, what: str, max_length: int, code: str) -> None:
    if not isinstance(value, str):
        raise Invalid(code, f"{what} must be a string, not {type(value).__name__}")
    if not value or value.isspace():
        raise Invalid(code, f"{what} is empty")
    if len(value) > max_length:
        raise Invalid(code, f"{what} is longer than {max_length} characters")
    problem = text_problem(value)
    if problem:
        raise Invalid(code, f"{what} {_short(value)} {problem}")
    if not _NO_SPACE.fullmatch(value):
        raise Invalid(code, f"{what} {_short(value)} contains whitespace")


def _check_text(value: Any, what: str, max_length: int | None = None) -> None:
    if (  # (the usual case, cheaply)
        type(value) is str
        and value.isascii()
        and "\x00" not in value
        and (max_length is None or len(value) <= max_length)
    ):
        return
    if not isinstance(value, str):
        raise Invalid("invalid_value", f"{what} must be a string, not {type(value).__name__}")
    if max_length is not None and len(value) > max_length:
        raise Invalid("invalid_value", f"{what} is longer than {max_length} characters")
    problem = text_problem(value)
    if problem:
        raise Invalid("invalid_value", f"{what} {_short(value)} {problem}")


def _check_json(value: Any, what: str, depth: int = 0) -> None:
    if depth > 32:
        raise Invalid("invalid_value", f"{what} is nested more than 32 levels deep")
    if isinstance(value, str):
        _check_text(value, what)
    elif isinstance(value, float) and not math.isfinite(value):
        raise Invalid("invalid_value", f"{what} is {value}, which JSON cannot store")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"a key of {what}")
            _check_json(item, f"{what}.{key}", depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_json(item, what, depth + 1)
    elif not (value is None or isinstance(value, bool | int | float)):
        raise Invalid("invalid_value", f"{what} holds a {type(value).__name__}")


def observation_problem(obs: RunObservation) -> Invalid | None:
    """Why ``obs`` cannot be recorded (the catalog's rules for jobs and labels, what the run
    table stores), or None. Checked at the edge and again by the queued drain."""
    try:
        observation_check(obs)
    except Invalid as exc:
        return exc
    return None


@lru_cache(maxsize=1)
def _catalog_rules():
    """The catalog's engines and label-key pattern."""
    return frozenset(Engine.values), LABEL_KEY_RE


def observation_check(obs: RunObservation) -> None:
    """Raise :class:`Invalid` if ``obs`` cannot be recorded (see :func:`observation_problem`).
    Every run span of every request passes here: cheap checks first."""
    engines, label_key = _catalog_rules()
    if obs.engine not in engines:
        raise Invalid("invalid_value", f"engine {_short(obs.engine)} is not known")
    _check_name(obs.namespace, "job namespace", 200, "invalid_namespace")
    _check_name(obs.job_name, "job name", 300, "invalid_name")
    _check_text(obs.external_id, "run id", 255)
    if not obs.external_id:
        raise Invalid("invalid_value", "run id is empty")
    _check_text(obs.source, "source", 16)
    if obs.state not in _STATES:
        raise Invalid("invalid_value", f"state {_short(obs.state)} is not known")
    for name in _TIMES:
        value = getattr(obs, name)
        if value is not None:
            if not isinstance(value, datetime):
                raise Invalid("invalid_time", f"{name} must be a date-time")
            utc_time(value, name.replace("_at", " time"))
    if obs.attempt is not None and (
        not isinstance(obs.attempt, int) or not 0 <= obs.attempt <= MAX_ATTEMPT
    ):
        raise Invalid("invalid_value", f"attempt {_short(obs.attempt)} is not 0 to {MAX_ATTEMPT}")
    _check_text(obs.failure_reason, "failure reason")
    if not isinstance(obs.failure_generic, bool):
        raise Invalid("invalid_value", "failure_generic must be true or false")
    if not isinstance(obs.root_rank, int) or not 0 <= obs.root_rank <= 9:
        raise Invalid("invalid_value", "root_rank must be an integer from 0 to 9")
    _check_text(obs.trace_id, "trace id", 32)
    _check_text(obs.root_span_id, "root span id", 16)
    _check_text(obs.parent_ref, "parent reference", 600)
    _check_text(obs.lineage_ref, "OpenLineage reference", 600)
    if not isinstance(obs.labels, dict):
        raise Invalid("invalid_label", "labels must be an object")
    for key, value in obs.labels.items():
        if not isinstance(key, str) or not label_key.fullmatch(key) or "__" in key:
            raise Invalid(
                "invalid_label",
                f"label key {_short(key)} must start with a letter or _, contain only "
                "letters, digits, _ . -, no '__', at most 63 characters",
            )
        if not isinstance(value, str) or len(value) > 200 or text_problem(value):
            raise Invalid(
                "invalid_label",
                f"label {key!r} must have a string value of at most 200 characters",
            )
    if not isinstance(obs.attributes, dict):
        raise Invalid("invalid_value", "attributes must be an object")
    _check_json(obs.attributes, "attributes")
    if obs.owner_team_id is not None and not isinstance(obs.owner_team_id, int):
        raise Invalid("invalid_value", "owner team must be an id")
