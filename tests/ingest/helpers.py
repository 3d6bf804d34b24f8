"""Fixtures for ingest tests: the captured samples and ways to re-encode them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
if not SAMPLES.exists():  # a clone elsewhere: shared/ sits beside the repository
    SAMPLES = Path("/work/shared/samples")

PROTOBUF = "application/x-protobuf"


def sample(path: str) -> bytes:
    return (SAMPLES / path).read_bytes()


def parse(body: bytes) -> trace_service_pb2.ExportTraceServiceRequest:
    return trace_service_pb2.ExportTraceServiceRequest.FromString(body)


def to_otlp_json(body: bytes) -> bytes:
    """The same request in OTLP/JSON: hex ids (not proto3's base64), integer enums."""
    document = json_format.MessageToDict(parse(body), use_integers_for_enums=True)

    def hexify(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in {"traceId", "spanId", "parentSpanId"}:
                    node[key] = base64.b64decode(value).hex().upper()  # any case is allowed
                else:
                    hexify(value)
        elif isinstance(node, list):
            for item in node:
                hexify(item)

    hexify(document)
    return json.dumps(document).encode()


def one_request_per_span(body: bytes) -> list[bytes]:
    """Split a request into one request per span, keeping resources and scopes."""
    original = parse(body)
    requests = []
    for resource_spans in original.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                request = trace_service_pb2.ExportTraceServiceRequest()
                rs = request.resource_spans.add()
                rs.resource.CopyFrom(resource_spans.resource)
                ss = rs.scope_spans.add()
                ss.scope.CopyFrom(scope_spans.scope)
                ss.spans.add().CopyFrom(span)
                requests.append(request.SerializeToString())
    return requests
