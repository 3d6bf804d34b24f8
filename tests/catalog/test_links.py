"""A job's dashboard link: Grafana's when configured, else the job's page in Batchwatch."""

from __future__ import annotations

from types import SimpleNamespace

from batchwatch.catalog.links import dashboard_uid, job_dashboard_url

JOB = SimpleNamespace(pk=42, key="airflow:ledger/nightly_close")


def test_without_grafana_the_jobs_page(settings):
    settings.GRAFANA_URL = ""
    settings.BATCHWATCH_BASE_URL = "https://batchwatch.example.com/bw"
    assert job_dashboard_url(JOB) == "https://batchwatch.example.com/bw/jobs/42/"


def test_with_grafana_its_dashboard(settings):
    settings.GRAFANA_URL = "https://grafana.example.com/"
    uid = dashboard_uid("job", JOB.key)
    assert job_dashboard_url(JOB) == f"https://grafana.example.com/d/{uid}"
