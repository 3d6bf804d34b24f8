"""``/api/v1/escalation-policies/<slug>/``: a policy's severity -> urgency overrides, by
persona: everyone signed in reads them; the team's owner (olivia) and staff change them; its
member (tom) and an outsider (oscar of risk) get a 403; a bad mapping is a 400 that says why."""

from __future__ import annotations

import pytest

from batchwatch.audit.models import AuditEvent
from batchwatch.oncall.models import EscalationPolicy
from batchwatch.oncall.services import policy_save

URL = "/api/v1/escalation-policies/ledger-default/"


@pytest.fixture
def policy(team_a):
    return policy_save(
        slug="ledger-default",
        name="Ledger default",
        team=team_a,
        steps=[{"target": "team_channel", "team": team_a}],
        urgency_by_severity={"warning": "high"},
    )


def _overrides() -> dict:
    return EscalationPolicy.objects.get(slug="ledger-default").urgency_by_severity


def test_everyone_signed_in_reads_the_mapping(api_as, teammate, outsider, policy):
    for persona in (teammate, outsider):
        read = api_as(persona).get(URL)
        assert read.status_code == 200
        assert read.json()["urgency_by_severity"] == {"warning": "high"}
    assert api_as().get(URL).status_code == 401


def test_members_and_outsiders_cannot_change_it(api_as, teammate, outsider, policy):
    body = {"urgency_by_severity": {"info": "high"}}
    assert api_as(teammate).patch(URL, body, format="json").status_code == 403
    assert api_as(outsider).patch(URL, body, format="json").status_code == 403
    assert _overrides() == {"warning": "high"}


def test_the_owner_changes_the_mapping_and_keeps_the_steps(api_as, owner, policy):
    changed = api_as(owner).patch(
        URL, {"urgency_by_severity": {"info": "high", "p2": "low"}}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["urgency_by_severity"] == {"info": "high", "p2": "low"}
    assert [s["target"] for s in changed.json()["steps"]] == ["team_channel"]
    policy.refresh_from_db()
    assert policy.urgency_mapping()["p2"] == "low"
    event = AuditEvent.objects.get(action="policy.changed", actor=owner)
    assert event.detail["urgency_before"] == {"warning": "high"}
    assert event.detail["urgency_after"] == {"info": "high", "p2": "low"}


def test_staff_resets_it_and_steps_alone_keep_it(api_as, admin, owner, policy):
    steps = {"steps": [{"target": "user", "user": "olivia"}]}
    assert api_as(owner).patch(URL, steps, format="json").status_code == 200
    assert _overrides() == {"warning": "high"}  # absent: kept
    reset = api_as(admin).patch(URL, {"urgency_by_severity": {}}, format="json")
    assert reset.status_code == 200 and reset.json()["urgency_by_severity"] == {}
    assert reset.json()["steps"][0]["user"] == "olivia"


@pytest.mark.parametrize(
    ("mapping", "said"),
    [
        ({"warning": "urgent"}, "is not a valid choice"),
        ({"  ": "high"}, "is not a severity"),
        ({"x" * 21: "high"}, "is not a severity"),
        (["warning"], "Expected a dictionary"),
    ],
    ids=["bad-urgency", "blank-severity", "long-severity", "a-list"],
)
def test_a_bad_mapping_is_a_400_that_says_why(api_as, owner, policy, mapping, said):
    bad = api_as(owner).patch(URL, {"urgency_by_severity": mapping}, format="json")
    assert bad.status_code == 400
    assert said in bad.content.decode()
    assert _overrides() == {"warning": "high"}
