"""The outbox sweep: delivers what is due, retries, and what a dead worker left behind."""

from __future__ import annotations

from datetime import datetime, timedelta

from batchwatch.core.periodic import periodic
from batchwatch.notify.services import deliver_due


@periodic(every=timedelta(seconds=1), name="notify.deliver", lane="outbox")
def deliver(now: datetime) -> None:
    deliver_due(now=now)
