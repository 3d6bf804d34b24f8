"""Periodic alerting work: durable timers, our signals' intake, and reconsideration."""

from __future__ import annotations

from datetime import datetime, timedelta

from batchwatch.alerts.services import (
    alerts_reconsider,
    intake_drain,
    intake_prune,
    timers_run_due,
)
from batchwatch.alerts.signals import signal_alerts_recover, signals_route
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


@periodic(every=timedelta(seconds=5), name="alerts.signals")
def route_signals(now: datetime) -> None:
    signals_route(now=now)
    signal_alerts_recover(now=now)


@periodic(every=timedelta(seconds=15), name="alerts.reconsider")
def reconsider(now: datetime) -> None:
    alerts_reconsider(now=now)
