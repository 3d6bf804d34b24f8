"""Defect 5: a stage's skew_ratio is its longest task's duration over its mean task
duration (both wall time, launch to finish), as docs/telemetry.md defines it: 1.0 for a
one-task stage, whatever the task's executor run time."""

from __future__ import annotations

from datetime import UTC, datetime

from batchwatch.ingest.sparklog import application_records, event_lines, parse_application
from tests.ingest.helpers import SAMPLES

START = int(datetime(2026, 11, 21, tzinfo=UTC).timestamp() * 1000)


def stages_of(events) -> dict[int, dict]:
    app = parse_application(iter(events))
    records = application_records(app, namespace="prod", in_progress=False, fallback_id="x")
    return {
        s.attributes["spark.stage.id"]: s.attributes
        for s in records.spans
        if s.name == "spark.stage"
    }


def task_end(stage: int, task: int, took_ms: int, run_ms: int) -> dict:
    return {
        "Event": "SparkListenerTaskEnd",
        "Stage ID": stage,
        "Stage Attempt ID": 0,
        "Task End Reason": {"Reason": "Success"},
        "Task Info": {"Task ID": task, "Launch Time": START, "Finish Time": START + took_ms},
        # Executor run time leaves out deserialisation and result sending: shorter.
        "Task Metrics": {"Executor Run Time": run_ms},
    }


def test_a_one_task_stage_has_no_skew():
    stages = stages_of([task_end(0, 0, took_ms=2_700, run_ms=1_000)])
    assert stages[0]["skew_ratio"] == 1.0


def test_longest_over_mean_of_the_wall_times():
    stages = stages_of(
        [
            task_end(1, 0, took_ms=1_000, run_ms=400),
            task_end(1, 1, took_ms=1_000, run_ms=400),
            task_end(1, 2, took_ms=4_000, run_ms=3_900),
        ]
    )
    assert stages[1]["skew_ratio"] == 2.0  # 4000 / mean(1000, 1000, 4000)
    assert stages[1]["max_task_ms"] == 4_000


def test_the_captured_logs_one_task_stages():
    path = SAMPLES / "spark" / "spark_eventlog_plain_local-1795317217125.jsonl"
    app = parse_application(event_lines([path]))
    records = application_records(app, namespace="local", in_progress=False, fallback_id="x")
    stages = [s.attributes for s in records.spans if s.name == "spark.stage"]
    single = [s for s in stages if s["tasks"] == 1]
    assert single, "the capture has one-task stages"
    assert {s["skew_ratio"] for s in single} == {1.0}
    assert all(s["skew_ratio"] >= 1.0 for s in stages if s["skew_ratio"] is not None)


def test_a_stage_without_finished_tasks_has_none():
    events = [
        {
            "Event": "SparkListenerStageSubmitted",
            "Stage Info": {"Stage ID": 7, "Stage Attempt ID": 0, "Submission Time": START},
        }
    ]
    assert stages_of(events)[7]["skew_ratio"] is None
