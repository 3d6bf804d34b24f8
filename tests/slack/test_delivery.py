"""Slack delivery through the outbox: retries on 429 (Retry-After) and 5xx, permanent errors
marking the channel broken, never two messages for one notification, coalesced updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batchwatch.alerts import services as incidents
from batchwatch.notify.models import Notification
from batchwatch.notify.services import deliver, deliver_due
from batchwatch.slack.models import SlackMessage
from batchwatch.slack.services import slack_syncs_enqueue, users_link_by_email
from tests.alerts.conftest import T0, firing, receive, run_until
from tests.slack.conftest import LABELS


@pytest.fixture
def incident(incident_in_slack):
    return incident_in_slack


def _group(incident) -> Notification:
    return Notification.objects.get(incident=incident, purpose="group", transport="slack")


def test_429_waits_for_retry_after_then_posts_once(slack, incident):
    slack.fail("chat.postMessage", status=429, error="ratelimited", retry_after=7)
    at = T0 + timedelta(seconds=31)
    assert deliver(_group(incident).pk, now=at) == "pending"
    row = _group(incident)
    assert row.next_attempt_at == at + timedelta(seconds=7)
    assert "429" in row.last_error
    deliver_due(now=at + timedelta(seconds=6))
    assert _group(incident).state == "pending"  # not before Retry-After
    assert len(slack.calls_of("chat.postMessage")) == 1
    deliver_due(now=at + timedelta(seconds=7))
    assert _group(incident).state == "delivered"
    assert len(slack.top_level()) == 1


@pytest.mark.parametrize("body", [None, "<html>502 Bad Gateway</html>"])
def test_5xx_backs_off_and_retries(slack, incident, body):
    slack.fail("chat.postMessage", status=503, error="service_unavailable", body=body)
    at = T0 + timedelta(seconds=31)
    assert deliver(_group(incident).pk, now=at) == "pending"
    assert _group(incident).next_attempt_at == at + timedelta(seconds=5)  # backoff
    deliver_due(now=at + timedelta(seconds=5))
    assert _group(incident).state == "delivered"
    assert len(slack.top_level()) == 1


@pytest.mark.parametrize("error", ["channel_not_found", "invalid_auth", "not_in_channel"])
def test_permanent_errors_mark_the_channel_broken(
    client, slack, incident, slack_channel, error, people
):
    slack.fail("chat.postMessage", error=error)
    assert deliver(_group(incident).pk, now=T0 + timedelta(seconds=31)) == "failed"
    slack_channel.refresh_from_db()
    assert slack_channel.is_broken and error in slack_channel.last_error
    client.force_login(people["alice"])
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Undeliverable: channel <strong>ledger Slack</strong>" in page  # on the incident
    assert error in page
    deliver_due(now=T0 + timedelta(hours=1))
    assert len(slack.calls_of("chat.postMessage")) == 1  # not retried


def test_a_refused_message_fails_without_breaking_the_channel(slack, incident, slack_channel):
    slack.fail("chat.postMessage", error="msg_too_long")
    assert deliver(_group(incident).pk, now=T0 + timedelta(seconds=31)) == "failed"
    slack_channel.refresh_from_db()
    assert not slack_channel.is_broken


def test_a_worker_dying_after_slack_answered_does_not_post_twice(
    slack, incident, settings, monkeypatch
):
    """The post reached Slack, then the process died before recording it: the retry finds
    the message by its metadata and adopts it instead of posting again."""
    settings.BATCHWATCH_OUTBOX_LEASE_SECONDS = 0  # the dead worker's claims expire at once
    original = SlackMessage.save

    def die(self, *args, **kwargs):
        if "ts" in (kwargs.get("update_fields") or ()):  # recording Slack's answer
            raise SystemExit("worker killed")  # not an Exception: nothing of ours catches it
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SlackMessage, "save", die)
    with pytest.raises(SystemExit):
        deliver(_group(incident).pk, now=T0 + timedelta(seconds=31))
    assert len(slack.top_level()) == 1 and _group(incident).state == "sending"
    monkeypatch.setattr(SlackMessage, "save", original)

    deliver_due(now=T0 + timedelta(seconds=40))
    assert _group(incident).state == "delivered"
    assert len(slack.top_level()) == 1
    assert len(slack.calls_of("conversations.history")) == 1
    assert SlackMessage.objects.get().ts == slack.top_level()[0].ts


def test_a_burst_of_changes_gives_one_update(slack, incident, linked):
    deliver_due(now=T0 + timedelta(seconds=31))
    now = datetime.now(UTC)
    incidents.incident_acknowledge(incident=incident, now=now, actor=linked["alice"])
    incidents.incident_reassign(
        incident=incident, user=linked["bob"], now=now, actor=linked["alice"]
    )
    incidents.incident_snooze(
        incident=incident, until=now + timedelta(hours=1), now=now, actor=linked["alice"]
    )
    assert slack_syncs_enqueue(now=now) == 1
    assert slack_syncs_enqueue(now=now + timedelta(seconds=1)) == 0  # one is already waiting
    deliver_due(now=now + timedelta(seconds=1))
    assert slack.calls_of("chat.update") == []  # held for the coalescing window
    deliver_due(now=now + timedelta(seconds=3))
    assert len(slack.calls_of("chat.update")) == 1
    [message] = slack.top_level()
    assert "snoozed until" in str(message.blocks) and "<@U0BOB0001>" in str(message.blocks)
    replies = [m.text for m in slack.thread(message.ts)]
    assert len(replies) == 3  # ack, reassign, snooze: the "important" entries
    assert slack_syncs_enqueue(now=now + timedelta(seconds=4)) == 0  # up to date


def test_thread_mode_off_updates_the_message_only(slack, incident, linked, team_a):
    team_a.slack_thread_updates = "off"
    team_a.save()
    deliver_due(now=T0 + timedelta(seconds=31))
    now = datetime.now(UTC)
    incidents.incident_resolve(incident=incident, now=now, actor=linked["alice"], force=True)
    slack_syncs_enqueue(now=now)
    deliver_due(now=now + timedelta(seconds=3))
    [message] = slack.top_level()
    assert ":large_green_circle: Resolved" in str(message.blocks)
    assert slack.thread(message.ts) == []


def test_the_team_channel_is_the_default_when_the_route_has_no_slack_receiver(
    slack, linked, route_tree, team_a
):
    team_a.slack_channel = "#ledger-oncall"
    team_a.save()
    receive([firing(LABELS)], T0)
    run_until(T0 + timedelta(seconds=30), T0)
    deliver_due(now=T0 + timedelta(seconds=31))
    [message] = slack.top_level()
    assert message.channel == "C0LEDGER01"  # posted by name, recorded by ID for updates
    assert SlackMessage.objects.get().slack_channel_id == "C0LEDGER01"


def test_no_token_fails_without_breaking_the_channel(slack, incident, settings, slack_channel):
    settings.SLACK_BOT_TOKEN = ""
    assert deliver(_group(incident).pk, now=T0 + timedelta(seconds=31)) == "failed"
    slack_channel.refresh_from_db()
    assert not slack_channel.is_broken
    assert "not configured" in _group(incident).last_error


def test_link_users_by_email(slack, people):
    slack.add_user("U0ALICE01", "alice@example.com", tz="America/New_York")
    report = users_link_by_email()
    assert report.linked == ["alice"] and sorted(report.not_found) == ["bob", "carol"]
    link = people["alice"].slack_link
    assert (link.slack_user_id, link.timezone, link.source) == (
        "U0ALICE01",
        "America/New_York",
        "email",
    )
