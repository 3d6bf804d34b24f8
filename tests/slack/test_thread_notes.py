"""Thread replies under an incident's Slack message become notes (Events API, signed)."""

from __future__ import annotations

import json

import pytest

from batchwatch.alerts.models import TimelineEntry
from batchwatch.alerts.services import incident_note_add
from batchwatch.slack.models import SlackMessage, SlackThreadNote
from batchwatch.slack.selectors import thread_entries
from tests.alerts.conftest import T0
from tests.slack.conftest import TEAM, sign, slack_id

CHANNEL = "C0LEDGER01"
THREAD = "1700000000.000100"


@pytest.fixture
def message(incident):
    return SlackMessage.objects.create(
        incident=incident, address=CHANNEL, slack_channel_id=CHANNEL, ts=THREAD, posted_at=T0
    )


def post_event(client, body: str, **extra):
    return client.post(
        "/slack/events/", data=body, content_type="application/json", **sign(body), **extra
    )


def event_body(*, user="alice", text="Restarted the loader", ts="1700000100.000200", **event):
    message = {
        "type": "message",
        "channel": CHANNEL,
        "user": slack_id(user),
        "text": text,
        "ts": ts,
        "thread_ts": THREAD,
        "channel_type": "channel",
        **event,
    }
    return json.dumps(
        {
            "token": "deprecated-verification-token",
            "team_id": TEAM,
            "api_app_id": "A0BATCHW01",
            "type": "event_callback",
            "event_id": f"Ev{ts.replace('.', '')}",
            "event_time": 1700000100,
            "event": message,
        }
    )


def notes(incident):
    return list(incident.timeline.filter(kind=TimelineEntry.Kind.NOTE).order_by("id"))


def test_url_verification_answers_the_challenge(client, slack):
    body = json.dumps(
        {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV", "type": "url_verification"}
    )
    response = post_event(client, body)
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV"}


def test_a_members_reply_becomes_a_note_once_despite_retries(client, slack, message):
    body = event_body()
    assert post_event(client, body).status_code == 200
    # Slack redelivers the same event (it did not see our answer in time): no second note.
    retry = post_event(
        client, body, HTTP_X_SLACK_RETRY_NUM="1", HTTP_X_SLACK_RETRY_REASON="http_timeout"
    )
    assert retry.status_code == 200
    [note] = notes(message.incident)
    assert note.message == "Restarted the loader"
    assert note.actor.username == "alice" and note.actor_label == "alice (Slack)"
    assert note.data == {"source": "slack"}
    assert SlackThreadNote.objects.get().entry == note


def broadcast_body(**event) -> str:
    """A reply also sent to the channel, as Slack's Events API delivers it: the message subtype
    ``thread_broadcast``, with the thread's first message as ``root``."""
    body = json.loads(event_body(subtype="thread_broadcast", **event))
    body["event"]["root"] = {
        "type": "message",
        "user": "U0BATCHW01",
        "text": "Incident opened",
        "ts": THREAD,
        "thread_ts": THREAD,
        "reply_count": 1,
    }
    return json.dumps(body)


def test_a_reply_also_sent_to_the_channel_becomes_a_note_once(client, slack, message):
    body = broadcast_body(text="Rerunning the close, also told the channel")
    assert post_event(client, body).status_code == 200
    retry = post_event(
        client, body, HTTP_X_SLACK_RETRY_NUM="1", HTTP_X_SLACK_RETRY_REASON="http_timeout"
    )
    assert retry.status_code == 200
    [note] = notes(message.incident)
    assert note.message == "Rerunning the close, also told the channel"
    assert note.actor.username == "alice" and note.actor_label == "alice (Slack)"
    assert note.data == {"source": "slack"}
    assert SlackThreadNote.objects.get().entry == note


def test_a_reply_and_its_broadcast_make_one_note(client, slack, message):
    # (the same message, ts and all, once as a reply and once broadcast: one note)
    assert post_event(client, event_body()).status_code == 200
    assert post_event(client, broadcast_body()).status_code == 200
    assert [n.message for n in notes(message.incident)] == ["Restarted the loader"]


def test_a_broadcast_reply_from_an_outsider_is_ignored(client, slack, message):
    assert post_event(client, broadcast_body(user="mallory")).status_code == 200
    assert notes(message.incident) == []


def test_an_unlinked_users_reply_is_labelled(client, slack, message):
    body = event_body(user="eve", user_profile={"display_name": "Eve S", "real_name": "Eve"})
    assert post_event(client, body).status_code == 200
    [note] = notes(message.incident)
    assert note.actor is None and note.actor_label == "Slack user Eve S"


def test_an_outsiders_reply_is_ignored(client, slack, message, caplog):
    with caplog.at_level("INFO", logger="batchwatch.slack"):
        assert post_event(client, event_body(user="mallory")).status_code == 200
    assert notes(message.incident) == []
    assert any(r.message == "slack.thread_note_ignored" for r in caplog.records)


@pytest.mark.parametrize(
    "event",
    [
        {"bot_id": "B0BATCHW01", "subtype": "bot_message"},  # our own thread replies
        {"bot_id": "B0OTHER001"},
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"subtype": ["thread_broadcast"]},  # not a subtype at all
        {"subtype": "thread_broadcast", "bot_id": "B0BATCHW01"},  # a bot's, broadcast
        {"subtype": "thread_broadcast", "bot_profile": {"name": "other"}},
        {"subtype": "thread_broadcast", "thread_ts": "1600000000.000001"},
        {"subtype": "thread_broadcast", "ts": THREAD},
        {"thread_ts": None},  # not in a thread
        {"ts": THREAD},  # the thread's parent itself
        {"thread_ts": "1600000000.000001"},  # another message's thread
        {"channel": "C0OTHER001"},
        {"text": "   "},  # nothing to note
    ],
)
def test_what_is_not_a_person_replying_in_an_incident_thread_is_ignored(
    client, slack, message, event
):
    body = json.loads(event_body())
    body["event"].update(event)
    body["event"] = {k: v for k, v in body["event"].items() if v is not None}
    assert post_event(client, json.dumps(body)).status_code == 200
    assert notes(message.incident) == []


