"""The ledger's periodic evaluation, run by the embedded scheduler or Celery beat."""

from __future__ import annotations

from datetime import datetime, timedelta

from batchwatch.core.periodic import periodic
from batchwatch.runs.ledger import evaluate


@periodic(every=timedelta(seconds=30), name="runs.evaluate_ledger")
def evaluate_ledger(now: datetime) -> None:
    evaluate(now)
