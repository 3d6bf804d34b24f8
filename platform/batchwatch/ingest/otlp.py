"""OTLP/HTTP at the edge: bodies in, typed records out (and responses back in kind).

Protobuf and OTLP/JSON decode into the same protobuf message, then into ``SpanRecord``s.
OTLP/JSON differs from proto3 JSON in its ids (hex, not base64); we convert them first.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from batchwatch.ingest.errors import IngestError
from batchwatch.runs.observations import SpanRecord

# OTLP/JSON nests a few levels per attribute (kvlistValue.values[].value...): deeper than
# this is not telemetry, and would exhaust the decoders' recursion.
MAX_DEPTH = 64

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Spans before this or more than a day ahead of our clock are refused as absurd.
OLDEST_ACCEPTED = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
MAX_ATTRIBUTES = 128
MAX_STRING = 4096
MAX_EVENTS = 32
MAX_EVENT_BYTES = 32 * 1024  # a span's kept events' attributes, JSON
# A span's attribute counting its events that were not kept (over the bounds, or dropped by
# the sender): said on the span, and in the answer's partial_success.
EVENTS_NOT_KEPT = "batchwatch.events_not_kept"

ID_FIELDS = {"traceId", "spanId", "parentSpanId"}


def content_type_of(request) -> str:
    """The request's media type, with 'application/json' that is really protobuf corrected.

    Airflow 2.10 with newer SDKs sends protobuf labelled as JSON; JSON always starts with '{'.
    """
    media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media in {PROTOBUF, "application/protobuf"}:
        return PROTOBUF
    if media == JSON:
        return JSON
    raise IngestError(
        415,
        f"Content-Type {media or '(none)'!r} is not supported; send {PROTOBUF} or {JSON}.",
    )


def sniff(body: bytes, declared: str) -> str:
    if declared == JSON and body and body.lstrip()[:1] != b"{":
        return PROTOBUF
    return declared


def _hex_to_b64(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise IngestError(400, f"{field} must be a hex string.")
    if value == "":
        return ""
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        raise IngestError(400, f"{field} {value[:40]!r} is not hex.") from None


def _convert_ids(node: Any, depth: int = 0) -> None:
    """Rewrite OTLP/JSON hex ids to proto3 JSON base64, in place, anywhere in the tree."""
    if depth > MAX_DEPTH:
        raise IngestError(400, f"Body is nested more than {MAX_DEPTH} levels deep.")
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_FIELDS:
                node[key] = _hex_to_b64(value, key)
            elif isinstance(value, dict | list):
                _convert_ids(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _convert_ids(item, depth + 1)


def _parse(message_cls, body: bytes, content_type: str):
    if content_type == PROTOBUF:
        try:
            return message_cls.FromString(body)
        except (DecodeError, RuntimeWarning, ValueError) as exc:
            raise IngestError(400, f"Body is not a valid OTLP protobuf message: {exc}.") from None
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(400, f"Body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise IngestError(400, f"Body is nested more than {MAX_DEPTH} levels deep.") from None
    if not isinstance(document, dict):
        raise IngestError(400, "Body must be a JSON object.")
    _convert_ids(document)
    try:
        return json_format.ParseDict(document, message_cls(), ignore_unknown_fields=True)
    except (
        json_format.ParseError,
        binascii.Error,
        TypeError,
        ValueError,
        OverflowError,  # (Infinity given for an integer field)
        AttributeError,
        KeyError,
    ) as exc:
        raise IngestError(400, f"Body is not a valid OTLP/JSON message: {exc}.") from None
    except RecursionError:
        raise IngestError(400, f"Body is nested more than {MAX_DEPTH} levels deep.") from None


def parse_traces(body: bytes, content_type: str) -> trace_service_pb2.ExportTraceServiceRequest:
    return _parse(trace_service_pb2.ExportTraceServiceRequest, body, content_type)


def parse_logs(body: bytes, content_type: str) -> logs_service_pb2.ExportLogsServiceRequest:
    return _parse(logs_service_pb2.ExportLogsServiceRequest, body, content_type)


def parse_metrics(
    body: bytes, content_type: str
) -> metrics_service_pb2.ExportMetricsServiceRequest:
    return _parse(metrics_service_pb2.ExportMetricsServiceRequest, body, content_type)


def metric_counts(request: metrics_service_pb2.ExportMetricsServiceRequest) -> tuple[int, int]:
    """How many metrics and data points an export holds."""
    metrics = points = 0
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                metrics += 1
                kind = metric.WhichOneof("data")
                if kind is not None:
                    points += len(getattr(metric, kind).data_points)
    return metrics, points


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One number of a metrics export: a gauge's or a sum's data point, with its metric's
    name, its own attributes and its resource's. Histograms and summaries are not facts of
    a run (they are counted, not decoded)."""

    metric: str
    value: int | float
    at: datetime | None  # None when the point carries no time
    attributes: dict[str, Any]
    resource: dict[str, Any]
    monotonic: bool = False  # a monotonic sum (a counter)

    @property
    def short_name(self) -> str:
        """The metric's name without its reporter's scope (``flink.jobmanager.job.
        numRestarts`` → ``numRestarts``)."""
        return self.metric.rsplit(".", 1)[-1]


