"""Grouping into incidents with Alertmanager's timers, and dedup."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from batchwatch.alerts.models import Alert, Incident, IncidentAlert
from batchwatch.alerts.wire import RESOLVE, AlertEvent, label_fingerprint
from batchwatch.notify.models import Notification
from tests.alerts.conftest import T0, firing, receive, run_until


def storm(jobs=20, per_job=10):
    return [
        firing(
            {
                "alertname": "BatchTaskFailing",
                "job": f"etl_{j}",
                "instance": f"w{i}",
                "severity": "critical",
                "team": "ledger",
            }
        )
        for j in range(jobs)
        for i in range(per_job)
    ]


def group_notifications():
    return Notification.objects.filter(purpose="group")


def test_a_storm_is_grouped_by_the_routes_group_by(route_tree):
    result = receive(storm(), T0)
    assert result.new == 200 and result.grouped == 200
    assert Incident.objects.count() == 20
    assert all(i.memberships.count() == 10 for i in Incident.objects.all())
    first = Incident.objects.get(group_labels={"alertname": "BatchTaskFailing", "job": "etl_3"})
    assert first.group_key == '{}:{alertname="BatchTaskFailing", job="etl_3"}'
    # Nothing is sent before group_wait ...
    run_until(T0 + timedelta(seconds=25), T0)
    assert not group_notifications().exists()
    # ... then one notification per group.
    run_until(T0 + timedelta(seconds=35), T0 + timedelta(seconds=30))
    assert group_notifications().count() == 20


def test_repeated_reports_create_no_rows(route_tree):
    receive(storm(2, 3), T0)
    receive(storm(2, 3), T0 + timedelta(seconds=10))
    assert Alert.objects.count() == 6
    assert IncidentAlert.objects.count() == 6
    assert Incident.objects.count() == 2
    assert Alert.objects.first().received_count == 2


def test_group_interval_and_repeat_interval(route_tree):
    receive(storm(1, 2), T0)
    run_until(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))
    assert group_notifications().count() == 1
    # A new alert joins: sent at the next group_interval after the first flush, not before.
    receive(
        [
            firing(
                {
                    "alertname": "BatchTaskFailing",
                    "job": "etl_0",
                    "instance": "late",
                    "severity": "critical",
                    "team": "ledger",
                }
            )
        ],
        T0 + timedelta(minutes=1),
    )
    run_until(T0 + timedelta(minutes=5), T0 + timedelta(minutes=1), step=timedelta(seconds=30))
    assert group_notifications().count() == 1
    run_until(T0 + timedelta(minutes=5, seconds=30), T0 + timedelta(minutes=5, seconds=30))
    assert group_notifications().count() == 2
    # Nothing changes: nothing is sent until repeat_interval (4 h) after the last one.
    run_until(T0 + timedelta(hours=4), T0 + timedelta(minutes=6), step=timedelta(minutes=30))
    assert group_notifications().count() == 2
    run_until(T0 + timedelta(hours=4, minutes=6), T0 + timedelta(hours=4, minutes=5, seconds=30))
    assert group_notifications().count() == 3


def test_all_resolved_sends_resolved_and_resolves_the_incident(route_tree):
    events = storm(1, 2)
    receive(events, T0)
    run_until(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))
    resolve = [
        AlertEvent(action=RESOLVE, labels=e.labels, fingerprint=e.fingerprint) for e in events
    ]
    receive(resolve[:1], T0 + timedelta(minutes=1))
    run_until(T0 + timedelta(minutes=6), T0 + timedelta(minutes=1), step=timedelta(seconds=30))
    incident = Incident.objects.get()
    assert incident.state == Incident.State.TRIGGERED  # one alert still fires
    receive(resolve[1:], T0 + timedelta(minutes=7))
    run_until(T0 + timedelta(minutes=11), T0 + timedelta(minutes=7), step=timedelta(seconds=30))
    incident.refresh_from_db()
    assert incident.state == Incident.State.RESOLVED
    assert incident.open_group_key is None
    assert list(group_notifications().order_by("id").values_list("subject", flat=True))[
        -1
    ].startswith("[RESOLVED:2]")
    # It fires again later: a new incident, the old one stays resolved.
    receive(events[:1], T0 + timedelta(hours=1))
    assert Incident.objects.count() == 2


def test_group_by_all_labels_and_by_nothing(route_tree):
    route_tree.group_by = ["..."]
    route_tree.save()
    receive(storm(1, 3), T0)
    assert Incident.objects.count() == 3
    Incident.objects.update(state=Incident.State.RESOLVED, open_group_key=None)
    route_tree.group_by = []
    route_tree.save()
    receive([firing({"alertname": "Other", "job": f"j{i}"}) for i in range(4)], T0)
    assert Incident.objects.filter(open_group_key__isnull=False).count() == 1


def test_fingerprint_is_the_label_set_whatever_the_order():
    assert label_fingerprint({"a": "1", "b": "2"}) == label_fingerprint({"b": "2", "a": "1"})
    assert label_fingerprint({"a": "1"}) != label_fingerprint({"a": "1", "b": ""})


def test_flushes_due_together_are_done_in_bulk_with_the_same_outcome(route_tree):
    from batchwatch.alerts.models import Timer

    receive(storm(), T0)
    due = T0 + timedelta(seconds=30)
    run_until(due, due)
    assert group_notifications().count() == 20
    for incident in Incident.objects.all():
        kinds = list(incident.timeline.order_by("id").values_list("kind", flat=True))
        assert kinds == ["opened", "alerts_grouped", "group_firing", "escalated"], kinds
        flush = Timer.objects.get(incident=incident, kind="flush", state="pending")
        assert flush.due_at == due + timedelta(hours=4)  # repeat_interval
        assert incident.notified_fingerprints and incident.last_notified_at == due


def test_a_bulk_flush_costs_one_statement_per_incident(route_tree):
    from batchwatch.oncall.models import EscalationPolicy

    # Pages are per person: leave them out of the count (no policy, not even the team's).
    route_tree.escalation_policy = None
    route_tree.save()
    EscalationPolicy.objects.update(is_team_default=False)
    receive(storm(), T0)
    due = T0 + timedelta(seconds=30)
    with CaptureQueriesContext(connection) as queries:
        run_until(due, due)
    assert group_notifications().count() == 20
    kinds = set(Incident.objects.first().timeline.values_list("kind", flat=True))
    assert {"group_firing", "no_escalation"} <= kinds
    # One UPDATE per incident, plus a constant few (one flush alone takes about 18).
    assert len(queries.captured_queries) <= 20 + 25, len(queries.captured_queries)


def test_a_bulk_flush_that_fails_is_done_one_by_one(route_tree, monkeypatch):
    from batchwatch.alerts.services import run_timers

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the bulk path")

    monkeypatch.setattr(run_timers, "_flush_many", broken)
    receive(storm(3, 2), T0)
    run_until(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))
    assert group_notifications().count() == 3


def _first_flush(group_labels):
    from batchwatch.alerts.models import Timer

    incident = Incident.objects.get(group_labels=group_labels)
    return incident, Timer.objects.get(incident=incident, kind="flush", state="pending").due_at


def test_alerts_that_started_longer_ago_than_group_wait_flush_at_once(route_tree):
    """Alertmanager's rule: a group that has not flushed yet is flushed at once when an
    alert in it started more than group_wait ago (alerts re-sent after a restart)."""
    labels = {"alertname": "BatchTaskFailing", "job": "etl_old", "severity": "critical"}
    receive([firing({**labels, "instance": "w1"}, starts_at=T0 - timedelta(minutes=5))], T0)
    incident, due = _first_flush({"alertname": "BatchTaskFailing", "job": "etl_old"})
    assert due == T0
    run_until(T0, T0)
    assert group_notifications().filter(incident=incident).count() == 1


def test_fresh_alerts_wait_group_wait_and_an_old_one_joining_brings_the_flush_forward(
    route_tree,
):
    labels = {"alertname": "BatchTaskFailing", "job": "etl_new", "severity": "critical"}
    group = {"alertname": "BatchTaskFailing", "job": "etl_new"}
    receive([firing({**labels, "instance": "w1"}, starts_at=T0 - timedelta(seconds=5))], T0)
    incident, due = _first_flush(group)
    assert due == T0 + incident.group_wait  # started recently: group_wait as usual
    later = T0 + timedelta(seconds=10)
    receive([firing({**labels, "instance": "w2"}, starts_at=T0 - timedelta(hours=1))], later)
    assert _first_flush(group)[1] == later
