"""Flink's REST API (``:8081``, or a history server) at the edge: job runs, restarts and
checkpoint failures as run observations.

Requests go through ``core.outbound``: a job manager on a private, loopback or link-local
address is refused (before the poll, and at connect time after DNS resolution) unless
``BATCHWATCH_OUTBOUND_ALLOW`` lists it.
"""

from __future__ import annotations

import json
from typing import Any

import urllib3

from batchwatch.core import outbound
from batchwatch.ingest.adapters import parse_time
from batchwatch.ingest.flink import FAILURE_REASONS, FLINK_STATES
from batchwatch.ingest.sparklog import headline
from batchwatch.runs.models import RunSource
from batchwatch.runs.observations import Invalid, RunObservation


class FlinkUnreachable(Exception):
    """The REST API did not answer usefully; the message says why (``status``: the HTTP
    status when it answered one; ``body``: its JSON answer, Flink's ``{"errors": [...]}``)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def _get(base: str, path: str, *, timeout: float) -> Any:
    url = base.rstrip("/") + path
    try:
        response = outbound.request(
            "GET", url, headers={"Accept": "application/json"}, timeout=timeout
        )
    except outbound.OutboundRefused as exc:
        raise FlinkUnreachable(f"{url} is refused: {exc.message}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise FlinkUnreachable(f"cannot reach {url}: {exc}") from None
    if response.status != 200:
        try:
            body = json.loads(response.data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        raise FlinkUnreachable(
            f"{url} answered HTTP {response.status}", status=response.status, body=body
        )
    try:
        return json.loads(response.data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise FlinkUnreachable(f"{url} did not answer JSON (is this Flink's REST API?)") from None


def check_url(base_url: str) -> None:
    """Raise ``FlinkUnreachable`` (a sentence) when ``base_url`` is not one Batchwatch may
    poll: not http(s), or a forbidden destination (``core.outbound``)."""
    try:
        outbound.check_url(base_url)
    except outbound.OutboundRefused as exc:
        raise FlinkUnreachable(f"{base_url} is refused: {exc.message}") from None


def poll(base_url: str, *, namespace: str = "flink", timeout: float = 5.0) -> list[RunObservation]:
    """One observation per job the cluster knows, with its state, times and health facts."""
    check_url(base_url)
    overview = _get(base_url, "/jobs/overview", timeout=timeout)
    jobs = overview.get("jobs") if isinstance(overview, dict) else None
    if not isinstance(jobs, list):
        raise FlinkUnreachable(f"{base_url}/jobs/overview has no 'jobs' list")

    def fetch(path: str) -> Any:
        return _get(base_url, path, timeout=timeout)

    observations = []
    for job in jobs:
        if isinstance(job, dict):
            observation = job_observation(job, fetch, namespace=namespace)
            if observation is not None:
                observations.append(observation)
    return observations


def job_observation(job: dict, fetch, *, namespace: str) -> RunObservation | None:
    """What Flink's REST API (or a history server's archive) says about one job of
    ``/jobs/overview``; ``fetch(path)`` answers the job's other documents or raises
    :class:`FlinkUnreachable`."""
    jid, status = job.get("jid"), str(job.get("state", "")).upper()
    if not jid or status not in FLINK_STATES:
        return None
    state = FLINK_STATES[status]
    attributes: dict[str, Any] = {"flink_status": status, "job_type": job.get("jobType", "")}
    attributes.update(checkpoint_facts(jid, fetch))
    restarts = restart_count(jid, fetch)
    if restarts is not None:
        attributes["restarts"] = restarts
    failure, generic = FAILURE_REASONS.get(status, ""), True
    try:
        exceptions = fetch(f"/jobs/{jid}/exceptions")
        history = (exceptions.get("exceptionHistory") or {}).get("entries") or []
        root = exceptions.get("root-exception") or (history[0].get("stacktrace") if history else "")
        if state == "failed" and root:
            failure, generic = headline(str(root)), False
    except (FlinkUnreachable, AttributeError, TypeError, IndexError):
        pass
    end = job.get("end-time")
    try:
        started_at = parse_time(job.get("start-time"), "start-time")
        ended_at = parse_time(end, "end-time") if isinstance(end, int) and end > 0 else None
    except Invalid:
        started_at = ended_at = None  # (ingest_run_events refuses what else is wrong)
    return RunObservation(
        engine="flink",
        namespace=namespace,
        job_name="_".join(str(job.get("name") or jid).split())[:300],
        external_id=str(jid),
        source=RunSource.FLINK_REST,
        state=state,
        started_at=started_at,
        ended_at=ended_at if state != "running" else None,
        failure_reason=failure,
        failure_generic=generic and bool(failure),
        attributes=attributes,
    )


def _not_enabled(document: Any) -> bool:
    errors = document.get("errors") if isinstance(document, dict) else None
    return bool(errors) and any("not" in str(e) and "enabled" in str(e) for e in errors)


def checkpoint_facts(jid: str, fetch) -> dict[str, Any]:
    """``checkpointing: disabled`` for a job without checkpointing, as Flink says it: a live
    cluster answers 404 with "Checkpointing is not enabled for this job" for its checkpoint
    config (and "has not been enabled" for its checkpoints), a history server archives
    those refusals as they are; else the completed and failed counts. Nothing when the API
    does not say: a 404 without Flink's refusal (a document missing from an archive, a job
    gone between two requests) is not a job without checkpointing."""
    try:
        config = fetch(f"/jobs/{jid}/checkpoints/config")
    except FlinkUnreachable as exc:
        config = exc.body
    if _not_enabled(config):
        return {"checkpointing": "disabled"}
    try:
        checkpoints = fetch(f"/jobs/{jid}/checkpoints")
    except FlinkUnreachable as exc:
        checkpoints = exc.body
    if _not_enabled(checkpoints):
        return {"checkpointing": "disabled"}
    counts = checkpoints.get("counts") if isinstance(checkpoints, dict) else None
    if not isinstance(counts, dict):
        return {}
    return {
        "checkpointing": "enabled",
        "checkpoints_completed": _count(counts.get("completed")),
        "checkpoints_failed": _count(counts.get("failed")),
    }


def _count(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def restart_count(jid: str, fetch) -> int | None:
    """How many times the job restarted: its ``numRestarts`` metric, else whether its job
    details record a RESTARTING transition (the history server keeps no metrics: 1 is then a
    lower bound). Exception-history entries are failures, not restarts: a job that failed
    with "Restart deactivated" has entries and no restart. None when nothing says."""
    try:
        metrics = fetch(f"/jobs/{jid}/metrics?get=numRestarts")
        for metric in metrics if isinstance(metrics, list) else []:
            if isinstance(metric, dict) and metric.get("id") == "numRestarts":
                return _count(metric.get("value"))
    except FlinkUnreachable:
        pass
    try:
        details = fetch(f"/jobs/{jid}")
    except FlinkUnreachable:
        return None
    if not isinstance(details, dict):
        return None
    timestamps = details.get("timestamps")
    if isinstance(timestamps, dict) and "RESTARTING" in timestamps:
        return 1 if _count(timestamps.get("RESTARTING")) > 0 else 0
    return None
