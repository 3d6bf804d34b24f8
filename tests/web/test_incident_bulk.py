"""Acting on many incidents from the incident list: filters (mine, team, urgency, state) kept
in the URL, ticked rows or "select all matching", a message with what was done and skipped,
"Resolve anyway" when alerts still fire, and nothing done to (or said about) incidents the
person may not see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from batchwatch.alerts.models import Alert, Incident, IncidentAlert

NOW = datetime.now(UTC).replace(microsecond=0)
LIST = reverse("web:incidents")
BULK = reverse("web:incidents-bulk")


def _incident(title: str, team, **extra) -> Incident:
    return Incident.objects.create(
        title=title,
        team=team,
        group_key=f"{{}}:{{title={title}}}",
        created_at=NOW - timedelta(minutes=5),
        group_wait=timedelta(seconds=30),
        group_interval=timedelta(minutes=5),
        repeat_interval=timedelta(hours=4),
        **extra,
    )


def _firing(incident: Incident) -> Alert:
    alert = Alert.objects.create(
        source="signals",
        fingerprint=f"fp-{incident.pk}",
        status=Alert.Status.FIRING,
        starts_at=NOW,
        first_received_at=NOW,
        last_received_at=NOW,
    )
    IncidentAlert.objects.create(incident=incident, alert=alert, added_at=NOW)
    return alert


@pytest.fixture
def incidents(team_a, team_b, teammate, owner, outsider):
    return {
        "mine-high": _incident("Ledger close failed", team_a, assignee=teammate),
        "mine-low": _incident("Ledger close late", team_a, assignee=teammate, urgency="low"),
        "ledger-acked": _incident(
            "Ledger feed stuck", team_a, state=Incident.State.ACKNOWLEDGED, acknowledged_at=NOW
        ),
        "risk": _incident("Risk scores late", team_b),
        "risk-two": _incident("Risk feed stuck", team_b, assignee=outsider),
    }


def _said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _states(incidents: dict[str, Incident]) -> dict[str, str]:
    return {k: Incident.objects.get(pk=i.pk).state for k, i in incidents.items()}


# --- the list's filters --------------------------------------------------------------------


def test_filters_combine_and_stay_in_the_forms(client, teammate, incidents):
    client.force_login(teammate)
    page = client.get(LIST, {"mine": "1"}).content.decode()
    assert "Ledger close failed" in page and "Ledger close late" in page
    assert "Ledger feed stuck" not in page and "Risk scores late" not in page
    page = client.get(LIST, {"mine": "1", "urgency": "low", "team": "ledger"}).content.decode()
    assert "Ledger close late" in page and "Ledger close failed" not in page
    # The bulk form carries the same filters, for "select all matching".
    assert '<input type="hidden" name="urgency" value="low">' in page
    assert '<input type="hidden" name="mine" value="1">' in page
    page = client.get(LIST, {"state": "acknowledged"}).content.decode()
    assert "Ledger feed stuck" in page and "Ledger close failed" not in page


def test_unknown_filter_values_are_ignored(client, teammate, incidents):
    client.force_login(teammate)
    response = client.get(LIST, {"urgency": "<x>", "state": "nope", "team": "none", "mine": "2"})
    assert response.status_code == 200
    assert "Ledger close failed" in response.content.decode()


def test_the_list_reads_in_a_fixed_number_of_queries(
    client, admin, team_a, incidents, django_assert_max_num_queries
):
    for n in range(20):
        _incident(f"More {n}", team_a, urgency="low")
    client.force_login(admin)
    with django_assert_max_num_queries(12):
        response = client.get(LIST, {"team": "ledger", "urgency": "low"})
    assert response.content.decode().count('name="ids"') == 21


# --- acting on ticked rows -----------------------------------------------------------------


def test_member_acknowledges_ticked_rows_and_is_told_what_was_skipped(client, teammate, incidents):
    client.force_login(teammate)
    ids = [incidents[k].pk for k in ("mine-high", "ledger-acked", "risk")]
    response = client.post(BULK, {"action": "acknowledge", "ids": ids, "urgency": "high"})
    assert response.status_code == 302 and response.url == LIST + "?urgency=high"
    # The other team's incident is neither acted on nor counted: it is not visible.
    assert _said(response) == [
        "Acknowledged 1 incident. Skipped 1: 0 not permitted, 1 already acknowledged."
    ]
    assert _states(incidents) == {
        "mine-high": "acknowledged",
        "mine-low": "triggered",
        "ledger-acked": "acknowledged",
        "risk": "triggered",
        "risk-two": "triggered",
    }


def test_outsider_posting_another_teams_ids_touches_nothing(client, outsider, incidents):
    client.force_login(outsider)
    ledger = [incidents[k].pk for k in ("mine-high", "mine-low", "ledger-acked")]
    for action in ("acknowledge", "resolve"):
        response = client.post(BULK, {"action": action, "ids": ledger, "force": "1"})
        assert response.status_code == 302
        assert _said(response)[0].startswith(("Acknowledged 0 incidents.", "Resolved 0 incidents."))
    assert {k: v for k, v in _states(incidents).items() if k != "risk"} == {
        "mine-high": "triggered",
        "mine-low": "triggered",
        "ledger-acked": "acknowledged",
        "risk-two": "triggered",
    }


def test_owner_resolves_with_select_all_matching_within_the_filters(client, owner, incidents):
    client.force_login(owner)
    response = client.post(
        BULK, {"action": "resolve", "all": "1", "team": "ledger", "urgency": "high"}
    )
    assert _said(response) == ["Resolved 2 incidents."]
    assert _states(incidents) == {
        "mine-high": "resolved",
        "mine-low": "triggered",
        "ledger-acked": "resolved",
        "risk": "triggered",
        "risk-two": "triggered",
    }


def test_staff_acts_on_every_team(client, admin, incidents):
    client.force_login(admin)
    response = client.post(BULK, {"action": "acknowledge", "all": "1"})
    assert _said(response) == [
        "Acknowledged 4 incidents. Skipped 1: 0 not permitted, 1 already acknowledged."
    ]
    assert set(_states(incidents).values()) == {"acknowledged"}


def test_bad_input_is_a_message_not_an_error(client, teammate, incidents):
    client.force_login(teammate)
    nothing = client.post(BULK, {"action": "acknowledge"})
    assert _said(nothing) == ["Tick the incidents to act on, or select all matching."]
    unknown = client.post(BULK, {"action": "delete", "ids": [incidents["mine-high"].pk]})
    assert unknown.status_code == 302 and "Choose one of" in _said(unknown)[-1]
    assert client.post(BULK, {"action": "resolve", "ids": ["x", "9" * 40]}).status_code == 302
    assert _states(incidents)["mine-high"] == "triggered"


def test_anonymous_is_sent_to_sign_in(client, incidents):
    response = client.post(BULK, {"action": "acknowledge", "all": "1"})
    assert response.status_code == 302 and "login" in response.url
    assert _states(incidents)["mine-high"] == "triggered"


# --- resolving while alerts still fire -----------------------------------------------------


def test_resolving_with_firing_alerts_asks_then_resolve_anyway_forces(client, teammate, incidents):
    _firing(incidents["mine-high"])
    client.force_login(teammate)
    ids = [incidents["mine-high"].pk, incidents["mine-low"].pk]
    response = client.post(BULK, {"action": "resolve", "ids": ids, "mine": "1"})
    assert _said(response) == [
        "Resolved 1 incident.",
        "1 incident not resolved: its alerts still fire.",
    ]
    assert _states(incidents)["mine-high"] == "triggered"
    page = client.get(response.url).content.decode()
    assert "Resolve anyway" in page
    assert f'<input type="hidden" name="ids" value="{incidents["mine-high"].pk}">' in page
    again = client.post(BULK, {"action": "resolve", "ids": ids, "mine": "1", "force": "1"})
    assert _said(again) == ["Resolved 1 incident."]
    assert _states(incidents)["mine-high"] == "resolved"
    assert Alert.objects.get().status == Alert.Status.RESOLVED
