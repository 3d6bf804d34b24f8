"""A change that arrives while its group's flush is being committed is never lost (PostgreSQL,
a real worker paused inside the flush's transaction by BATCHWATCH_FAULT_PAUSE_BEFORE_COMMIT).

Before, the change kept the flush timer the running flush had claimed but not committed (still
pending to it), and the flush, working from the alerts before the change, scheduled only the
repeat: a resolve left the incident triggered, and a new alert un-notified, for
repeat_interval (4 h by default)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from batchwatch.alerts.models import Incident, Route, Timer
from batchwatch.alerts.services import alerts_receive
from batchwatch.alerts.wire import RESOLVE, AlertEvent
from batchwatch.notify.models import Channel, Notification
from tests.alerts.conftest import firing
from tests.alerts.test_reliability import stop, wait_for, worker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DOWN = {"alertname": "Down", "job": "ledger"}


@pytest.fixture
def fast_route():
    channel = Channel.objects.create(name="hook", kind="log", address="hook")
    route = Route.objects.create(
        group_by=["alertname"],
        group_wait=timedelta(seconds=1),
        group_interval=timedelta(seconds=2),
        repeat_interval=timedelta(hours=4),
    )
    route.channels.add(channel)
    return route


@pytest.fixture
def paused_worker(fast_route):
    """A worker that sleeps 3 s inside each timer's transaction, before commit."""
    process = worker(BATCHWATCH_FAULT_PAUSE_BEFORE_COMMIT="3")
    time.sleep(4)  # started, polling
    yield process
    stop(process)


def receive(event):
    alerts_receive(events=[event], source="test", now=datetime.now(UTC))


def group_subjects():
    return list(
        Notification.objects.filter(purpose="group").order_by("id").values_list("subject", "body")
    )


def test_a_resolve_during_the_flush_commit_resolves_the_incident(paused_worker):
    receive(firing(DOWN))  # group_wait 1 s: the flush starts at ~1 s, commits at ~4 s
    time.sleep(1.6)
    resolved = AlertEvent(action=RESOLVE, labels=DOWN, fingerprint=firing(DOWN).fingerprint)
    receive(resolved)  # (waits for the flush's commit, then brings the next flush forward)
    wait_for(
        lambda: Incident.objects.filter(state=Incident.State.RESOLVED).exists(),
        timeout=20,
        what="the incident resolved (not at repeat_interval, 4 h away)",
    )
    incident = Incident.objects.get()
    subjects = [subject.split("]")[0] for subject, _ in group_subjects()]
    assert subjects == ["[FIRING:1", "[RESOLVED:1"]
    assert not Timer.objects.filter(incident=incident, state=Timer.State.PENDING).exists()


def test_an_alert_joining_the_group_during_the_flush_commit_is_notified(paused_worker):
    receive(firing(DOWN))
    time.sleep(1.6)
    receive(firing({**DOWN, "job": "payments"}))  # same group (alertname), new alert
    wait_for(
        lambda: Notification.objects.filter(purpose="group").count() >= 2,
        timeout=20,
        what="the group notified again with the new alert (not at repeat_interval)",
    )
    subjects = [subject.split("]")[0] for subject, _ in group_subjects()]
    assert subjects == ["[FIRING:1", "[FIRING:2"]
    assert Incident.objects.get().state == Incident.State.TRIGGERED
