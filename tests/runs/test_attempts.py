"""Every try of a run is kept with its own state, times, failure reason and spans, whatever
order the reports come in; the runs API, the run page and the run's alerts show them (issue
item 11: "failed on try 1 of 2, then succeeded")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batchwatch.runs.models import Run
from batchwatch.runs.observations import RunObservation
from batchwatch.runs.services import runs_record

T0 = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


def obs(**kw):
    base = {"engine": "airflow", "namespace": "prod", "job_name": "ledger.post",
            "external_id": "scheduled__2026-11-21", "source": "otlp"}  # fmt: skip
    return RunObservation(**{**base, **kw})


REPORTS = [
    obs(state="running", attempt=1, started_at=T0),
    obs(state="failed", attempt=1, started_at=T0, ended_at=T0 + timedelta(minutes=2),
        failure_reason="task post failed (try 1)", failure_generic=True),
    obs(state="failed", attempt=1, ended_at=T0 + timedelta(minutes=2),
        failure_reason="psycopg.OperationalError: server closed the connection"),
    obs(state="running", attempt=2, started_at=T0 + timedelta(minutes=5)),
    obs(state="succeeded", attempt=2, started_at=T0 + timedelta(minutes=5),
        ended_at=T0 + timedelta(minutes=9)),
]  # fmt: skip
EXPECTED = [
    {"attempt": 1, "state": "failed", "started_at": T0.isoformat(),
     "ended_at": (T0 + timedelta(minutes=2)).isoformat(),
     "failure_reason": "psycopg.OperationalError: server closed the connection",
     "trace_id": "", "root_span_id": ""},
    {"attempt": 2, "state": "succeeded", "started_at": (T0 + timedelta(minutes=5)).isoformat(),
     "ended_at": (T0 + timedelta(minutes=9)).isoformat(), "failure_reason": "",
     "trace_id": "", "root_span_id": ""},
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("order", ["in order", "reversed", "one by one reversed"])
def test_failed_on_try_1_then_succeeded_on_try_2(order):
    seen_at = T0 + timedelta(days=1)
    if order == "in order":
        runs_record(list(REPORTS), seen_at=seen_at)
    elif order == "reversed":
        runs_record(list(reversed(REPORTS)), seen_at=seen_at)
    else:
        for report in reversed(REPORTS):
            runs_record([report], seen_at=seen_at)
    run = Run.objects.get()
    assert (run.state, run.attempt, run.failure_reason) == ("succeeded", 2, "")
    assert run.attempt_facts == EXPECTED


@pytest.mark.django_db
def test_the_api_shows_each_try(api_as, admin):
    runs_record(list(REPORTS), seen_at=T0 + timedelta(days=1))
    run = Run.objects.get()
    document = api_as(admin).get(f"/api/v1/runs/{run.pk}/").json()
    assert [{k: v for k, v in a.items() if k != "spans"} for a in document["attempts"]] == [
        {**facts, "started_at": _api_time(facts["started_at"]),
         "ended_at": _api_time(facts["ended_at"])}
        for facts in EXPECTED
    ]  # fmt: skip
    listed = api_as(admin).get("/api/v1/runs/").json()["results"][0]
    assert [a["state"] for a in listed["attempts"]] == ["failed", "succeeded"]
    assert listed["attempts_story"] == (
        "failed on try 1 of 2 (psycopg.OperationalError: server closed the connection), "
        "then succeeded"
    )


def _api_time(iso: str) -> str:
    return iso.replace("+00:00", "Z")


# --- An Airflow task that failed on try 1 and succeeded on try 2, as its spans report it ----
TRACE = "5cf92f3577b34da6a3ce929d0e0e4736"
S = 1_000_000_000
START = 1795317000 * S
RUN_ID = "scheduled__2026-11-22T03:00:00+00:00"


def _task(try_number: int, state: str) -> dict:
    return {"airflow.dag_id": "ledger_close", "airflow.dag_run.run_id": RUN_ID,
            "airflow.task_id": "post_entries", "airflow.task_instance.id": f"0197-{try_number}",
            "airflow.task_instance.try_number": try_number,
            "airflow.task_instance.map_index": -1,
            "airflow.task_instance.state": state}  # fmt: skip


def _span(span_id, parent, name, start_s, end_s, attributes=None, status=1):
    return {"trace": TRACE, "span": span_id, "parent": parent, "name": name,
            "start": START + start_s * S, "end": START + end_s * S,
            "attributes": attributes or {}, "status": status}  # fmt: skip


DAG = "a100000000000001"
TRY_1 = [
    _span("b100000000000001", DAG, "task_run.post_entries", 1, 20, _task(1, "failed"), status=2),
    _span("c100000000000001", "b100000000000001", "worker.post_entries", 2, 19, _task(1, "failed"),
          status=2),
    _span("d100000000000001", "c100000000000001", "task.execute", 3, 18, status=2),
]  # fmt: skip
TRY_2 = [
    _span("b200000000000002", DAG, "task_run.post_entries", 30, 50, _task(2, "success")),
    _span("c200000000000002", "b200000000000002", "worker.post_entries", 31, 49,
          _task(2, "success")),
    _span("d200000000000002", "c200000000000002", "task.execute", 32, 48),
]  # fmt: skip


def _send(client, spans) -> None:
    from tests.ingest.helpers import PROTOBUF
    from tests.ingest.otlp_build import span_request

    response = client.post("/v1/traces", span_request(spans), content_type=PROTOBUF)
    assert response.status_code == 200, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("order", ["in order", "reversed"])
def test_each_try_keeps_its_own_spans(client, order):
    for spans in [TRY_1, TRY_2] if order == "in order" else [TRY_2, TRY_1]:
        _send(client, spans)
    run = Run.objects.get(job__name="ledger_close.post_entries")
    assert (run.state, run.attempt, run.root_span_id) == ("succeeded", 2, "b200000000000002")
    first, second = run.attempt_facts
    assert (first["state"], first["root_span_id"]) == ("failed", "b100000000000001")
    assert first["failure_reason"] == "task post_entries failed (try 1)"
    assert (second["state"], second["root_span_id"]) == ("succeeded", "b200000000000002")
    assert run.attempts_story == (
        "failed on try 1 of 2 (task post_entries failed (try 1)), then succeeded"
    )


@pytest.mark.django_db
def test_the_run_page_and_the_api_show_each_tries_spans(client, admin, api_as):
    _send(client, TRY_1)
    _send(client, TRY_2)
    run = Run.objects.get(job__name="ledger_close.post_entries")
    client.force_login(admin)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Attempts" in page and "Spans of try 1" in page
    assert "failed on try 1 of 2 (task post_entries failed (try 1)), then succeeded" in page
    assert page.count('title="task.execute"') == 2  # try 1 below the table, try 2 in the trace
    document = api_as(admin).get(f"/api/v1/runs/{run.pk}/").json()
    [try_1_root], [try_2_root] = (a["spans"] for a in document["attempts"])
    assert (try_1_root["span_id"], try_1_root["status_code"]) == ("b100000000000001", 2)
    assert [c["name"] for c in try_1_root["children"]] == ["worker.post_entries"]
    assert try_2_root["span_id"] == document["spans"][0]["span_id"] == "b200000000000002"


@pytest.mark.django_db
def test_the_runs_alerts_say_what_became_of_each_try():
    from batchwatch.alerts.from_signals import signal_alerts_recover, signals_route
    from batchwatch.alerts.models import Alert

    now = T0 + timedelta(minutes=3)
    runs_record(REPORTS[:3], seen_at=now)  # try 1 failed
    signals_route(now=now)
    failed = Alert.objects.get(labels__alertname="BatchJobFailed")
    assert failed.status == "firing"
    assert "try" not in failed.summary  # one try so far: nothing to tell

    later = T0 + timedelta(minutes=10)
    runs_record(REPORTS[3:], seen_at=later)  # try 2 ran and succeeded
    signals_route(now=later)
    story = (
        "failed on try 1 of 2 (psycopg.OperationalError: server closed the connection), "
        "then succeeded"
    )
    retried = Alert.objects.get(labels__alertname="BatchJobRetried")
    assert retried.summary == f"airflow:prod/ledger.post: {story}"
    assert retried.annotations["attempts"] == story

    signal_alerts_recover(now=later)
    failed.refresh_from_db()
    assert failed.status == "resolved"
    assert failed.summary.endswith(f" — {story}")
    assert failed.annotations["attempts"] == story
