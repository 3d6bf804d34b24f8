"""Every engine's fixtures, replayed in any order, with duplicates, inline or queued,
converge to the same runs and spans, field for field.

The reports are what the real senders send, cut into the smallest units they arrive in: the
captured Airflow 3.3 runs (one request per span), an Airflow task run with the worker span
and detail spans a scheduler adds, the OpenTelemetry SDK's traces (one request per span),
the OpenLineage client's events, the OpenLineage events of the Airflow provider and the
Spark listener about the same runs as the traces and the event log, Flink status events (the
captured push), REST polls (a running and a failed job) and a metrics push, and the captured
Spark event log, complete and as read while the application ran. Hypothesis draws a
permutation, duplicates at any place and, in queued mode, where the drain runs; the database
after each replay is compared with the one after the reports in their original order,
inline. Runs on both databases (CI runs the suite on SQLite and on PostgreSQL); examples are
bounded so the test takes seconds.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchwatch.catalog.models import Job
from batchwatch.ingest.auth import ANONYMOUS
from batchwatch.ingest.flinkrest import FlinkUnreachable, job_observation
from batchwatch.ingest.models import RunReportBatch
from batchwatch.ingest.services import ingest_run_events, runs_drain, spark_eventlog_import
from batchwatch.ingest.sparkfiles import find_logs
from batchwatch.runs.models import Run, Span
from tests.ingest import test_airflow_root_span as worker_fixture
from tests.ingest.helpers import PROTOBUF, SAMPLES, one_request_per_span, sample
from tests.ingest.lineage_build import airflow_events, spark_events
from tests.ingest.otlp_build import flink_status_event
from tests.ingest.test_flink_facts import CAPTURED, END_MS, FAILED_DOCUMENTS, JID, START_MS
from tests.ingest.test_otlp_metrics import flink_metrics

EXAMPLES = 25
NOW = datetime.now(UTC).replace(microsecond=0)
NO_RESTART = {"/metrics?get=numRestarts": [{"id": "numRestarts", "value": "0"}]}
SPARK_LOG = SAMPLES / "spark" / "spark_eventlog_plain_local-1795317217125.jsonl"


def _traces(body: bytes):
    def send():
        response = Client().post("/v1/traces", body, content_type=PROTOBUF)
        assert response.status_code == 200, response.content

    return send


def _logs(body: bytes):
    def send():
        response = Client().post("/v1/logs", body, content_type=PROTOBUF)
        assert response.status_code == 200, response.content

    return send


def _metrics(request):
    def send():
        body = request.SerializeToString()
        response = Client().post("/v1/metrics", body, content_type=PROTOBUF)
        assert response.status_code == 200, response.content

    return send


def _lineage(path: Path):
    def send():
        response = Client().post(
            "/api/v1/lineage", path.read_bytes(), content_type="application/json"
        )
        assert response.status_code in (200, 201), response.content

    return send


def _lineage_event(event: dict):
    def send():
        response = Client().post(
            "/api/v1/lineage", json.dumps(event), content_type="application/json"
        )
        assert response.status_code in (200, 201), response.content

    return send


def _flink_poll(state: str, documents: dict):
    """What one poll of the captured job in ``state`` records (the poll's parsing, with the
    documents a REST API would answer)."""

    def send():
        [job] = json.loads(json.dumps(CAPTURED["/jobs/overview"]["body"]))["jobs"]
        job["state"] = state
        if state != "RUNNING":
            job["end-time"] = END_MS

        def fetch(path):
            jid = job["jid"]
            body = documents.get(path.removeprefix(f"/jobs/{jid}"))
            if body is None:
                raise FlinkUnreachable(f"{path} answered HTTP 404", status=404)
            return body

        observation = job_observation(job, fetch, namespace="flink")
        ingest_run_events([observation], lineage=[], principal=ANONYMOUS, now=NOW)

    return send


def _spark_log(path: Path):
    def send():
        [log] = find_logs(path)
        result = spark_eventlog_import(log, namespace="local", now=NOW, force=True)
        assert result.status == "imported", result.message

    return send


def _spark_in_progress() -> Path:
    """The captured log as it was while the application ran: its first 60% of lines, in a
    file named as Spark names a log in progress (what --watch reads before the end)."""
    lines = SPARK_LOG.read_bytes().splitlines(keepends=True)
    path = Path(tempfile.mkdtemp(prefix="bw-spark-")) / "local-1795317217125.inprogress"
    path.write_bytes(b"".join(lines[: len(lines) * 6 // 10]))
    return path


def _worker_requests():
    return [
        _traces(worker_fixture.span_request(spans)) for spans in worker_fixture.REQUESTS.values()
    ]


def reports() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for path in ("airflow/0001_POST_v1_traces.body", "airflow/0002_POST_v1_traces.body"):
        found += [
            (f"{path}#{i}", _traces(b)) for i, b in enumerate(one_request_per_span(sample(path)))
        ]
    found += [(f"airflow-worker#{i}", send) for i, send in enumerate(_worker_requests())]
    otel = [
        sample("otel/0001_POST_v1_traces.body"),
        gzip.decompress(sample("otel/0002_POST_v1_traces.body")),
    ]
    for n, body in enumerate(otel):
        found += [(f"otel{n}#{i}", _traces(b)) for i, b in enumerate(one_request_per_span(body))]
    for i in (1, 2, 3):
        found.append(
            (
                f"openlineage#{i}",
                _lineage(SAMPLES / "openlineage" / f"000{i}_POST_api_v1_lineage.json"),
            )
        )
    # The same Airflow runs and Spark application as the OpenLineage integrations report them:
    # each converges with its traces or event log into one run (issue item 10).
    found += [
        (f"airflow-openlineage#{i}", _lineage_event(event))
        for i, event in enumerate(
            airflow_events("airflow/0002_POST_v1_traces.body", namespace="airflow-probe")
        )
    ]
    found += [
        (f"spark-openlineage#{i}", _lineage_event(event))
        for i, event in enumerate(spark_events(SPARK_LOG, namespace="local"))
    ]
    found += [
        ("flink-log-running", _logs(flink_status_event("RUNNING", at_ns=(START_MS + 300) * 10**6))),
        ("flink-log-failed", _logs(flink_status_event("FAILED", at_ns=(END_MS + 5) * 10**6))),
        ("flink-poll-running", _flink_poll("RUNNING", NO_RESTART)),
        ("flink-poll-failed", _flink_poll("FAILED", FAILED_DOCUMENTS)),
        ("flink-metrics", _metrics(flink_metrics(JID, "realclients-flink-groupby", 0))),
        ("spark-eventlog-in-progress", _spark_log(_spark_in_progress())),
        ("spark-eventlog", _spark_log(SPARK_LOG)),
    ]  # fmt: skip
    return found


REPORTS = reports()


def wipe() -> None:
    Job.objects.all().delete()  # (their runs go with them)
    Span.objects.all().delete()
    RunReportBatch.objects.all().delete()


def snapshot() -> tuple[dict, set]:
    runs = {}
    for run in Run.objects.select_related("job", "parent_run__job"):
        runs[(run.job.key, run.external_id)] = {
            "state": run.state, "scheduled_at": run.scheduled_at, "started_at": run.started_at,
            "ended_at": run.ended_at, "duration_seconds": run.duration_seconds,
            "attempt": run.attempt, "failure_reason": run.failure_reason,
            "trace_id": run.trace_id, "root_span_id": run.root_span_id,
            "parent": (run.parent_run.job.key, run.parent_run.external_id)
            if run.parent_run else None,
            "parent_ref": run.parent_ref, "lineage_ref": run.lineage_ref, "source": run.source,
            "expected_at": run.expected_at,
            "late_start": run.late_start, "overran": run.overran, "too_fast": run.too_fast,
            "attributes": run.attributes, "convergence": run.convergence,
            "labels": run.job.labels, "owner": run.job.owner_team_id,
        }  # fmt: skip
    spans = {
        (
            s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_time, s.end_time,
            s.status_code, s.status_message, s.service_name,
            json.dumps(s.attributes, sort_keys=True), json.dumps(s.events, sort_keys=True),
        )
        for s in Span.objects.all()
    }  # fmt: skip
    return runs, spans


def replay(order: list[int], *, queued: bool, drain_after: set[int]) -> tuple[dict, set]:
    wipe()
    with override_settings(BATCHWATCH_INGEST_RUNS="queued" if queued else "inline"):
        for step, index in enumerate(order):
            REPORTS[index][1]()
            if queued and step in drain_after:
                runs_drain(now=NOW)
        if queued:
            while runs_drain(now=NOW):
                pass
    return snapshot()


_BASELINE: dict[str, tuple[dict, set]] = {}


def baseline() -> tuple[dict, set]:
    """The reports in their original order, inline (once per database)."""
    if connection.vendor not in _BASELINE:
        _BASELINE[connection.vendor] = replay(
            list(range(len(REPORTS))), queued=False, drain_after=set()
        )
    return _BASELINE[connection.vendor]


@st.composite
def schedules(draw):
    n = len(REPORTS)
    order = list(draw(st.permutations(range(n))))
    for index, place in draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n)), max_size=6)
    ):
        order.insert(place, index)  # a retried export, a poll again, a re-import
    queued = draw(st.booleans())
    drains = draw(st.sets(st.integers(0, len(order) - 1), max_size=4)) if queued else set()
    return order, queued, drains


@pytest.mark.django_db
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same schedules every run: a CI failure reproduces
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schedules())
def test_any_order_with_duplicates_inline_or_queued_converges(schedule):
    order, queued, drains = schedule
    expected_runs, expected_spans = baseline()
    runs, spans = replay(order, queued=queued, drain_after=drains)
    names = [REPORTS[i][0] for i in order]
    assert runs.keys() == expected_runs.keys(), names
    for key, facts in expected_runs.items():
        assert runs[key] == facts, (key, queued, names)
    assert spans == expected_spans, (queued, names)


def test_the_fixtures_cover_every_engine():
    engines = {name.split("/")[0].split("#")[0].split("-")[0] for name, _ in REPORTS}
    assert {"airflow", "otel0", "otel1", "openlineage", "flink", "spark"} <= engines
