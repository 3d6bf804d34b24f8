"""``/api/v1/team-routes/`` persona by persona: the team's owner (olivia) adds, changes and
removes its routes; its member (tom) reads them (403 on a change); an outsider (oscar of risk)
sees none of them (404 by id, 403 to add one to ledger); staff (ada) everything. Bad input is
a 400 that says why, never a 500."""

from __future__ import annotations

import pytest

from batchwatch.alerts.models import Route
from batchwatch.alerts.services import team_route_create
from batchwatch.audit.models import AuditEvent
from batchwatch.notify.models import Channel
from batchwatch.oncall.services import policy_save

URL = "/api/v1/team-routes/"


@pytest.fixture
def ledger_policy(team_a):
    return policy_save(slug="ledger-critical", name="Ledger critical", team=team_a, steps=[])


@pytest.fixture
def route(team_a, owner):
    return team_route_create(team_a, name="critical", matchers=["severity=critical"], actor=owner)


def test_the_owner_adds_changes_and_removes_a_route(api_as, owner, team_a, ledger_policy):
    hook = Channel.objects.create(name="ledger-hook", kind="log", address="h", team=team_a)
    client = api_as(owner)
    created = client.post(
        URL,
        {
            "team": "ledger",
            "name": "critical",
            "matchers": ['severity="critical"'],
            "escalation_policy": "ledger-critical",
            "channels": [hook.pk],
            "group_by": ["alertname"],
            "group_wait": "00:00:10",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["matchers"] == ['team="ledger"', 'severity="critical"']
    assert body["channels"] == [hook.pk] and body["group_wait"] == "00:00:10"
    url = f"{URL}{body['id']}/"
    changed = client.patch(url, {"name": "crit", "team": "risk"}, format="json")
    assert changed.status_code == 200, changed.content
    # The rest is kept, and the route stays ledger's.
    assert changed.json()["team"] == "ledger" and changed.json()["channels"] == [hook.pk]
    assert changed.json()["escalation_policy"] == "ledger-critical"
    assert client.delete(url).status_code == 204
    assert not Route.objects.exists()
    events = AuditEvent.objects.filter(action="route.changed", actor=owner, team=team_a)
    assert events.count() == 3


def test_members_read_their_teams_routes_and_change_none(api_as, teammate, route):
    client = api_as(teammate)
    listed = client.get(URL).json()["results"]
    assert [r["id"] for r in listed] == [route.pk]
    assert client.get(f"{URL}{route.pk}/").status_code == 200
    assert client.patch(f"{URL}{route.pk}/", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"{URL}{route.pk}/").status_code == 403
    refused = client.post(URL, {"team": "ledger", "matchers": []}, format="json")
    assert refused.status_code == 403
    assert Route.objects.get().name == "critical"


def test_outsiders_see_nothing_of_another_teams_routes(api_as, outsider, route):
    client = api_as(outsider)
    assert client.get(URL).json()["results"] == []
    assert client.get(f"{URL}?team=ledger").json()["results"] == []
    for method in ("get", "patch", "delete"):
        assert getattr(client, method)(f"{URL}{route.pk}/").status_code == 404, method
    assert client.post(URL, {"team": "ledger"}, format="json").status_code == 403
    assert Route.objects.count() == 1
    assert api_as().get(URL).status_code == 401


def test_staff_see_and_change_every_teams_routes(api_as, admin, route, team_b):
    client = api_as(admin)
    assert [r["id"] for r in client.get(URL).json()["results"]] == [route.pk]
    assert client.get(f"{URL}?team=risk").json()["results"] == []
    created = client.post(URL, {"team": "risk", "matchers": ["severity=page"]}, format="json")
    assert created.status_code == 201
    assert created.json()["matchers"] == ['team="risk"', "severity=page"]
    assert client.delete(f"{URL}{route.pk}/").status_code == 204


@pytest.mark.parametrize(
    ("body", "field", "sentence"),
    [
        ({"matchers": ['team="risk"']}, "matchers", "another team"),
        ({"matchers": ['team=~".+"']}, "matchers", "another team"),
        ({"matchers": ["severity"]}, "matchers", "is not a matcher"),
        ({"matchers": "severity=critical"}, "matchers", ""),
        ({"escalation_policy": "risk-default"}, "escalation_policy", "not one of Ledger's"),
        ({"escalation_policy": "nope"}, "escalation_policy", ""),
        ({"channels": [999999]}, "channels", ""),
        ({"group_by": ["a b"]}, "group_by", "is not a label name"),
        ({"group_interval": "00:00:00"}, "group_interval", "between"),
        ({"repeat_interval": "40 00:00:00"}, "repeat_interval", ""),
        ({"mute_time_intervals": ["nowhere"]}, "mute_time_intervals", ""),
        ({"team": "nowhere"}, "team", ""),
    ],
)
def test_bad_input_is_a_400_that_says_why(api_as, owner, team_b, body, field, sentence):
    policy_save(slug="risk-default", name="Risk default", team=team_b, steps=[])
    response = api_as(owner).post(URL, {"team": "ledger", **body}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert sentence in str(response.json())
    assert not Route.objects.exists()


def test_another_teams_channel_is_refused(api_as, owner, team_b):
    theirs = Channel.objects.create(name="risk-hook", kind="log", address="r", team=team_b)
    response = api_as(owner).post(URL, {"team": "ledger", "channels": [theirs.pk]}, format="json")
    assert response.status_code == 400
    assert "not one of Ledger's channels" in str(response.json())
