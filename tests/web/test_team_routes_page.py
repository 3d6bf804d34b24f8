"""The team's own routes on its settings page: the owner (olivia) adds, edits and removes them
(removing after confirming), a refused form keeps what was typed; the member (tom) reads them;
an outsider (oscar of risk) gets nothing; staff (ada) may do it all. The configuration's
routes that page the team stay listed, read only."""

from __future__ import annotations

import pytest

from batchwatch.alerts.models import Route
from batchwatch.alerts.services import team_route_create
from batchwatch.audit.models import AuditEvent
from batchwatch.notify.models import Channel
from batchwatch.oncall.services import policy_save

URL = "/teams/ledger/settings/"


@pytest.fixture
def ledger_policy(team_a):
    return policy_save(slug="ledger-critical", name="Ledger critical", team=team_a, steps=[])


@pytest.fixture
def hook(team_a):
    return Channel.objects.create(name="ledger-hook", kind="log", address="h", team=team_a)


@pytest.fixture
def route(team_a, owner):
    return team_route_create(team_a, name="nightly", matchers=["job=nightly"], actor=owner)


def _post(client, user, **data):
    client.force_login(user)
    return client.post(URL, data)


def test_the_owner_adds_a_route(client, owner, team_a, ledger_policy, hook):
    response = _post(
        client, owner, action="route-add", route_name="critical",
        route_matchers='severity="critical"\n\nenv=prod', route_policy="ledger-critical",
        route_channels=[str(hook.pk)], route_group_by="alertname, job", route_group_wait="10s",
        route_repeat_interval="1h",
    )  # fmt: skip
    assert response.status_code == 302
    route = Route.objects.get(team=team_a)
    assert route.matchers == ['team="ledger"', 'severity="critical"', "env=prod"]
    assert route.escalation_policy == ledger_policy and list(route.channels.all()) == [hook]
    assert route.group_by == ["alertname", "job"] and route.group_wait.total_seconds() == 10
    page = client.get(URL).content.decode()
    assert "Route critical added" in page  # the confirmation
    assert "Edit the route critical" in page and 'value="route-delete"' in page
    assert AuditEvent.objects.filter(action="route.changed", actor=owner).count() == 1


def test_the_owner_edits_a_route(client, owner, route, ledger_policy):
    response = _post(
        client, owner, action="route-edit", route=str(route.pk), route_name="nightly",
        route_matchers="job=nightly\nseverity=page", route_policy="ledger-critical",
        route_continue="on",
    )  # fmt: skip
    assert response.status_code == 302
    route.refresh_from_db()
    assert route.matchers == ['team="ledger"', "job=nightly", "severity=page"]
    assert route.escalation_policy == ledger_policy and route.continue_matching
    assert "Route nightly saved" in client.get(URL).content.decode()


def test_removing_a_route_asks_first(client, owner, route):
    asked = _post(client, owner, action="route-delete", route=str(route.pk))
    assert asked.status_code == 200
    assert "Remove the route nightly?" in asked.content.decode()
    assert Route.objects.filter(pk=route.pk).exists()
    done = _post(client, owner, action="route-delete", route=str(route.pk), confirmed="yes")
    assert done.status_code == 302
    assert not Route.objects.filter(pk=route.pk).exists()
    assert "Route nightly removed" in client.get(URL).content.decode()


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ({"route_matchers": 'team="risk"'}, "could match another team"),
        ({"route_matchers": "severity"}, "is not a matcher"),
        ({"route_policy": "risk-default"}, "not one of Ledger&#x27;s policies"),
        ({"route_policy": "nope"}, "There is no escalation policy"),
        ({"route_channels": "abc"}, "Choose the channels"),
        ({"route_group_wait": "soon"}, "Group wait: "),
        ({"route_group_interval": "99999999999w"}, "Group interval: at most 30 days"),
        ({"route_group_by": "a-b"}, "is not a label name"),
    ],
)
def test_a_refused_form_keeps_what_was_typed(client, owner, team_b, data, sentence):
    policy_save(slug="risk-default", name="Risk default", team=team_b, steps=[])
    typed = {"route_name": "typed-name", "route_repeat_interval": "7h", **data}
    response = _post(client, owner, action="route-add", **typed)
    assert response.status_code == 400
    page = response.content.decode()
    assert sentence in page
    assert 'value="typed-name"' in page and 'value="7h"' in page
    assert '<details class="pad route-add" open>' in page
    assert not Route.objects.exists()


def test_a_refused_edit_reopens_that_routes_form(client, owner, route):
    response = _post(client, owner, action="route-edit", route=str(route.pk), route_matchers="bad")
    assert response.status_code == 400
    page = response.content.decode()
    assert '<details class="route-edit" open>' in page and ">bad</textarea>" in page
    route.refresh_from_db()
    assert route.matchers == ['team="ledger"', "job=nightly"]


def test_members_read_the_routes_and_change_none(client, teammate, route):
    client.force_login(teammate)
    page = client.get(URL).content.decode()
    assert "nightly" in page and "job=nightly" in page
    assert 'value="route-add"' not in page and 'value="route-delete"' not in page
    for action in ("route-add", "route-edit", "route-delete"):
        response = _post(client, teammate, action=action, route=str(route.pk), confirmed="yes")
        assert response.status_code == 400, action
        assert "Only the team&#x27;s owners" in response.content.decode()
    assert Route.objects.get().name == "nightly"


def test_outsiders_get_nothing(client, outsider, route):
    for action in ("route-add", "route-delete"):
        response = _post(client, outsider, action=action, route=str(route.pk), confirmed="yes")
        assert response.status_code == 403
        assert "nightly" not in response.content.decode()
    assert Route.objects.count() == 1


def test_staff_change_any_teams_routes(client, admin, route):
    response = _post(client, admin, action="route-delete", route=str(route.pk), confirmed="yes")
    assert response.status_code == 302
    assert not Route.objects.exists()


def test_another_teams_route_is_not_found_here(client, owner, admin, team_b):
    theirs = team_route_create(team_b, name="risky", actor=admin)
    for action in ("route-edit", "route-delete"):
        response = _post(client, owner, action=action, route=str(theirs.pk), confirmed="yes")
        assert response.status_code == 404, action
    assert Route.objects.get().name == "risky"


def test_the_configuration_routes_stay_read_only(client, owner, route_tree, route):
    client.force_login(owner)
    page = client.get(URL).content.decode()
    assert "Routes of the configuration that page the team" in page
    assert "<td>root</td>" in page  # the root pages through the team's policy
    assert f'name="route" value="{route_tree.pk}"' not in page  # no form for it
    assert f'name="route" value="{route.pk}"' in page
