"""Flink's job status events (flink-metrics-otel ``/v1/logs``) as run observations."""

from __future__ import annotations

import re

from batchwatch.ingest.otlp import attributes, nanos_to_datetime
from batchwatch.runs.models import RunSource
from batchwatch.runs.observations import RunObservation, observation_problem

_WHITESPACE = re.compile(r"\s+")


def _name(value: object, max_length: int) -> str:
    """Names as the OTLP adapters write them: whitespace (tabs, line breaks too) as '_'."""
    return _WHITESPACE.sub("_", str(value).strip())[:max_length]


FLINK_STATES = {
    "CREATED": "running", "INITIALIZING": "running", "RUNNING": "running",
    "RESTARTING": "running", "FAILING": "running", "CANCELLING": "running",
    "FINISHED": "succeeded", "FAILED": "failed", "CANCELED": "failed", "SUSPENDED": "failed",
}  # fmt: skip
UNKNOWN_SERVICE_NOTE = (
    "service.name is {value!r} (none was set): runs recorded under the namespace 'flink'; set "
    "service.name (OTEL_SERVICE_NAME, or the reporter's resource attributes) to name it"
)
FAILURE_REASONS = {"CANCELED": "cancelled", "SUSPENDED": "suspended", "FAILED": "job failed"}


def namespace_of(resource: dict) -> tuple[str, bool]:
    """The jobs' namespace, as for traces: ``batchwatch.namespace``, else
    ``service.namespace``, else ``service.name``, else 'flink'; and whether 'flink' stands in
    for the SDK's ``unknown_service:java`` (said to the sender: set ``service.name``)."""
    for key in ("batchwatch.namespace", "service.namespace", "service.name"):
        value = resource.get(key)
        if value and not str(value).startswith("unknown_service"):
            return str(value), False
    return "flink", str(resource.get("service.name", "")).startswith("unknown_service")


def observations_from_logs(request) -> tuple[list[RunObservation], int, str, str]:
    """Run observations from JobStatusChangeEvent records; other records are ignored.

    Returns the observations, how many records were refused (a job the catalog could not
    store), the first refusal's sentence, for OTLP's partial success, and a warning when the
    namespace fell back to 'flink' for lack of a ``service.name``.
    """
    observations, rejected, first, warning = [], 0, "", ""
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        namespace, unknown = namespace_of(resource)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attrs = attributes(record.attributes)
                if attrs.get("name") != "JobStatusChangeEvent":
                    continue
                job_id = attrs.get("job_id") or attrs.get("jobId")
                status = str(attrs.get("newJobStatus", "")).upper()
                if not job_id or status not in FLINK_STATES:
                    continue
                when = nanos_to_datetime(record.time_unix_nano or record.observed_time_unix_nano)
                state = FLINK_STATES[status]
                observation = RunObservation(
                    engine="flink",
                    namespace=_name(namespace, 200),
                    job_name=_name(attrs.get("job_name") or job_id, 300),
                    external_id=str(job_id),
                    source=RunSource.OTLP_LOGS,
                    state=state,
                    started_at=when,
                    ended_at=when if state != "running" else None,
                    failure_reason=FAILURE_REASONS.get(status, ""),
                    # A status event says only that the job failed: the REST API's exception
                    # is the reason, whichever arrives first.
                    failure_generic=True,
                    attributes={"flink_status": status},
                )
                problem = observation_problem(observation)
                if problem is not None:
                    rejected += 1
                    first = first or f"Flink job {str(job_id)[:40]!r}: {problem.message}"
                    continue
                observations.append(observation)
                if unknown and not warning:
                    warning = UNKNOWN_SERVICE_NOTE.format(value=resource.get("service.name"))
    return observations, rejected, first, warning
