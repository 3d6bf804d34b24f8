"""Reads of the incident page (the hub): per alert its job, failing run, trace, dashboard and
engine UI; what ran since; the jobs downstream and the open incidents upstream; who was
paged. Each read is a fixed number of queries, whatever the number of alerts (whom to offer
for reassignment: ``selectors_people``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

from django.conf import settings

from batchwatch.alerts.models import Alert, Incident, IncidentAlert
from batchwatch.catalog.links import job_dashboard_url
from batchwatch.catalog.models import Engine, Job, JobDependency
from batchwatch.core.links import path_for
from batchwatch.notify.models import Notification
from batchwatch.runs.models import Run, RunState, Signal
from batchwatch.runs.selectors import latest_run_by_job

# Runs read per incident to count what happened since its failures: plenty for batch jobs,
# and a bound for a job that runs every minute.
RUNS_SINCE_LIMIT = 500
# Signal kinds that name a moment the run was due rather than one it failed at.
DUE_KINDS = {Signal.Kind.MISSED, Signal.Kind.LATE_START}


@dataclass(frozen=True)
class EngineLink:
    label: str
    url: str


@dataclass
class RunsSince:
    """Runs of the alert's job that started after its run (or after it fired)."""

    succeeded: int = 0
    failed: int = 0
    other: int = 0
    latest_state: str = ""

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.other

    @property
    def recovered(self) -> bool:
        """Probably recovered: the newest run since succeeded."""
        return self.latest_state == RunState.SUCCEEDED


@dataclass
class HubAlert:
    member: IncidentAlert
    alert: Alert
    job: Job | None
    run: Run | None
    # What went wrong and when: the run failed (ended), was due, or the alert started firing.
    happened: str
    happened_at: datetime
    # When Batchwatch first heard of it.
    noticed_at: datetime
    job_path: str = ""
    run_path: str = ""
    trace_path: str = ""
    dashboard_url: str = ""
    engine_link: EngineLink | None = None
    runs_since: RunsSince | None = None


@dataclass(frozen=True)
class DownstreamJob:
    job: Job
    last_run: Run | None


@dataclass(frozen=True)
class UpstreamIncident:
    incident: Incident
    upstream_jobs: tuple[str, ...]


def _run_of(alert: Alert) -> Run | None:
    if alert.signal_id is not None and alert.signal is not None:
        return alert.signal.run
    return None


def engine_link(job: Job, run: Run | None) -> EngineLink | None:
    """The run (or job) in its engine's own UI, when that UI's base URL is configured."""
    if job.engine == Engine.SPARK and run is not None and settings.BATCHWATCH_SPARK_HISTORY_URL:
        base = settings.BATCHWATCH_SPARK_HISTORY_URL.rstrip("/")
        return EngineLink("Spark history", f"{base}/history/{quote(run.external_id, safe='')}/")
    if job.engine == Engine.FLINK and run is not None and settings.BATCHWATCH_FLINK_UI_URL:
        base = settings.BATCHWATCH_FLINK_UI_URL.rstrip("/")
        where = "running" if run.state == RunState.RUNNING else "completed"
        return EngineLink(
            "Flink UI", f"{base}/#/job/{where}/{quote(run.external_id, safe='')}/overview"
        )
    if job.engine == Engine.AIRFLOW and settings.BATCHWATCH_AIRFLOW_URL:
        return EngineLink("Airflow grid", _airflow_grid(job, run))
    return None


def _airflow_grid(job: Job, run: Run | None) -> str:
    """A DAG run's grid; a task's job (``<dag_id>.<task_id>``, its parent the DAG run named
    ``airflow:<namespace>/<dag_id>#<run_id>``) opens the grid on that task."""
    base = settings.BATCHWATCH_AIRFLOW_URL.rstrip("/")
    dag_id, query = job.name, {}
    if run is not None:
        query["dag_run_id"] = run.external_id
        ref = run.parent_ref
        if ref.startswith("airflow:") and "/" in ref and "#" in ref:
            dag_id, run_id = ref.split("/", 1)[1].rsplit("#", 1)
            query["dag_run_id"] = run_id
            if job.name.startswith(f"{dag_id}."):
                query["task_id"] = job.name[len(dag_id) + 1 :]
    url = f"{base}/dags/{quote(dag_id, safe='')}/grid"
    return f"{url}?{urlencode(query)}" if query else url


def _happened(alert: Alert, run: Run | None) -> tuple[str, datetime]:
    kind = alert.signal.kind if alert.signal_id is not None and alert.signal else ""
    if run is not None and kind in DUE_KINDS and run.expected_at is not None:
        return "was due", run.expected_at
    if run is not None and run.state == RunState.FAILED and run.ended_at is not None:
        return "failed", run.ended_at
    return "started firing", alert.starts_at


