"""Flink's REST API (``:8081``, or a history server) at the edge: job runs, restarts and
checkpoint failures as run observations."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from batchwatch.ingest.adapters import parse_time
from batchwatch.ingest.flink import FAILURE_REASONS, FLINK_STATES
from batchwatch.ingest.sparklog import headline
from batchwatch.runs.models import RunSource
from batchwatch.runs.observations import Invalid, RunObservation


class FlinkUnreachable(Exception):
    """The REST API did not answer usefully; the message says why."""


def _get(base: str, path: str, *, timeout: float) -> Any:
    url = base.rstrip("/") + path
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - operator's URL
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise FlinkUnreachable(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FlinkUnreachable(f"cannot reach {url}: {reason}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise FlinkUnreachable(f"{url} did not answer JSON (is this Flink's REST API?)") from None


def poll(base_url: str, *, namespace: str = "flink", timeout: float = 5.0) -> list[RunObservation]:
    """One observation per job the cluster knows, with its state, times and health facts."""
    overview = _get(base_url, "/jobs/overview", timeout=timeout)
    jobs = overview.get("jobs") if isinstance(overview, dict) else None
    if not isinstance(jobs, list):
        raise FlinkUnreachable(f"{base_url}/jobs/overview has no 'jobs' list")
    observations = []
    for job in jobs:
        jid, status = job.get("jid"), str(job.get("state", "")).upper()
        if not jid or status not in FLINK_STATES:
            continue
        state = FLINK_STATES[status]
        attributes: dict[str, Any] = {"flink_status": status, "job_type": job.get("jobType", "")}
        failure = FAILURE_REASONS.get(status, "")
        try:
            checkpoints = _get(base_url, f"/jobs/{jid}/checkpoints", timeout=timeout)
            counts = checkpoints.get("counts") or {}
            attributes["checkpoints_failed"] = counts.get("failed", 0)
            attributes["checkpoints_completed"] = counts.get("completed", 0)
        except FlinkUnreachable:
            pass  # batch jobs have no checkpoints; a history archive may lack them
        try:
            exceptions = _get(base_url, f"/jobs/{jid}/exceptions", timeout=timeout)
            history = (exceptions.get("exceptionHistory") or {}).get("entries") or []
            attributes["restarts"] = len(history)
            root = exceptions.get("root-exception") or (
                history[0].get("stacktrace") if history else ""
            )
            if state == "failed" and root:
                failure = headline(str(root))
        except FlinkUnreachable:
            pass
        end = job.get("end-time")
        try:
            started_at = parse_time(job.get("start-time"), "start-time")
            ended_at = parse_time(end, "end-time") if isinstance(end, int) and end > 0 else None
        except Invalid:
            started_at = ended_at = None  # (ingest_run_events refuses what else is wrong)
        observations.append(
            RunObservation(
                engine="flink",
                namespace=namespace,
                job_name="_".join(str(job.get("name") or jid).split())[:300],
                external_id=str(jid),
                source=RunSource.FLINK_REST,
                state=state,
                started_at=started_at,
                ended_at=ended_at,
                failure_reason=failure,
                attributes=attributes,
            )
        )
    return observations
