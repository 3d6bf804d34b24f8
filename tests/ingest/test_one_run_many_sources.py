"""Item 10: one run whatever reports it. With Airflow's traces and its OpenLineage provider both
on, a DAG run is one run and each task run one run (not 2 and 3 + 3); a Spark application
reported by its event log and by the OpenLineage listener is one run. Observations are
matched by the engine's identity (Airflow dag_id + run_id + task_id + map_index, the Spark
application id) that the OpenLineage facets carry; the run keeps every source that reported
it. Real captures (the Airflow 3.3 traces, the Spark 4 event log), both orders, inline and
queued."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.test import Client, override_settings

from batchwatch.catalog.models import Job
from batchwatch.ingest.services import runs_drain, spark_eventlog_import
from batchwatch.ingest.sparkfiles import find_logs
from batchwatch.runs.models import Run
from tests.ingest.helpers import PROTOBUF, SAMPLES, one_request_per_span, sample
from tests.ingest.lineage_build import airflow_events, spark_events

NOW = datetime.now(UTC).replace(microsecond=0)
NAMESPACE = "airflow-probe"  # the captured traces' service.name, as the docs configure both
SPARK_LOG = SAMPLES / "spark" / "spark_eventlog_plain_local-1795317217125.jsonl"
MODES = ["inline", "queued"]
ORDERS = ["traces first", "lineage first"]


def _send_traces(path: str) -> None:
    for body in one_request_per_span(sample(path)):
        response = Client().post("/v1/traces", body, content_type=PROTOBUF)
        assert response.status_code == 200, response.content


def _send_lineage(events: list[dict]) -> None:
    for event in events:
        response = Client().post(
            "/api/v1/lineage", json.dumps(event), content_type="application/json"
        )
        assert response.status_code in (200, 201), response.content


def _send_event_log() -> None:
    [log] = find_logs(SPARK_LOG)
    result = spark_eventlog_import(log, namespace="local", now=NOW, force=True)
    assert result.status == "imported", result.message


def _replay(steps, *, mode: str) -> None:
    with override_settings(BATCHWATCH_INGEST_RUNS=mode):
        for step in steps:
            step()
        if mode == "queued":
            while runs_drain(now=NOW):
                pass


def _facts() -> dict:
    return {
        (run.job.key, run.external_id): {
            "state": run.state, "attempt": run.attempt, "started_at": run.started_at,
            "ended_at": run.ended_at, "scheduled_at": run.scheduled_at,
            "failure_reason": run.failure_reason, "trace_id": run.trace_id,
            "root_span_id": run.root_span_id, "source": run.source, "sources": run.sources,
            "parent": run.parent_run.job.key if run.parent_run else None,
            "attempts": run.attempt_facts, "attributes": run.attributes,
        }
        for run in Run.objects.select_related("job", "parent_run__job")
    }  # fmt: skip


def _wipe() -> None:
    Job.objects.all().delete()


@pytest.mark.django_db
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("order", ORDERS)
def test_an_airflow_dag_run_with_traces_and_openlineage_is_one_run(order, mode):
    traces = lambda: _send_traces("airflow/0001_POST_v1_traces.body")  # noqa: E731
    lineage = lambda: _send_lineage(airflow_events("airflow/0001_POST_v1_traces.body",  # noqa: E731
                                                   namespace=NAMESPACE))  # fmt: skip
    _replay([traces, lineage] if order == "traces first" else [lineage, traces], mode=mode)

    runs = _facts()
    run_id = "manual__2026-11-22T03:15:40.383555+00:00"
    assert sorted(runs) == sorted(
        (f"airflow:{NAMESPACE}/{name}", run_id)
        for name in ("telemetry_probe", "telemetry_probe.extract", "telemetry_probe.transform",
                     "telemetry_probe.load")
    )  # fmt: skip
    assert Job.objects.count() == 4
    for facts in runs.values():
        assert facts["sources"] == ["otlp", "openlineage"]
        assert facts["source"] == "otlp"
        assert facts["state"] == "succeeded"
        assert facts["trace_id"] and facts["root_span_id"]
    for name in ("extract", "transform", "load"):
        task = runs[(f"airflow:{NAMESPACE}/telemetry_probe.{name}", run_id)]
        assert task["parent"] == f"airflow:{NAMESPACE}/telemetry_probe"
        assert [a["attempt"] for a in task["attempts"]] == [1]


@pytest.mark.django_db
def test_the_same_run_whatever_the_order_and_mode():
    path = "airflow/0002_POST_v1_traces.body"
    traces = lambda: _send_traces(path)  # noqa: E731
    lineage = lambda: _send_lineage(airflow_events(path, namespace=NAMESPACE))  # noqa: E731
    seen = []
    for mode in MODES:
        for steps in ([traces, lineage], [lineage, traces]):
            _wipe()
            _replay(steps, mode=mode)
            seen.append(_facts())
    assert all(facts == seen[0] for facts in seen[1:])
    [failed] = [f for (key, _), f in seen[0].items() if key.endswith(".load")]
    # The provider's errorMessage is the engine's own reason: it beats the span's placeholder.
    assert failed["state"] == "failed"
    assert failed["failure_reason"] == "ValueError: load refused its input"
    assert len(seen[0]) == 4


@pytest.mark.django_db
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("order", ["event log first", "lineage first"])
def test_a_spark_application_with_event_log_and_openlineage_is_one_run(order, mode):
    lineage = lambda: _send_lineage(spark_events(SPARK_LOG, namespace="local"))  # noqa: E731
    steps = [_send_event_log, lineage] if order == "event log first" else [lineage, _send_event_log]
    _replay(steps, mode=mode)

    [app] = Run.objects.filter(external_id="local-1795317217125").select_related("job")
    assert app.job.key == "spark:local/realclients-telemetry-probe"
    assert app.sources == ["spark_eventlog", "openlineage"]
    assert app.source == "spark_eventlog"
    assert app.state == "failed"  # (a job of the application failed: the event log says why)
    assert app.failure_reason == "job 4 failed: ValueError: deliberate failure in partition 3"
    assert Run.objects.filter(job__engine="spark", parent_run__isnull=True).count() == 1
    # The listener's SQL job names the application's OpenLineage run as its parent: found.
    [sql_job] = Run.objects.filter(job__name__endswith=".collect_limit")
    assert sql_job.parent_run_id == app.pk


@pytest.mark.django_db
def test_the_api_and_the_run_page_show_every_source(api_as, admin, client):
    path = "airflow/0001_POST_v1_traces.body"
    lineage = airflow_events(path, namespace=NAMESPACE)
    _replay([lambda: _send_traces(path), lambda: _send_lineage(lineage)], mode="inline")
    run = Run.objects.get(job__name="telemetry_probe")
    document = api_as(admin).get(f"/api/v1/runs/{run.pk}/").json()
    assert document["sources"] == ["otlp", "openlineage"]
    client.force_login(admin)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "reported by OTLP traces, OpenLineage" in page
