"""The run page's parts without a database: span labels over the captured samples (Airflow
3.3's traces, pyspark 4.3's event log, the OpenTelemetry SDK's probe) and the engines' other
shapes, the time axis, the failing span, engine links, checkpoints and short run ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchwatch.catalog.models import Job
from batchwatch.ingest.otlp import parse_traces, spans_from_request
from batchwatch.ingest.sparklog import application_records, event_lines, parse_application
from batchwatch.runs.models import Run, Span
from batchwatch.runs.selectors import span_tree
from batchwatch.web import run_page
from batchwatch.web.span_labels import span_label
from tests.ingest.helpers import PROTOBUF, SAMPLES, sample

NOW = datetime(2026, 11, 25, tzinfo=UTC)
SPARK_LOG = SAMPLES / "spark" / "spark_eventlog_plain_local-1795317217125.jsonl"


def otlp_spans(path: str) -> list:
    return spans_from_request(parse_traces(sample(path), PROTOBUF), now=NOW).spans


def spark_spans() -> list:
    app = parse_application(event_lines([SPARK_LOG]))
    return application_records(app, namespace="local", in_progress=False, fallback_id="x").spans


SOURCES = {
    "airflow-ok": lambda: otlp_spans("airflow/0001_POST_v1_traces.body"),
    "airflow-failed": lambda: otlp_spans("airflow/0002_POST_v1_traces.body"),
    "spark-log": spark_spans,
    "otel-sdk": lambda: otlp_spans("otel/0001_POST_v1_traces.body"),
}


@pytest.mark.parametrize(
    ("source", "name", "labels"),
    [
        ("airflow-ok", "dag_run.telemetry_probe", {"DAG run telemetry_probe"}),
        ("airflow-ok", "task_run.extract", {"task extract"}),
        ("airflow-ok", "task_run.transform", {"task transform"}),
        ("airflow-failed", "task_run.load", {"task load"}),
        (
            "spark-log",
            "spark.application",
            {"application realclients-telemetry-probe (local-1795317217125)"},
        ),
        ("spark-log", "spark.job", {f"job {n}" for n in range(5)}),
        (
            "spark-log",
            "spark.stage",
            {
                *(f"stage {n}: collect at /srv/batchjobs1/spark_job.py:26" for n in (0, 2, 4, 7)),
                "stage 8: count at /srv/batchjobs1/spark_job.py:36",
            },
        ),
        ("otel-sdk", "batch.task", {"batch.task 0", "batch.task 1", "batch.task 2"}),
        ("otel-sdk", "batch.job", {"batch.job job-42"}),
    ],
)
def test_labels_of_the_captured_samples(source, name, labels):
    spans = [s for s in SOURCES[source]() if s.name == name]
    assert spans, f"the sample has {name} spans"
    assert {span_label(s) for s in spans} == labels


def test_the_spark_logs_tasks_say_which_partition_and_executor():
    tasks = {span_label(s) for s in spark_spans() if s.name == "spark.task"}
    assert "task 8 (partition 3, executor driver)" in tasks  # the failed one
    assert len(tasks) == len([s for s in spark_spans() if s.name == "spark.task"])


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_siblings_are_told_apart(source):
    """What the waterfall showed as N identical rows ("spark.stage prod-emr") reads N ways."""
    spans = SOURCES[source]()
    by_parent: dict[str, list[str]] = {}
    for s in spans:
        by_parent.setdefault(s.parent_span_id, []).append(span_label(s))
    for labels in by_parent.values():
        assert len(labels) == len(set(labels)), labels


@dataclass
class FakeSpan:
    name: str
    attributes: Any = field(default_factory=dict)


@pytest.mark.parametrize(
    ("name", "attributes", "label"),
    [
        # Spark, by OTLP with the importer's attribute names; a retried stage
        ("spark.stage", {"spark.stage.id": 3, "spark.stage.attempt": 1}, "stage 3 (attempt 1)"),
        ("spark.stage", {"spark.stage.id": 3, "spark.stage.name": "write"}, "stage 3: write"),
        ("spark.task", {"task_id": 7, "index": 2, "attempt": 1}, "task 7 (partition 2, attempt 1)"),
        ("spark.stage", {}, "spark.stage"),  # nothing to tell it by: its name
        # Airflow 3.2+: mapped task on its second try; the worker's span of it
        (
            "task_run.load",
            {"airflow.task_id": "load", "airflow.dag_id": "d", "airflow.dag_run.run_id": "r",
             "airflow.task_instance.map_index": 4, "airflow.task_instance.try_number": 2},
            "task load [4] · try 2",
        ),
        (
            "task_run.load",
            {"airflow.task_id": "load", "airflow.task_instance.map_index": -1},
            "task load",
        ),
        ("worker.load", {"airflow.task_id": "load"}, "worker of task load"),
        ("task.execute", {"airflow.task_id": "load"}, "task.execute · task load"),
        # Airflow 3.0/3.1 and 2.10
        ("ledger_close", {"airflow.dag_run.dag_id": "ledger_close", "airflow.dag_run.run_id": "r"},
         "DAG run ledger_close"),
        ("post", {"airflow.task_instance.task_id": "post", "airflow.task_instance.dag_id": "d"},
         "task post"),
        ("ledger_close", {"category": "DAG runs", "dag_id": "ledger_close", "run_id": "r"},
         "DAG run ledger_close"),
        ("post", {"dag_id": "d", "task_id": "post", "try_number": 3}, "task post · try 3"),
        # Flink's trace reporter
        ("Checkpoint", {"checkpointId": 41, "checkpointStatus": "COMPLETED", "jobId": "j"},
         "checkpoint 41 (COMPLETED)"),
        ("JobInitialization", {"jobId": "j", "jobName": "enrich"}, "job initialisation enrich"),
        # Temporal, Prefect, CI
        ("RunActivity:Fetch", {"temporalActivityID": "3"}, "RunActivity:Fetch · activity 3"),
        ("t-1", {"prefect.run.type": "task", "prefect.run.name": "fetch-0"}, "task run fetch-0"),
        ("job", {"cicd.pipeline.task.name": "unit tests"}, "task unit tests"),
        # What no rule knows, and attributes that are not a mapping
        ("reconcile", {"rows": 3}, "reconcile"),
        ("odd", ["not", "a", "mapping"], "odd"),
        ("odd", {"spark.stage.id": {"nested": 1}}, "odd"),
    ],
)  # fmt: skip
def test_labels_of_each_engines_shapes(name, attributes, label):
    assert span_label(FakeSpan(name, attributes)) == label


def test_a_label_is_bounded():
    long = FakeSpan("spark.stage", {"spark.stage.id": 1, "spark.stage.name": "x" * 5000})
    assert len(span_label(long)) == 200


@pytest.mark.parametrize(
    ("window", "labels"),
    [
        (0, []),
        (0.8, ["0", "200 ms", "400 ms", "600 ms"]),  # (800 ms is at the edge: left out)
        (42, ["0", "10s", "20s", "30s"]),  # (40s, at 95%, would spill over)
        (716, ["0", "2m", "4m", "6m", "8m", "10m"]),
        (2716, ["0", "10m", "20m", "30m", "40m"]),
        (5400, ["0", "15m", "30m", "45m", "1h", "1h 15m"]),
        (3 * 86400, ["0", "12h", "1d", "1d 12h", "2d", "2d 12h"]),
    ],
)
def test_the_time_axis_ticks_at_round_steps(window, labels):
    ticks = run_page.axis_ticks(window)
    assert [t.label for t in ticks] == labels
    assert all(0 <= t.x <= run_page.TICK_RIGHT_LIMIT for t in ticks)
    assert len(ticks) <= run_page.MAX_TICKS + 1


@pytest.mark.parametrize(
    ("external_id", "short"),
    [
        ("scheduled__2026-11-21T02:00:00+00:00", "2026-11-21 02:00"),
        ("manual__2026-11-22T10:15:31.123+00:00", "2026-11-22 10:15"),
        ("0197a3c2-6f1e-7d3b-9e55-1c2b3a4d5e6f", "0197a3c2"),
        ("a1b2c3d4e5f60718293a4b5c6d7e8f90", "a1b2c3d4"),  # a Flink job id
        ("local-1795317217125", "local-1795317217125"),
        ("app-20261122-0001", "app-20261122-0001"),
        ("x" * 40, "x" * 23 + "…"),
    ],
)
def test_short_run_ids(external_id, short):
    assert run_page.short_run_id(external_id) == short


T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def stored(span_id, parent, start_s, end_s, *, error=False, name="s", **attributes) -> Span:
    return Span(
        trace_id="ab" * 16, span_id=span_id, parent_span_id=parent, name=name,
        start_time=T0 + timedelta(seconds=start_s), end_time=T0 + timedelta(seconds=end_s),
        status_code=2 if error else 1, attributes=attributes,
    )  # fmt: skip


def test_the_failing_span_is_the_first_failure_at_the_bottom_of_its_chain():
    spans = [
        stored("a" * 16, "", 0, 100, error=True, name="spark.application"),
        stored("b" * 16, "a" * 16, 0, 100, error=True, name="spark.job"),
        stored("c" * 16, "b" * 16, 1, 99, error=True, name="spark.stage"),
        stored("d" * 16, "c" * 16, 2, 90, error=True, name="killed"),  # began first, ended later
        stored("e" * 16, "c" * 16, 3, 50, error=True, name="failed"),
        stored("f" * 16, "c" * 16, 3, 20, name="fine"),
    ]
    job, run = Job(engine="spark"), Run(external_id="app-1")
    wf = run_page.waterfall(span_tree(spans), job=job, run=run)
    assert wf.failing is not None and wf.failing.span.name == "failed"
    assert [r.failing for r in wf.rows].count(True) == 1
    assert [r.error for r in wf.rows] == [True, True, True, True, True, False]
    assert wf.failing.anchor == "span-" + "e" * 16
    assert wf.length == "1m 40s" and wf.rows[0].duration == "1m 40s"


def test_no_failing_span_in_a_trace_without_errors():
    wf = run_page.waterfall(span_tree([stored("a" * 16, "", 0, 1)]), job=Job(), run=Run())
    assert wf.failing is None and wf.rows[0].duration == "1s"


def test_engine_links_of_spans(settings):
    settings.BATCHWATCH_SPARK_HISTORY_URL = "https://spark-history.example.com/"
    settings.BATCHWATCH_AIRFLOW_URL = "https://airflow.example.com"
    settings.BATCHWATCH_FLINK_UI_URL = "https://flink.example.com"
    spark, run = Job(engine="spark"), Run(external_id="app-1", state="failed")
    stage = stored("a" * 16, "", 0, 1, **{"spark.stage.id": 8, "spark.stage.attempt": 1})
    link = run_page.span_engine_link(stage, job=spark, run=run)
    history = "https://spark-history.example.com/history/app-1"
    assert link.url == f"{history}/stages/stage/?id=8&attempt=1"
    job = stored("a" * 16, "", 0, 1, **{"spark.job.id": 4})
    assert run_page.span_engine_link(job, job=spark, run=run).url == f"{history}/jobs/job/?id=4"
    task = stored("a" * 16, "", 0, 1, name="task_run.load", **{
        "airflow.dag_id": "probe fail", "airflow.task_id": "load",
        "airflow.dag_run.run_id": "manual__1",
    })  # fmt: skip
    link = run_page.span_engine_link(task, job=Job(engine="airflow"), run=run)
    assert link.url == (
        "https://airflow.example.com/dags/probe%20fail/grid?dag_run_id=manual__1&task_id=load"
    )
    checkpoint = stored("a" * 16, "", 0, 1, name="Checkpoint", jobId="f00d", checkpointId=3)
    link = run_page.span_engine_link(checkpoint, job=Job(engine="flink"), run=run)
    assert link.url == "https://flink.example.com/#/job/completed/f00d/checkpoints"
    plain = stored("a" * 16, "", 0, 1, name="startup")
    assert run_page.span_engine_link(plain, job=Job(engine="airflow"), run=run) is None
    settings.BATCHWATCH_SPARK_HISTORY_URL = ""
    assert run_page.span_engine_link(stage, job=spark, run=run) is None  # not configured


def test_flink_checkpoints_from_the_run_facts():
    run = Run(attributes={
        "checkpointing": "enabled", "checkpoints_completed": 12, "checkpoints_failed": 1,
        "last_checkpoint_duration_ms": 5300, "last_checkpoint_size_bytes": 12_100_000_000,
        "restarts": 2, "parallelism": 4,
    })  # fmt: skip
    checkpoints = run_page.flink_checkpoints(run)
    assert checkpoints.facts == [
        ("Checkpointing", "enabled"),
        ("Completed", "12"),
        ("Failed", "1"),
        ("Its duration", "5.3s"),
        ("Its size", "12.1 GB"),
        ("Restarts", "2"),
    ]
    assert run_page.run_details(run, checkpoints=checkpoints) == [("parallelism", 4)]
    assert run_page.flink_checkpoints(Run(attributes={"restarts": 2})) is None
    assert run_page.flink_checkpoints(Run(attributes={})) is None
