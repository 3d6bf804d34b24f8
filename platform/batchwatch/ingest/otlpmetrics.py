"""OTLP metrics (``POST /v1/metrics``) at the edge: the metrics of known engines as run facts.

An export is decoded into :class:`~batchwatch.ingest.otlp.MetricPoint`s (ingest/otlp.py);
each reader below takes the points it knows and gives run observations, recorded like any
other report (runs/convergence.py decides each fact):

* Flink (flink-metrics-otel): job counters and gauges with a ``job_id`` (ingest/flinkmetrics.py).
* Spark (the OpenTelemetry Collector's ``apachespark`` receiver): ``spark.job.*`` and
  ``spark.stage.*`` points of an application (``application_id`` as a point attribute, or
  ``spark.application.id`` on the resource) become the application run's ``jobs``,
  ``stages``, ``failed_tasks`` and ``failed_stages``.
* Kafka consumer lag (the Collector's ``kafkametrics`` receiver, ``consumers`` scraper):
  ``kafka.consumer_group.lag`` (per ``group``, ``topic``, ``partition``) and
  ``kafka.consumer_group.lag_sum`` (per ``group``, ``topic``) become ``kafka_lag``, a fact of
  each job labelled ``kafka_consumer_group: <group>`` (``Job.facts``) and of its running run.

Everything else is counted and answered as not recorded (``partial_success``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from batchwatch.catalog.models import Job
from batchwatch.ingest.flink import _name
from batchwatch.ingest.flinkmetrics import flink_observations, gauge_fact
from batchwatch.ingest.otlp import MetricExport, MetricPoint, metric_points
from batchwatch.runs.models import RunSource, RunState
from batchwatch.runs.observations import RunObservation, observation_problem
from batchwatch.runs.selectors import latest_run_by_job

# The catalog label that names the Kafka consumer group a job reads with.
CONSUMER_GROUP_LABEL = "kafka_consumer_group"

# What the sender is told is recorded, after how many data points were not.
RECORDED = (
    "Batchwatch records Flink's job metrics (numRestarts, checkpoint counts and durations, "
    "pendingRecords, records-lag-max with a job_id), Spark's job and stage metrics with an "
    "application id, and Kafka consumer lag (kafka.consumer_group.lag, lag_sum) of consumer "
    f"groups a job names in its '{CONSUMER_GROUP_LABEL}' label"
)

# Spark job metrics of the apachespark receiver → the application run's attribute; summed
# over the application's jobs in one export, stored as gauges (the latest report wins).
SPARK_JOB_SUMS = {
    "spark.job.failed_tasks": "failed_tasks",
    "spark.job.failed_stages": "failed_stages",
}


@dataclass(frozen=True, slots=True)
class ConsumerGroupLag:
    """How far one Kafka consumer group is behind, as of ``at``: records not yet consumed,
    per topic and in all."""

    group: str
    at: datetime
    topics: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.topics.values())

    def fact(self) -> dict[str, Any]:
        """The run attribute (``kafka_lag``): a gauge, the latest report wins."""
        return {
            **gauge_fact(self.total, self.at),
            "group": self.group,
            "topics": dict(sorted(self.topics.items())),
        }


@dataclass
class MetricsReading:
    """What an export gave: run observations and job facts, how many points they used, the
    consumer lag read from it (whether or not a job claims the group) and its size."""

    observations: list[RunObservation]
    used: int
    data_points: int
    metrics: int
    consumer_lags: list[ConsumerGroupLag] = field(default_factory=list)
    # Facts of the jobs themselves, by job pk: the lag of the group each names.
    job_facts: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Consumer groups with lag that no job names in its label.
    unclaimed_groups: list[str] = field(default_factory=list)

    @property
    def ignored(self) -> int:
        return self.data_points - self.used

    def message(self) -> str:
        """The ``partial_success`` sentence, or '' when every data point was recorded."""
        if not self.ignored:
            return ""
        unclaimed = (
            "; no job is labelled "
            + ", ".join(f"{CONSUMER_GROUP_LABEL}={g}" for g in self.unclaimed_groups[:5])
            if self.unclaimed_groups
            else ""
        )
        return (
            f"{self.ignored} data point(s) of {self.metrics} metric(s) accepted and not "
            f"recorded: {RECORDED}{unclaimed}"
        )


def read_metrics(request, *, now: datetime | None = None) -> MetricsReading:
    """Run observations from every known engine's metrics in a decoded export."""
    now = now or datetime.now(UTC)
    export: MetricExport = metric_points(request)
    points = export.points
    observations, used = flink_observations(points, now=now)
    spark, spark_used = spark_observations(points, now=now, skip=used)
    observations += spark
    used |= spark_used
    lags, lag_points = consumer_lags(points, now=now, skip=used)
    lag_observations, job_facts, claimed = consumer_lag_observations(lags)
    observations += lag_observations
    for group, indices in lag_points.items():
        if group in claimed:
            used |= indices
    return MetricsReading(
        observations=observations,
        used=len(used),
        data_points=export.data_points,
        metrics=export.metrics,
        consumer_lags=lags,
        job_facts=job_facts,
        unclaimed_groups=sorted({lag.group for lag in lags} - claimed),
    )


# --- Spark ------------------------------------------------------------------------------------


def _spark_app(point: MetricPoint) -> tuple[str, str] | None:
    app_id = point.attributes.get("application_id") or point.resource.get("spark.application.id")
    if not app_id:
        return None
    name = point.attributes.get("application_name") or point.resource.get("spark.application.name")
    return str(app_id), str(name or app_id)


def _spark_namespace(resource: dict[str, Any]) -> str:
    # (not service.name: a collector's receiver names no service, and the event log's runs
    # of the same applications are filed under 'spark' unless told otherwise)
    for key in ("batchwatch.namespace", "service.namespace"):
        if resource.get(key):
            return str(resource[key])
    return "spark"


