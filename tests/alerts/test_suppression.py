"""Silences, maintenance windows, inhibition rules, time intervals and lineage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from batchwatch.alerts import services
from batchwatch.alerts.models import Alert, Incident, InhibitRule, MaintenanceWindow, TimeInterval
from batchwatch.catalog import services as catalog
from batchwatch.notify.models import Channel, Notification
from batchwatch.runs.models import Run, RunState
from tests.alerts.conftest import T0, firing, receive, run_until

LATE = {"alertname": "BatchJobLateStart", "kind": "late_start", "severity": "critical"}


def test_a_silence_holds_matching_alerts_until_it_ends(route_tree):
    silence = services.silence_create(
        matchers=['job="ledger_close"'],
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        comment="Planned re-run",
        now=T0,
    )
    assert silence.state_at(T0) == "active"
    receive(
        [
            firing({"alertname": "X", "job": "ledger_close"}),
            firing({"alertname": "X", "job": "other"}),
        ],
        T0,
    )
    held = Alert.objects.get(labels__job="ledger_close")
    assert held.needs_routing and held.suppressed_reason.startswith(f"silence {silence.pk}")
    assert Incident.objects.count() == 1
    services.alerts_reconsider(now=T0 + timedelta(minutes=30))
    assert Incident.objects.count() == 1
    assert silence.state_at(T0 + timedelta(hours=1)) == "expired"
    services.alerts_reconsider(now=T0 + timedelta(hours=1))
    assert Incident.objects.count() == 2
    held.refresh_from_db()
    assert not held.needs_routing and held.suppressed_reason == ""


@pytest.mark.parametrize(
    "matchers, message",
    [
        ([], "at least one"),
        (['job=~".*"'], "empty string"),
        (["just a job"], "not a matcher"),
        (['job=~"("'], "regular expression"),
    ],
)
def test_silences_are_validated(db, matchers, message):
    with pytest.raises(ValidationError, match=message):
        services.silence_create(
            matchers=matchers, starts_at=T0, ends_at=T0 + timedelta(hours=1), comment="x", now=T0
        )


def test_a_silence_created_after_grouping_holds_the_notifications(route_tree):
    receive(
        [
            firing({"alertname": "X", "job": "ledger_close"}),
            firing({"alertname": "Y", "job": "ledger_close"}),  # a group the silence misses
        ],
        T0,
    )
    held, control = Incident.objects.order_by("title")
    assert "X" in held.title and "Y" in control.title
    services.silence_create(
        matchers=['alertname="X"'],
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        comment="known",
        now=T0 + timedelta(seconds=10),
    )
    run_until(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))
    # Both groups' flushes ran at group_wait (30 s): the silenced one sent nothing, paged
    # nobody and looks again after group_interval; the other notified and paged.
    held.refresh_from_db()
    assert held.last_flush_at == T0 + timedelta(seconds=30)
    assert held.last_notified_at is None and held.escalation_step < 0
    assert not held.notifications.exists()
    assert not held.timeline.filter(kind__in=["group_firing", "escalated"]).exists()
    assert held.timers.get(kind="flush", state="pending").due_at == T0 + timedelta(
        minutes=5, seconds=30
    )
    control.refresh_from_db()
    assert control.last_notified_at == T0 + timedelta(seconds=30)
    assert set(control.notifications.values_list("purpose", flat=True)) == {"group", "page"}
    assert control.timeline.filter(kind="escalated").exists()
    # Once the silence ends, the next flush notifies the group it held.
    run_until(
        T0 + timedelta(hours=1, minutes=5),
        T0 + timedelta(minutes=5, seconds=30),
        step=timedelta(minutes=1),
    )
    held.refresh_from_db()
    assert held.last_notified_at is not None and held.last_notified_at >= T0 + timedelta(hours=1)
    assert held.notifications.filter(purpose="page").exists()


def test_a_recurring_maintenance_window_scheduled_ahead(route_tree):
    # Saturdays 02:00-04:00 New York time, from next week on.
    MaintenanceWindow.objects.create(
        name="Warehouse patching",
        matchers=['team="ledger"'],
        starts_at=datetime(2026, 11, 28, 7, 0, tzinfo=UTC),
        duration=timedelta(hours=2),
        recurrence="0 2 * * 6",
        timezone="America/New_York",
    )
    during_first = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)  # 03:00 EST
    during_later = datetime(2026, 12, 5, 8, 59, tzinfo=UTC)
    after = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    before = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)  # the Saturday before the first start
    receive([firing({"alertname": "A", "team": "ledger"})], before)
    assert Incident.objects.count() == 1
    receive([firing({"alertname": "B", "team": "ledger"})], during_first)
    receive([firing({"alertname": "C", "team": "ledger"})], during_later)
    assert Incident.objects.count() == 1
    assert Alert.objects.get(labels__alertname="C").suppressed_reason.startswith("maintenance")
    receive([firing({"alertname": "D", "team": "ledger"})], after)
    assert Incident.objects.count() == 2


def test_inhibition_rule_with_equal_labels(route_tree):
    InhibitRule.objects.create(
        source_matchers=['alertname="ClusterDown"'],
        target_matchers=['severity="warning"'],
        equal=["cluster"],
    )
    receive([firing({"alertname": "ClusterDown", "cluster": "emr-1", "severity": "critical"})], T0)
    receive(
        [
            firing({"alertname": "JobSlow", "cluster": "emr-1", "severity": "warning"}),
            firing({"alertname": "JobSlow", "cluster": "emr-2", "severity": "warning"}),
        ],
        T0,
    )
    assert Alert.objects.get(labels__cluster="emr-1", labels__alertname="JobSlow").needs_routing
    assert not Alert.objects.get(labels__cluster="emr-2").needs_routing
    assert Incident.objects.count() == 2


def test_a_mute_time_interval_holds_a_route(route_tree):
    nights = TimeInterval.objects.create(
        name="nights",
        intervals=[
            {
                "times": [{"start_time": "00:00", "end_time": "06:00"}],
                "location": "America/New_York",
            }
        ],
    )
    route_tree.mute_time_intervals.add(nights)
    receive([firing({"alertname": "X"})], T0)  # 22:00 New York: not muted
    receive([firing({"alertname": "Y"})], T0 + timedelta(hours=3))  # 01:00 New York: muted
    assert Incident.objects.count() == 1
    assert Alert.objects.get(labels__alertname="Y").suppressed_reason == "route muted (nights)"
    services.alerts_reconsider(now=T0 + timedelta(hours=8))  # 06:00 New York
    assert Incident.objects.count() == 2


@pytest.fixture
def lineage(team_a, team_b, route_tree):
    upstream = catalog.job_create(
        engine="spark", namespace="prod", name="loans_ingest", owner_team=team_a
    )
    downstream = catalog.job_create(
        engine="airflow", namespace="prod", name="risk_scores", owner_team=team_b
    )
    catalog.job_set_upstream(job=downstream, upstream=[upstream])
    notices = Channel.objects.create(
        name="risk-notices", kind=Channel.Kind.LOG, address="#risk", team=team_b
    )
    return upstream, downstream, notices


def test_an_upstream_failure_holds_its_downstream_late_alerts(lineage):
    upstream, downstream, notices = lineage
    receive(
        [
            firing(
                {
                    "alertname": "BatchJobFailed",
                    "kind": "failed",
                    "job": upstream.key,
                    "severity": "critical",
                }
            )
        ],
        T0,
    )
    upstream_incident = Incident.objects.get()
    receive([firing({**LATE, "job": downstream.key})], T0 + timedelta(minutes=5))
    assert Incident.objects.count() == 1  # no incident, no page for the downstream owners
    late = Alert.objects.get(labels__job=downstream.key)
    assert late.suppressed_reason == f"upstream {upstream.key} is failed"
    assert upstream_incident.memberships.filter(alert=late).exclude(attached_reason="").exists()
    assert upstream_incident.timeline.filter(kind="alert_attached").exists()
    notice = Notification.objects.get(purpose="notice")
    assert notice.channel == notices and "not paging" in notice.subject
    # The upstream incident resolves while the downstream job is still late: now it pages.
    services.incident_resolve(
        incident=upstream_incident, now=T0 + timedelta(minutes=20), force=True
    )
    receive(
        [
            firing(
                {
                    "alertname": "BatchJobFailed",
                    "kind": "failed",
                    "job": upstream.key,
                    "severity": "critical",
                }
            )
        ],
        T0,
    )  # (unchanged, still in resolved incident)
    Alert.objects.filter(labels__job=upstream.key).update(status="resolved")
    services.alerts_reconsider(now=T0 + timedelta(minutes=21))
    assert Incident.objects.filter(team__slug="risk").count() == 1


def test_a_failed_upstream_run_holds_downstream_alerts_without_an_incident(lineage):
    upstream, downstream, _ = lineage
    Run.objects.create(
        job=upstream,
        external_id="r1",
        state=RunState.FAILED,
        source="otlp",
        expected_at=T0 - timedelta(hours=1),
        started_at=T0 - timedelta(hours=1),
    )
    receive([firing({**LATE, "job": downstream.key})], T0)
    assert not Incident.objects.exists()
    assert Alert.objects.get().suppressed_reason == f"upstream {upstream.key} is failed"
    # Once a later upstream run succeeds, the downstream lateness is its own problem.
    Run.objects.create(
        job=upstream,
        external_id="r2",
        state=RunState.SUCCEEDED,
        source="otlp",
        expected_at=T0 - timedelta(minutes=30),
    )
    services.alerts_reconsider(now=T0 + timedelta(minutes=1))
    assert Incident.objects.count() == 1


def test_lineage_does_not_hold_failures_of_the_downstream_job_itself(lineage):
    upstream, downstream, _ = lineage
    receive([firing({"alertname": "BatchJobFailed", "kind": "failed", "job": upstream.key})], T0)
    receive([firing({"alertname": "BatchJobFailed", "kind": "failed", "job": downstream.key})], T0)
    assert Incident.objects.count() == 2
