"""Helpers for alerting tests; the fixtures (rotation, policy, route tree) are in fixtures.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from batchwatch.alerts.services import alerts_receive, timers_run_due
from batchwatch.alerts.wire import TRIGGER, AlertEvent, label_fingerprint

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def firing(labels: dict, **extra) -> AlertEvent:
    return AlertEvent(action=TRIGGER, labels=labels, fingerprint=label_fingerprint(labels), **extra)


def receive(events, at, source="test"):
    return alerts_receive(events=events, source=source, now=at)


def run_until(until: datetime, start: datetime, step=timedelta(seconds=5)) -> None:
    """Drive the timers as a scheduler would, every ``step`` from ``start`` to ``until``."""
    at = start
    while at <= until:
        timers_run_due(now=at)
        at += step
