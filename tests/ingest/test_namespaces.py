"""Namespaces (issue item 7): Flink's status events take their namespace from service.name
as traces do, and the SDK's default ``unknown_service:*`` no longer silently becomes the
engine's name: the answer says so (a partial_success warning, nothing rejected)."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from batchwatch.runs.models import Run
from tests.ingest.helpers import PROTOBUF
from tests.ingest.otlp_build import SECOND, flink_status_event, span_request

T0 = 1795317000 * SECOND


def post_logs(client, body):
    response = client.post("/v1/logs", body, content_type=PROTOBUF)
    assert response.status_code == 200
    return logs_service_pb2.ExportLogsServiceResponse.FromString(response.content)


@pytest.mark.django_db
def test_flink_events_take_the_namespace_from_service_name(client):
    answer = post_logs(client, flink_status_event("RUNNING", at_ns=T0, service="prod-streaming"))
    assert not answer.HasField("partial_success")
    run = Run.objects.select_related("job").get()
    assert run.job.key == "flink:prod-streaming/realclients-flink-groupby"


@pytest.mark.django_db
def test_flinks_default_service_name_is_said_not_silently_replaced(client):
    answer = post_logs(client, flink_status_event("RUNNING", at_ns=T0))
    assert Run.objects.get().job.namespace == "flink"
    assert answer.partial_success.rejected_log_records == 0
    assert "unknown_service:java" in answer.partial_success.error_message
    assert "namespace 'flink'" in answer.partial_success.error_message


@pytest.mark.django_db
def test_traces_with_the_default_service_name_are_told(client):
    body = span_request(
        [{"trace": "6bf92f3577b34da6a3ce929d0e0e4736", "span": "f000000000000001",
          "name": "nightly", "start": T0, "end": T0 + SECOND,
          "attributes": {"batch.job.name": "nightly", "batch.job.engine": "dbt"}}],
        service="unknown_service:python",
    )  # fmt: skip
    response = client.post("/v1/traces", body, content_type=PROTOBUF)
    answer = trace_service_pb2.ExportTraceServiceResponse.FromString(response.content)
    assert Run.objects.get().job.key == "dbt:dbt/nightly"
    assert answer.partial_success.rejected_spans == 0
    assert "unknown_service:python" in answer.partial_success.error_message
