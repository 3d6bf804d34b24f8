"""A worker killed with SIGKILL while it holds claimed notifications: another worker takes them
over within seconds (the 5 s lease the dead one stops renewing; it was a 60 s lease), sends
each that was not sent, and resends only those in flight at the kill, with the same
Idempotency-Key (what a receiver deduplicates). Real processes on PostgreSQL."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.db import transaction

from batchwatch.notify.models import Channel, Notification
from batchwatch.notify.services import Recipient, notification_enqueue
from tests.processes import Hook, manage, stop, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

COUNT = 40


def test_a_killed_workers_notifications_are_handed_over_within_seconds_once_each():
    receiver = Hook(delay=0.5)
    channel = Channel.objects.create(name="hook", kind="webhook", address=receiver.url)
    doomed = manage("worker", "--interval", "0.1", BATCHWATCH_OUTBOX_CONCURRENCY="4")
    time.sleep(3)  # started, idle
    with transaction.atomic():
        for i in range(COUNT):
            notification_enqueue(
                purpose="page",
                recipient=Recipient("webhook", receiver.url, channel=channel),
                subject=f"page {i}",
                idempotency_key=f"page-{i:02d}",
                now=datetime.now(UTC),
            )
    try:
        wait_for(lambda: len(receiver.keys) >= 8, timeout=30, what="the first deliveries")
    finally:
        stop(doomed, signal.SIGKILL)  # with rows claimed, some in flight, some queued
    killed_at = time.monotonic()
    time.sleep(0.3)  # what the dead worker wrote to its sockets reaches the receiver
    # In flight: sent (the receiver has it) and not recorded as delivered when it died. A
    # sender has one at a time.
    unrecorded = set(
        Notification.objects.exclude(state="delivered").values_list("idempotency_key", flat=True)
    )
    in_flight = set(receiver.arrived) & unrecorded
    assert len(in_flight) <= 4
    assert len(unrecorded) > len(in_flight)  # claimed or due and not sent yet, beside those
    survivor = manage("worker", "--interval", "0.1")
    try:
        wait_for(
            lambda: Notification.objects.filter(state="delivered").count() == COUNT,
            timeout=20,
            what="every notification delivered",
        )
        handed_over_in = time.monotonic() - killed_at
        time.sleep(2)  # a second delivery would show by now
    finally:
        stop(survivor)
        receiver.close()
    counts = Counter(receiver.arrived)
    assert sorted(counts) == [f"page-{i:02d}" for i in range(COUNT)]  # none lost
    resent = {key for key, n in counts.items() if n > 1}
    assert resent <= in_flight, "only what was in flight at the kill is sent again"
    assert all(counts[key] == 2 for key in resent)  # (once more, with the same key)
    # The lease (5 s) plus the survivor's start (~2 s) and the remaining sends, not 60 s.
    assert handed_over_in < 15, handed_over_in
