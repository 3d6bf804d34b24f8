"""``alerts load-config`` and ``alerts simulate``: validation with paths, exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from batchwatch.alerts.loading import ConfigError, config_apply, load_document, parse_duration
from batchwatch.alerts.models import Alert, Incident, Route
from batchwatch.notify.models import Notification
from tests.alerts.conftest import T0

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture
def named_people(make_user):
    return [make_user(name, email=f"{name}@example.com") for name in ("alice", "bob", "carol")]


def test_the_example_configuration_loads(team_a, named_people, capsys):
    call_command("alerts", "load-config", str(EXAMPLES / "alerting.yaml"))
    assert "applied" in capsys.readouterr().out
    root = Route.objects.get(parent=None)
    assert root.group_by == ["alertname", "job"]
    assert [c.matchers for c in root.children.order_by("position")] == [
        ['team="ledger"'],
        ['severity=~"info|ticket"'],
    ]
    # Loading twice is idempotent (the file is the truth).
    call_command("alerts", "load-config", str(EXAMPLES / "alerting.yaml"))
    assert Route.objects.count() == 3


def test_errors_name_their_place_and_nothing_is_written(team_a, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        """
route:
  group_wait: soon
  escalation_policy: nope
  routes:
    - matchers: ['team=~"("']
    - matchers: ['team="x"']
      receiver: [missing]
      surprise: true
escalation_policies:
  - {slug: p, team: nowhere, steps: []}
"""
    )
    with pytest.raises(CommandError) as failure:
        call_command("alerts", "load-config", str(bad))
    assert failure.value.returncode == 2
    err = capsys.readouterr().err
    for fragment in (
        "route.group_wait: 'soon' is not a duration",
        "route.escalation_policy: no policy 'nope'",
        "route.routes[0].matchers",
        "route.routes[1].receiver: no channel 'missing'",
        "route.routes[1].surprise: unknown route option",
        "escalation_policies[0].team: no team 'nowhere'",
    ):
        assert fragment in err
    assert not Route.objects.exists()


def test_unreadable_files_exit_2(db, tmp_path):
    with pytest.raises(CommandError, match="no such file") as failure:
        call_command("alerts", "load-config", str(tmp_path / "missing.yaml"))
    assert failure.value.returncode == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("route: [unclosed")
    with pytest.raises(CommandError, match="not valid YAML"):
        call_command("alerts", "load-config", str(broken))


def test_check_only_writes_nothing(team_a, named_people):
    call_command("alerts", "load-config", str(EXAMPLES / "alerting.yaml"), "--check")
    assert not Route.objects.exists()


def test_the_example_simulation_passes_and_sends_nothing(team_a, capsys):
    call_command("alerts", "simulate", str(EXAMPLES / "simulate-night.yaml"))
    out = capsys.readouterr().out
    assert "PAGE" in out and "alice" in out and "bob" in out and "SUPPRESSED" in out
    assert "5 expectation(s) hold" in out
    # Rolled back: no alert, incident, route or outbox row remains.
    assert not (Alert.objects.exists() or Incident.objects.exists() or Route.objects.exists())
    assert not Notification.objects.exists()


def test_a_failing_expectation_exits_1(team_a, tmp_path, capsys):
    text = (EXAMPLES / "simulate-night.yaml").read_text()
    failing = tmp_path / "night.yaml"
    failing.write_text(text.replace("  - incidents: 1", "  - incidents: 2\n  - not_paged: alice"))
    with pytest.raises(CommandError) as failure:
        call_command("alerts", "simulate", str(failing))
    assert failure.value.returncode == 1
    err = capsys.readouterr().err
    assert "expected 2 incident(s), got 1" in err and "expected alice not to be paged" in err


def test_lineage_in_a_simulation(team_a, team_b, tmp_path, capsys):
    from batchwatch.catalog import services as catalog

    up = catalog.job_create(engine="spark", namespace="p", name="ingest", owner_team=team_a)
    down = catalog.job_create(engine="airflow", namespace="p", name="scores", owner_team=team_b)
    catalog.job_set_upstream(job=down, upstream=[up])
    file = tmp_path / "lineage.yaml"
    file.write_text(
        f"""
start: "2026-11-22T02:00:00Z"
alerts:
  - {{at: "+0s", labels: {{alertname: BatchJobFailed, kind: failed, job: "{up.key}"}}}}
  - {{at: "+20m", labels: {{alertname: BatchJobLateStart, kind: late_start, job: "{down.key}"}}}}
expect:
  - incidents: 1
  - suppressed: {{job: "{down.key}"}}
    reason: upstream
"""
    )
    call_command("alerts", "simulate", str(file))
    assert "ALERT_ATTACHED" in capsys.readouterr().out


def test_durations():
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration("2w").days == 14
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_documents_must_be_mappings():
    with pytest.raises(ConfigError):
        load_document("- a\n- b")


def test_unknown_sections_are_refused(db):
    with pytest.raises(ConfigError, match="unknown section"):
        config_apply({"routes": []}, now=T0)


def test_examples_are_shipped():
    assert shutil.os.path.exists(EXAMPLES / "alerting.yaml")
