"""``alerts load-config``: a policy's ``urgency_by_severity`` is loaded, and refused by the
model's own rule at the path of the bad node, writing nothing."""

from __future__ import annotations

import textwrap

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from batchwatch.oncall.models import EscalationPolicy
from batchwatch.oncall.services import policy_save

POLICY = """
escalation_policies:
  - slug: ledger-default
    team: ledger
    {urgency}
    steps:
      - {{notify: team_channel, team: ledger}}
"""


def _write(tmp_path, urgency: str):
    path = tmp_path / "alerting.yaml"
    path.write_text(textwrap.dedent(POLICY.format(urgency=urgency)), encoding="utf-8")
    return path


def _load_fails(path, capsys) -> list[str]:
    with pytest.raises(CommandError) as failure:
        call_command("alerts", "load-config", str(path))
    assert failure.value.returncode == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line.removeprefix(f"{path}: ") for line in err.splitlines()]


def test_the_mapping_is_loaded_and_followed(team_a, tmp_path):
    path = _write(tmp_path, "urgency_by_severity: {warning: high, p2: low}")
    call_command("alerts", "load-config", str(path))
    policy = EscalationPolicy.objects.get(slug="ledger-default")
    assert policy.urgency_by_severity == {"warning": "high", "p2": "low"}
    assert policy.urgency_mapping()["warning"] == "high"
    assert policy.urgency_mapping()["p2"] == "low"
    assert policy.urgency_mapping()["critical"] == "high"  # a default kept


def test_a_policy_without_the_mapping_has_the_defaults(team_a, tmp_path):
    # The file is the policy's truth: overrides it no longer names are gone.
    policy_save(
        slug="ledger-default",
        name="Ledger",
        team=team_a,
        steps=[{"target": "team_channel", "team": team_a}],
        urgency_by_severity={"warning": "high"},
    )
    call_command("alerts", "load-config", str(_write(tmp_path, "")))
    assert EscalationPolicy.objects.get(slug="ledger-default").urgency_by_severity == {}


@pytest.mark.parametrize(
    ("urgency", "expected"),
    [
        (
            "urgency_by_severity: {warning: urgent}",
            "escalation_policies[0].urgency_by_severity.warning: Severity 'warning': "
            "urgency is high or low, not 'urgent'.",
        ),
        (
            "urgency_by_severity: {'  ': high}",
            "escalation_policies[0].urgency_by_severity.  : '  ' is not a severity",
        ),
        (
            "urgency_by_severity: [warning]",
            "escalation_policies[0].urgency_by_severity (line 5): expected a mapping of "
            "severity to urgency (high or low), found a list",
        ),
        (
            "urgency_by_severity: {warning: [high]}",
            "escalation_policies[0].urgency_by_severity.warning (line 5): expected a text",
        ),
    ],
    ids=["bad-urgency", "blank-severity", "a-list", "a-list-value"],
)
def test_a_bad_mapping_is_refused_at_its_node(team_a, tmp_path, capsys, urgency, expected):
    errors = _load_fails(_write(tmp_path, urgency), capsys)
    assert any(line.startswith(expected) for line in errors), errors
    assert len(errors) == 1, errors  # one problem, said once
    assert not EscalationPolicy.objects.exists()
