"""The team's own channel comes from whichever app registered a resolver (Slack, at start-up):
alerts itself never imports Slack."""

from __future__ import annotations

from batchwatch.alerts import team_channels
from batchwatch.slack.services import team_default_channel


def test_the_slack_app_registers_its_team_channel_at_start_up():
    assert team_channels._resolver is team_default_channel


def test_without_a_resolver_a_team_has_no_channel_of_its_own(monkeypatch):
    monkeypatch.setattr(team_channels, "_resolver", None)
    assert team_channels.team_default_channel(None) is None


def test_the_registered_resolver_answers(monkeypatch):
    monkeypatch.setattr(team_channels, "_resolver", None)
    answer = object()
    team_channels.register(lambda team: answer)
    assert team_channels.team_default_channel(None) is answer
