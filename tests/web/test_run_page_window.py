"""A large trace's run page shows a window of the waterfall's rows (run_page.WINDOW), the
failing span with its ancestors wherever it lies (beyond the spans the tree holds too), a
line for each run of rows left out linking to the page holding them (``?offset=``, read in
place by run.js from ``/runs/<id>/spans/``), the Spark stages that matter with the whole
table a page at a time (``?stages=``); in a number of queries that does not grow with the
trace."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batchwatch.runs import selectors_trace
from batchwatch.runs.models import Span
from tests.web.test_run_page import failing_details, large_trace

ROWS = '<summary class="wf-row" id="span-([0-9a-f]{16})">'


def get(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def queries_of(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        get(client, url)
    return len(captured.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_trace(client, teammate, team_a):
    small = large_trace(team_a, spans=30)
    client.force_login(teammate)
    few = queries_of(client, f"/runs/{small.pk}/")
    Span.objects.all().delete()
    small.job.delete()
    large = large_trace(team_a, spans=2500)
    many = queries_of(client, f"/runs/{large.pk}/")
    assert many == few <= 10, (few, many)
    assert queries_of(client, f"/runs/{large.pk}/?offset=1200&stages=400") == many
    assert queries_of(client, f"/runs/{large.pk}/spans/?offset=400") <= 6


def test_a_window_of_rows_the_failing_span_and_the_rows_left_out(client, teammate, team_a):
    run = large_trace(team_a, spans=1000)
    client.force_login(teammate)
    page = get(client, f"/runs/{run.pk}/")
    ids = re.findall(ROWS, page)
    assert ids[:200] == ["a" * 16] + [f"{n:016x}" for n in range(1, 200)]
    assert ids[200:] == [f"{500:016x}"]  # the failing stage (its parent, the root, is shown)
    assert 'title="stage 500: save at compaction.py:500"' in failing_details(page)
    gaps = re.findall(r'<p class="wf-gap"([^>]*)><span class="wf-gap-count">([\d,]+)</span>', page)
    # The rows between the window and the failing span, and those after it.
    assert [count for _, count in gaps] == ["300", "499"]
    assert f'data-src="/runs/{run.pk}/spans/" data-offset="200" data-stop="500"' in gaps[0][0]
    assert '<a class="wf-next" href="?offset=200#trace">show the next 200</a>' in page
    assert "1,000 spans over" in page


def test_a_later_window_links_back_and_keeps_the_failing_span(client, teammate, team_a):
    run = large_trace(team_a, spans=1000)
    client.force_login(teammate)
    page = get(client, f"/runs/{run.pk}/?offset=650")  # to the window's start: 600
    ids = re.findall(ROWS, page)
    assert ids[0] == "a" * 16 and ids[1] == f"{500:016x}"  # the failing span's chain
    assert ids[2:] == [f"{n:016x}" for n in range(600, 800)]
    assert '<a class="wf-next" href="?offset=400#trace">show the ones before</a>' in page
    assert page.count("wf-failing") == 1


def test_rows_read_in_by_the_page(client, teammate, team_a):
    run = large_trace(team_a, spans=1000)
    client.force_login(teammate)
    fragment = get(client, f"/runs/{run.pk}/spans/?offset=200&limit=50")
    assert re.findall(ROWS, fragment) == [f"{n:016x}" for n in range(200, 250)]
    assert "wf-gap" not in fragment and "<html" not in fragment
    capped = get(client, f"/runs/{run.pk}/spans/?offset=0&limit=5000")
    assert len(re.findall(ROWS, capped)) == 200


@pytest.mark.parametrize("query", ["offset=-1", "offset=ten", "stages=1.5", "limit=x"])
def test_a_bad_window_is_a_400(client, teammate, team_a, query):
    run = large_trace(team_a, spans=3)
    client.force_login(teammate)
    path = "spans/" if query.startswith("limit") else ""
    response = client.get(f"/runs/{run.pk}/{path}?{query}")
    assert response.status_code == 400
    assert "must be a whole number" in response.content.decode()


def test_rows_read_in_need_a_sign_in_and_a_run(client, teammate, team_a):
    run = large_trace(team_a, spans=3)
    assert client.get(f"/runs/{run.pk}/spans/").status_code == 302
    client.force_login(teammate)
    assert client.get("/runs/999999/spans/").status_code == 404


def test_a_failing_span_beyond_the_spans_the_tree_holds(client, teammate, team_a, monkeypatch):
    monkeypatch.setattr(selectors_trace, "MAX_TRACE_SPANS", 100)
    run = large_trace(team_a, spans=300)
    client.force_login(teammate)
    page = get(client, f"/runs/{run.pk}/")
    ids = re.findall(ROWS, page)
    assert ids == ["a" * 16] + [f"{n:016x}" for n in range(1, 100)] + [f"{150:016x}"]
    assert "Further in the trace" in page and "300 spans over" in page
    assert 'title="stage 150: save at compaction.py:150"' in failing_details(page)
    assert f'Failing span: <a href="#span-{150:016x}">' in page
    assert "the first 100 by start time" in page
    # Two more than a trace the tree holds whole: the trace's count and its error spans.
    assert queries_of(client, f"/runs/{run.pk}/") <= 10


def test_the_stages_that_matter_and_the_whole_table_by_pages(client, teammate, team_a):
    run = large_trace(team_a, spans=1000)
    Span.objects.filter(span_id=f"{700:016x}").update(
        end_time=run.started_at.replace(hour=3), attributes={
            "spark.stage.id": 700, "spark.stage.name": "the long one", "tasks": 9,
            "skew_ratio": 8.5, "failed_tasks": 3,
        },
    )  # fmt: skip
    client.force_login(teammate)
    table = stage_table(get(client, f"/runs/{run.pk}/"))
    rows = re.findall(r'<td><a href="([^"]*)">(\d+)', table)
    shown = [int(stage) for _, stage in rows]
    assert 500 in shown and 700 in shown and shown == sorted(shown) and len(shown) <= 41
    assert "999 stages" in table and f"{len(shown)} of 999" in table
    hrefs = dict((int(stage), href) for href, stage in rows)
    assert hrefs[1] == f"#span-{1:016x}"  # in the window
    assert hrefs[700] == f"?offset=600#span-{700:016x}"  # on the page of the window holding it
    whole = stage_table(get(client, f"/runs/{run.pk}/?stages=800"))
    stages = [int(s) for s in re.findall(r'<td><a href="[^"]*">(\d+)', whole)]
    assert stages == list(range(801, 1000))
    assert "Stages 801\N{EN DASH}999 of 999" in whole
    assert 'href="?stages=600#stages">previous' in whole


def stage_table(page: str) -> str:
    return page.split('<section class="team" id="stages">', 1)[1].split("</section>", 1)[0]
