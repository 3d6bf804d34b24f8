"""Microsoft Teams pages: an Adaptive Card posted to a channel's Workflows webhook (the
stand-in in teams_server.py)."""

from __future__ import annotations

from datetime import timedelta

from batchwatch.notify.models import Channel
from batchwatch.notify.services import deliver, deliver_due
from batchwatch.notify.transports.teams import escape
from tests.notify.paging import HOSTILE_JOB, T0, open_incident, page


def channel_for(url: str) -> Channel:
    return Channel.objects.create(name="ledger Teams", kind="teams", address=url)


def test_a_page_is_one_adaptive_card_with_the_incident_and_its_links(db, teams, route_tree):
    incident = open_incident()
    channel = channel_for(teams.flow_url())
    page("teams", channel.address, channel=channel, incident=incident)
    assert deliver_due(now=T0) == 1
    assert deliver_due(now=T0 + timedelta(minutes=5)) == 0
    assert len(teams.cards) == 1
    card = teams.cards[0]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"].startswith(f"#{incident.pk} ")
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["State"] == "triggered" and facts["Urgency"] == "high"
    assert facts["Jobs"] == "airflow/ledger/nightly"
    actions = {a["title"]: a["url"] for a in card["actions"]}
    assert {a["type"] for a in card["actions"]} == {"Action.OpenUrl"}
    assert actions["Open incident"].endswith(f"/incidents/{incident.pk}/")
    assert f"/runbooks/for/?incident={incident.pk}" in actions["Runbook"]


def test_a_hostile_job_name_shows_as_typed(db, teams, route_tree):
    incident = open_incident(job=HOSTILE_JOB)
    channel = channel_for(teams.flow_url())
    page("teams", channel.address, channel=channel, incident=incident, body=HOSTILE_JOB)
    deliver_due(now=T0)
    card = teams.cards[0]
    texts = [card["body"][0]["text"], card["body"][2]["text"]] + [
        f["value"] for f in card["body"][1]["facts"]
    ]
    for text in texts:
        assert "[Sign in](" not in text and "**now**" not in text and "<at>" not in text
        assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    jobs = next(f["value"] for f in card["body"][1]["facts"] if f["title"] == "Jobs")
    assert jobs.startswith(r"\[Sign in\]\(https://evil.example/login\) \<at\>everyone")
    assert all("evil.example" not in a["url"] for a in card["actions"])


def test_escaping_covers_links_emphasis_code_and_list_markers():
    assert escape("[a](http://x)") == r"\[a\]\(http://x\)"
    assert escape("*b* _i_ `c` ~s~ | t") == r"\*b\* \_i\_ \`c\` \~s\~ \| t"
    assert escape("- item") == r"\- item" and escape("1. first") == r"1\. first"
    assert escape("#7 ledger-close v1.2") == "#7 ledger-close v1.2"


def test_a_deleted_workflow_fails_and_marks_the_channel_broken(db, teams):
    channel = channel_for(teams.flow_url("gone"))
    notification = page("teams", channel.address, channel=channel)
    assert deliver(notification.pk, now=T0) == "failed"
    channel.refresh_from_db()
    assert channel.is_broken and "404" in channel.last_error


def test_a_card_too_large_fails_without_breaking_the_channel(db, teams):
    teams.fail(413, {"error": {"code": "MessageTooLarge"}})
    channel = channel_for(teams.flow_url())
    notification = page("teams", channel.address, channel=channel)
    assert deliver(notification.pk, now=T0) == "failed"
    channel.refresh_from_db()
    assert not channel.is_broken


def test_throttling_is_retried_then_the_card_is_posted_once(db, teams):
    teams.fail(429, b"", retry_after=20)
    teams.fail(502, b"")
    channel = channel_for(teams.flow_url())
    notification = page("teams", channel.address, channel=channel)
    assert deliver(notification.pk, now=T0) == "pending"
    notification.refresh_from_db()
    assert notification.next_attempt_at == T0 + timedelta(seconds=20)
    assert deliver(notification.pk, now=T0 + timedelta(seconds=20)) == "pending"
    assert deliver_due(now=T0 + timedelta(seconds=40)) == 1
    assert len(teams.cards) == 1 and len(teams.requests) == 3


def test_a_workflow_url_on_the_private_network_is_refused(db, teams, settings):
    settings.PRODUCTION = True  # loopback is allowed outside production only
    channel = channel_for(teams.flow_url())
    notification = page("teams", channel.address, channel=channel)
    assert deliver(notification.pk, now=T0) == "failed"
    channel.refresh_from_db()
    assert channel.is_broken and "loopback" in channel.last_error
    assert teams.requests == []
