"""Handoff notices: tell the incoming person when their shift starts."""

from __future__ import annotations

from datetime import datetime, timedelta

from batchwatch.core.periodic import periodic
from batchwatch.oncall.services import handoff_notices_send


@periodic(every=timedelta(minutes=1), name="oncall.handoffs")
def handoffs(now: datetime) -> None:
    handoff_notices_send(now=now)