@dataclass
class MetricExport:
    """A metrics export as numbers: its gauge and sum points, and how many metrics and data
    points (of any kind) it held."""

    points: list[MetricPoint]
    metrics: int
    data_points: int


def metric_points(request: metrics_service_pb2.ExportMetricsServiceRequest) -> MetricExport:
    """The gauge and sum data points of an export, as :class:`MetricPoint`s. A point
    without a finite number (an exemplar-only point, NaN) is counted and left out."""
    points: list[MetricPoint] = []
    metrics = total = 0
    for resource_metrics in request.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                metrics += 1
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                data = getattr(metric, kind)
                total += len(data.data_points)
                if kind not in ("gauge", "sum"):
                    continue
                monotonic = kind == "sum" and data.is_monotonic
                name = text(metric.name, 512)
                for point in data.data_points:
                    number = point.WhichOneof("value")
                    value = point.as_int if number == "as_int" else point.as_double
                    if number is None or not math.isfinite(value):
                        continue
                    nanos = point.time_unix_nano
                    points.append(
                        MetricPoint(
                            metric=name,
                            value=value,
                            at=nanos_to_datetime(nanos) if nanos else None,
                            attributes=attributes(point.attributes),
                            resource=resource,
                            monotonic=monotonic,
                        )
                    )
    return MetricExport(points=points, metrics=metrics, data_points=total)


