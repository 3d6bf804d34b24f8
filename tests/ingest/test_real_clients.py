"""The real clients against a live Batchwatch: the OpenTelemetry SDK's OTLP/HTTP exporter and
openlineage-python's HTTP transport, configured as a user would configure them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import error_message_run, nominal_time_run, parent_run
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpCompression,
    HttpConfig,
    HttpTransport,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import Status, StatusCode

from batchwatch.catalog.models import JobDependency
from batchwatch.ingest.models import IngestKey, generate_key, hash_key
from batchwatch.runs.models import Run as RunRow
from batchwatch.runs.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ingest_key(settings):
    settings.BATCHWATCH_INGEST_ALLOW_ANONYMOUS = False
    raw = generate_key()
    IngestKey.objects.create(name="tests", key_hash=hash_key(raw), key_prefix=raw[:8])
    return raw


def tracer_for(live_server, key, compression, *, service="prod-emr"):
    exporter = OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces",
        headers={"authorization": f"Bearer {key}"},
        compression=compression,
        timeout=10,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    recorder = _Recorder(exporter)
    provider.add_span_processor(SimpleSpanProcessor(recorder))
    return provider.get_tracer("tests.batch"), provider, recorder


class _Recorder:
    """Wraps the exporter to keep each export's result, which the SDK otherwise swallows."""

    def __init__(self, exporter):
        self.exporter, self.results = exporter, []

    def export(self, spans):
        result = self.exporter.export(spans)
        self.results.append(result)
        return result

    def shutdown(self):
        self.exporter.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip],
                         ids=["plain", "gzip"])  # fmt: skip
def test_otel_sdk_exporter_spark_shaped_trace(live_server, ingest_key, compression):
    tracer, provider, recorder = tracer_for(live_server, ingest_key, compression)
    app_attrs = {"spark.app.id": "app-20261122-0001", "spark.app.name": "loan_events_compaction"}
    with tracer.start_as_current_span("spark.application", attributes=app_attrs):
        for job_id in range(2):
            with (
                tracer.start_as_current_span("spark.job", attributes={"spark.job.id": job_id}),
                tracer.start_as_current_span("spark.stage") as stage,
            ):
                if job_id == 1:
                    stage.set_status(Status(StatusCode.ERROR, "FetchFailed"))
    provider.shutdown()
    assert recorder.results and set(recorder.results) == {SpanExportResult.SUCCESS}
    run = RunRow.objects.select_related("job").get()
    assert run.job.key == "spark:prod-emr/loan_events_compaction"
    assert run.external_id == "app-20261122-0001"
    assert run.state == "succeeded"
    assert Span.objects.filter(trace_id=run.trace_id).count() == 5


def test_otel_sdk_exporter_generic_attributes_and_failure(live_server, ingest_key):
    tracer, provider, recorder = tracer_for(live_server, ingest_key, Compression.Gzip,
                                            service="ops")  # fmt: skip
    attrs = {
        "batch.job.name": "ledger_reconcile",
        "batch.job.namespace": "finance",
        "batch.job.engine": "luigi",
        "batch.run.id": "2026-11-21",
        "batch.run.scheduled_time": "2026-11-21T02:00:00-05:00",
        "batchwatch.label.domain": "ledger",
    }
    with tracer.start_as_current_span("reconcile", attributes=attrs):
        try:
            raise ValueError("3 accounts do not balance")
        except ValueError as exc:
            from opentelemetry import trace

            span = trace.get_current_span()
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR))
    provider.shutdown()
    assert set(recorder.results) == {SpanExportResult.SUCCESS}
    run = RunRow.objects.select_related("job").get()
    assert run.job.key == "luigi:finance/ledger_reconcile"
    assert run.job.labels == {"domain": "ledger"}
    assert run.state == "failed"
    assert run.failure_reason == "ValueError: 3 accounts do not balance"
    assert run.scheduled_at == datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


def test_otel_sdk_exporter_with_a_wrong_key_fails_without_retrying(live_server, ingest_key):
    tracer, provider, recorder = tracer_for(live_server, "bwi_wrong", Compression.NoCompression)
    with tracer.start_as_current_span("spark.application", attributes={"spark.app.id": "x"}):
        pass
    provider.shutdown()
    assert recorder.results == [SpanExportResult.FAILURE]
    assert not RunRow.objects.exists()


