from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batchwatch.runs.models import Run
from tests.ingest.helpers import PROTOBUF, sample


@pytest.fixture
def airflow_runs(client, db):
    client.post("/v1/traces", sample("airflow/0001_POST_v1_traces.body"), content_type=PROTOBUF)
    client.post("/v1/traces", sample("airflow/0002_POST_v1_traces.body"), content_type=PROTOBUF)


def test_runs_need_authentication(api_as, airflow_runs):
    assert api_as(None).get("/api/v1/runs/").status_code == 401


def test_filter_runs(api_as, outsider, airflow_runs):
    client = api_as(outsider)
    failed = client.get("/api/v1/runs/", {"state": "failed"}).json()["results"]
    assert {r["job"] for r in failed} == {
        "airflow:airflow-probe/telemetry_probe_fail",
        "airflow:airflow-probe/telemetry_probe_fail.load",
    }
    by_job = client.get("/api/v1/runs/", {"job": "airflow:airflow-probe/telemetry_probe"}).json()
    assert len(by_job["results"]) == 1
    assert len(client.get("/api/v1/runs/", {"team": "-"}).json()["results"]) == 8
    later = client.get("/api/v1/runs/", {"started_after": "2030-01-01T00:00:00Z"}).json()
    assert later == {"next": None, "previous": None, "results": []}
    assert client.get("/api/v1/runs/", {"state": "exploded"}).status_code == 400
    assert client.get("/api/v1/runs/", {"started_after": "yesterday"}).status_code == 400


def test_run_detail_has_its_span_tree(
    api_as, outsider, airflow_runs, django_assert_max_num_queries
):
    run = Run.objects.get(job__key="airflow:airflow-probe/telemetry_probe")
    client = api_as(outsider)
    with django_assert_max_num_queries(4):  # token, run, spans (+ savepoint slack)
        body = client.get(f"/api/v1/runs/{run.pk}/").json()
    assert body["state"] == "succeeded"
    [root] = body["spans"]
    assert root["name"] == "dag_run.telemetry_probe"
    assert [c["name"] for c in root["children"]] == [
        "task_run.extract",
        "task_run.transform",
        "task_run.load",
    ]


def test_trace_endpoint(api_as, outsider, airflow_runs):
    run = Run.objects.get(job__key="airflow:airflow-probe/telemetry_probe")
    body = api_as(outsider).get(f"/api/v1/traces/{run.trace_id.upper()}/").json()
    assert body["span_count"] == 4
    assert len(body["runs"]) == 4
    assert api_as(outsider).get("/api/v1/traces/not-a-trace/").status_code == 404
    assert api_as(outsider).get(f"/api/v1/traces/{'0' * 32}/").status_code == 404


def test_run_page_shows_the_waterfall(client, teammate, airflow_runs):
    client.force_login(teammate)
    run = Run.objects.get(job__key="airflow:airflow-probe/telemetry_probe_fail")
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert page.count('class="wf-row"') == 4
    assert "wf-error" in page
    assert "DAG run failed" in page
    assert client.get("/runs/999999/").status_code == 404


def test_a_run_without_parent_or_owner_is_described_as_sent(api_as, outsider, airflow_runs):
    # (found by schemathesis: parent_run and team are null for a top-level run of an unowned
    # job, and the schema said they never are)
    from tests.api.openapi import allows, schema_property

    run = api_as(outsider).get("/api/v1/runs/").json()["results"][0]
    for component in ("Run", "RunDetail"):
        for name in ("parent_run", "team"):
            assert allows(schema_property(component, name), run[name])


# --- The list's pages: by cursor, newest start first, never counted --------------------------


def _runs(job, starts) -> list[Run]:
    """Runs of ``job`` started at ``starts`` (None: not started yet), in that order."""
    return [
        Run.objects.create(job=job, external_id=f"r{n}", state="scheduled" if at is None
                           else "succeeded", started_at=at)
        for n, at in enumerate(starts)
    ]  # fmt: skip


def _walk(client, url: str, key: str) -> list[list[int]]:
    pages = []
    while url:
        body = client.get(url).json()
        pages.append([r["id"] for r in body["results"]])
        url = body[key]
    return pages


def test_pages_walk_every_run_once_forward_and_back(api_as, outsider, ledger_job):
    base = datetime(2026, 3, 1, tzinfo=UTC)
    # Not started yet (first), then newest first; ties on the start broken by id.
    runs = _runs(
        ledger_job,
        [None, base, base, None, base + timedelta(hours=1), base - timedelta(hours=5), base],
    )
    expected = [runs[3].pk, runs[0].pk, runs[4].pk, runs[6].pk, runs[2].pk, runs[1].pk, runs[5].pk]
    client = api_as(outsider)
    forward = _walk(client, "/api/v1/runs/?limit=2", "next")
    assert [pk for page in forward for pk in page] == expected
    assert [len(page) for page in forward] == [2, 2, 2, 1]
    last = client.get("/api/v1/runs/?limit=2").json()
    while last["next"]:
        last = client.get(last["next"]).json()
    backward = _walk(client, last["previous"], "previous")
    assert [pk for page in reversed(backward) for pk in page] == expected[:-1]
    assert all(len(page) == 2 for page in backward)


def test_a_page_keeps_the_filters_and_is_not_counted(
    api_as, outsider, ledger_job, django_assert_max_num_queries
):
    base = datetime(2026, 3, 1, tzinfo=UTC)
    _runs(ledger_job, [base + timedelta(minutes=n) for n in range(5)])
    client = api_as(outsider)
    first = client.get("/api/v1/runs/", {"state": "succeeded", "limit": 3}).json()
    assert "count" not in first and "state=succeeded" in first["next"]
    with django_assert_max_num_queries(3) as captured:  # token, page (+ slack)
        second = client.get(first["next"]).json()
    assert not any("COUNT(" in q["sql"] for q in captured.captured_queries)
    assert len(second["results"]) == 2 and second["next"] is None


def test_the_query_count_does_not_grow_with_runs(
    api_as, outsider, ledger_job, team_b, django_assert_max_num_queries
):
    from batchwatch.catalog import services as catalog

    client = api_as(outsider)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/v1/runs/").status_code == 200
    for n in range(6):
        job = catalog.job_create(
            engine="airflow", namespace="prod", name=f"job_{n}", owner_team=team_b
        )
        _runs(job, [datetime(2026, 3, 1, n, tzinfo=UTC), None])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get("/api/v1/runs/").json()["results"]) == 12


@pytest.mark.parametrize(
    "query, problem",
    [
        (
            "cursor=not-a-cursor",
            "cursor is not one of this list's cursors: follow next or previous.",
        ),
        (
            "cursor=bnwyMDI2LTAxLTAxfDE=",
            "cursor is not one of this list's cursors: follow next or previous.",
        ),
        ("limit=0", "limit must be a whole number from 1 to 1000."),
        ("limit=1001", "limit must be a whole number from 1 to 1000."),
        ("limit=%D9%A1", "limit must be a whole number from 1 to 1000."),
    ],
)
def test_a_bad_cursor_or_limit_is_a_400(api_as, outsider, query, problem):
    response = api_as(outsider).get(f"/api/v1/runs/?{query}")
    assert response.status_code == 400, response.content
    name = query.partition("=")[0]
    assert response.json() == {name: [problem]}
