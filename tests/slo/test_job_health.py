"""The jobs' health rows the health grid orders and counts by (slo.services.job_health_refresh):
computed for new jobs, again when a job's runs are written or its next occurrence comes due,
and left alone otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from batchwatch.catalog import services as catalog
from batchwatch.runs.models import Run, RunSource, RunState, expected_external_id
from batchwatch.runs.selectors_grid import HEALTH
from batchwatch.slo.models import JobHealth
from batchwatch.slo.services import job_health_refresh


def _health(job) -> str:
    return HEALTH[JobHealth.objects.get(job=job).rank]


def test_new_jobs_then_written_runs_then_occurrences_coming_due(team_a):
    now = datetime.now(UTC).replace(microsecond=0)
    job = catalog.job_create(engine="airflow", namespace="prod", name="close", owner_team=team_a,
                             schedule_cron="0 2 * * *")  # fmt: skip
    idle = catalog.job_create(engine="airflow", namespace="prod", name="idle", owner_team=team_a)
    day_ago = now - timedelta(days=1)
    ran = Run.objects.create(job=job, external_id="r1", state=RunState.SUCCEEDED,
                             scheduled_at=day_ago, started_at=day_ago,
                             source=RunSource.OTLP)  # fmt: skip
    due = now + timedelta(minutes=10)
    Run.objects.create(job=job, external_id=expected_external_id(due), state=RunState.SCHEDULED,
                       scheduled_at=due, expected_at=due, source=RunSource.LEDGER)  # fmt: skip
    Run.objects.update(updated_at=now - timedelta(minutes=5))  # written a while ago

    assert job_health_refresh(now) == 2
    assert (_health(job), _health(idle)) == ("ok", "none")
    assert JobHealth.objects.get(job=job).next_change_at == due
    assert job_health_refresh(now) == 0  # nothing written since, nothing came due

    Run.objects.filter(pk=ran.pk).update(state=RunState.FAILED, updated_at=datetime.now(UTC))
    assert job_health_refresh(now) == 1
    assert _health(job) == "failed"

    # Its next occurrence came due and the ledger judged it a late start: written, so seen;
    # and at the instant it came due, read again by the clock alone.
    Run.objects.filter(pk=ran.pk).update(state=RunState.SUCCEEDED)
    Run.objects.update(updated_at=now - timedelta(minutes=5))
    Run.objects.filter(expected_at=due).update(late_start=True)
    assert job_health_refresh(due + timedelta(minutes=1)) == 1
    assert _health(job) == "late"
    assert JobHealth.objects.get(job=job).next_change_at is None
