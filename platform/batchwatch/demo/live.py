"""The demo goes on while it is served: each scheduled job's next occurrences run and succeed
(a minute's tick records them), so the ledger sees no late or missed runs that nobody could
have started, and a failed job recovers on its next run, as it would in production.

Registered only by a process serving the demo (``inbox.on_startup``), never elsewhere.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.db.models import Max

from batchwatch.catalog.models import Job
from batchwatch.core.periodic import periodic
from batchwatch.runs.ledger import occurrences as scheduled_between
from batchwatch.runs.models import Run, RunSource
from batchwatch.runs.observations import RunObservation
from batchwatch.runs.services import runs_record

TASK = "demo.runs"
# An occurrence runs this long after its time (the ledger's start grace is minutes more).
START_DELAY = timedelta(seconds=30)
# How far back a tick looks for occurrences without a run (a demo served again after a pause
# leaves older ones to the ledger, which judges them as it would any gap).
LOOKBACK = timedelta(hours=6)


def demo_runs_tick(now: datetime) -> int:
    """Record a successful run for each occurrence of a demo job that came due since its
    latest run; returns how many."""
    jobs = list(Job.objects.filter(is_active=True).exclude(schedule_cron=""))
    latest = dict(
        Run.objects.filter(job__in=jobs, started_at__isnull=False)
        .values("job_id")
        .annotate(at=Max("scheduled_at"))
        .values_list("job_id", "at")
    )
    rng = random.Random(int(now.timestamp()))  # noqa: S311 - demo data, not secrets
    observations = []
    for job in jobs:
        since = max(latest.get(job.pk) or now - LOOKBACK, now - LOOKBACK)
        for scheduled in scheduled_between(job, since, now - START_DELAY):
            started = scheduled + START_DELAY
            observations.append(
                RunObservation(
                    engine=job.engine,
                    namespace=job.namespace,
                    job_name=job.name,
                    external_id=f"scheduled__{scheduled.isoformat()}",
                    source=RunSource.OPENLINEAGE,
                    state="succeeded",
                    scheduled_at=scheduled,
                    started_at=started,
                    ended_at=min(now, started + timedelta(seconds=rng.randint(60, 600))),
                )
            )
    runs_record(observations, seen_at=now)
    return len(observations)


def start() -> None:
    """Run :func:`demo_runs_tick` every minute in this process (idempotent)."""
    periodic(every=timedelta(minutes=1), name=TASK)(demo_runs_tick)
