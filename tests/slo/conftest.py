"""SLO test helpers: a nightly job at 02:00 New York and runs on chosen days."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from batchwatch.catalog import services as catalog
from batchwatch.runs.observations import RunObservation
from batchwatch.runs.services import runs_record
from batchwatch.slo.models import SLO
from batchwatch.slo.services import slo_save

NY = "America/New_York"
FIRST = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)  # 02:00 EDT


def daily_job(name: str, team):
    """An Airflow job at 02:00 New York, created the day before FIRST."""
    job = catalog.job_create(
        engine="airflow",
        namespace="prod",
        name=name,
        owner_team=team,
        schedule_cron="0 2 * * *",
        schedule_timezone=NY,
    )
    job.created_at = FIRST - timedelta(days=1)
    job.save()
    return job


@pytest.fixture
def nightly(team_a):
    return daily_job("ledger_close", team_a)


def deadline_slo(job, objective="90"):
    return slo_save(
        SLO(
            slug="ledger-by-6",
            name="Ledger closed by 06:00 ET",
            job=job,
            kind=SLO.Kind.DEADLINE,
            objective=Decimal(objective),
            window_size=28,
            deadline_time=time(6, 0),
            deadline_timezone=NY,
            deadline_day_offset=0,
        )
    )


def make_slo(slug: str, kind: str, objective: str, **fields) -> SLO:
    """An SLO saved through the service (validated), named after its slug."""
    return slo_save(SLO(slug=slug, name=slug, kind=kind, objective=Decimal(objective), **fields))


def run_started(job, day: int, *, late: timedelta = timedelta(0), external_id=""):
    """The day-th occurrence starts ``late`` after its time and is still running."""
    scheduled = FIRST + timedelta(days=day)
    obs = RunObservation(
        engine="airflow",
        namespace="prod",
        job_name=job.name,
        external_id=external_id or f"scheduled__{day}",
        source="otlp",
        state="running",
        scheduled_at=scheduled,
        started_at=scheduled + late,
    )
    runs_record([obs], seen_at=scheduled + late)
    return scheduled


def run_day(job, day: int, *, minutes: float, state="succeeded"):
    """The run for the day-th occurrence: starts on time, lasts ``minutes``."""
    scheduled = FIRST + timedelta(days=day)
    obs = RunObservation(
        engine="airflow",
        namespace="prod",
        job_name=job.name,
        external_id=f"scheduled__{day}",
        source="otlp",
        state=state,
        scheduled_at=scheduled,
        started_at=scheduled,
        ended_at=scheduled + timedelta(minutes=minutes),
    )
    runs_record([obs], seen_at=scheduled + timedelta(minutes=minutes))
    return scheduled
