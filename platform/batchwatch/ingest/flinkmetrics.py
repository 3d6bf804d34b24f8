"""Flink's metrics (flink-metrics-otel ``/v1/metrics``) as run facts: restarts, checkpoints
and the lag of the job's sources.

Metric names carry the reporter's scope before the metric's own name
(``flink.jobmanager.job.numRestarts``), so they are matched by their last component; a data
point belongs to a job when it has a ``job_id`` attribute. The rest is left to the other
engines' readers (ingest/otlpmetrics.py), then counted as not recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from batchwatch.ingest.flink import _name, namespace_of
from batchwatch.ingest.otlp import MetricPoint
from batchwatch.runs.models import RunSource
from batchwatch.runs.observations import RunObservation, observation_problem

# Job counters → the run attribute they give. They only grow while a run lives: the largest
# value reported wins (runs/convergence.py COUNTERS), so a stale push never lowers them.
JOB_COUNTERS = {
    "numRestarts": "restarts",
    "numberOfCompletedCheckpoints": "checkpoints_completed",
    "numberOfFailedCheckpoints": "checkpoints_failed",
    "lastCompletedCheckpointId": "last_checkpoint_id",
}
# Gauges → (run attribute, how the job's points of one export combine). A gauge is stored
# as ``{"at": <time of the points>, "value": <number>}``: of two reports, the later one wins
# whatever the order they arrive in (the convergence rule for attributes compares values of
# equal standing by their JSON, which starts with "at").
JOB_GAUGES = {
    "lastCheckpointDuration": ("last_checkpoint_duration_ms", max),
    "lastCheckpointFullSize": ("last_checkpoint_size_bytes", max),
    "lastCheckpointSize": ("last_checkpoint_size_bytes", max),  # (before Flink 1.15's name)
    # Source lag (FLIP-33): records not yet read, summed over the job's source subtasks; the
    # Kafka consumer's own maximum lag of any partition; how far event time is behind.
    "pendingRecords": ("pending_records", sum),
    "records-lag-max": ("kafka_records_lag_max", max),
    "currentEmitEventTimeLag": ("event_time_lag_ms", max),
}


# Instrument names are case-insensitive in OpenTelemetry (SDKs may lower-case them).
_COUNTERS = {name.lower(): fact for name, fact in JOB_COUNTERS.items()}
_GAUGES = {name.lower(): fact for name, fact in JOB_GAUGES.items()}


def gauge_fact(value: int | float, at: datetime) -> dict[str, Any]:
    """A gauge's value as a run attribute: the latest report wins (see ``JOB_GAUGES``)."""
    number = int(value) if float(value).is_integer() else round(float(value), 3)
    return {"at": at.isoformat(timespec="microseconds"), "value": number}


def flink_observations(
    points: list[MetricPoint], *, now: datetime
) -> tuple[list[RunObservation], set[int]]:
    """Run observations from the job metrics among ``points``: one per job (per namespace)
    with its counters and gauges; returns them and the indices of the points they used."""
    facts: dict[tuple[str, str], dict[str, Any]] = {}
    used: set[int] = set()
    for index, point in enumerate(points):
        name = point.short_name.lower()
        counter, gauge = _COUNTERS.get(name), _GAUGES.get(name)
        job_id = point.attributes.get("job_id") or point.attributes.get("jobId")
        if (counter is None and gauge is None) or not job_id:
            continue
        namespace, _unknown = namespace_of(point.resource)
        job = facts.setdefault(
            (namespace, str(job_id)),
            {"name": None, "counters": {}, "gauges": {}, "at": None, "points": []},
        )
        job["name"] = job["name"] or point.attributes.get("job_name")
        at = point.at or now
        if counter is not None:
            value = max(0, int(point.value))
            job["counters"][counter] = max(value, job["counters"].get(counter, 0))
        else:
            attribute, _combine = gauge
            job["gauges"].setdefault(attribute, []).append(point.value)
        job["at"] = max(at, job["at"] or at)
        job["points"].append(index)

    observations: list[RunObservation] = []
    for (namespace, job_id), job in facts.items():
        attributes: dict[str, Any] = dict(job["counters"])
        for attribute, values in job["gauges"].items():
            combine = next(c for a, c in JOB_GAUGES.values() if a == attribute)
            attributes[attribute] = gauge_fact(max(0, combine(values)), job["at"])
        observation = RunObservation(
            engine="flink",
            namespace=_name(namespace, 200),
            job_name=_name(job["name"] or job_id, 300),
            external_id=job_id[:255],
            source=RunSource.OTLP_METRICS,
            attributes=attributes,
        )
        if observation_problem(observation) is None:
            observations.append(observation)
            used.update(job["points"])
    return observations, used
