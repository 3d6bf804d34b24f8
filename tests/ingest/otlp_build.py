"""Small OTLP requests built in tests: Airflow 3.2+ spans (with the worker span a real
scheduler adds below task_run) and Flink job status events made from the captured push."""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tests.ingest.helpers import sample

FLINK_LOGS = "flink/0001_POST_v1_logs.body"
SECOND = 1_000_000_000


def _set(kvs, key, value) -> None:
    for kv in kvs:
        if kv.key == key:
            break
    else:
        kv = kvs.add()
        kv.key = key
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = str(value)


def span_request(
    spans: list[dict], *, service: str = "airflow-prod", scope: str = "airflow"
) -> bytes:
    """One request holding ``spans``: dicts of trace, span, parent (hex), name, start and
    end (ns), status (0-2), attributes."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    _set(resource_spans.resource.attributes, "service.name", service)
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope
    for spec in spans:
        span = scope_spans.spans.add()
        span.trace_id = bytes.fromhex(spec["trace"])
        span.span_id = bytes.fromhex(spec["span"])
        if spec.get("parent"):
            span.parent_span_id = bytes.fromhex(spec["parent"])
        span.name = spec["name"]
        span.kind = 1
        span.start_time_unix_nano = spec["start"]
        span.end_time_unix_nano = spec["end"]
        span.status.code = spec.get("status", 1)
        for key, value in spec.get("attributes", {}).items():
            _set(span.attributes, key, value)
    return request.SerializeToString()


def flink_status_event(status: str, *, at_ns: int, service: str = "") -> bytes:
    """The captured flink-metrics-otel push, reduced to one JobStatusChangeEvent with
    ``newJobStatus`` = ``status`` at ``at_ns``."""
    request = logs_service_pb2.ExportLogsServiceRequest.FromString(sample(FLINK_LOGS))
    for resource_logs in request.resource_logs:
        if service:
            _set(resource_logs.resource.attributes, "service.name", service)
        for scope_logs in resource_logs.scope_logs:
            kept = [
                r
                for r in scope_logs.log_records
                if any(
                    kv.key == "name" and kv.value.string_value == "JobStatusChangeEvent"
                    for kv in r.attributes
                )
            ]
            del scope_logs.log_records[:]
            for record in kept[:1]:
                _set(record.attributes, "newJobStatus", status)
                record.time_unix_nano = at_ns
                scope_logs.log_records.add().CopyFrom(record)
    return request.SerializeToString()
