"""Periodic evaluation: the ledger, then SLOs (embedded scheduler or Celery beat)."""

from __future__ import annotations

from datetime import datetime, timedelta

from batchwatch.core.periodic import periodic
from batchwatch.slo.services import evaluate_all


@periodic(every=timedelta(seconds=30), name="slo.evaluate")
def evaluate(now: datetime) -> None:
    evaluate_all(now)
