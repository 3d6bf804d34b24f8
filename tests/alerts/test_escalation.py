"""Escalation on durable timers: steps, acknowledgement, timeouts, snoozes, fencing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from batchwatch.alerts import services
from batchwatch.alerts.models import Incident, Timer
from batchwatch.notify.models import Notification
from tests.alerts.conftest import T0, firing, receive, run_until

FAILING = {
    "alertname": "LedgerCloseFailed",
    "job": "ledger_close",
    "severity": "critical",
    "team": "ledger",
}


def pages():
    return list(
        Notification.objects.filter(purpose="page").order_by("id").values_list("address", flat=True)
    )


def open_incident(at=T0) -> Incident:
    receive([firing(FAILING)], at)
    return Incident.objects.get()


def test_nobody_acknowledges_so_step_two_is_reached(route_tree, people):
    incident = open_incident()
    snapshot = incident.escalation_snapshot
    assert [s["target"] for s in snapshot["steps"]] == ["rotation", "user"]
    run_until(T0 + timedelta(seconds=30), T0)
    assert pages() == ["alice@example.com"]  # on call in Ledger primary, after group_wait
    run_until(T0 + timedelta(minutes=5, seconds=25), T0 + timedelta(seconds=35))
    assert pages() == ["alice@example.com"]
    run_until(T0 + timedelta(minutes=5, seconds=30), T0 + timedelta(minutes=5, seconds=30))
    assert pages() == ["alice@example.com", "bob@example.com"]
    incident.refresh_from_db()
    assert incident.escalation_step == 1 and incident.assignee == people["bob"]
    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert kinds[:2] == ["opened", "alerts_grouped"] and kinds.count("escalated") == 2


def test_an_acknowledgement_stops_the_escalation(route_tree, people):
    incident = open_incident()
    run_until(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))
    services.incident_acknowledge(
        incident=incident, actor=people["alice"], now=T0 + timedelta(minutes=2)
    )
    run_until(T0 + timedelta(hours=1), T0 + timedelta(minutes=2), step=timedelta(minutes=1))
    assert pages() == ["alice@example.com"]
    incident.refresh_from_db()
    assert incident.state == Incident.State.ACKNOWLEDGED
    assert incident.acknowledged_by == people["alice"]
    entry = incident.timeline.get(kind="acknowledged")
    assert entry.actor == people["alice"] and entry.at == T0 + timedelta(minutes=2)


def test_the_policy_repeats_then_stops(route_tree, policy):
    policy.repeat = 1
    policy.save()
    open_incident()
    run_until(T0 + timedelta(hours=2), T0, step=timedelta(seconds=30))
    assert pages() == ["alice@example.com", "bob@example.com"] * 2


def test_the_snapshot_keeps_a_running_escalation_unchanged(route_tree, policy, people):
    open_incident()
    policy.steps.filter(position=1).update(user=people["carol"])
    run_until(T0 + timedelta(minutes=6), T0, step=timedelta(seconds=30))
    assert pages() == ["alice@example.com", "bob@example.com"]


def test_ack_timeout_returns_the_incident_to_triggered(route_tree, policy, people):
    policy.ack_timeout = timedelta(minutes=30)
    policy.save()
    incident = open_incident()
    run_until(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))
    services.incident_acknowledge(
        incident=incident, actor=people["alice"], now=T0 + timedelta(minutes=1)
    )
    run_until(T0 + timedelta(minutes=31), T0 + timedelta(minutes=2), step=timedelta(minutes=1))
    incident.refresh_from_db()
    assert incident.state == Incident.State.TRIGGERED
    assert pages() == ["alice@example.com", "alice@example.com"]
    assert incident.timeline.filter(kind="retriggered").exists()


def test_snooze_then_retrigger(route_tree, people):
    incident = open_incident()
    run_until(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))
    services.incident_snooze(
        incident=incident,
        until=T0 + timedelta(hours=1),
        now=T0 + timedelta(minutes=1),
        actor=people["alice"],
    )
    run_until(T0 + timedelta(minutes=59), T0 + timedelta(minutes=2), step=timedelta(minutes=1))
    assert pages() == ["alice@example.com"]
    run_until(T0 + timedelta(hours=1), T0 + timedelta(hours=1))
    incident.refresh_from_db()
    assert incident.state == Incident.State.TRIGGERED and incident.snoozed_until is None
    assert pages() == ["alice@example.com", "alice@example.com"]
    with pytest.raises(ValidationError):
        services.incident_snooze(incident=incident, until=T0, now=T0 + timedelta(hours=2))


def test_low_urgency_notifies_the_first_step_only(route_tree):
    receive([firing({**FAILING, "severity": "warning"})], T0)
    run_until(T0 + timedelta(hours=1), T0, step=timedelta(seconds=30))
    assert pages() == ["alice@example.com"]
    assert Incident.objects.get().urgency == Incident.Urgency.LOW


def test_reassign_and_manual_escalate(route_tree, people):
    incident = open_incident()
    run_until(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))
    services.incident_reassign(
        incident=incident,
        user=people["carol"],
        actor=people["alice"],
        now=T0 + timedelta(minutes=1),
    )
    services.incident_escalate(
        incident=incident, actor=people["carol"], now=T0 + timedelta(minutes=2)
    )
    assert pages() == ["alice@example.com", "carol@example.com", "bob@example.com"]
    incident.refresh_from_db()
    assert incident.escalation_step == 1


def test_a_stale_timer_does_nothing(route_tree):
    open_incident()
    run_until(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))
    timer = Timer.objects.get(kind=Timer.Kind.ESCALATE, state=Timer.State.PENDING)
    # A duplicate of an older generation, as a second scheduler or a replay would leave it.
    Timer.objects.filter(pk=timer.pk).update(token=timer.token + 5)
    run_until(T0 + timedelta(minutes=6), T0 + timedelta(minutes=6))
    assert pages() == ["alice@example.com"]
    assert Timer.objects.get(pk=timer.pk).state == Timer.State.STALE


def test_resolving_cancels_every_pending_timer(route_tree, people):
    incident = open_incident()
    run_until(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))
    services.incident_resolve(
        incident=incident, actor=people["bob"], now=T0 + timedelta(minutes=1), force=True
    )
    assert not Timer.objects.filter(state=Timer.State.PENDING).exists()
    with pytest.raises(ValidationError):
        services.incident_escalate(incident=incident, now=T0 + timedelta(minutes=2))


def test_nobody_on_call_is_said_on_the_timeline(route_tree, rotation):
    rotation.layers.all().delete()
    incident = open_incident()
    run_until(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))
    assert "nobody is on call" in incident.timeline.get(kind="escalated").message