def text(value: str, limit: int = MAX_STRING) -> str:
    """A decoded string as we store it: at most ``limit`` characters, without NUL (text
    columns and jsonb cannot hold one). Protobuf has checked it is valid UTF-8."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value if len(value) <= limit else value[:limit] + "…"


def any_value(value) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return text(value.string_value)
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        number = value.double_value
        if math.isfinite(number):
            return number
        # JSON has no NaN or infinities (jsonb refuses them): kept as the strings they are.
        return "NaN" if number != number else ("Infinity" if number > 0 else "-Infinity")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values[:MAX_ATTRIBUTES]]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None


def attributes(kvs) -> dict[str, Any]:
    out = {}
    # (the hot loop of decoding: scalar values inline, the rest through any_value)
    for kv in kvs[:MAX_ATTRIBUTES] if len(kvs) > MAX_ATTRIBUTES else kvs:
        key = kv.key
        if "\x00" in key:
            key = key.replace("\x00", "")
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            string = value.string_value
            if "\x00" in string or len(string) > MAX_STRING:
                string = text(string)
            out[key] = string
        elif kind == "int_value":
            out[key] = value.int_value
        else:
            out[key] = any_value(value)
    return out


def nanos_to_datetime(nanos: int) -> datetime:
    return EPOCH + timedelta(0, 0, nanos // 1000)  # (positional: a third faster)


@dataclass
class DecodedSpans:
    spans: list[SpanRecord]
    rejected: int
    first_rejection: str
    events_not_kept: int = 0
    # The SDK's default service.name ('unknown_service:python') on a resource that names no
    # namespace otherwise: the runs take their engine's name as namespace, and we say so.
    unknown_service: str = ""


def spans_from_request(
    request: trace_service_pb2.ExportTraceServiceRequest, *, now: datetime
) -> DecodedSpans:
    """Valid spans as records; invalid ones counted with the first reason (partial success)."""
    spans: list[SpanRecord] = []
    rejected = 0
    first_rejection = ""
    events_not_kept = 0
    unknown_service = ""
    newest_ns = int((now + FUTURE_SLACK - EPOCH).total_seconds() * 1e9)
    oldest_ns = int((OLDEST_ACCEPTED - EPOCH).total_seconds() * 1e9)
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name", ""))[:200]
        if (
            service.startswith("unknown_service")
            and not resource.get("batchwatch.namespace")
            and not resource.get("service.namespace")
        ):
            unknown_service = unknown_service or service
        for scope_spans in resource_spans.scope_spans:
            scope = text(scope_spans.scope.name)[:300]
            for span in scope_spans.spans:
                problem = _span_problem(span, oldest_ns, newest_ns)
                if problem:
                    rejected += 1
                    first_rejection = first_rejection or problem
                    continue
                status = span.status
                name, message = span.name, status.message
                if len(name) > 300 or "\x00" in name:
                    name = text(name)[:300]
                if message and (len(message) > MAX_STRING or "\x00" in message):
                    message = text(message)
                span_attributes = attributes(span.attributes)
                events, not_kept = _events(span) if span.events else ([], 0)
                if not_kept or span.dropped_events_count:
                    not_kept = not_kept or span.dropped_events_count
                    span_attributes[EVENTS_NOT_KEPT] = not_kept
                    events_not_kept += not_kept
                # (positional, in SpanRecord's field order: this runs for every span)
                spans.append(
                    SpanRecord(
                        span.trace_id.hex(),
                        span.span_id.hex(),
                        span.parent_span_id.hex(),
                        name,
                        span.kind,
                        EPOCH + timedelta(0, 0, span.start_time_unix_nano // 1000),
                        EPOCH + timedelta(0, 0, span.end_time_unix_nano // 1000),
                        status.code,
                        message,
                        service,
                        span_attributes,
                        events,
                        resource,
                        scope,
                    )
                )
    return DecodedSpans(
        spans=spans,
        rejected=rejected,
        first_rejection=first_rejection,
        events_not_kept=events_not_kept,
        unknown_service=unknown_service,
    )


def _span_problem(span, oldest_ns: int, newest_ns: int) -> str:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return f"span {span.name!r} has an invalid trace id (16 non-zero bytes expected)"
    if len(span.span_id) != 8 or not any(span.span_id):
        return f"span {span.name!r} has an invalid span id (8 non-zero bytes expected)"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return f"span {span.name!r} has an invalid parent span id"
    if not 0 <= span.status.code <= 2:  # (open enums: any int32 decodes)
        return f"span {span.name!r} has an unknown status code {span.status.code} (0, 1 or 2)"
    if not 0 <= span.kind <= 5:
        return f"span {span.name!r} has an unknown kind {span.kind} (0 to 5)"
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if not oldest_ns <= start <= newest_ns:
        return f"span {span.name!r} starts at an absurd time ({start} ns since 1970)"
    if not start <= end <= newest_ns:
        return f"span {span.name!r} ends before it starts or in the far future"
    return ""


def _events(span) -> tuple[list[dict[str, Any]], int]:
    """The span's events as stored (name, time, attributes), at most ``MAX_EVENTS`` of them
    and ``MAX_EVENT_BYTES`` of attributes in all (exceptions first: a trace view needs them
    most); returns them and how many were not kept (the sender's own count of dropped events
    included)."""
    kept: list[dict[str, Any]] = []
    size = 0
    ordered = sorted(span.events, key=lambda e: e.name != "exception")  # (stable)
    for event in ordered:
        if len(kept) >= MAX_EVENTS:
            break
        attrs = attributes(event.attributes)
        cost = len(event.name) + len(json.dumps(attrs, default=str))
        if size + cost > MAX_EVENT_BYTES and kept:
            continue
        size += cost
        kept.append(
            {
                "name": text(event.name)[:300],
                "time": nanos_to_datetime(event.time_unix_nano).isoformat(),
                "attributes": attrs,
            }
        )
    kept.sort(key=lambda e: e["time"])
    return kept, len(span.events) - len(kept) + span.dropped_events_count


def unknown_service_note(service: str) -> str:
    return (
        f"service.name is {service!r} (none was set): the runs of these spans are recorded "
        "under their engine's name as namespace (e.g. 'airflow'); set OTEL_SERVICE_NAME, or "
        "batchwatch.namespace, to name it"
    )


def events_not_kept_note(count: int) -> str:
    return (
        f"{count} span event(s) not stored (beyond {MAX_EVENTS} a span or "
        f"{MAX_EVENT_BYTES // 1024} KiB of event attributes, or dropped by the sender); "
        f"each span counts its own in the attribute {EVENTS_NOT_KEPT}"
    )


def traces_response(content_type: str, *, rejected: int = 0, message: str = "") -> bytes:
    """The answer to an export; ``message`` without ``rejected`` is a warning (OTLP: a
    partial_success with 0 rejected and a message), e.g. span events not kept."""
    response = trace_service_pb2.ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
    if rejected or message:
        response.partial_success.error_message = message
    return _encode(response, content_type)


def logs_response(content_type: str, *, rejected: int = 0, message: str = "") -> bytes:
    """The answer to a logs export; ``message`` without ``rejected`` is a warning."""
    response = logs_service_pb2.ExportLogsServiceResponse()
    if rejected:
        response.partial_success.rejected_log_records = rejected
    if rejected or message:
        response.partial_success.error_message = message
    return _encode(response, content_type)


def metrics_response(content_type: str, *, rejected: int = 0, message: str = "") -> bytes:
    """The answer to a metrics export; ``message`` without ``rejected`` is a warning."""
    response = metrics_service_pb2.ExportMetricsServiceResponse()
    if rejected:
        response.partial_success.rejected_data_points = rejected
    if rejected or message:
        response.partial_success.error_message = message
    return _encode(response, content_type)


def status_body(content_type: str, code: int, message: str) -> bytes:
    """A google.rpc.Status, as OTLP asks for on errors."""
    return _encode(status_pb2.Status(code=code, message=message), content_type)


def _encode(message, content_type: str) -> bytes:
    if content_type == PROTOBUF:
        return message.SerializeToString()
    return json_format.MessageToJson(message, indent=None).encode()
