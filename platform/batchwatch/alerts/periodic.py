"""Periodic alerting work: durable timers, our signals' intake, and reconsideration."""

from __future__ import annotations

from datetime import datetime, timedelta

from batchwatch.alerts.from_signals import signal_alerts_recover, signals_route
from batchwatch.alerts.services import (
    INTAKE_CHUNK,
    action_links_prune,
    alerts_reconsider,
    intake_drain,
    intake_drain_due,
    intake_prune,
    timers_run_due,
)
from batchwatch.core import worker
from batchwatch.core.periodic import periodic


@periodic(every=timedelta(seconds=1), name="alerts.timers", lane="timers")
def run_timers(now: datetime) -> None:
    timers_run_due(now=now)


@periodic(every=timedelta(seconds=1), name="alerts.intake", lane="drain")
def drain_intake(now: datetime) -> None:
    intake_drain(now=now, limit=100)  # ~10,000 alerts a tick; the rest at the next


@periodic(every=timedelta(minutes=10), name="alerts.intake_prune")
def prune_intake(now: datetime) -> None:
    intake_prune(now=now)


@periodic(every=timedelta(hours=1), name="alerts.action_links_prune")
def prune_action_links(now: datetime) -> None:
    action_links_prune(now=now)


@periodic(every=timedelta(seconds=5), name="alerts.signals")
def route_signals(now: datetime) -> None:
    signals_route(now=now)
    signal_alerts_recover(now=now)


@periodic(every=timedelta(seconds=15), name="alerts.reconsider")
def reconsider(now: datetime) -> None:
    alerts_reconsider(now=now)


# --- the worker's lanes (manage.py worker) --------------------------------------------------


def _drain_intake_chunk(now: datetime, wait_for_quiet: bool) -> int:
    # While a storm lasts the queued alerts wait (intake_drain_due): answering senders and
    # sending due pages come first.
    if wait_for_quiet and not intake_drain_due(now=now):
        return 0
    return intake_drain(now=now, limit=INTAKE_CHUNK)


worker.register_timers(timers_run_due)
worker.register_drain("alerts.intake", _drain_intake_chunk, order=0)
