"""Span events are kept, all of them (names, times, attributes) within bounds, and what is
not kept is counted on the span and said in partial_success (issue item 6)."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from batchwatch.ingest import otlp
from batchwatch.runs.models import Span
from tests.ingest.helpers import PROTOBUF
from tests.ingest.otlp_build import SECOND, _set, span_request

TRACE = "5bf92f3577b34da6a3ce929d0e0e4736"
T0 = 1795317000 * SECOND


def with_events(events: list[tuple[str, dict]], *, dropped: int = 0) -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(
        span_request(
            [{"trace": TRACE, "span": "e000000000000001", "name": "load_ledger",
              "start": T0, "end": T0 + 60 * SECOND, "status": 1,
              "attributes": {"batch.job.name": "load_ledger", "batch.run.id": "r1"}}]
        )
    )  # fmt: skip
    span = request.resource_spans[0].scope_spans[0].spans[0]
    for i, (name, attributes) in enumerate(events):
        event = span.events.add()
        event.name = name
        event.time_unix_nano = T0 + i * SECOND
        for key, value in attributes.items():
            _set(event.attributes, key, value)
    span.dropped_events_count = dropped
    return request.SerializeToString()


def post(client, body):
    response = client.post("/v1/traces", body, content_type=PROTOBUF)
    assert response.status_code == 200
    return trace_service_pb2.ExportTraceServiceResponse.FromString(response.content)


@pytest.mark.django_db
def test_a_job_finished_event_is_kept_with_its_attributes(client):
    answer = post(client, with_events([("job.finished", {"rows": 1200, "table": "ledger"})]))
    assert not answer.HasField("partial_success")
    [event] = Span.objects.get().events
    assert event["name"] == "job.finished"
    assert event["attributes"] == {"rows": 1200, "table": "ledger"}
    assert event["time"] == "2026-11-22T03:10:00+00:00"
    assert otlp.EVENTS_NOT_KEPT not in Span.objects.get().attributes


@pytest.mark.django_db
def test_events_beyond_the_bound_are_counted_and_said(client):
    events = [("progress", {"step": i}) for i in range(otlp.MAX_EVENTS + 5)]
    events.append(("exception", {"exception.type": "ValueError", "exception.message": "x"}))
    answer = post(client, with_events(events, dropped=2))
    span = Span.objects.get()
    assert len(span.events) == otlp.MAX_EVENTS
    assert "exception" in [e["name"] for e in span.events]  # exceptions are kept first
    assert [e["time"] for e in span.events] == sorted(e["time"] for e in span.events)
    assert span.attributes[otlp.EVENTS_NOT_KEPT] == 6 + 2
    assert answer.partial_success.rejected_spans == 0
    assert answer.partial_success.error_message.startswith("8 span event(s) not stored")


@pytest.mark.django_db
def test_events_beyond_the_size_bound_are_counted(client):
    big = {"payload": "x" * 4000, "more": "y" * 4000}
    answer = post(client, with_events([("chunk", big)] * 10))
    span = Span.objects.get()
    assert 0 < len(span.events) < 10
    assert span.attributes[otlp.EVENTS_NOT_KEPT] == 10 - len(span.events)
    assert "not stored" in answer.partial_success.error_message
