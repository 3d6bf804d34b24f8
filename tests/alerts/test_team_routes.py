"""A team's own routes: tried before the configuration's for that team's alerts, never for
another team's (team="<slug>" is always among their matchers), with the team's own policy and
channels; config as code replaces only the configuration's routes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from batchwatch.alerts.config import load_config
from batchwatch.alerts.loading import config_apply, load_document
from batchwatch.alerts.models import Incident, Route
from batchwatch.alerts.routing import resolve
from batchwatch.alerts.services import team_route_create, team_route_delete, team_route_update
from batchwatch.audit.models import AuditEvent
from batchwatch.notify.models import Channel
from batchwatch.oncall.services import policy_save
from tests.alerts.conftest import T0, firing, receive

CONFIG = """
time_intervals:
  - name: nights
    time_intervals: [{times: [{start_time: "22:00", end_time: "23:59"}]}]
route:
  name: root
  group_by: [alertname, job]
  routes:
    - name: config-ledger
      matchers: ['team="ledger"']
"""


@pytest.fixture
def critical_policy(team_a):
    return policy_save(slug="ledger-critical", name="Ledger critical", team=team_a, steps=[])


@pytest.fixture
def risk_policy(team_b):
    return policy_save(slug="risk-default", name="Risk default", team=team_b, steps=[])


def _create(team, owner, **fields):
    return team_route_create(team, actor=owner, **fields)


def _route_of(labels: dict[str, str]):
    return resolve(load_config(T0).tree, labels)[0]


def test_a_team_route_takes_its_teams_alerts_first(route_tree, owner, team_a, critical_policy):
    config_route = Route.objects.create(
        parent=route_tree, name="config-ledger", matchers=['team="ledger"']
    )
    mine = _create(
        team_a, owner, name="critical", matchers=['severity="critical"'],
        escalation_policy=critical_policy,
    )  # fmt: skip
    assert mine.matchers == ['team="ledger"', 'severity="critical"']  # the team matcher forced
    node = _route_of({"team": "ledger", "severity": "critical", "alertname": "X"})
    assert node.id == mine.pk and node.policy_id == critical_policy.pk
    # One that matches none of the team's routes goes on to the configuration's.
    assert _route_of({"team": "ledger", "severity": "warning"}).id == config_route.pk
    receive([firing({"alertname": "X", "job": "j", "team": "ledger", "severity": "critical"})], T0)
    incident = Incident.objects.get()
    assert incident.route_id == mine.pk and incident.team == team_a


def test_another_teams_alert_never_matches_it(route_tree, owner, team_a):
    _create(team_a, owner, matchers=[])  # every alert of ledger's, and only those
    assert _route_of({"team": "risk", "severity": "critical"}).id == route_tree.pk
    assert _route_of({"severity": "critical"}).id == route_tree.pk
    assert _route_of({"team": "ledger"}).id != route_tree.pk


def test_without_a_configuration_the_team_routes_hang_off_the_default_root(owner, team_a):
    mine = _create(team_a, owner, matchers=['severity="critical"'])
    assert _route_of({"team": "ledger", "severity": "critical"}).id == mine.pk
    assert _route_of({"team": "risk", "severity": "critical"}).id is None  # the default


def test_team_routes_keep_their_order(route_tree, owner, team_a):
    first = _create(team_a, owner, name="first", matchers=['severity=~"crit.*"'])
    second = _create(team_a, owner, name="second", matchers=['severity="critical"'])
    assert (first.position, second.position) == (0, 1)
    assert _route_of({"team": "ledger", "severity": "critical"}).id == first.pk


@pytest.mark.parametrize(
    "matchers",
    [['team="risk"'], ['team!="risk"'], ['team=~"ledger|risk"'], ['team=~".*"']],
)
def test_a_matcher_naming_another_team_is_refused(owner, team_a, matchers):
    with pytest.raises(ValidationError, match="another team"):
        _create(team_a, owner, matchers=matchers)
    assert not Route.objects.exists()


def test_the_teams_own_matcher_is_kept_once(owner, team_a):
    route = _create(team_a, owner, matchers=['team="ledger"', "severity=critical"])
    assert route.matchers == ['team="ledger"', "severity=critical"]


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({"matchers": ["severity"]}, "is not a matcher"),
        ({"matchers": ['job=~"("']}, "regular expression is invalid"),
        ({"matchers": ['job=~"a{99999999999}"']}, "regular expression is invalid"),
        ({"group_by": ["not a label"]}, "is not a label name"),
        ({"group_wait": timedelta(seconds=-1)}, "group wait is between"),
        ({"repeat_interval": timedelta(days=31)}, "repeat interval is between"),
        ({"name": "x" * 201}, "at most 200"),
        ({"mute_time_intervals": ["nowhere"]}, "no time interval 'nowhere'"),
    ],
)
def test_bad_values_are_refused_with_a_sentence(owner, team_a, fields, sentence):
    with pytest.raises(ValidationError, match=sentence):
        _create(team_a, owner, **fields)


def test_the_policy_and_channels_must_be_the_teams(owner, team_a, team_b, risk_policy):
    with pytest.raises(ValidationError, match="not one of Ledger's policies"):
        _create(team_a, owner, escalation_policy=risk_policy)
    theirs = Channel.objects.create(name="risk-hook", kind="log", address="r", team=team_b)
    with pytest.raises(ValidationError, match="not one of Ledger's channels"):
        _create(team_a, owner, channels=[theirs])
    nobodys = Channel.objects.create(name="ops", kind="log", address="o")
    with pytest.raises(ValidationError, match="not one of Ledger's channels"):
        _create(team_a, owner, channels=[nobodys])


def test_only_owners_and_staff_change_routes(owner, teammate, outsider, admin, team_a):
    for person in (teammate, outsider, None):
        with pytest.raises(PermissionDenied):
            _create(team_a, person)
    route = _create(team_a, admin, name="by staff")
    with pytest.raises(PermissionDenied):
        team_route_delete(route, actor=teammate)
    team_route_delete(route, actor=owner)
    assert not Route.objects.exists()


def test_changes_are_audited(owner, team_a, critical_policy, receiver):
    route = _create(team_a, owner, name="r", matchers=["severity=critical"])
    team_route_update(
        route, name="r2", matchers=["severity=warning"], escalation_policy=critical_policy,
        channels=[receiver], group_by=["alertname"], group_wait=timedelta(seconds=10),
        group_interval=None, repeat_interval=timedelta(hours=1), continue_matching=True,
        mute_time_intervals=[], active_time_intervals=[], actor=owner,
    )  # fmt: skip
    route.refresh_from_db()
    assert route.name == "r2" and route.continue_matching and route.group_by == ["alertname"]
    assert list(route.channels.all()) == [receiver]
    team_route_delete(route, actor=owner)
    events = AuditEvent.objects.filter(action=AuditEvent.Action.ROUTE_CHANGED).order_by("id")
    assert [e.detail["change"] for e in events] == ["created", "updated", "deleted"]
    assert all(e.team == team_a and e.actor == owner for e in events)
    assert events[1].detail["escalation_policy"] == "ledger-critical"


def test_a_config_route_is_not_changed_here(route_tree, admin):
    with pytest.raises(ValidationError, match="configuration's"):
        team_route_delete(route_tree, actor=admin)


def test_a_config_reload_keeps_team_routes_and_their_effect(owner, team_a, critical_policy):
    config_apply(load_document(CONFIG), now=T0)
    mine = _create(
        team_a, owner, matchers=['severity="critical"'], escalation_policy=critical_policy,
        mute_time_intervals=["nights"],
    )  # fmt: skip
    counts = config_apply(load_document(CONFIG), now=T0)
    assert counts["routes"] == 2  # the configuration's: root and config-ledger
    mine.refresh_from_db()
    assert [i.name for i in mine.mute_time_intervals.all()] == ["nights"]  # linked again
    assert Route.objects.filter(team=team_a).count() == 1
    node = _route_of({"team": "ledger", "severity": "critical"})
    assert node.id == mine.pk and node.policy_id == critical_policy.pk
    assert [name for name, _ in node.mute] == ["nights"]
    assert _route_of({"team": "ledger", "severity": "info"}).name == "config-ledger"
    # An interval the file no longer has is dropped from the team's route, not an error.
    config_apply(load_document(CONFIG.replace("nights", "days")), now=T0)
    assert not mine.mute_time_intervals.exists()
    assert _route_of({"team": "ledger", "severity": "critical"}).id == mine.pk
