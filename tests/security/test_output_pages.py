"""A sender's text on the pages rebuilt as Python-built HTML (the health grid, the run
waterfall and stage table) and on the pages around them: a job name, a failure reason and a
span's name and attributes chosen by whoever holds an ingest key are shown as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from batchwatch.catalog import services
from batchwatch.runs.models import Run, Span

HOSTILE = "<img/src=x/onerror=alert(1)>"
NOW = datetime.now(UTC)


@pytest.fixture
def hostile_run(team_a):
    job = services.job_create(
        engine="spark",
        namespace="prod",
        name=HOSTILE,
        owner_team=team_a,
        schedule_cron="0 2 * * *",
        schedule_timezone="UTC",
    )
    trace = "ab" * 16
    Span.objects.create(
        trace_id=trace, span_id="1" * 16, parent_span_id="", name=HOSTILE,
        start_time=NOW - timedelta(hours=1), end_time=NOW, status_code=2,
        status_message=HOSTILE, attributes={"spark.stage.name": HOSTILE, HOSTILE: HOSTILE},
    )  # fmt: skip
    return Run.objects.create(
        job=job,
        external_id="app-1",
        state="failed",
        source="spark_eventlog",
        trace_id=trace,
        started_at=NOW - timedelta(hours=1),
        ended_at=NOW,
        failure_reason=HOSTILE,
    )


@pytest.mark.django_db
def test_a_senders_text_is_escaped_on_every_page_that_shows_the_job(admin, team_a, hostile_run):
    client = Client()
    client.force_login(admin)
    pages = [
        "/",
        "/board/",
        f"/teams/{team_a.slug}/",
        f"/teams/{team_a.slug}/board/",
        f"/jobs/{hostile_run.job_id}/",
        f"/runs/{hostile_run.pk}/",
        f"/traces/{hostile_run.trace_id}/spans/{'1' * 16}/details/",
        "/now/",
    ]
    shown_as_text = {"/", f"/teams/{team_a.slug}/", f"/jobs/{hostile_run.job_id}/",
                     f"/runs/{hostile_run.pk}/"}  # fmt: skip
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert HOSTILE.encode() not in response.content, url
        if url in shown_as_text:  # (shown, and as text: the check above is not vacuous)
            assert b"&lt;img/src=x/onerror=alert(1)&gt;" in response.content, url
