"""docs/telemetry.md's configuration snippets, with their own values, work: the Flink
reporters' settings and endpoints (flink-metrics-otel posts to exactly that URL: a base URL
answered 403 and nothing arrived), the OpenTelemetry variables of the Airflow and SDK
sections (the SDK configured by them alone delivers a run to the documented namespace), the
OpenLineage settings of the Airflow and Spark sections (the client configured by them alone
delivers a run), the Spark event-log properties, the Collector pipeline of the Metrics
section, and every documented ``manage.py`` command line and ``BATCHWATCH_*`` variable."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from batchwatch.runs.models import Run
from tests.ingest.helpers import PROTOBUF, sample

DOCS = Path(__file__).resolve().parents[2] / "docs" / "telemetry.md"


def documented(setting: str) -> str:
    match = re.search(rf"^{re.escape(setting)}:\s*(\S+)", DOCS.read_text(), flags=re.MULTILINE)
    assert match, f"docs/telemetry.md no longer sets {setting}"
    return match.group(1)


@pytest.mark.django_db
def test_the_flink_event_reporter_endpoint_in_the_docs_records_the_captured_push(client):
    path = urlsplit(documented("events.reporter.otel.exporter.endpoint")).path
    response = client.post(path, sample("flink/0001_POST_v1_logs.body"), content_type=PROTOBUF)
    assert response.status_code == 200
    assert Run.objects.filter(job__engine="flink").count() == 1


def snippet(section: str) -> dict[str, str]:
    """The variables of the first ``sh`` block under ``## <section>`` in the docs."""
    text = DOCS.read_text()
    start = text.index(f"## {section}\n")
    block = text[text.index("```sh\n", start) + 6 :]
    block = block[: block.index("```")]
    values = {}
    for line in block.splitlines():
        name, _, value = line.split("#")[0].strip().partition("=")
        if name:
            values[name] = value
    return values


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("section", ["Airflow", "Any OpenTelemetry SDK"])
def test_the_documented_otel_settings_deliver_a_run(section, live_server, monkeypatch, settings):
    """The OpenTelemetry SDK configured only by the documented variables (the base URL and
    the key replaced by a live server's and a real key) delivers a run to the documented
    namespace."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from batchwatch.ingest.models import IngestKey, generate_key, hash_key

    settings.BATCHWATCH_INGEST_ALLOW_ANONYMOUS = False
    raw = generate_key()
    IngestKey.objects.create(name="docs", key_hash=hash_key(raw), key_prefix=raw[:8])
    values = snippet(section)
    if section == "Airflow":
        assert values["OTEL_TRACES_EXPORTER"] == "otlp_proto_http"  # (this exporter)
    for name, value in values.items():
        value = value.replace("https://batchwatch.example.com", live_server.url)
        monkeypatch.setenv(name, value.replace("<key>", raw))
    exporter = OTLPSpanExporter()  # everything from the environment, as the docs say
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("docs")
    with tracer.start_as_current_span(
        "nightly", attributes={"batch.job.name": "nightly", "batch.run.id": "r1"}
    ):
        pass
    provider.shutdown()
    run = Run.objects.select_related("job").get()
    assert run.job.namespace == values["OTEL_SERVICE_NAME"]


def properties_block(after: str) -> dict[str, str]:
    """The ``properties`` block of the docs that contains ``after``."""
    text = DOCS.read_text()
    end = text.index(after)
    start = text.rindex("```properties\n", 0, end) + len("```properties\n")
    block = text[start : text.index("```", start)]
    values = {}
    for line in block.splitlines():
        name, _, value = line.split("#")[0].strip().partition("=")
        if name:
            values[name] = value
    return values


@pytest.mark.django_db
def test_the_documented_spark_event_log_properties_name_the_job(tmp_path):
    """The captured event log, as Spark writes it with the documented properties set (they
    appear in its SparkListenerEnvironmentUpdate), imported by the documented command."""
    import json

    from django.core.management import call_command

    values = properties_block("spark.eventLog.enabled=true")
    assert values["spark.eventLog.enabled"] == "true"
    events_dir = tmp_path / urlsplit(values["spark.eventLog.dir"]).path.lstrip("/")
    events_dir.mkdir(parents=True)
    lines = sample("spark/spark_eventlog_plain_local-1795317217125.jsonl").splitlines()
    for i, line in enumerate(lines):
        event = json.loads(line)
        if event.get("Event") == "SparkListenerEnvironmentUpdate":
            event["Spark Properties"].update(values)
            lines[i] = json.dumps(event).encode()
    (events_dir / "local-1795317217125").write_bytes(b"\n".join(lines) + b"\n")
    call_command("import_spark_eventlog", str(events_dir), "--no-progress")
    run = Run.objects.select_related("job").get()
    name = values["spark.batchwatch.job"]
    assert run.job.key == f"spark:{values['spark.batchwatch.namespace']}/{name}"
    assert run.job.labels == {"domain": values["spark.batchwatch.label.domain"]}


def code_block(section: str, language: str, *, containing: str = "") -> str:
    """The first ``language`` block under ``## <section>`` (that contains ``containing``)."""
    text = DOCS.read_text()
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end > 0 else len(text)]
    fence = f"```{language}\n"
    position = 0
    while True:
        position = body.index(fence, position) + len(fence)
        block = body[position : body.index("```", position)]
        if containing in block:
            return block
        position += len(block)


