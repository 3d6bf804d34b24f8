"""The run page as people read it: rows named after what they stand for (a Spark stage's id
and name, an Airflow task), a time axis and human durations, the failing span marked, open
and linked from the failure, each span's engine page, Spark's stage table, Flink's
checkpoints, the job in the tab's title; a large trace in a bounded number of queries (its
window of rows and chosen stages: test_run_page_window.py)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from batchwatch.catalog import services as catalog
from batchwatch.runs.models import Run, Span
from tests.ingest.helpers import PROTOBUF, SAMPLES, sample

SPARK_LOG = SAMPLES / "spark" / "spark_eventlog_plain_local-1795317217125.jsonl"
STAGE_NAMES = {
    **{n: "collect at /srv/batchjobs1/spark_job.py:26" for n in (0, 2, 4, 7)},
    8: "count at /srv/batchjobs1/spark_job.py:36",
}


@pytest.fixture
def spark_run(db) -> Run:
    call_command("import_spark_eventlog", str(SPARK_LOG), namespace="prod-emr", no_progress=True)
    return Run.objects.select_related("job").get()


@pytest.fixture
def airflow_runs(client, db):
    for body in ("airflow/0001_POST_v1_traces.body", "airflow/0002_POST_v1_traces.body"):
        assert client.post("/v1/traces", sample(body), content_type=PROTOBUF).status_code == 200


def page_of(client, user, run: Run) -> str:
    client.force_login(user)
    response = client.get(f"/runs/{run.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def failing_details(page: str) -> str:
    return page.split('<details class="wf-span wf-failing" open>', 1)[1].split("</details>")[0]


def test_a_spark_runs_rows_name_their_stages_with_an_axis_and_human_durations(
    client, teammate, spark_run
):
    page = page_of(client, teammate, spark_run)
    assert "<title>realclients-telemetry-probe · run local-1795317217125 · Batchwatch</title>" in (
        page
    )
    rows = re.findall(r'title="([^"]*)">', page.split('id="trace"', 1)[1])
    for stage_id, name in STAGE_NAMES.items():
        assert f"stage {stage_id}: {name}" in rows
    assert [f"job {n}" for n in range(5)] == [r for r in rows if r.startswith("job ")]
    assert "application realclients-telemetry-probe (local-1795317217125)" in rows
    assert not re.search(r"\d{4,}(\.\d)? ms", page)  # no "716000.0 ms"
    durations = re.findall(r'<span class="wf-dur">([^<]*)</span>', page)
    assert durations and all(re.fullmatch(r"[\dhmsd. ]+|\d+(\.\d)? ms", d) for d in durations)
    ticks = re.findall(r'<span class="wf-tick" style="left: [\d.]+%">([^<]*)</span>', page)
    assert ticks[0] == "0" and len(ticks) >= 2


def test_the_failing_span_is_marked_open_and_linked_from_the_failure(client, teammate, spark_run):
    page = page_of(client, teammate, spark_run)
    assert page.count("wf-failing") == 1
    failing = failing_details(page)
    # Job 4 failed in stage 8 because task 8 (partition 3) raised; task 6 was killed after.
    assert 'title="task 8 (partition 3, executor driver)"' in failing
    assert "deliberate failure in partition 3" in failing and "wf-error-text" in failing
    anchor = re.search(r'<summary class="wf-row" id="(span-[0-9a-f]{16})">', failing)
    assert anchor is not None
    box = page.split('<div class="failure-box"', 1)[1].split("</div>", 1)[0]
    label = "task 8 (partition 3, executor driver)"
    assert f'Failing span: <a href="#{anchor.group(1)}">{label}</a>' in box
    assert "batchwatch/run.js" in page  # scrolls it into view; without script it is open


def test_the_spark_stage_table(client, teammate, spark_run):
    page = page_of(client, teammate, spark_run)
    table = page.split('<section class="team" id="stages">', 1)[1].split("</section>", 1)[0]
    rows = table.split("<tbody>", 1)[1].split("<tr")[1:]
    assert len(rows) == len(STAGE_NAMES)
    first, *_, failed = rows
    assert ">0</a>" in first and STAGE_NAMES[0] in first and "stage-failed" not in first
    assert 'class="stage-failed"' in failed and ">8</a>" in failed and STAGE_NAMES[8] in failed
    assert '<td class="num bad">2</td>' in failed  # the task that raised and the one killed
    cells = re.findall(r'<td class="num[^"]*">([^<]*)', failed)
    _duration, tasks, _failed, skew, spill, gc = cells
    assert tasks == "4" and skew.startswith("\N{MULTIPLICATION SIGN}") and spill == "0 B" and gc
    stage_anchor = re.search(r'<a href="#(span-[0-9a-f]{16})">8</a>', failed).group(1)
    assert f'id="{stage_anchor}"' in page


def test_links_to_the_engines_ui(client, teammate, spark_run, settings):
    settings.BATCHWATCH_SPARK_HISTORY_URL = "https://spark-history.example.com"
    page = page_of(client, teammate, spark_run)
    history = "https://spark-history.example.com/history/local-1795317217125"
    assert f'<a class="engine-ui" href="{history}/"' in page
    assert f'href="{history}/stages/stage/?id=8&amp;attempt=0"' in page
    assert f'href="{history}/jobs/job/?id=4"' in page
    settings.BATCHWATCH_SPARK_HISTORY_URL = ""
    assert "spark-history.example.com" not in page_of(client, teammate, spark_run)


def test_an_airflow_dag_runs_rows_are_its_tasks(client, teammate, airflow_runs, settings):
    settings.BATCHWATCH_AIRFLOW_URL = "https://airflow.example.com"
    run = Run.objects.select_related("job").get(job__name="telemetry_probe_fail")
    page = page_of(client, teammate, run)
    assert re.search(r"<title>telemetry_probe_fail · run [^<]{1,24} · Batchwatch</title>", page)
    rows = re.findall(r'title="([^"]*)">', page.split('id="trace"', 1)[1])
    assert rows[:1] == ["DAG run telemetry_probe_fail"]
    assert {"task extract", "task transform", "task load"} <= set(rows)
    failing = failing_details(page)
    assert 'title="task load"' in failing  # the task, not the DAG run it failed
    assert "https://airflow.example.com/dags/telemetry_probe_fail/grid?dag_run_id=" in failing
    assert "&amp;task_id=load" in failing
    assert 'id="stages"' not in page  # no Spark stage facts, no table


def test_a_flink_runs_checkpoints(client, teammate, team_a):
    job = catalog.job_create(
        engine="flink", namespace="prod-flink", name="ledger_enrich", owner_team=team_a
    )
    run = Run.objects.create(
        job=job, external_id="a1b2c3d4e5f60718293a4b5c6d7e8f90", state="running",
        source="flink_rest", started_at=datetime(2026, 11, 24, tzinfo=UTC),
        attributes={
            "checkpointing": "enabled", "checkpoints_completed": 412, "checkpoints_failed": 3,
            "last_checkpoint_duration_ms": 5300, "last_checkpoint_size_bytes": 12_100_000_000,
            "restarts": 1,
        },
    )  # fmt: skip
    page = page_of(client, teammate, run)
    assert "<title>ledger_enrich · run a1b2c3d4 · Batchwatch</title>" in page
    card = page.split("<h2>Checkpoints</h2>", 1)[1].split("</div>", 1)[0]
    assert "<dt>Completed</dt><dd>412</dd>" in card and "<dt>Failed</dt><dd>3</dd>" in card
    assert "<dd>5.3s</dd>" in card and "<dd>12.1 GB</dd>" in card
    assert "<h2>Details</h2>" not in page  # every fact is the card's
    assert "No spans for this run" in page


def large_trace(team, *, spans: int) -> Run:
    job = catalog.job_create(engine="spark", namespace="prod-emr", name="ledger_compaction",
                             owner_team=team)  # fmt: skip
    trace, t0 = "cd" * 16, datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    root = "a" * 16
    app = {"spark.app.id": "app-1", "spark.app.name": "ledger_compaction"}
    rows = [Span(trace_id=trace, span_id=root, parent_span_id="", name="spark.application",
                 start_time=t0, end_time=t0 + timedelta(hours=2), status_code=2,
                 attributes=app)]  # fmt: skip
    for n in range(1, spans):
        start = t0 + timedelta(seconds=3 * n)
        rows.append(
            Span(
                trace_id=trace, span_id=f"{n:016x}", parent_span_id=root, name="spark.stage",
                start_time=start, end_time=start + timedelta(seconds=40),
                status_code=2 if n == spans // 2 else 0,
                status_message="FetchFailed" if n == spans // 2 else "",
                service_name="prod-emr",
                attributes={
                    "spark.stage.id": n, "spark.stage.attempt": 0,
                    "spark.stage.name": f"save at compaction.py:{n}", "tasks": 200,
                    "failed_tasks": 0, "skew_ratio": 1.4, "spilled_bytes": 10**9,
                    "jvm_gc_time_ms": 1200, "executor_run_time_ms": 60_000,
                },
                events=[{"name": "exception", "time": "2026-11-24T02:00:00Z",
                         "attributes": {"exception.message": "boom"}}] if n % 100 == 0 else [],
            )
        )  # fmt: skip
    Span.objects.bulk_create(rows, batch_size=500)
    return Run.objects.create(
        job=job, external_id="app-1", state="failed", source="spark_eventlog", trace_id=trace,
        root_span_id=root, started_at=t0, ended_at=t0 + timedelta(hours=2),
        duration_seconds=7200, failure_reason="FetchFailed",
    )  # fmt: skip


def test_a_large_trace_in_a_bounded_number_of_queries(
    client, teammate, team_a, django_assert_max_num_queries
):
    run = large_trace(team_a, spans=2000)
    client.force_login(teammate)
    started = time.perf_counter()
    # session, user, viewer's zone, run, the tree's stubs, the rows shown, their details,
    # child runs (+ slack; test_run_page_window.py: the same whatever the number of spans)
    with django_assert_max_num_queries(10):
        response = client.get(f"/runs/{run.pk}/")
    took = time.perf_counter() - started
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('<summary class="wf-row"') == 200 + 1  # a window and the failing span
    table = page.split('<section class="team" id="stages">', 1)[1].split("</section>", 1)[0]
    assert "1,999 stages" in table and 'href="?stages=0#stages"' in table
    assert 'title="stage 1000: save at compaction.py:1000"' in failing_details(page)
    assert "<title>ledger_compaction · run app-1 · Batchwatch</title>" in page
    assert took < 10, f"the run page of 2,000 spans took {took:.1f} s"


@pytest.mark.parametrize("persona", ["owner", "teammate", "outsider", "admin"])
def test_everyone_signed_in_reads_a_run(client, request, persona, spark_run):
    """Everyone signed in reads the catalog and its runs (catalog/permissions.py)."""
    page = page_of(client, request.getfixturevalue(persona), spark_run)
    assert "Spark stages" in page


def test_anonymous_is_sent_to_sign_in(client, spark_run):
    response = client.get(f"/runs/{spark_run.pk}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get("/runs/999999/").status_code == 302


def test_a_senders_text_in_a_label_is_escaped(client, teammate, team_a):
    run = large_trace(team_a, spans=2)
    Span.objects.filter(span_id=f"{1:016x}").update(
        attributes={"spark.stage.id": 1, "spark.stage.name": "<img src=x onerror=alert(1)>"}
    )
    page = page_of(client, teammate, run)
    assert "<img src=x" not in page
    assert "stage 1: &lt;img src=x onerror=alert(1)&gt;" in page


def test_a_missing_run_is_404(client, teammate):
    client.force_login(teammate)
    assert client.get("/runs/999999/").status_code == 404
