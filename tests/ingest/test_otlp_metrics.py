"""``POST /v1/metrics`` (what flink-metrics-otel and collectors send beside traces and logs):
the metrics of known engines (Flink's job metrics, the Collector's apachespark and
kafkametrics receivers) are run facts, the rest is answered with a partial_success that says
it was not recorded; other paths under /v1/ answer an OTLP Status, not an HTML page."""

from __future__ import annotations

import json
import time

import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from batchwatch.runs.models import Run, Span
from tests.ingest.helpers import PROTOBUF
from tests.ingest.otlp_build import flink_status_event

JOB_ID = "7cbd8fb6e17f3f076e8e1ba1d7bc552a"


def flink_metrics(
    job_id: str = JOB_ID, job_name: str = "", restarts: int = 0
) -> metrics_service_pb2.ExportMetricsServiceRequest:
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    attribute = resource_metrics.resource.attributes.add()
    attribute.key, attribute.value.string_value = "service.name", "unknown_service:java"
    scope = resource_metrics.scope_metrics.add()
    metric = scope.metrics.add()
    metric.name = "flink.jobmanager.job.numRestarts"
    point = metric.gauge.data_points.add()
    point.as_int = restarts
    point.time_unix_nano = 1795317904151 * 1_000_000
    label = point.attributes.add()
    label.key, label.value.string_value = "job_id", job_id
    if job_name:
        label = point.attributes.add()
        label.key, label.value.string_value = "job_name", job_name
    records = scope.metrics.add()
    records.name = "flink.taskmanager.job.task.numRecordsIn"
    records.sum.is_monotonic = True
    for value in (10, 20, 30):
        records.sum.data_points.add().as_int = value
    return request


@pytest.mark.django_db
def test_metrics_are_accepted_and_said_to_be_ignored_in_protobuf(client):
    response = client.post(
        "/v1/metrics", flink_metrics().SerializeToString(), content_type=PROTOBUF
    )
    assert response.status_code == 200
    assert response["Content-Type"] == PROTOBUF
    answer = metrics_service_pb2.ExportMetricsServiceResponse.FromString(response.content)
    # numRestarts is recorded; the three numRecordsIn points are not, and are counted.
    assert answer.partial_success.rejected_data_points == 3
    assert answer.partial_success.error_message.startswith(
        "3 data point(s) of 2 metric(s) accepted and not recorded"
    )
    assert not Span.objects.exists()


@pytest.mark.django_db
def test_flinks_job_counters_are_run_facts_and_never_go_down(client):
    request = flink_metrics()
    restarts = request.resource_metrics[0].scope_metrics[0].metrics[0]
    restarts.gauge.data_points[0].as_int = 2
    assert (
        client.post("/v1/metrics", request.SerializeToString(), content_type=PROTOBUF).status_code
        == 200
    )
    restarts.gauge.data_points[0].as_int = 1  # a stale push, replayed later
    client.post("/v1/metrics", request.SerializeToString(), content_type=PROTOBUF)
    run = Run.objects.select_related("job").get()
    assert (run.external_id, run.job.key) == (JOB_ID, f"flink:flink/{JOB_ID}")
    assert run.attributes == {"restarts": 2}
    assert run.source == "otlp_metrics"


@pytest.mark.django_db
def test_metrics_in_otlp_json(client):
    body = json.dumps(json_format.MessageToDict(flink_metrics())).encode()
    response = client.post("/v1/metrics", body, content_type="application/json")
    assert response.status_code == 200
    assert "not recorded" in response.json()["partialSuccess"]["errorMessage"]


@pytest.mark.django_db
def test_an_empty_export_is_a_plain_success(client):
    response = client.post("/v1/metrics", b"{}", content_type="application/json")
    assert (response.status_code, response.json()) == (200, {})


