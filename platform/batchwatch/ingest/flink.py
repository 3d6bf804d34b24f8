"""Flink's job status events (flink-metrics-otel ``/v1/logs``) as run observations."""

from __future__ import annotations

from batchwatch.ingest.otlp import attributes, nanos_to_datetime
from batchwatch.runs.models import RunSource
from batchwatch.runs.observations import RunObservation

FLINK_STATES = {
    "CREATED": "running", "INITIALIZING": "running", "RUNNING": "running",
    "RESTARTING": "running", "FAILING": "running", "CANCELLING": "running",
    "FINISHED": "succeeded", "FAILED": "failed", "CANCELED": "failed", "SUSPENDED": "failed",
}  # fmt: skip
FAILURE_REASONS = {"CANCELED": "cancelled", "SUSPENDED": "suspended", "FAILED": "job failed"}


def observations_from_logs(request) -> tuple[list[RunObservation], int]:
    """Run observations from JobStatusChangeEvent records; other records are ignored."""
    observations, seen = [], 0
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        namespace = str(
            resource.get("batchwatch.namespace") or resource.get("service.namespace") or "flink"
        )
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                seen += 1
                attrs = attributes(record.attributes)
                if attrs.get("name") != "JobStatusChangeEvent":
                    continue
                job_id = attrs.get("job_id") or attrs.get("jobId")
                status = str(attrs.get("newJobStatus", "")).upper()
                if not job_id or status not in FLINK_STATES:
                    continue
                when = nanos_to_datetime(record.time_unix_nano or record.observed_time_unix_nano)
                state = FLINK_STATES[status]
                observations.append(
                    RunObservation(
                        engine="flink",
                        namespace=namespace.replace(" ", "_")[:200],
                        job_name=str(attrs.get("job_name") or job_id).replace(" ", "_")[:300],
                        external_id=str(job_id),
                        source=RunSource.OTLP_LOGS,
                        state=state,
                        started_at=when,
                        ended_at=when if state != "running" else None,
                        failure_reason=FAILURE_REASONS.get(status, ""),
                        attributes={"flink_status": status},
                    )
                )
    return observations, seen
