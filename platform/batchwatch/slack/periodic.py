"""Bring incident messages up to date with their timelines (coalesced refreshes)."""

from __future__ import annotations

from datetime import datetime, timedelta

from batchwatch.core.periodic import periodic
from batchwatch.slack.services import slack_syncs_enqueue


@periodic(every=timedelta(seconds=2), name="slack.sync")
def sync(now: datetime) -> None:
    slack_syncs_enqueue(now=now)