@pytest.mark.django_db
def test_an_undecodable_body_is_400_with_a_status(client):
    response = client.post("/v1/metrics", b"\xff\x00garbage", content_type=PROTOBUF)
    assert response.status_code == 400
    assert status_pb2.Status.FromString(response.content).message


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/v1/", "/v1/trace", "/v1/profiles", "/v1/traces/extra"])
def test_other_paths_under_v1_answer_an_otlp_status(client, path):
    response = client.post(path, b"{}", content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    document = response.json()
    assert document["code"] == 5
    assert "/v1/traces" in document["message"] and "full URL" in document["message"]


# --- Known engines' metrics, as the OpenTelemetry SDK encodes them ------------------------------
# The exports below are made by the real SDK (a MeterProvider read by an in-memory reader,
# encoded by the OTLP exporter's own encoder): the same bytes the HTTP exporter sends.


class Meter:
    """Instruments named and labelled as an engine's reporter names them; ``export()``
    collects what was recorded since the last export into an OTLP request body."""

    def __init__(self, **resource) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.resources import Resource

        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(
            metric_readers=[self.reader], resource=Resource.create(resource)
        )
        self.meter = self.provider.get_meter("tests")
        self.instruments: dict[str, object] = {}

    def gauge(self, name: str, value, **attributes) -> Meter:
        if name not in self.instruments:
            self.instruments[name] = self.meter.create_gauge(name)
        self.instruments[name].set(value, attributes)
        return self

    def counter(self, name: str, value, **attributes) -> Meter:
        if name not in self.instruments:
            self.instruments[name] = self.meter.create_counter(name)
        self.instruments[name].add(value, attributes)
        return self

    def export(self) -> bytes:
        from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

        return encode_metrics(self.reader.get_metrics_data()).SerializeToString()


def post(client, body: bytes) -> dict:
    response = client.post("/v1/metrics", body, content_type=PROTOBUF)
    assert response.status_code == 200, response.content
    answer = metrics_service_pb2.ExportMetricsServiceResponse.FromString(response.content)
    return {
        "rejected": answer.partial_success.rejected_data_points,
        "message": answer.partial_success.error_message,
    }


def flink_job_metrics(meter: Meter, *, restarts=0, completed=0, failed=0, duration=0, lag=()):
    """What flink-metrics-otel reports about the captured job: job-manager job metrics and
    the Kafka source's lag of each subtask."""
    job = {"job_id": JOB_ID, "job_name": "realclients-flink-groupby"}
    meter.gauge("flink.jobmanager.job.numRestarts", restarts, **job)
    meter.gauge("flink.jobmanager.job.numberOfCompletedCheckpoints", completed, **job)
    meter.gauge("flink.jobmanager.job.numberOfFailedCheckpoints", failed, **job)
    meter.gauge("flink.jobmanager.job.lastCheckpointDuration", duration, **job)
    for subtask, (pending, lag_max) in enumerate(lag):
        task = {**job, "subtask_index": subtask, "operator_name": "Source:_orders"}
        meter.gauge("flink.taskmanager.job.task.operator.pendingRecords", pending, **task)
        meter.gauge(
            "flink.taskmanager.job.task.operator.KafkaSourceReader.KafkaConsumer.records-lag-max",
            lag_max,
            **task,
        )
    return meter


@pytest.mark.django_db
class TestFlinkMetrics:
    def test_checkpoint_restart_and_lag_metrics_are_run_facts(self, client):
        meter = Meter(**{"service.name": "unknown_service:java"})
        flink_job_metrics(
            meter, restarts=2, completed=5, failed=1, duration=840, lag=[(120, 70), (30, 25)]
        )
        answer = post(client, meter.export())
        assert answer == {"rejected": 0, "message": ""}  # every point recorded
        run = Run.objects.select_related("job").get()
        assert run.job.key == "flink:flink/realclients-flink-groupby"
        facts = run.attributes
        assert (facts["restarts"], facts["checkpoints_completed"]) == (2, 5)
        assert facts["checkpoints_failed"] == 1
        assert facts["last_checkpoint_duration_ms"]["value"] == 840
        assert facts["pending_records"]["value"] == 150  # summed over the source's subtasks
        assert facts["kafka_records_lag_max"]["value"] == 70  # the worst partition
        assert run.source == "otlp_metrics"

    def test_the_latest_gauge_wins_in_any_order(self, client):
        meter = Meter()
        earlier = flink_job_metrics(meter, restarts=1, lag=[(500, 400)]).export()
        time.sleep(0.01)  # (exports are seconds apart; these two must not share a time)
        later = flink_job_metrics(meter, restarts=1, lag=[(20, 10)]).export()
        for body in (later, earlier, earlier):  # a late, stale push, replayed
            post(client, body)
        facts = Run.objects.get().attributes
        assert facts["pending_records"]["value"] == 20
        assert facts["restarts"] == 1


def spark_receiver_metrics(meter: Meter, app_id: str, name: str) -> Meter:
    """What the Collector's apachespark receiver reports about an application with two jobs
    (the second failed one task) and three stages."""
    app = {"application_id": app_id, "application_name": name}
    for job_id, failed in ((0, 0), (1, 1)):
        meter.counter("spark.job.completed_tasks", 4, **app, job_id=job_id)
        meter.counter("spark.job.failed_tasks", failed, **app, job_id=job_id)
        meter.counter("spark.job.failed_stages", failed, **app, job_id=job_id)
    for stage_id in (0, 1, 2):
        meter.counter("spark.stage.executor_run_time", 1200, **app, stage_id=stage_id)
    meter.counter("spark.executor.gc_time", 35, **app, executor_id="driver")
    return meter


@pytest.mark.django_db
def test_spark_receiver_metrics_are_facts_of_the_event_logs_run(client):
    """The application the event log recorded gets the receiver's job and stage facts; the
    executor's metrics are said not to be recorded."""
    from django.core.management import call_command

    from tests.ingest.helpers import SAMPLES

    call_command(
        "import_spark_eventlog",
        str(SAMPLES / "spark" / "spark_eventlog_plain_local-1795317217125.jsonl"),
        "--no-progress",
    )
    run = Run.objects.select_related("job").get()
    meter = Meter(**{"service.name": "otelcol-contrib"})
    answer = post(client, spark_receiver_metrics(meter, run.external_id, run.job.name).export())
    assert answer["rejected"] == 1  # the executor's gc_time, counted
    assert answer["message"].startswith("1 data point(s) of 5 metric(s) accepted and not")
    run.refresh_from_db()
    assert Run.objects.count() == 1
    assert run.attributes["failed_tasks"]["value"] == 1
    assert run.attributes["failed_stages"]["value"] == 1
    assert run.attributes["stages"] >= 3
    assert "otlp_metrics" in run.convergence["sources"]


def kafka_receiver_metrics(meter: Meter, group: str) -> Meter:
    """The kafkametrics receiver's consumers scraper: lag per partition and per topic."""
    for partition, lag in ((0, 40), (1, 2), (2, -1)):  # (-1: no committed offset yet)
        meter.gauge(
            "kafka.consumer_group.lag", lag, group=group, topic="orders", partition=partition
        )
    meter.gauge("kafka.consumer_group.lag", 7, group=group, topic="refunds", partition=0)
    meter.gauge("kafka.consumer_group.lag_sum", 42, group=group, topic="orders")
    meter.gauge("kafka.consumer_group.members", 2, group=group)
    return meter


@pytest.mark.django_db
class TestKafkaConsumerLag:
    @pytest.fixture
    def streaming_run(self, client):
        from batchwatch.catalog.models import Job

        meter = Meter()
        post(client, flink_job_metrics(meter, restarts=0).export())
        client.post(
            "/v1/logs",
            flink_status_event("RUNNING", at_ns=1795317901149 * 1_000_000),
            content_type=PROTOBUF,
        )
        job = Job.objects.get()
        job.labels = {"kafka_consumer_group": "ledger-orders"}
        job.save(update_fields=["labels"])
        return Run.objects.get()

    def test_lag_of_a_group_a_job_names_is_a_fact_of_its_running_run(self, client, streaming_run):
        answer = post(client, kafka_receiver_metrics(Meter(), "ledger-orders").export())
        lag = Run.objects.get().attributes["kafka_lag"]
        assert lag["group"] == "ledger-orders"
        assert lag["topics"] == {"orders": 42, "refunds": 7}  # the receiver's own sum wins
        assert lag["value"] == 49
        assert answer["message"].startswith("1 data point(s) of 3 metric(s)")  # members

    def test_metric_names_match_whatever_their_case(self, client, streaming_run):
        """Instrument names are case-insensitive (the Python SDK lower-cases them; a Java
        sender need not)."""
        body = kafka_receiver_metrics(Meter(), "ledger-orders").export()
        request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
        for metric in request.resource_metrics[0].scope_metrics[0].metrics:
            metric.name = metric.name.replace("kafka.consumer_group", "Kafka.Consumer_Group")
        post(client, request.SerializeToString())
        assert Run.objects.get().attributes["kafka_lag"]["value"] == 49

    def test_lag_is_a_fact_of_the_running_try_and_adds_no_other(self, client):
        """A consumer on its second try (the first not reported): its lag lands on try 2,
        and no empty try 1 appears."""
        from datetime import UTC, datetime

        from batchwatch.catalog.models import Job
        from batchwatch.ingest.auth import ANONYMOUS
        from batchwatch.ingest.services import ingest_run_events
        from batchwatch.runs.observations import RunObservation

        started = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
        consumer = RunObservation(
            engine="airflow", namespace="prod-airflow", job_name="orders_sink.consume",
            external_id="scheduled__2026-11-21T07:00:00+00:00", source="otlp",
            state="running", started_at=started, attempt=2,
        )  # fmt: skip
        ingest_run_events([consumer], lineage=[], principal=ANONYMOUS, now=started)
        Job.objects.filter(name="orders_sink.consume").update(
            labels={"kafka_consumer_group": "orders-sink"}
        )
        post(client, kafka_receiver_metrics(Meter(), "orders-sink").export())
        run = Run.objects.get()
        assert run.attributes["kafka_lag"]["value"] == 49
        assert [a["attempt"] for a in run.attempt_facts] == [2]

    def test_lag_is_a_fact_of_the_job_the_latest_report_winning(self, client, streaming_run):
        from batchwatch.catalog.models import Job

        meter = Meter()
        earlier = kafka_receiver_metrics(meter, "ledger-orders").export()
        time.sleep(0.01)  # (the two exports must not share a time)
        meter.gauge("kafka.consumer_group.lag_sum", 5, group="ledger-orders", topic="orders")
        later = meter.export()
        for body in (later, earlier):  # a stale export, replayed late
            post(client, body)
        lag = Job.objects.get().facts["kafka_lag"]
        assert (lag["group"], lag["topics"], lag["value"]) == (
            "ledger-orders",
            {"orders": 5, "refunds": 7},
            12,
        )

    def test_a_job_between_runs_still_gets_its_groups_lag(self, client, streaming_run):
        from batchwatch.catalog.models import Job

        Run.objects.update(state="succeeded")
        answer = post(client, kafka_receiver_metrics(Meter(), "ledger-orders").export())
        assert Job.objects.get().facts["kafka_lag"]["value"] == 49
        assert "kafka_lag" not in Run.objects.get().attributes  # (no run consumes)
        assert answer["message"].startswith("1 data point(s) of 3 metric(s)")  # members
        assert answer["rejected"] == 1

    def test_a_team_key_records_no_lag_of_another_teams_job(self, client, streaming_run):
        from batchwatch.catalog.models import Job, Team
        from batchwatch.ingest.services import ingest_key_create

        Job.objects.update(owner_team=Team.objects.create(slug="risk", name="Risk"))
        _, raw = ingest_key_create(name="growth", team=Team.objects.create(slug="g", name="G"))
        body = kafka_receiver_metrics(Meter(), "ledger-orders").export()
        response = client.post(
            "/v1/metrics", body, content_type=PROTOBUF, headers={"Authorization": f"Bearer {raw}"}
        )
        answer = metrics_service_pb2.ExportMetricsServiceResponse.FromString(response.content)
        assert Job.objects.get().facts == {}
        assert "kafka_lag" not in Run.objects.get().attributes
        assert answer.partial_success.rejected_data_points == 2  # members, and the job's lag
        assert "is not owned by this ingest key's team" in answer.partial_success.error_message

    def test_lag_of_a_group_no_job_names_is_said_not_recorded(self, client, streaming_run):
        answer = post(client, kafka_receiver_metrics(Meter(), "growth-clicks").export())
        assert "kafka_lag" not in Run.objects.get().attributes
        assert answer["message"].startswith("6 data point(s) of 3 metric(s) accepted and not")


@pytest.mark.django_db
def test_unknown_metrics_are_answered_with_a_partial_success(client):
    meter = Meter(**{"service.name": "billing-api"})
    meter.counter("http.server.request.count", 3, route="/pay")
    meter.gauge("process.memory.usage", 1024)
    answer = post(client, meter.export())
    assert answer["message"].startswith("2 data point(s) of 2 metric(s) accepted and not recorded")
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_sdks_http_exporter_delivers_flink_metrics(live_server):
    """The OTLP/HTTP metric exporter, pointed at the full /v1/metrics URL, as configured."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    exporter = OTLPMetricExporter(endpoint=f"{live_server.url}/v1/metrics")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader])
    job = {"job_id": JOB_ID, "job_name": "nightly-flink"}
    provider.get_meter("flink").create_gauge("flink.jobmanager.job.numRestarts").set(4, job)
    provider.shutdown()  # (exports what was recorded)
    assert Run.objects.get().attributes["restarts"] == 4


@pytest.mark.django_db
def test_the_reading_names_what_is_recorded_and_the_unclaimed_consumer_groups():
    """What the answer can say (ingest/otlpmetrics.py): how many points were not recorded,
    what is, and which consumer groups no running job claims; the lag itself is kept."""
    from batchwatch.ingest.otlpmetrics import read_metrics

    meter = kafka_receiver_metrics(Meter(), "growth-clicks")
    meter.counter("http.server.request.count", 3)
    request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(meter.export())
    reading = read_metrics(request)
    assert (reading.used, reading.data_points, reading.ignored) == (0, 7, 7)
    [lag] = reading.consumer_lags
    assert (lag.group, lag.topics, lag.total) == ("growth-clicks", {"orders": 42, "refunds": 7}, 49)
    message = reading.message()
    assert message.startswith("7 data point(s) of 4 metric(s) accepted and not recorded")
    assert "kafka_consumer_group=growth-clicks" in message
    assert reading.observations == []
