"""What people do to incidents: acknowledge (and become the assignee), resolve with alerts
still firing, reopen, add notes, act on many at once, and whom to reassign to."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from batchwatch.alerts import services
from batchwatch.alerts.models import Alert, Incident, TimelineEntry, Timer
from batchwatch.alerts.selectors_people import reassign_candidates
from batchwatch.alerts.services.bulk import IncidentFilter, incidents_bulk_act
from batchwatch.alerts.wire import RESOLVE, AlertEvent, label_fingerprint
from batchwatch.notify.models import Notification
from tests.alerts.conftest import T0, firing, receive, run_until

FAILING = {"alertname": "LedgerCloseFailed", "job": "ledger_close", "team": "ledger"}
FLUSHED = T0 + timedelta(seconds=30)


def pages() -> list[str]:
    return list(
        Notification.objects.filter(purpose="page").order_by("id").values_list("address", flat=True)
    )


def open_incident(labels=FAILING, at=T0, severity="critical") -> Incident:
    result = receive([firing(labels, severity=severity)], at)
    return Incident.objects.get(pk=result.incidents_opened[0])


def resolve_alerts(labels, at) -> None:
    receive([AlertEvent(action=RESOLVE, labels=labels, fingerprint=label_fingerprint(labels))], at)


# --- acknowledge: the acknowledger becomes the assignee ----------------------------------


def test_acknowledging_makes_the_acknowledger_the_assignee(route_tree, people):
    incident = open_incident()
    run_until(FLUSHED, FLUSHED)
    incident.refresh_from_db()
    assert incident.assignee == people["alice"]  # paged first (on call)
    services.incident_acknowledge(incident, actor=people["bob"], now=T0 + timedelta(minutes=1))
    incident.refresh_from_db()
    assert incident.assignee == people["bob"] and incident.acknowledged_by == people["bob"]
    assert incident.assigned_explicitly is False


def test_an_explicit_assignment_to_someone_else_stands(route_tree, people):
    incident = open_incident()
    run_until(FLUSHED, FLUSHED)
    services.incident_reassign(
        incident, user=people["carol"], actor=people["alice"], now=T0 + timedelta(minutes=1)
    )
    services.incident_acknowledge(incident, actor=people["bob"], now=T0 + timedelta(minutes=2))
    incident.refresh_from_db()
    assert incident.assignee == people["carol"] and incident.acknowledged_by == people["bob"]
    assert incident.assigned_explicitly is True


def test_the_explicit_assignee_acknowledging_stays_assignee(route_tree, people):
    incident = open_incident()
    services.incident_reassign(incident, user=people["carol"], now=T0 + timedelta(seconds=5))
    run_until(FLUSHED, FLUSHED)  # escalation pages alice, the assignment stays carol's
    incident.refresh_from_db()
    assert pages() == ["carol@example.com", "alice@example.com"]
    assert incident.assignee == people["carol"]
    services.incident_acknowledge(incident, actor=people["carol"], now=T0 + timedelta(minutes=1))
    incident.refresh_from_db()
    assert incident.assignee == people["carol"]


# --- resolve with alerts still firing ------------------------------------------------------


def test_resolving_with_alerts_firing_is_refused_without_force(route_tree, people):
    incident = open_incident()
    with pytest.raises(services.FiringAlertsError) as refused:
        services.incident_resolve(incident, actor=people["alice"], now=FLUSHED)
    assert refused.value.firing == 1
    assert "1 alert of this incident still fires" in refused.value.messages[0]
    incident.refresh_from_db()
    assert incident.state == Incident.State.TRIGGERED


def test_forced_resolution_resolves_the_alerts_and_a_later_firing_opens_a_new_incident(
    route_tree, people
):
    incident = open_incident()
    at = T0 + timedelta(minutes=3)
    services.incident_resolve(incident, actor=people["alice"], now=at, force=True)
    incident.refresh_from_db()
    alert = Alert.objects.get()
    assert incident.state == Incident.State.RESOLVED and incident.resolved_by == people["alice"]
    assert (alert.status, alert.ends_at, alert.resolved_by) == ("resolved", at, people["alice"])
    assert incident.timeline.filter(kind="resolved").get().message == (
        "Resolved with 1 alert(s) still firing, marked resolved"
    )
    later = T0 + timedelta(minutes=4)
    result = receive([firing(FAILING, severity="critical")], later)
    assert len(result.incidents_opened) == 1 and result.incidents_opened[0] != incident.pk
    alert.refresh_from_db()
    assert (alert.status, alert.starts_at, alert.resolved_by) == ("firing", later, None)
    assert Incident.objects.get(pk=result.incidents_opened[0]).alerts.get() == alert


def test_resolving_once_every_alert_resolved_needs_no_force(route_tree, people):
    incident = open_incident()
    resolve_alerts(FAILING, T0 + timedelta(seconds=10))
    services.incident_resolve(incident, actor=people["alice"], now=T0 + timedelta(seconds=20))
    incident.refresh_from_db()
    assert incident.state == Incident.State.RESOLVED


# --- reopen --------------------------------------------------------------------------------


def test_reopen_triggers_again_and_restarts_the_escalation(route_tree, people):
    incident = open_incident()
    run_until(FLUSHED, FLUSHED)
    services.incident_resolve(
        incident, actor=people["alice"], now=T0 + timedelta(minutes=1), force=True
    )
    at = T0 + timedelta(minutes=10)
    services.incident_reopen(incident, actor=people["bob"], now=at, reason="back again")
    incident.refresh_from_db()
    assert incident.state == Incident.State.TRIGGERED
    assert incident.open_group_key == incident.group_key
    assert (incident.resolved_at, incident.resolved_by) == (None, None)
    assert (incident.escalation_step, incident.escalation_loop) == (0, 0)
    assert pages() == ["alice@example.com", "alice@example.com"]  # step 1 again
    entry = incident.timeline.get(kind=TimelineEntry.Kind.REOPENED)
    assert (entry.message, entry.actor, entry.at) == ("Reopened: back again", people["bob"], at)
    timer = Timer.objects.get(incident=incident, kind="escalate", state="pending")
    assert (timer.due_at, timer.step) == (at + timedelta(minutes=5), 1)


def test_only_a_resolved_incident_is_reopened(route_tree, people):
    incident = open_incident()
    with pytest.raises(ValidationError, match="Only a resolved incident"):
        services.incident_reopen(incident, actor=people["bob"], now=FLUSHED)


def test_reopen_is_refused_while_a_newer_incident_holds_the_group(route_tree, people):
    incident = open_incident()
    services.incident_resolve(incident, actor=people["alice"], now=FLUSHED, force=True)
    receive([firing(FAILING, severity="critical")], T0 + timedelta(minutes=2))
    newer = Incident.objects.exclude(pk=incident.pk).get()
    with pytest.raises(ValidationError, match=f"Incident #{newer.pk} is open"):
        services.incident_reopen(incident, actor=people["bob"], now=T0 + timedelta(minutes=3))


# --- notes ---------------------------------------------------------------------------------


def test_a_note_goes_on_the_timeline(route_tree, people):
    incident = open_incident()
    entry = services.incident_note_add(
        incident, author=people["bob"], text="  Restarted the close job.\n", now=FLUSHED
    )
    entry.refresh_from_db()
    assert (entry.kind, entry.message, entry.actor, entry.at) == (
        "note",
        "Restarted the close job.",
        people["bob"],
        FLUSHED,
    )
    assert (entry.actor_label, entry.data) == ("bob", {"source": "web"})
    slack = services.incident_note_add(
        incident, author=None, author_label="U123", text="seen", now=FLUSHED, source="slack"
    )
    assert (slack.actor_label, slack.data) == ("U123", {"source": "slack"})


@pytest.mark.parametrize(
    ("text", "source", "error"),
    [
        ("", "web", "needs some text"),
        ("   \n ", "api", "needs some text"),
        ("x" * 1001, "web", r"at most 1000 characters \(1001 given\)"),
        ("bad\x00byte", "web", "control characters"),
        ("fine", "email", "one of web, api, slack"),
    ],
)
def test_a_note_is_validated(route_tree, people, text, source, error):
    incident = open_incident()
    with pytest.raises(ValidationError, match=error):
        services.incident_note_add(
            incident, author=people["bob"], text=text, now=FLUSHED, source=source
        )
    assert not incident.timeline.filter(kind="note").exists()


def test_a_note_of_exactly_the_limit_is_kept_whole(route_tree, people):
    incident = open_incident()
    entry = services.incident_note_add(incident, author=people["bob"], text="y" * 1000, now=T0)
    entry.refresh_from_db()
    assert len(entry.message) == 1000


# --- bulk acknowledge / resolve ------------------------------------------------------------


@pytest.fixture
def three_incidents(route_tree, people, team_b):
    ledger_one = open_incident({"alertname": "A", "job": "one", "team": "ledger"})
    ledger_two = open_incident({"alertname": "A", "job": "two", "team": "ledger"}, severity="info")
    risk = open_incident({"alertname": "A", "job": "score", "team": "risk"})
    return ledger_one, ledger_two, risk


def test_bulk_acknowledge_touches_only_permitted_incidents(three_incidents, people):
    ledger_one, ledger_two, risk = three_incidents
    result = incidents_bulk_act(
        people["bob"], action="acknowledge", filters=IncidentFilter(), now=FLUSHED
    )
    assert (result.matched, result.changed, result.not_permitted) == (3, 2, 1)
    assert sorted(result.ids) == [ledger_one.pk, ledger_two.pk]
    risk.refresh_from_db()
    assert risk.state == Incident.State.TRIGGERED
    again = incidents_bulk_act(
        people["bob"], action="acknowledge", filters=IncidentFilter(team="ledger"), now=FLUSHED
    )
    assert (again.matched, again.changed, again.unchanged) == (2, 0, 2)


def test_bulk_filters_by_urgency_state_and_mine(three_incidents, people, admin):
    ledger_one, ledger_two, _risk = three_incidents
    assert (ledger_one.urgency, ledger_two.urgency) == ("high", "low")
    low = incidents_bulk_act(
        admin, action="acknowledge", filters=IncidentFilter(urgency="low"), now=FLUSHED
    )
    assert low.ids == [ledger_two.pk]
    services.incident_reassign(ledger_one, user=people["carol"], now=FLUSHED)
    mine = incidents_bulk_act(
        people["carol"],
        action="resolve",
        filters=IncidentFilter(mine=True, state="triggered"),
        now=FLUSHED,
        force=True,
    )
    assert (mine.matched, mine.changed, mine.ids) == (1, 1, [ledger_one.pk])
    with pytest.raises(ValidationError):
        incidents_bulk_act(
            admin, action="resolve", filters=IncidentFilter(state="resolved"), now=FLUSHED
        )
    with pytest.raises(ValidationError):
        incidents_bulk_act(admin, action="delete", filters=IncidentFilter(), now=FLUSHED)


def test_bulk_resolve_counts_incidents_whose_alerts_still_fire(three_incidents, people):
    _ledger_one, ledger_two, _ = three_incidents
    resolve_alerts({"alertname": "A", "job": "two", "team": "ledger"}, T0 + timedelta(seconds=5))
    result = incidents_bulk_act(
        people["bob"], action="resolve", filters=IncidentFilter(team="ledger"), now=FLUSHED
    )
    assert (result.matched, result.changed, result.firing, result.ids) == (2, 1, 1, [ledger_two.pk])


# --- reassign candidates -------------------------------------------------------------------


def test_reassign_offers_the_on_call_then_the_team_then_others(route_tree, people, outsider):
    incident = open_incident()
    candidates = reassign_candidates(incident, now=T0)
    assert [(c.user.username, c.group) for c in candidates] == [
        ("alice", "oncall"),
        ("bob", "team"),
        ("carol", "team"),
        ("oscar", "other"),
    ]
    assert candidates[0].reason == "on call (Ledger primary)"
    services.incident_reassign(incident, user=people["bob"], now=T0)
    incident.refresh_from_db()
    assert "bob" not in [c.user.username for c in reassign_candidates(incident, now=T0)]
