"""Spans keep the resource attributes that matter for triage (a documented allow-list and
``batchwatch.*``), on both databases' write paths, and the trace API returns them."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from batchwatch.runs.models import Span
from tests.ingest.helpers import PROTOBUF, sample
from tests.ingest.otlp_build import _set

AIRFLOW_OK = "airflow/0001_POST_v1_traces.body"


def with_resource(body: bytes, **extra: str) -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    for resource_spans in request.resource_spans:
        for key, value in extra.items():
            _set(resource_spans.resource.attributes, key.replace("__", "."), value)
    return request.SerializeToString()


@pytest.mark.django_db
def test_the_triage_resource_attributes_are_kept_and_the_rest_left_out(client, api_as, admin):
    body = with_resource(
        sample(AIRFLOW_OK),
        k8s__pod__name="scheduler-7f9c",
        k8s__namespace__name="airflow",
        cloud__region="eu-west-1",
        host__name="worker-3",
        batchwatch__team="ledger",
        process__command_line="airflow scheduler --secret-flag",
    )
    assert client.post("/v1/traces", body, content_type=PROTOBUF).status_code == 200
    span = Span.objects.filter(name__startswith="dag_run.").get()
    assert span.resource == {
        "batchwatch.team": "ledger",
        "cloud.region": "eu-west-1",
        "deployment.environment": "local",  # (as the captured Airflow sent it)
        "host.name": "worker-3",
        "k8s.namespace.name": "airflow",
        "k8s.pod.name": "scheduler-7f9c",
        "service.instance.id": span.resource["service.instance.id"],
        "service.name": "airflow-probe",
        "telemetry.sdk.language": "python",
    }
    trace = api_as(admin).get(f"/api/v1/traces/{span.trace_id}/").json()
    assert any(s.get("resource", {}).get("k8s.pod.name") for s in _spans(trace))


def _spans(document):
    """Every span object in a trace answer, however it nests them."""
    if isinstance(document, dict):
        if "span_id" in document and "resource" in document:
            yield document
        for value in document.values():
            yield from _spans(value)
    elif isinstance(document, list):
        for item in document:
            yield from _spans(item)
