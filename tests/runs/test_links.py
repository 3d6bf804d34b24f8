"""The links a signal carries, the runs API's ``url`` and the SLO rules' runbook URLs come
from the URLconf (core/links.py) and are the strings they always were."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import set_script_prefix

from batchwatch.catalog.models import Job
from batchwatch.runs.api import RunSerializer
from batchwatch.runs.ledger import signal_build
from batchwatch.runs.models import Run
from batchwatch.slo import rules

BASE = "https://batchwatch.example.com/bw"
NOW = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.BATCHWATCH_BASE_URL = BASE


@pytest.fixture
def run(db) -> Run:
    job = Job.objects.create(engine="airflow", namespace="prod", name="ledger_close")
    return Run.objects.create(
        job=job, external_id="r1", trace_id="5b8efff798038103d269b633813fc60c"
    )


def test_a_runs_signal_links_its_run_job_trace_and_runbook(run):
    links = signal_build(run=run, kind="failed", severity="critical", summary="x", now=NOW).links
    assert links["run"] == f"{BASE}/runs/{run.pk}/"
    assert links["job"] == f"{BASE}/jobs/{run.job.pk}/"
    assert links["trace"] == f"{BASE}/api/v1/traces/{run.trace_id}/"
    assert links["runbook"] == f"{BASE}/runbooks/for/?kind=failed&run={run.pk}"


def test_a_jobs_signal_has_no_run_links_and_a_jobs_runbook(run):
    links = signal_build(
        run=None, job=run.job, kind="slo_burn", severity="warning", summary="x", now=NOW
    ).links
    assert (links["run"], links["trace"]) == ("", "")
    assert links["runbook"] == f"{BASE}/runbooks/for/?kind=slo_burn&job={run.job.pk}"


def test_a_run_without_a_trace_links_none(run):
    run.trace_id = ""
    assert (
        signal_build(run=run, kind="late", severity="warning", summary="x", now=NOW).links["trace"]
        == ""
    )


def test_a_signals_links_follow_the_base_url_and_script_prefix_in_force(run, settings):
    """The views reversed for signals are kept per process, keyed by what they depend on:
    a change of base URL or script prefix makes them again."""

    def build():
        return signal_build(run=run, kind="failed", severity="critical", summary="x", now=NOW)

    assert build().links["run"] == f"{BASE}/runs/{run.pk}/"
    settings.BATCHWATCH_BASE_URL = "https://elsewhere.example.com"
    assert build().links["job"] == f"https://elsewhere.example.com/jobs/{run.job.pk}/"
    set_script_prefix("/mounted/")
    try:
        assert build().links["run"] == f"https://elsewhere.example.com/runs/{run.pk}/"
    finally:
        set_script_prefix("/")
    assert build().links["trace"] == f"https://elsewhere.example.com/api/v1/traces/{run.trace_id}/"


def test_the_runs_api_url_is_the_run_pages_path(run):
    assert RunSerializer().get_url(run) == f"/runs/{run.pk}/"


def test_the_slo_rules_runbook_urls():
    [outbox, *_] = rules.platform_group()["rules"]
    assert outbox["annotations"]["runbook_url"] == f"{BASE}/runbooks/platform-stuck-outbox/"
    assert rules._runbook_url("slo-burn") == f"{BASE}/runbooks/slo-burn/"
