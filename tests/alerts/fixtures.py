"""Fixtures for alerting tests (a plugin of tests/conftest.py, so pages tests share them)."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from batchwatch.alerts.models import Route
from batchwatch.notify.models import Channel
from batchwatch.oncall.models import EscalationStep, Rotation
from batchwatch.oncall.services import layer_save, policy_save


@pytest.fixture
def people(make_user, team_a):
    from batchwatch.catalog import services
    from batchwatch.catalog.models import Membership

    users = {}
    for name in ("alice", "bob", "carol"):
        users[name] = make_user(name, email=f"{name}@example.com")
        services.membership_set(team=team_a, user=users[name], role=Membership.Role.MEMBER)
    return users


@pytest.fixture
def rotation(team_a, people):
    rotation = Rotation.objects.create(
        slug="ledger-primary", name="Ledger primary", team=team_a, timezone="America/New_York"
    )
    layer_save(
        rotation=rotation,
        participants=[people["alice"], people["carol"]],
        start_date=date(2026, 11, 2),
        handoff_time=time(9, 0),
        turn_length=timedelta(days=7),
    )
    return rotation  # alice is on call the week of 2026-11-16 09:00 to 11-23 09:00 NY


@pytest.fixture
def policy(team_a, rotation, people):
    return policy_save(
        slug="ledger-default",
        name="Ledger default",
        team=team_a,
        is_team_default=True,
        steps=[
            {
                "target": EscalationStep.Target.ROTATION,
                "rotation": rotation,
                "wait": timedelta(minutes=5),
            },
            {
                "target": EscalationStep.Target.USER,
                "user": people["bob"],
                "wait": timedelta(minutes=10),
            },
        ],
    )


@pytest.fixture
def receiver(team_a):
    return Channel.objects.create(
        name="ledger-hook", kind=Channel.Kind.LOG, address="ledger-hook", team=team_a
    )


@pytest.fixture
def route_tree(policy, receiver):
    """Root (group by alertname, job; waits of 30 s / 5 min / 4 h) paging the policy."""
    root = Route.objects.create(
        name="root",
        group_by=["alertname", "job"],
        group_wait=timedelta(seconds=30),
        group_interval=timedelta(minutes=5),
        repeat_interval=timedelta(hours=4),
        escalation_policy=policy,
    )
    root.channels.add(receiver)
    return root