def incident_alerts(incident: Incident) -> list[HubAlert]:
    """The incident's alerts in the order they joined, each with its links and moments
    (two queries: the alerts with their jobs, signals and runs; the runs since)."""
    members = list(
        IncidentAlert.objects.filter(incident=incident)
        .select_related("alert__job__owner_team", "alert__signal__run")
        .order_by("added_at", "id")
    )
    rows = []
    for member in members:
        alert = member.alert
        job, run = alert.job, _run_of(alert)
        happened, happened_at = _happened(alert, run)
        row = HubAlert(
            member=member,
            alert=alert,
            job=job,
            run=run,
            happened=happened,
            happened_at=happened_at,
            # Our own signals start when the ledger judged the run; others when received.
            noticed_at=alert.first_received_at
            if happened == "started firing"
            else min(alert.starts_at, alert.first_received_at),
        )
        if job is not None:
            row.job_path = path_for("web:job", job.pk)
            row.dashboard_url = job_dashboard_url(job)
            row.engine_link = engine_link(job, run)
        if run is not None:
            row.run_path = path_for("web:run", run.pk)
            if run.trace_id:
                row.trace_path = row.run_path + "#trace"
        rows.append(row)
    _count_runs_since(rows)
    return rows


def _count_runs_since(rows: list[HubAlert]) -> None:
    """Fill ``runs_since`` for the alerts that have a job, from one query."""
    starts: dict[int, datetime] = {}
    for row in rows:
        if row.job is None:
            continue
        since = _since(row)
        starts[row.job.pk] = min(since, starts.get(row.job.pk, since))
    if not starts:
        return
    runs = list(
        Run.objects.filter(job_id__in=list(starts), started_at__gt=min(starts.values()))
        .exclude(state=RunState.SCHEDULED)
        .order_by("-started_at", "-id")
        .values_list("id", "job_id", "state", "started_at")[:RUNS_SINCE_LIMIT]
    )
    for row in rows:
        if row.job is None:
            continue
        since, counts = _since(row), RunsSince()
        skip = row.run.pk if row.run is not None else None
        for run_id, job_id, state, started_at in runs:  # newest first
            if job_id != row.job.pk or run_id == skip or started_at is None:
                continue
            if started_at <= since:
                continue
            counts.latest_state = counts.latest_state or state
            if state == RunState.SUCCEEDED:
                counts.succeeded += 1
            elif state == RunState.FAILED:
                counts.failed += 1
            else:
                counts.other += 1
        row.runs_since = counts


def _since(row: HubAlert) -> datetime:
    run = row.run
    if run is not None and run.started_at is not None:
        return run.started_at
    return row.happened_at


def _job_ids(rows: list[HubAlert]) -> set[int]:
    return {row.job.pk for row in rows if row.job is not None}


def downstream_jobs(rows: list[HubAlert]) -> list[DownstreamJob]:
    """Jobs that consume the alerts' jobs (declared or observed lineage), with their last
    run: what is waiting on this incident (two queries, three with any edges)."""
    ids = _job_ids(rows)
    if not ids:
        return []
    jobs = {
        edge.downstream.pk: edge.downstream
        for edge in JobDependency.objects.filter(upstream_id__in=ids)
        .exclude(downstream_id__in=ids)
        .select_related("downstream__owner_team")
    }
    if not jobs:
        return []
    last = latest_run_by_job(list(jobs))
    return [
        DownstreamJob(job, last.get(job.pk))
        for job in sorted(jobs.values(), key=lambda j: (j.key, j.pk))
    ]


def upstream_incidents(incident: Incident, rows: list[HubAlert]) -> list[UpstreamIncident]:
    """Open incidents of the jobs the alerts' jobs read from: the likelier cause (two
    queries)."""
    ids = _job_ids(rows)
    if not ids:
        return []
    upstream = set(
        JobDependency.objects.filter(downstream_id__in=ids)
        .exclude(upstream_id__in=ids)
        .values_list("upstream_id", flat=True)
    )
    if not upstream:
        return []
    found: dict[int, UpstreamIncident] = {}
    for member in (
        IncidentAlert.objects.filter(alert__job_id__in=upstream)
        .exclude(incident__state=Incident.State.RESOLVED)
        .exclude(incident=incident)
        .select_related("incident__team", "alert__job")
        .order_by("-incident__created_at", "incident_id", "id")
    ):
        key = member.alert.job.key if member.alert.job else ""
        seen = found.get(member.incident_id)
        jobs = seen.upstream_jobs if seen else ()
        found[member.incident_id] = UpstreamIncident(
            member.incident, jobs if key in jobs else (*jobs, key)
        )
    return list(found.values())


def incident_pages(incident: Incident) -> list[Notification]:
    """Who was told about the incident, when, how, and whether it arrived (one query):
    pages, group notifications, notices and updates; Slack's answers to one person are not
    listed."""
    return list(
        Notification.objects.filter(incident=incident)
        .exclude(purpose=Notification.Purpose.REPLY)
        .select_related("user", "channel")
        .order_by("created_at", "id")
    )
