"""The URLs runbooks render with and redirect to: Batchwatch's pages, under
BATCHWATCH_BASE_URL when they leave the site."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from batchwatch.alerts.models import Incident
from batchwatch.catalog.models import Job
from batchwatch.runbooks.selectors import incident_context, job_context, run_context
from batchwatch.runs.models import Run, RunSource, RunState

BASE = "https://batchwatch.example.com/bw"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


@pytest.fixture
def job(team_a):
    return Job.objects.create(engine="spark", namespace="prod", name="loan_tape", owner_team=team_a)


def _run(job, trace_id: str) -> Run:
    return Run.objects.create(
        job=job,
        external_id=f"app-{trace_id or 'none'}",
        state=RunState.SUCCEEDED,
        source=RunSource.OTLP,
        started_at=NOW,
        trace_id=trace_id,
    )


def test_job_and_run_urls(job, settings):
    settings.BATCHWATCH_BASE_URL = BASE
    run = _run(job, "4bf92f3577b34da6a3ce929d0e0e4736")
    context = run_context(run)
    assert context["base_url"] == BASE
    assert context["job_url"] == f"{BASE}/jobs/{job.pk}/"
    assert context["run_url"] == f"{BASE}/runs/{run.pk}/"
    assert context["trace_url"] == f"{BASE}/api/v1/traces/4bf92f3577b34da6a3ce929d0e0e4736/"
    assert job_context(job)["job_url"] == f"{BASE}/jobs/{job.pk}/"


def test_a_run_without_a_trace_has_no_trace_url(job):
    assert run_context(_run(job, ""))["trace_url"] == ""


def test_incident_url(team_a, settings):
    settings.BATCHWATCH_BASE_URL = BASE
    incident = Incident.objects.create(title="t", group_key="g", team=team_a, created_at=NOW)
    assert incident_context(incident)["incident_url"] == f"{BASE}/incidents/{incident.pk}/"


@pytest.mark.parametrize(
    ("kind", "location"), [("failed", "/runbooks/?kind=failed"), ("", "/runbooks/")]
)
def test_without_a_matching_runbook_the_resolver_redirects_to_the_list(
    job, client, people, kind, location
):
    client.force_login(people["alice"])
    response = client.get("/runbooks/for/", {"job": job.pk, "kind": kind})
    assert response.status_code == 302
    assert response["Location"] == location