def test_other_events_are_accepted_and_ignored(client, slack, message):
    for body in (
        {"type": "event_callback", "event": {"type": "reaction_added", "user": "U1"}},
        {"type": "app_rate_limited", "minute_rate_limited": 1518467820},
    ):
        assert post_event(client, json.dumps(body)).status_code == 200
    assert notes(message.incident) == []


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[1, 2]",
        '"text"',
        "\xff",
        '{"type": "url_verification"}',
        '{"type": "url_verification", "challenge": 5}',
        '{"type": "event_callback"}',
        '{"type": "event_callback", "event": []}',
        '{"type": "event_callback", "event": {"type": "message", "ts": "2.0", "thread_ts": "1.0"}}',
        '{"type": "event_callback", "event": {"type": "message", "ts": 2, "thread_ts": {}}}',
    ],
)
def test_bad_bodies_get_a_4xx_with_a_message(client, slack, message, body):
    response = post_event(client, body)
    assert 400 <= response.status_code < 500 or response.status_code == 200
    if response.status_code != 200:
        assert response.json()["error"]


def test_unsigned_forged_and_stale_requests_are_refused(client, slack, message):
    body = event_body()
    assert (
        client.post("/slack/events/", data=body, content_type="application/json").status_code == 401
    )
    forged = sign(body, secret="not-the-secret")
    response = client.post("/slack/events/", data=body, content_type="application/json", **forged)
    assert response.status_code == 401 and "Invalid X-Slack-Signature" in response.json()["error"]
    stale = sign(body, timestamp=1_000_000_000)
    response = client.post("/slack/events/", data=body, content_type="application/json", **stale)
    assert response.status_code == 401
    assert notes(message.incident) == []


def test_a_note_from_the_thread_is_not_threaded_back(client, slack, message):
    assert post_event(client, event_body()).status_code == 200
    web = incident_note_add(message.incident, author=None, text="From the web", now=T0)
    assert [e.message for e in thread_entries(message, "all") if e.kind == "note"] == [web.message]
