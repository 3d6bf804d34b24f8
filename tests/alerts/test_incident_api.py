"""The incident actions of the API at the permission boundary: staff, the owning team's owner
and member may act; to an outsider (another team's member) the incident does not exist (404,
as on its page), and bulk actions leave other teams' incidents alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from batchwatch.alerts.models import Alert, Incident, TimelineEntry
from tests.alerts.conftest import firing, receive

LEDGER = {"alertname": "LedgerCloseFailed", "job": "close", "team": "ledger"}
RISK = {"alertname": "ScoresLate", "job": "scores", "team": "risk"}


def _open(labels) -> Incident:
    result = receive([firing(labels, severity="critical")], datetime.now(UTC))
    return Incident.objects.get(pk=result.incidents_opened[0])


@pytest.fixture
def incident(route_tree):
    return _open(LEDGER)


@pytest.fixture
def resolved(incident):
    Alert.objects.update(status="resolved")
    incident.state = Incident.State.RESOLVED
    incident.open_group_key = None
    incident.save()
    return incident


@pytest.fixture
def persona(request, owner, teammate, outsider, admin):
    return {"owner": owner, "member": teammate, "outsider": outsider, "staff": admin}[request.param]


ALLOWED = {"owner": True, "member": True, "outsider": False, "staff": True}
PERSONAS = list(ALLOWED)


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_notes(api_as, incident, persona):
    url = f"/api/v1/incidents/{incident.pk}/notes/"
    response = api_as(persona).post(url, {"text": "Restarted the job"}, format="json")
    if not ALLOWED[_role(persona)]:
        assert response.status_code == 404
        assert not TimelineEntry.objects.filter(kind="note").exists()
        return
    assert response.status_code == 201
    assert response.json()["kind"] == "note" and response.json()["actor"] == persona.username
    timeline = api_as(persona).get(f"/api/v1/incidents/{incident.pk}/").json()["timeline"]
    assert [e["message"] for e in timeline if e["kind"] == "note"] == ["Restarted the job"]


def _role(user) -> str:
    return {"olivia": "owner", "tom": "member", "oscar": "outsider", "ada": "staff"}[user.username]


def test_a_note_is_validated(api_as, incident, teammate):
    url = f"/api/v1/incidents/{incident.pk}/notes/"
    for body in ({"text": ""}, {"text": "   "}, {"text": "x" * 1001}, {}, {"text": "a\x00b"}):
        response = api_as(teammate).post(url, body, format="json")
        assert response.status_code == 400, body
    assert not TimelineEntry.objects.filter(kind="note").exists()


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_resolve_with_alerts_firing_is_409_then_force(api_as, incident, persona):
    url = f"/api/v1/incidents/{incident.pk}/resolve/"
    response = api_as(persona).post(url)
    if not ALLOWED[_role(persona)]:
        assert response.status_code == 404
        return
    assert response.status_code == 409
    body = response.json()
    assert body["firing_alerts"] == 1 and '{"force": true}' in body["force"]
    response = api_as(persona).post(url, {"force": True}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "resolved"
    [alert] = response.json()["alerts"]
    assert (alert["status"], alert["resolved_by"]) == ("resolved", persona.username)


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_reopen(api_as, resolved, persona):
    url = f"/api/v1/incidents/{resolved.pk}/reopen/"
    response = api_as(persona).post(url, {"reason": "still broken"}, format="json")
    resolved.refresh_from_db()
    if not ALLOWED[_role(persona)]:
        assert response.status_code == 404 and resolved.state == "resolved"
        return
    assert response.status_code == 200 and response.json()["state"] == "triggered"
    assert any(e["kind"] == "reopened" for e in response.json()["timeline"])
    assert api_as(persona).post(url).status_code == 400  # not resolved any more


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_acknowledge_makes_the_acknowledger_the_assignee(api_as, incident, persona):
    response = api_as(persona).post(f"/api/v1/incidents/{incident.pk}/acknowledge/")
    if not ALLOWED[_role(persona)]:
        assert response.status_code == 404
        return
    assert response.status_code == 200 and response.json()["assignee"] == persona.username


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_who_sees_it_reads_the_reassign_candidates(api_as, incident, persona, people):
    response = api_as(persona).get(f"/api/v1/incidents/{incident.pk}/reassign-candidates/")
    if not ALLOWED[_role(persona)]:
        assert response.status_code == 404
        return
    assert response.status_code == 200
    rows = response.json()
    groups = [row["group"] for row in rows]
    assert groups == sorted(groups, key=["oncall", "team", "other"].index)
    assert {row["username"] for row in rows if row["group"] == "team"} >= {"bob", "olivia", "tom"}
    assert "oscar" in {row["username"] for row in rows if row["group"] == "other"}


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_bulk_touches_only_permitted_incidents(api_as, incident, persona, team_b):
    risk = _open(RISK)
    response = api_as(persona).post(
        "/api/v1/incidents/bulk/", {"action": "acknowledge"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    incident.refresh_from_db()
    risk.refresh_from_db()
    if _role(persona) == "staff":
        assert (body["matched"], body["changed"], body["not_permitted"]) == (2, 2, 0)
        assert risk.state == incident.state == "acknowledged"
    elif _role(persona) == "outsider":  # a member of risk
        assert (body["changed"], body["not_permitted"], body["ids"]) == (1, 1, [risk.pk])
        assert incident.state == "triggered"
    else:
        assert (body["changed"], body["not_permitted"], body["ids"]) == (1, 1, [incident.pk])
        assert risk.state == "triggered"


def test_bulk_resolve_counts_firing_and_filters(api_as, incident, teammate):
    response = api_as(teammate).post(
        "/api/v1/incidents/bulk/",
        {"action": "resolve", "team": "ledger", "urgency": "high", "state": "triggered"},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["matched"], response.json()["firing"]) == (1, 1)
    response = api_as(teammate).post(
        "/api/v1/incidents/bulk/",
        {"action": "resolve", "force": True, "ids": [incident.pk]},
        format="json",
    )
    assert response.json()["ids"] == [incident.pk]
    nothing = api_as(teammate).post(
        "/api/v1/incidents/bulk/", {"action": "acknowledge", "ids": []}, format="json"
    )
    assert nothing.json()["matched"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"action": "delete"},
        {"action": "resolve", "state": "resolved"},
        {"action": "resolve", "urgency": "medium"},
        {"action": "resolve", "ids": [0]},
        {"action": "resolve", "ids": [2**40]},
        {"action": "resolve", "ids": "1"},
    ],
)
def test_bulk_refuses_bad_input(api_as, incident, teammate, body):
    response = api_as(teammate).post("/api/v1/incidents/bulk/", body, format="json")
    assert response.status_code == 400


def test_anonymous_cannot_act(api_as, incident):
    client = api_as()
    assert client.post(f"/api/v1/incidents/{incident.pk}/notes/", {"text": "x"}).status_code in (
        401,
        403,
    )
    assert client.post("/api/v1/incidents/bulk/", {"action": "resolve"}).status_code in (401, 403)


def test_the_list_filters_mine_and_urgency(api_as, incident, teammate):
    client = api_as(teammate)
    assert client.get("/api/v1/incidents/?urgency=high").json()["count"] == 1
    assert client.get("/api/v1/incidents/?urgency=low").json()["count"] == 0
    assert client.get("/api/v1/incidents/?mine=true").json()["count"] == 0
    client.post(f"/api/v1/incidents/{incident.pk}/acknowledge/")
    assert client.get("/api/v1/incidents/?mine=true").json()["count"] == 1