def flink_reporters() -> dict[str, dict[str, str]]:
    """The Flink section's reporters (``events``, ``metrics``) with their settings."""
    import yaml

    config = yaml.safe_load(code_block("Flink", "yaml"))
    reporters: dict[str, dict[str, str]] = {}
    for key, value in config.items():
        kind, _, rest = key.partition(".reporter.otel.")
        if rest:
            reporters.setdefault(kind, {})[rest] = str(value)
        else:
            assert key.endswith(".reporters") and value == "otel", key
    return reporters


def test_the_flink_reporters_are_flink_metrics_otels_over_http():
    """Each reporter is flink-metrics-otel's, speaks HTTP (gRPC is the default, and not
    served) and posts to the full URL of its endpoint."""
    reporters = flink_reporters()
    assert set(reporters) == {"events", "metrics"}
    for kind, settings in reporters.items():
        factory = settings["factory.class"]
        assert factory == (
            "org.apache.flink.metrics.otel.OpenTelemetry"
            f"{'Event' if kind == 'events' else 'Metric'}ReporterFactory"
        )
        assert settings["exporter.protocol"] == "HTTP"
        path = urlsplit(settings["exporter.endpoint"]).path
        assert path == {"events": "/v1/logs", "metrics": "/v1/metrics"}[kind]


@pytest.mark.django_db
def test_the_flink_metrics_reporter_endpoint_in_the_docs_records_restarts(client):
    """The documented metrics endpoint, given what flink-metrics-otel sends (made with the
    OpenTelemetry SDK), records the job's restarts."""
    from tests.ingest.test_otlp_metrics import Meter, flink_job_metrics

    path = urlsplit(flink_reporters()["metrics"]["exporter.endpoint"]).path
    body = flink_job_metrics(Meter(), restarts=3).export()
    response = client.post(path, body, content_type=PROTOBUF)
    assert response.status_code == 200
    assert Run.objects.get().attributes["restarts"] == 3


@pytest.mark.django_db
def test_the_documented_collector_pipeline_records_kafka_lag_and_spark_facts(client, settings):
    """The Collector configuration of the Metrics section: its receivers' metrics (made with
    the OpenTelemetry SDK, named as those receivers name them), sent where its exporter
    sends them with its header, become run facts."""
    import yaml

    from batchwatch.catalog.models import Job
    from batchwatch.ingest.models import IngestKey, generate_key, hash_key
    from tests.ingest.otlp_build import flink_status_event
    from tests.ingest.test_otlp_metrics import (
        Meter,
        kafka_receiver_metrics,
        spark_receiver_metrics,
    )

    config = yaml.safe_load(code_block("Metrics", "yaml"))
    assert config["receivers"]["kafkametrics"]["scrapers"] == ["consumers"]
    [pipeline] = config["service"]["pipelines"].values()
    assert set(pipeline["receivers"]) == {"kafkametrics", "apachespark"}
    [exporter] = pipeline["exporters"]
    assert exporter.startswith("otlphttp")
    exporter = config["exporters"][exporter]
    path = urlsplit(exporter["metrics_endpoint"]).path
    settings.BATCHWATCH_INGEST_ALLOW_ANONYMOUS = False
    raw = generate_key()
    IngestKey.objects.create(name="collector", key_hash=hash_key(raw), key_prefix=raw[:8])
    authorization = exporter["headers"]["Authorization"].replace(
        "${env:BATCHWATCH_INGEST_KEY}", raw
    )
    headers = {"HTTP_AUTHORIZATION": authorization}

    # A streaming job, labelled with its consumer group as documented, is running.
    client.post(
        "/v1/logs",
        flink_status_event("RUNNING", at_ns=1795317901149 * 1_000_000),
        content_type=PROTOBUF,
        **headers,
    )
    job = Job.objects.get()
    job.labels = {"kafka_consumer_group": "ledger-orders"}
    job.save(update_fields=["labels"])

    for meter in (
        kafka_receiver_metrics(Meter(), "ledger-orders"),
        spark_receiver_metrics(Meter(), "local-1795317217125", "nightly"),
    ):
        response = client.post(path, meter.export(), content_type=PROTOBUF, **headers)
        assert response.status_code == 200
    assert Run.objects.get(job=job).attributes["kafka_lag"]["value"] == 49
    spark = Run.objects.get(external_id="local-1795317217125")
    assert spark.attributes["failed_tasks"]["value"] == 1


def properties(block: str) -> dict[str, str]:
    values = {}
    for line in block.splitlines():
        name, _, value = line.split("#")[0].strip().partition("=")
        if name:
            values[name] = value
    return values


