"""The /batchwatch slash command, signed as Slack sends it; answers are ephemeral JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from batchwatch.alerts.models import Silence
from batchwatch.catalog.models import Job
from batchwatch.slack.interactions import tomorrow_at_nine
from tests.slack.conftest import post_command


def _text(client, slack, text, user="alice") -> str:
    response = post_command(client, slack, user=user, text=text)
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    return body["text"]


def test_help_needs_no_link(client, slack):
    for text in ("", "help"):
        assert "/batchwatch oncall [team]" in _text(client, slack, text, user="eve")


def test_oncall_lists_each_rotation(client, slack, linked, rotation):
    answer = _text(client, slack, "oncall")
    assert "Ledger" in answer and "Ledger primary" in answer
    assert _text(client, slack, "oncall nosuchteam").startswith("No team `nosuchteam`")


def test_incidents_lists_open_ones(client, slack, incident):
    answer = _text(client, slack, "incidents ledger")
    assert f"#{incident.pk}" in answer and "triggered" in answer
    assert "No open incidents" in _text(client, slack, "incidents risk")


def test_ack_and_resolve(client, slack, incident):
    assert "acknowledged; escalation stopped" in _text(client, slack, f"ack #{incident.pk}")
    incident.refresh_from_db()
    assert incident.state == "acknowledged" and incident.acknowledged_by.username == "alice"
    assert "nothing to acknowledge" in _text(client, slack, f"ack {incident.pk}")
    # Its alert still fires: resolving asks for force (the alert then resolves too).
    assert "1 alert(s) still firing" in _text(client, slack, f"resolve {incident.pk}")
    incident.refresh_from_db()
    assert incident.state == "acknowledged"
    assert "resolved" in _text(client, slack, f"resolve {incident.pk} force")
    incident.refresh_from_db()
    assert incident.state == "resolved"
    assert "No incident 999" in _text(client, slack, "ack 999")
    assert "Usage" in _text(client, slack, "ack")


def test_silence_a_job(client, slack, linked, team_a):
    Job.objects.create(engine="airflow", namespace="ledger", name="nightly", owner_team=team_a)
    key = Job.objects.get().key
    answer = _text(client, slack, f'silence {key} 2h "backfill running"')
    assert answer.startswith(f"Silenced `{key}` until")
    silence = Silence.objects.get()
    # confined to the job's team (issue 17): a member silences only their teams' alerts
    assert silence.matchers == [f'job="{key}"', 'team="ledger"']
    assert silence.created_by == linked["alice"]
    assert silence.ends_at - silence.starts_at == timedelta(hours=2)
    assert "not a duration" in _text(client, slack, f"silence {key} soon backfill")
    assert "No job `nope`" in _text(client, slack, "silence nope 1h x")
    assert "Usage" in _text(client, slack, f"silence {key}")
    assert Silence.objects.count() == 1


def test_unknown_subcommand_shows_help(client, slack, linked):
    assert "Unknown subcommand `dance`" in _text(client, slack, "dance")


def test_snooze_until_nine_tomorrow_in_the_users_zone():
    now = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)  # 22:00 on the 21st in New York
    assert tomorrow_at_nine(now, "America/New_York") == datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
    assert tomorrow_at_nine(now, "Asia/Tokyo") == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    assert tomorrow_at_nine(now, "") == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
