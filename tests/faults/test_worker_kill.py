"""A worker killed with SIGKILL while it sends an escalation's pages: another worker takes
over within seconds, every page is delivered exactly once, and no step of an incident
overtakes an earlier one. Real processes on PostgreSQL; a slow webhook receiver keeps
deliveries in flight when the worker dies."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from batchwatch.alerts.intake import TRIGGER, AlertEvent, label_fingerprint
from batchwatch.alerts.models import Incident, Route
from batchwatch.alerts.services import alerts_receive
from batchwatch.notify.models import Channel
from batchwatch.oncall.models import EscalationStep
from batchwatch.oncall.services import policy_save
from tests.processes import Hook, manage, stop, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

INCIDENTS, STEPS, WAIT, GROUP_WAIT = 20, 3, 2.0, 1.0


def test_pages_survive_a_killed_worker_once_each_in_order_and_on_time(team_a):
    hook = Hook(delay=0.3)
    Channel.objects.create(name="pager", kind=Channel.Kind.WEBHOOK, address=hook.url, team=team_a)
    step = {"target": EscalationStep.Target.TEAM_CHANNEL, "team": team_a,
            "wait": timedelta(seconds=WAIT)}  # fmt: skip
    policy = policy_save(slug="fast", name="Fast", team=team_a, steps=[step] * STEPS)
    Route.objects.create(group_by=["alertname", "job"], escalation_policy=policy,
                         group_wait=timedelta(seconds=GROUP_WAIT))  # fmt: skip
    doomed = manage("worker", "--interval", "0.1")
    time.sleep(3)  # started, idle
    events = []
    for i in range(INCIDENTS):
        labels = {"alertname": "Down", "job": f"j{i}"}
        events.append(
            AlertEvent(action=TRIGGER, labels=labels, fingerprint=label_fingerprint(labels))
        )
    alerts_receive(events=events, source="test", now=datetime.now(UTC))
    try:
        wait_for(lambda: len(hook.keys) >= 5, timeout=30, what="the first pages")
    finally:
        stop(doomed, signal.SIGKILL)  # with step 1's pages claimed and in flight
    survivor = manage("worker", "--interval", "0.1")
    try:
        wait_for(lambda: len(set(hook.keys)) >= INCIDENTS * STEPS, timeout=90, what="every page")
        time.sleep(3)  # a second delivery would show by now
    finally:
        stop(survivor)
        hook.close()
    counts = Counter(hook.keys)
    assert len(counts) == INCIDENTS * STEPS
    assert [key for key, n in counts.items() if n > 1] == []
    opened = {i.pk: i.created_at.timestamp() for i in Incident.objects.all()}
    lateness, last_step = [], {}
    for at, body in zip(hook.times, hook.bodies, strict=True):
        incident, step_no = body["incident"], body["step"]
        lateness.append(at - (opened[incident] + GROUP_WAIT + (step_no - 1) * WAIT))
        assert step_no >= last_step.get(incident, 0), "a step overtook an earlier one"
        last_step[incident] = step_no
    assert max(lateness) <= 10, f"worst lateness {max(lateness):.1f} s"