def spark_observations(
    points: list[MetricPoint], *, now: datetime, skip: set[int]
) -> tuple[list[RunObservation], set[int]]:
    """One observation per Spark application of the apachespark receiver's job and stage
    metrics; returns them and the indices of the points they used."""
    apps: dict[tuple[str, str], dict[str, Any]] = {}
    for index, point in enumerate(points):
        name = point.metric.lower()  # (instrument names are case-insensitive)
        if index in skip or not name.startswith(("spark.job.", "spark.stage.")):
            continue
        app = _spark_app(point)
        if app is None:
            continue
        entry = apps.setdefault(
            (_spark_namespace(point.resource), app[0]),
            {"name": app[1], "jobs": set(), "stages": set(), "sums": {}, "at": None, "points": []},
        )
        if name.startswith("spark.job."):
            job_id = point.attributes.get("job_id", point.resource.get("spark.job.id"))
            if job_id is None:
                continue
            entry["jobs"].add(str(job_id))
            attribute = SPARK_JOB_SUMS.get(name)
            if attribute is not None:
                sums = entry["sums"].setdefault(attribute, {})
                sums[str(job_id)] = max(int(point.value), sums.get(str(job_id), 0))
        else:
            stage_id = point.attributes.get("stage_id", point.resource.get("spark.stage.id"))
            if stage_id is None:
                continue
            entry["stages"].add(str(stage_id))
        at = point.at or now
        entry["at"] = max(at, entry["at"] or at)
        entry["points"].append(index)

    observations: list[RunObservation] = []
    used: set[int] = set()
    for (namespace, app_id), entry in apps.items():
        attributes: dict[str, Any] = {}
        if entry["jobs"]:
            attributes["jobs"] = len(entry["jobs"])
        if entry["stages"]:
            attributes["stages"] = len(entry["stages"])
        for attribute, per_job in entry["sums"].items():
            attributes[attribute] = gauge_fact(max(0, sum(per_job.values())), entry["at"])
        observation = RunObservation(
            engine="spark",
            namespace=_name(namespace, 200),
            job_name=_name(entry["name"], 300),
            external_id=app_id[:255],
            source=RunSource.OTLP_METRICS,
            attributes=attributes,
        )
        if observation_problem(observation) is None:
            observations.append(observation)
            used.update(entry["points"])
    return observations, used


# --- Kafka consumer lag -------------------------------------------------------------------------


def consumer_lags(
    points: list[MetricPoint], *, now: datetime, skip: set[int]
) -> tuple[list[ConsumerGroupLag], dict[str, set[int]]]:
    """Consumer-group lag from the kafkametrics receiver's points: per group and topic the
    receiver's ``lag_sum``, else the sum of its partitions' ``lag`` (a partition without a
    committed offset reports -1 and adds nothing). Returns the lags and, per group, the
    indices of the points read."""
    sums: dict[str, dict[str, int]] = defaultdict(dict)
    partitions: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    times: dict[str, datetime] = {}
    indices: dict[str, set[int]] = defaultdict(set)
    for index, point in enumerate(points):
        name = point.metric.lower()
        if index in skip or name not in (
            "kafka.consumer_group.lag",
            "kafka.consumer_group.lag_sum",
        ):
            continue
        group, topic = point.attributes.get("group"), point.attributes.get("topic")
        if not group or not topic:
            continue
        group, topic, lag = str(group), str(topic), max(0, int(point.value))
        if name.endswith("lag_sum"):
            sums[group][topic] = lag
        else:
            partitions[group][topic][str(point.attributes.get("partition", ""))] = lag
        at = point.at or now
        times[group] = max(at, times.get(group, at))
        indices[group].add(index)
    lags = []
    for group in sorted(indices):
        topics = {t: sum(p.values()) for t, p in partitions[group].items()}
        topics.update(sums[group])  # (the receiver's own sum, when it sent one)
        lags.append(ConsumerGroupLag(group=group, at=times[group], topics=topics))
    return lags, indices


def consumer_lag_observations(
    lags: list[ConsumerGroupLag],
) -> tuple[list[RunObservation], dict[int, dict[str, Any]], set[str]]:
    """Where the lag of each group goes: ``kafka_lag`` of every job that names the group in
    its ``kafka_consumer_group`` label (a job fact, running or not: a consumer between runs
    still has lag), and of that job's running run. Returns the run observations, the job
    facts by job pk and the groups some job claims."""
    if not lags:
        return [], {}, set()
    by_group = {lag.group: lag for lag in lags}
    jobs = list(
        Job.objects.filter(**{f"labels__{CONSUMER_GROUP_LABEL}__in": list(by_group)}).only(
            "id", "engine", "namespace", "name", "labels", "owner_team_id"
        )
    )
    latest = latest_run_by_job([job.pk for job in jobs])
    observations, job_facts, claimed = [], {}, set()
    for job in jobs:
        lag = by_group.get(str(job.labels.get(CONSUMER_GROUP_LABEL)))
        if lag is None:
            continue
        job_facts[job.pk] = {"kafka_lag": lag.fact()}
        claimed.add(lag.group)
        run = latest.get(job.pk)
        if run is None or run.state != RunState.RUNNING:
            continue  # (lag is a fact of a run that consumes; a finished one does not)
        observation = RunObservation(
            engine=job.engine,
            namespace=job.namespace,
            job_name=job.name,
            external_id=run.external_id,
            source=RunSource.OTLP_METRICS,
            attributes={"kafka_lag": lag.fact()},
        )
        if observation_problem(observation) is None:
            observations.append(observation)
    return observations, job_facts, claimed
