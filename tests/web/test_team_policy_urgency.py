"""The team settings page: owners edit a policy's severity -> urgency overrides (a row each)
with its steps; a refused form keeps what was typed; members and outsiders change nothing."""

from __future__ import annotations

import pytest

from batchwatch.audit.models import AuditEvent
from batchwatch.oncall.services import policy_save

URL = "/teams/ledger/settings/"


@pytest.fixture
def policy(team_a):
    return policy_save(
        slug="ledger-default",
        name="Ledger default",
        team=team_a,
        steps=[{"target": "team_channel", "team": team_a}],
        urgency_by_severity={"warning": "high"},
    )


def _form(**rows: str) -> dict[str, str]:
    return {
        "action": "policy-steps",
        "policy": "ledger-default",
        "step-0-target": "team_channel",
        "step-0-whom": "team:ledger",
        "step-0-wait": "5",
        "policy_repeat": "0",
        **rows,
    }


def _post(client, user, data):
    client.force_login(user)
    return client.post(URL, data)


def test_the_owner_sees_the_overrides_and_changes_them(client, owner, policy):
    client.force_login(owner)
    page = client.get(URL).content.decode()
    assert 'name="urgency-0-severity"' in page and 'value="warning"' in page
    assert 'name="urgency-2-severity"' in page  # two empty rows to add some
    response = _post(
        client,
        owner,
        _form(
            **{
                "urgency-0-severity": "",  # emptied: the override is dropped
                "urgency-0-urgency": "high",
                "urgency-1-severity": " Info ",
                "urgency-1-urgency": "high",
                "urgency-2-severity": "p2",
                "urgency-2-urgency": "low",
            }
        ),
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.urgency_by_severity == {"info": "high", "p2": "low"}
    assert policy.urgency_mapping()["p2"] == "low"
    assert policy.steps.get().target == "team_channel"
    event = AuditEvent.objects.get(action="policy.changed", actor=owner)
    assert event.detail["urgency_after"] == {"info": "high", "p2": "low"}


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        (
            {"urgency-0-severity": "info", "urgency-0-urgency": "urgent"},
            "urgency is high or low, not &#x27;urgent&#x27;",
        ),
        (
            {"urgency-0-severity": "x" * 21, "urgency-0-urgency": "high"},
            "is not a severity (1 to 20 characters)",
        ),
        (
            {
                "urgency-0-severity": "info",
                "urgency-0-urgency": "high",
                "urgency-1-severity": "INFO",
                "urgency-1-urgency": "low",
            },
            "is in two rows",
        ),
    ],
    ids=["bad-urgency", "long-severity", "twice"],
)
def test_a_refused_mapping_keeps_the_input_and_changes_nothing(client, owner, policy, rows, said):
    response = _post(client, owner, _form(**rows))
    assert response.status_code == 400
    page = response.content.decode()
    assert said in page, page
    assert f'value="{rows["urgency-0-severity"]}"' in page and "<details" in page
    policy.refresh_from_db()
    assert policy.urgency_by_severity == {"warning": "high"}


def test_members_and_outsiders_do_not_change_it(client, teammate, outsider, policy):
    client.force_login(teammate)
    page = client.get(URL).content.decode()
    assert 'name="urgency-0-severity"' not in page
    assert "urgency: warning → high" in page  # read only
    data = _form(**{"urgency-0-severity": "info", "urgency-0-urgency": "high"})
    assert _post(client, teammate, data).status_code == 400
    assert _post(client, outsider, data).status_code == 403
    policy.refresh_from_db()
    assert policy.urgency_by_severity == {"warning": "high"}


def test_staff_change_it_on_any_team(client, admin, policy):
    data = _form(**{"urgency-0-severity": "info", "urgency-0-urgency": "low"})
    assert _post(client, admin, data).status_code == 302
    policy.refresh_from_db()
    assert policy.urgency_by_severity == {"info": "low"}