def ol_client(live_server, key):
    config = HttpConfig(
        url=live_server.url,
        auth=ApiKeyTokenProvider({"apiKey": key}),
        compression=HttpCompression.GZIP,
        timeout=10,
    )
    return OpenLineageClient(transport=HttpTransport(config))


def test_openlineage_python_http_transport(live_server, ingest_key):
    client = ol_client(live_server, ingest_key)
    producer = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"
    dag_run_id = str(uuid.uuid4())
    dag_job = Job(namespace="prod-airflow", name="ledger_nightly_close")
    spark_job = Job(namespace="prod-airflow", name="ledger_nightly_close.compact")
    spark_run_id = str(uuid.uuid4())
    parent = parent_run.ParentRunFacet(
        run=parent_run.Run(runId=dag_run_id),
        job=parent_run.Job(namespace=dag_job.namespace, name=dag_job.name),
    )
    nominal = nominal_time_run.NominalTimeRunFacet(nominalStartTime="2026-11-21T07:00:00Z")
    events = [
        RunEvent(eventType=RunState.START, eventTime="2026-11-21T07:00:05Z",
                 run=Run(runId=dag_run_id, facets={"nominalTime": nominal}), job=dag_job,
                 producer=producer),
        RunEvent(eventType=RunState.START, eventTime="2026-11-21T07:01:00Z",
                 run=Run(runId=spark_run_id, facets={"parent": parent}), job=spark_job,
                 producer=producer,
                 inputs=[InputDataset(namespace="s3://lake", name="raw/loan_events")],
                 outputs=[OutputDataset(namespace="s3://lake", name="ledger/entries")]),
        RunEvent(eventType=RunState.FAIL, eventTime="2026-11-21T07:09:00Z",
                 run=Run(runId=spark_run_id, facets={
                     "errorMessage": error_message_run.ErrorMessageRunFacet(
                         message="ExecutorLostFailure: OOM", programmingLanguage="JAVA")}),
                 job=spark_job, producer=producer),
        # A second job reading what the first wrote: an observed lineage edge.
        RunEvent(eventType=RunState.COMPLETE, eventTime="2026-11-21T08:00:00Z",
                 run=Run(runId=str(uuid.uuid4())),
                 job=Job(namespace="warehouse", name="ledger_models"),
                 producer=producer,
                 inputs=[InputDataset(namespace="s3://lake", name="ledger/entries")]),
    ]  # fmt: skip
    for event in events:
        client.emit(event)

    runs = {r.job.name: r for r in RunRow.objects.select_related("job", "parent_run")}
    dag, spark, models = (runs["ledger_nightly_close"], runs["ledger_nightly_close.compact"],
                          runs["ledger_models"])  # fmt: skip
    assert dag.state == "running"
    assert dag.scheduled_at == datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
    assert spark.state == "failed"
    assert spark.failure_reason == "ExecutorLostFailure: OOM"
    assert spark.parent_run == dag
    assert spark.duration_seconds == 480
    assert models.state == "succeeded"
    edges = set(
        JobDependency.objects.filter(source="observed").values_list(
            "upstream__name", "downstream__name"
        )
    )
    assert edges == {
        ("ledger_nightly_close", "ledger_nightly_close.compact"),  # parent link
        ("ledger_nightly_close.compact", "ledger_models"),  # dataset ledger/entries
    }


def test_an_event_without_engine_lands_on_the_declared_job(live_server, ingest_key, team_a):
    from batchwatch.catalog.services import job_create

    declared = job_create(engine="airflow", namespace="prod-airflow", name="ledger_close",
                          owner_team=team_a)  # fmt: skip
    ol_client(live_server, ingest_key).emit(
        RunEvent(eventType=RunState.COMPLETE, eventTime="2026-11-21T08:00:00Z",
                 run=Run(runId=str(uuid.uuid4())),
                 job=Job(namespace="prod-airflow", name="ledger_close"), producer="tests")
    )  # fmt: skip
    assert RunRow.objects.get().job_id == declared.pk
