"""Engine adapters on spans shaped as each engine documents them (no captured sample exists
for these versions and engines)."""

from datetime import UTC, datetime, timedelta

import pytest

from batchwatch.ingest.adapters import SpanRejected, observe
from batchwatch.runs.observations import SpanRecord

T0 = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


def span(name, attributes, *, status=1, parent="", resource=None, events=None, message=""):
    return SpanRecord(
        trace_id="ab" * 16,
        span_id="cd" * 8,
        parent_span_id=parent,
        name=name,
        kind=1,
        start=T0,
        end=T0 + timedelta(minutes=3),
        status_code=status,
        status_message=message,
        service_name="svc",
        attributes=attributes,
        events=events or [],
        resource=resource or {"service.name": "prod-airflow"},
        scope="tests",
    )


def test_airflow_2_10_dag_run_failed():
    obs = observe(
        span(
            "ledger_close",
            {
                "category": "DAG runs",
                "dag_id": "ledger_close",
                "run_id": "scheduled__2026-11-20",
                "execution_date": "2026-11-20T07:00:00+00:00",
                "state": "failed",
                "error": True,
                "run_type": "scheduled",
            },
        )
    )
    assert (obs.job_key, obs.external_id, obs.state) == (
        "airflow:prod-airflow/ledger_close",
        "scheduled__2026-11-20",
        "failed",
    )
    assert obs.failure_reason == "DAG run failed"
    assert obs.scheduled_at == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


def test_airflow_2_10_task_with_retry():
    obs = observe(
        span(
            "extract",
            {
                "dag_id": "ledger_close",
                "task_id": "extract",
                "run_id": "r1",
                "state": "up_for_retry",
                "try_number": 2,
            },
        )
    )
    assert (obs.job_name, obs.state, obs.attempt) == ("ledger_close.extract", "running", 2)
    assert obs.parent_ref == "airflow:prod-airflow/ledger_close#r1"


def test_airflow_3_0_dag_run():
    obs = observe(
        span(
            "ledger_close",
            {
                "airflow.category": "DAG runs",
                "airflow.dag_run.dag_id": "ledger_close",
                "airflow.dag_run.run_id": "manual__x",
                "airflow.dag_run.state": "success",
                "airflow.dag_run.logical_date": "2026-11-20 07:00:00+00:00",
            },
        )
    )
    assert (obs.job_name, obs.state) == ("ledger_close", "succeeded")
    assert obs.scheduled_at == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


def test_airflow_3_2_mapped_task_instance():
    obs = observe(
        span(
            "task_run.score",
            {
                "airflow.dag_id": "risk",
                "airflow.task_id": "score",
                "airflow.dag_run.run_id": "r9",
                "airflow.task_instance.map_index": 3,
                "airflow.task_instance.state": "success",
                "airflow.task_instance.try_number": 1,
            },
            parent="ef" * 8,
        )
    )
    assert (obs.job_name, obs.external_id) == ("risk.score", "r9[3]")


def test_temporal_workflow():
    obs = observe(
        span(
            "RunWorkflow:DisburseLoans",
            {
                "temporalWorkflowID": "disburse-2026-11-21",
                "temporalRunID": "9f1c",
            },
            status=2,
            events=[
                {
                    "name": "exception",
                    "attributes": {
                        "exception.type": "ApplicationError",
                        "exception.message": "bank API 503",
                    },
                }
            ],
        )
    )
    assert (obs.engine, obs.job_name, obs.external_id) == ("temporal", "DisburseLoans", "9f1c")
    assert obs.failure_reason == "ApplicationError: bank API 503"


def test_prefect_flow_run_but_not_task_runs():
    flow = observe(
        span(
            "crimson-otter",
            {
                "prefect.run.type": "flow",
                "prefect.run.id": "f-1",
                "prefect.flow.name": "collections",
            },
        )
    )
    assert (flow.engine, flow.job_name, flow.external_id) == ("prefect", "collections", "f-1")
    assert observe(span("task-a", {"prefect.run.type": "task", "prefect.run.id": "t-1"})) is None


@pytest.mark.parametrize(
    ("result", "state"),
    [("success", "succeeded"), ("timeout", "failed"), ("cancellation", "failed")],
)
def test_cicd_pipeline_run(result, state):
    obs = observe(
        span(
            "run dbt_ci",
            {
                "cicd.pipeline.name": "dbt_ci",
                "cicd.pipeline.run.id": "812",
                "cicd.pipeline.result": result,
            },
        )
    )
    assert (obs.engine, obs.job_name, obs.external_id, obs.state) == ("ci", "dbt_ci", "812", state)
    task = span("test", {"cicd.pipeline.name": "dbt_ci", "cicd.pipeline.task.name": "test"})
    assert observe(task) is None


def test_flink_checkpoint_span_keeps_the_job_running():
    obs = observe(
        span(
            "Checkpoint",
            {
                "jobId": "7cbd",
                "jobName": "fraud signals",
                "checkpointId": 42,
                "checkpointStatus": "FAILED",
            },
            resource={"service.name": "unknown_service:java"},
        )
    )
    assert obs.job_key == "flink:flink/fraud_signals"
    assert (obs.state, obs.ended_at) == ("running", None)
    assert obs.attributes["last_checkpoint_status"] == "FAILED"


def test_spark_jobs_and_stages_are_spans_not_runs():
    assert observe(span("spark.job", {"spark.app.id": "app-1"}, parent="ef" * 8)) is None


def test_generic_rejects_unknown_engine():
    with pytest.raises(SpanRejected, match="unknown engine 'cobol'"):
        observe(span("x", {"batch.job.name": "x", "batch.job.engine": "cobol"}))


def test_unrelated_spans_are_not_runs():
    assert observe(span("GET /health", {"http.method": "GET"})) is None


def test_spark_task_spans_are_bounded_per_stage():
    from batchwatch.ingest.services import SPARK_TASKS_KEPT_SLOWEST, bound_spark_tasks

    stage = span("spark.stage", {}, parent="aa" * 8)
    stage.span_id = "5" * 16
    tasks = []
    for i in range(300):
        task = span("spark.task", {"i": i}, parent=stage.span_id, status=2 if i < 3 else 1)
        task.span_id = f"{i + 1:016x}"
        task.end = T0 + timedelta(seconds=1000 if i == 299 else 1)
        tasks.append(task)
    kept = bound_spark_tasks([stage, *tasks])
    kept_tasks = [s for s in kept if s.name == "spark.task"]
    assert len(kept_tasks) == 3 + SPARK_TASKS_KEPT_SLOWEST
    assert any(t.attributes["i"] == 299 for t in kept_tasks)  # the straggler
    assert stage.attributes["batchwatch.tasks_not_kept"] == 300 - len(kept_tasks)
