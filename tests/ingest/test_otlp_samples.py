"""OTLP/HTTP with the payloads captured from real Airflow, OpenTelemetry SDK and Flink."""

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from batchwatch.catalog.models import Job
from batchwatch.runs.models import Run, Span
from tests.ingest.helpers import PROTOBUF, one_request_per_span, sample, to_otlp_json

AIRFLOW_OK = "airflow/0001_POST_v1_traces.body"
AIRFLOW_FAIL = "airflow/0002_POST_v1_traces.body"


def post(client, body, content_type=PROTOBUF, **headers):
    return client.post("/v1/traces", body, content_type=content_type, **headers)


def runs_summary():
    return {
        (r.job.key, r.state, r.attempt, r.parent_run.job.key if r.parent_run else None)
        for r in Run.objects.select_related("job", "parent_run__job")
    }


@pytest.mark.django_db
class TestAirflow:
    def test_successful_dag_run_and_its_tasks(self, client):
        response = post(client, sample(AIRFLOW_OK))
        assert response.status_code == 200
        assert response["Content-Type"] == PROTOBUF
        assert trace_service_pb2.ExportTraceServiceResponse.FromString(response.content) == (
            trace_service_pb2.ExportTraceServiceResponse()
        )
        dag = "airflow:airflow-probe/telemetry_probe"
        assert runs_summary() == {
            (dag, "succeeded", 1, None),
            (f"{dag}.extract", "succeeded", 1, dag),
            (f"{dag}.transform", "succeeded", 1, dag),
            (f"{dag}.load", "succeeded", 1, dag),
        }
        run = Run.objects.get(job__key=dag)
        assert run.external_id == "manual__2026-11-22T03:15:40.383555+00:00"
        assert run.scheduled_at.isoformat() == "2026-11-22T03:15:39.798493+00:00"
        assert run.duration_seconds == pytest.approx(6.77, abs=0.01)
        assert run.trace_id and run.root_span_id
        assert Span.objects.filter(trace_id=run.trace_id).count() == 4
        assert Job.objects.get(key=dag).registration == "observed"

    def test_failed_dag_run_names_the_failed_task(self, client):
        post(client, sample(AIRFLOW_FAIL))
        dag = Run.objects.get(job__key="airflow:airflow-probe/telemetry_probe_fail")
        load = Run.objects.get(job__key="airflow:airflow-probe/telemetry_probe_fail.load")
        assert dag.state == load.state == "failed"
        assert dag.failure_reason == "DAG run failed"
        assert load.failure_reason == "task load failed (try 1)"
        assert load.parent_run == dag

    def test_children_before_the_root_in_separate_requests_converge(self, client):
        for body in reversed(one_request_per_span(sample(AIRFLOW_OK))):
            assert post(client, body).status_code == 200
        in_order = runs_summary()
        Run.objects.all().delete()
        Span.objects.all().delete()
        post(client, sample(AIRFLOW_OK))
        assert runs_summary() == in_order
        assert all(r.parent_run_id for r in Run.objects.filter(job__key__contains="."))

    def test_retried_exports_create_no_duplicates(self, client):
        for _ in range(3):
            post(client, sample(AIRFLOW_OK))
        for body in one_request_per_span(sample(AIRFLOW_OK)):
            post(client, body)
        assert Run.objects.count() == 4
        assert Span.objects.count() == 4

    def test_a_request_with_some_spans_stored_before_keeps_the_new_ones(self, client):
        first, *_ = one_request_per_span(sample(AIRFLOW_OK))
        post(client, first)
        assert Span.objects.count() == 1
        post(client, sample(AIRFLOW_OK))  # one span again, three new
        assert Span.objects.count() == 4
        assert Run.objects.count() == 4

    def test_otlp_json_gives_the_same_runs_and_answers_in_json(self, client):
        response = post(client, to_otlp_json(sample(AIRFLOW_OK)), content_type="application/json")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response.json() == {}
        as_json = runs_summary()
        Run.objects.all().delete()
        post(client, sample(AIRFLOW_OK))
        assert runs_summary() == as_json

    def test_protobuf_labelled_as_json_is_sniffed(self, client):
        # Airflow 2.10 with newer SDKs sends exactly this.
        response = post(client, sample(AIRFLOW_OK), content_type="application/json")
        assert response.status_code == 200
        assert Run.objects.count() == 4


@pytest.mark.django_db
class TestOpenTelemetrySdkSamples:
    def test_plain_and_gzip_bodies(self, client):
        assert post(client, sample("otel/0001_POST_v1_traces.body")).status_code == 200
        response = post(
            client, sample("otel/0002_POST_v1_traces.body"), HTTP_CONTENT_ENCODING="gzip"
        )
        assert response.status_code == 200
        assert Span.objects.count() == 8
        failed = Span.objects.filter(status_code=2)
        assert failed.count() == 2  # one failing task in each captured trace
        assert all(span.events[0]["attributes"]["exception.type"] for span in failed)


@pytest.mark.django_db
def test_flink_job_status_events_from_otlp_logs(client):
    response = client.post(
        "/v1/logs", sample("flink/0001_POST_v1_logs.body"), content_type=PROTOBUF
    )
    assert response.status_code == 200
    run = Run.objects.select_related("job").get()
    assert run.job.key == "flink:flink/realclients-flink-groupby"
    assert run.external_id == "7cbd8fb6e17f3f076e8e1ba1d7bc552a"
    assert run.state == "running"
