"""Periodic alerting work: durable timers, our signals' intake, and reconsideration."""

from __future__ import annotations

from datetime import datetime, timedelta

from batchwatch.alerts.services import alerts_reconsider, timers_run_due
from batchwatch.alerts.signals import signal_alerts_recover, signals_route
from batchwatch.core.periodic import periodic


@periodic(every=timedelta(seconds=1), name="alerts.timers")
def run_timers(now: datetime) -> None:
    timers_run_due(now=now)


@periodic(every=timedelta(seconds=5), name="alerts.signals")
def route_signals(now: datetime) -> None:
    signals_route(now=now)
    signal_alerts_recover(now=now)


@periodic(every=timedelta(seconds=15), name="alerts.reconsider")
def reconsider(now: datetime) -> None:
    alerts_reconsider(now=now)
