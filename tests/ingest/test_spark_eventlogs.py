"""Spark event logs written by real pyspark, in every format Spark writes, imported."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from batchwatch.ingest.models import EventLogImport
from batchwatch.ingest.sparklog import (
    FAILED_TASKS_KEPT,
    SLOWEST_TASKS_KEPT,
    application_records,
    parse_application,
)
from batchwatch.runs.models import Run, Span
from tests.conftest import require, require_tool
from tests.ingest.helpers import SAMPLES
from tests.processes import default_signals

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def spark_logs(tmp_path_factory) -> Path:
    """Four applications, one per format; made once per session (the JVM is slow)."""
    require(importlib.util.find_spec("pyspark") is not None, "pyspark (pip install -e .[spark])")
    require_tool("java")
    out = tmp_path_factory.mktemp("spark-events")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "ingest" / "spark_apps.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def import_(*paths, **options):
    call_command("import_spark_eventlog", *map(str, paths), no_progress=True, **options)


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["zstd-rolling", "lz4", "snappy"])
def test_compressed_formats_import_the_failed_application(spark_logs, fmt):
    import_(spark_logs / fmt)
    run = Run.objects.select_related("job").get()
    assert run.job.key == f"spark:tests/batchwatch-test-{fmt}"
    assert run.state == "failed"
    assert run.failure_reason == "job 2 failed: ValueError: deliberate failure in partition 3"
    assert run.started_at < run.ended_at
    names = set(Span.objects.filter(trace_id=run.trace_id).values_list("name", flat=True))
    assert names == {"spark.application", "spark.job", "spark.stage", "spark.task"}


@pytest.mark.django_db
def test_plain_log_of_a_successful_application(spark_logs):
    import_(spark_logs / "plain")
    run = Run.objects.get()
    assert (run.state, run.failure_reason) == ("succeeded", "")
    assert run.attributes["failed_jobs"] == 0


@pytest.mark.django_db
def test_reimport_is_idempotent(spark_logs, capsys):
    import_(spark_logs)
    counts = (Run.objects.count(), Span.objects.count())
    import_(spark_logs)
    assert "unchanged" in capsys.readouterr().out
    import_(spark_logs, force=True)
    assert (Run.objects.count(), Span.objects.count()) == counts == (4, counts[1])
    assert EventLogImport.objects.filter(error="").count() == 4


@pytest.mark.django_db
def test_in_progress_rolling_log_is_a_running_run(spark_logs, tmp_path):
    [original] = (spark_logs / "zstd-rolling").iterdir()
    copy = tmp_path / original.name
    shutil.copytree(original, copy)
    for status in copy.glob("appstatus_*"):
        status.rename(status.with_name(status.name + ".inprogress"))
    [events] = copy.glob("events_*")
    events.write_bytes(events.read_bytes()[: events.stat().st_size // 2])  # cut mid-frame
    import_(copy)
    assert Run.objects.get().state == "running"


@pytest.mark.django_db
def test_captured_sample_log(db):
    import_(SAMPLES / "spark" / "spark_eventlog_plain_local-1795317217125.jsonl", namespace="local")
    run = Run.objects.select_related("job").get()
    assert run.job.key == "spark:local/realclients-telemetry-probe"
    assert run.failure_reason == "job 4 failed: ValueError: deliberate failure in partition 3"


@pytest.mark.django_db
class TestBadLogs:
    def test_missing_path_is_exit_2_with_a_sentence(self):
        with pytest.raises(CommandError, match="does not exist") as err:
            import_("/nonexistent/eventlog")
        assert err.value.returncode == 2

    def test_corrupt_compressed_log_fails_that_log_only(self, tmp_path):
        (tmp_path / "local-1.zstd").write_bytes(b"\x28\xb5\x2f\xfd" + b"garbage" * 100)
        shutil.copy(
            SAMPLES / "spark" / "spark_eventlog_plain_local-1795317217125.jsonl",
            tmp_path / "local-2",
        )
        with pytest.raises(CommandError, match="1 log\\(s\\) could not be imported"):
            import_(tmp_path)
        assert Run.objects.count() == 1  # the good log was kept
        assert (
            "corrupt zstd data" in EventLogImport.objects.get(path__endswith="local-1.zstd").error
        )

    def test_a_file_that_is_not_a_log(self, tmp_path):
        (tmp_path / "notes").write_text("hello\n")
        with pytest.raises(CommandError):
            import_(tmp_path / "notes")
        assert "no Spark events found" in EventLogImport.objects.get().error

    def test_no_arguments_is_exit_2(self):
        with pytest.raises(CommandError, match="--watch DIR") as err:
            import_()
        assert err.value.returncode == 2


def test_stage_tasks_are_aggregated_and_bounded():
    start = int(datetime(2026, 11, 21, tzinfo=UTC).timestamp() * 1000)
    events = [
        {
            "Event": "SparkListenerApplicationStart",
            "App ID": "app-1",
            "App Name": "skewed",
            "Timestamp": start,
            "User": "etl",
        },
        {"Event": "SparkListenerJobStart", "Job ID": 0, "Submission Time": start, "Stage IDs": [0]},
    ]
    for i in range(1000):
        took = 60_000 if i == 999 else 1000  # one straggler: data skew
        reason = (
            {"Reason": "FetchFailed", "Message": "lost shuffle"} if i < 3 else {"Reason": "Success"}
        )
        events.append(
            {
                "Event": "SparkListenerTaskEnd",
                "Stage ID": 0,
                "Stage Attempt ID": 0,
                "Task End Reason": reason,
                "Task Info": {"Task ID": i, "Launch Time": start, "Finish Time": start + took},
                "Task Metrics": {"Executor Run Time": took, "JVM GC Time": 10},
            }
        )
    app = parse_application(iter(events))
    records = application_records(app, namespace="prod", in_progress=True, fallback_id="x")
    tasks = [s for s in records.spans if s.name == "spark.task"]
    assert len(tasks) == 3 + SLOWEST_TASKS_KEPT <= FAILED_TASKS_KEPT + SLOWEST_TASKS_KEPT
    [stage] = [s for s in records.spans if s.name == "spark.stage"]
    assert stage.attributes["tasks"] == 1000 and stage.attributes["failed_tasks"] == 3
    assert stage.attributes["skew_ratio"] > 50
    assert records.observation.state == "running"


def test_watch_follows_a_directory(tmp_path):
    watched = tmp_path / "events"
    watched.mkdir()
    env = {**os.environ, "BATCHWATCH_VAR_DIR": str(tmp_path / "var")}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "import_spark_eventlog",
            "--watch",
            str(watched),
            "--interval",
            "0.2",
            "--no-progress",
        ],
        cwd=ROOT,
        env=env,
        preexec_fn=default_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(1.5)
        shutil.copy(
            SAMPLES / "spark" / "spark_eventlog_plain_local-1795317217125.jsonl",
            watched / "local-1795317217125",
        )
        deadline = time.monotonic() + 30
        db = tmp_path / "var" / "batchwatch.sqlite3"
        import sqlite3

        while time.monotonic() < deadline:
            with sqlite3.connect(db) as conn:
                if conn.execute("select count(*) from runs_run").fetchone()[0]:
                    break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "imported  local-1795317217125" in output
    assert "Stopped watching." in output
