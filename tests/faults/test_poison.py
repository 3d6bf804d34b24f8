"""Poison input of every kind (issue 16, cases 1 to 3) posted to real processes in production
mode's queued intake, then healthy telemetry and a healthy alert: nothing answers 500, the
healthy spans are all stored and make their run, the healthy alert pages, and the pages that
read runs still answer."""

from __future__ import annotations

import pytest
from django.test import Client

from batchwatch.accounts.services import create_token
from tests.faults.poison import healthy_checks, send_poison
from tests.processes import Hook, Web, manage, stop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_poison_never_blocks_the_healthy_input_behind_it(admin):
    env = {"BATCHWATCH_INGEST_RUNS": "queued", "BATCHWATCH_ALERT_INTAKE": "queued"}
    hook = Hook()
    web = Web(BATCHWATCH_INGEST_ALLOW_ANONYMOUS="true", **env)
    worker = manage("worker", "--interval", "0.1", **env)
    try:
        answers = send_poison(web, hook)
        figures = healthy_checks(web, hook)
        _, token = create_token(admin, name="poison test")
        api_status, _ = web.get("/api/v1/runs/", {"Authorization": f"Token {token}"})
    finally:
        stop(worker)
        web.stop()
        hook.close()
    assert answers[500] == 0, answers
    assert figures == {
        "healthy_traces_status": 200,
        "healthy_alert_status": 200,
        "healthy_spans_sent": 10,
        "healthy_spans_stored": 10,
        "healthy_run_stored": True,
        "healthy_alert_paged": True,
    }
    assert api_status == 200
    client = Client()
    client.force_login(admin)
    from batchwatch.runs.models import Run

    assert client.get("/").status_code == 200
    for run in Run.objects.select_related("job"):
        assert client.get(f"/runs/{run.pk}/").status_code == 200
        assert client.get(f"/jobs/{run.job_id}/").status_code == 200
