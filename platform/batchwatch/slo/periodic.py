"""Periodic evaluation: the ledger, then SLOs; the jobs' health rows (embedded scheduler or
Celery beat)."""

from __future__ import annotations

from datetime import datetime, timedelta

from batchwatch.core.periodic import periodic
from batchwatch.slo.services import evaluate_all, job_health_refresh


@periodic(every=timedelta(seconds=30), name="slo.evaluate")
def evaluate(now: datetime) -> None:
    evaluate_all(now)


@periodic(every=timedelta(seconds=30), name="slo.job_health")
def job_health(now: datetime) -> None:
    """The health grid's rows kept current between page views (the pages bring them up to
    date too), so that a page rarely computes many: after a deploy, the first pass computes
    every job's."""
    job_health_refresh(now)
