"""The outbox sweep: delivers what is due, retries, and what a dead worker left behind."""

from __future__ import annotations

from datetime import datetime, timedelta

from batchwatch.core import worker
from batchwatch.core.periodic import periodic
from batchwatch.notify.services import (
    DELIVERY_BATCH,
    deliver_claimed,
    deliver_due,
    local_delivery_set,
    notifications_claim,
)


@periodic(every=timedelta(seconds=1), name="notify.deliver", lane="outbox")
def deliver(now: datetime) -> None:
    deliver_due(now=now)


# The worker's outbox lane (manage.py worker): claims, senders and the hand-over at commit.
worker.register_outbox(
    worker.Outbox(
        batch=DELIVERY_BATCH,
        claim=notifications_claim,
        deliver_claimed=deliver_claimed,
        deliver_due=deliver_due,
        local_handler=local_delivery_set,
    )
)