def _nested(flat: dict[str, str]) -> dict:
    """``a.b.c=v`` properties as ``{"a": {"b": {"c": v}}}`` (how the OpenLineage Spark
    listener turns its ``spark.openlineage.*`` properties into the client's configuration)."""
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return tree


def _lineage_event(namespace: str, name: str):
    import uuid

    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    return RunEvent(
        eventType=RunState.START,
        eventTime="2026-11-21T07:00:05Z",
        run=Run(runId=str(uuid.uuid4())),
        job=Job(namespace=namespace, name=name),
        producer="https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
    )


@pytest.fixture
def ingest_key(settings):
    from batchwatch.ingest.models import IngestKey, generate_key, hash_key

    settings.BATCHWATCH_INGEST_ALLOW_ANONYMOUS = False
    raw = generate_key()
    IngestKey.objects.create(name="docs", key_hash=hash_key(raw), key_prefix=raw[:8])
    return raw


@pytest.mark.django_db(transaction=True)
def test_the_documented_spark_openlineage_listener_properties_deliver_a_run(
    live_server, ingest_key
):
    """The listener's transport, configured by the documented properties (the base URL and
    key replaced), is the OpenLineage client's: the same configuration delivers a run."""
    from openlineage.client import OpenLineageClient

    values = properties(code_block("Spark", "properties", containing="spark.openlineage"))
    assert values["spark.extraListeners"] == "io.openlineage.spark.agent.OpenLineageSparkListener"
    listener = {
        key.removeprefix("spark.openlineage."): value.replace(
            "https://batchwatch.example.com", live_server.url
        ).replace("<key>", ingest_key)
        for key, value in values.items()
        if key.startswith("spark.openlineage.")
    }
    config = _nested(listener)
    client = OpenLineageClient(config={"transport": config["transport"]})
    client.emit(_lineage_event(listener["namespace"], "loan_events_compaction"))
    run = Run.objects.select_related("job").get()
    assert run.job.namespace == listener["namespace"]


@pytest.mark.django_db(transaction=True)
def test_the_documented_airflow_openlineage_variables_deliver_a_run(
    live_server, ingest_key, monkeypatch
):
    """openlineage-python configured only by the Airflow section's OPENLINEAGE_* variables
    (what the provider's client reads) delivers a run to the documented namespace."""
    from openlineage.client import OpenLineageClient

    block = code_block("Airflow", "sh", containing="OPENLINEAGE_URL")
    values = properties(block)
    for name, value in values.items():
        value = value.replace("https://batchwatch.example.com", live_server.url)
        monkeypatch.setenv(name, value.replace("<key>", ingest_key))
    OpenLineageClient().emit(_lineage_event(values["OPENLINEAGE_NAMESPACE"], "nightly"))
    run = Run.objects.select_related("job").get()
    assert run.job.namespace == values["OPENLINEAGE_NAMESPACE"]


def documented_commands() -> list[list[str]]:
    """Every ``python manage.py ...`` line of the docs' sh blocks, as arguments."""
    import shlex

    commands = []
    for block in re.findall(r"```sh\n(.*?)```", DOCS.read_text(), flags=re.DOTALL):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("python manage.py "):
                commands.append(shlex.split(line)[2:])
    return commands


@pytest.mark.parametrize("arguments", documented_commands(), ids=" ".join)
def test_the_documented_commands_take_the_documented_arguments(arguments):
    """poll_flink, import_flink_archive, import_spark_eventlog...: each documented command
    exists and accepts its documented options."""
    from django.core.management import get_commands, load_command_class

    name, *rest = arguments
    app = get_commands()[name]  # (KeyError: the docs name a command that does not exist)
    parser = load_command_class(app, name).create_parser("manage.py", name)
    parser.parse_args(rest)  # (SystemExit: an option the command does not take)


def test_the_airflow_traces_settings_name_airflows_options():
    """AIRFLOW__TRACES__OTEL_ON is Airflow's ``[traces] otel_on`` (AIRFLOW__<SECTION>__<KEY>),
    switched on; the OTEL_* variables are exercised by the SDK test above."""
    values = snippet("Airflow")
    airflow = {k: v for k, v in values.items() if k.startswith("AIRFLOW__")}
    assert airflow == {"AIRFLOW__TRACES__OTEL_ON": "True"}
    assert urlsplit(values["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]).path == "/v1/traces"


def test_the_documented_batchwatch_variables_are_settings(settings):
    names = set()
    for block in re.findall(r"```sh\n(.*?)```", DOCS.read_text(), flags=re.DOTALL):
        names |= set(re.findall(r"^(BATCHWATCH_[A-Z_]+)=", block, flags=re.MULTILINE))
    assert names  # (BATCHWATCH_FLINK_URLS at least)
    for name in names:
        assert hasattr(settings, name), f"docs/telemetry.md sets {name}, which is no setting"
