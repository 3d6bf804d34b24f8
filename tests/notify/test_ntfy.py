"""Push pages through ntfy's publish API (the stand-in in ntfy_server.py): one message per
page, priority by urgency, a click to the incident, one-time action buttons."""

from __future__ import annotations

from datetime import timedelta

from batchwatch.notify.services import deliver, deliver_due
from tests.notify.ntfy_server import TOKEN
from tests.notify.paging import HOSTILE_JOB, T0, open_incident, page

TOPIC = "bw-alice-3f9c2e"
LINKS = {
    "acknowledge": "https://bw.example/a/7-ack-" + "a" * 32 + "/",
    "resolve": "https://bw.example/a/7-res-" + "r" * 32 + "/",
    "snooze": "https://bw.example/a/7-snz-" + "z" * 32 + "/",
}


def test_a_high_urgency_page_is_one_priority_5_push_with_action_buttons(db, ntfy, route_tree):
    incident = open_incident()
    notification = page("push", TOPIC, incident=incident, payload={"action_links": LINKS})
    assert deliver_due(now=T0) == 1
    assert deliver_due(now=T0 + timedelta(minutes=5)) == 0
    assert len(ntfy.messages) == 1
    message = ntfy.messages[0]
    assert ntfy.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"
    assert message["topic"] == TOPIC and message["priority"] == 5
    assert message["title"].startswith(f"#{incident.pk} ")
    assert message["click"].endswith(f"/incidents/{incident.pk}/")
    assert message["tags"] == ["rotating_light"]
    assert [(a["action"], a["label"], a["url"], a["method"]) for a in message["actions"]] == [
        ("http", "Acknowledge", LINKS["acknowledge"], "POST"),
        ("http", "Resolve", LINKS["resolve"], "POST"),
        ("http", "Snooze 1 h", LINKS["snooze"], "POST"),
    ]
    notification.refresh_from_db()
    assert notification.state == "delivered" and notification.provider_id == message["id"]


def test_a_low_urgency_page_is_priority_3(db, ntfy):
    page("push", TOPIC, subject="[LOW] #7 Ledger close late")
    deliver_due(now=T0)
    assert ntfy.messages[0]["priority"] == 3 and "actions" not in ntfy.messages[0]


def test_hostile_text_arrives_as_typed(db, ntfy):
    # JSON, not X- headers: commas and semicolons would split ntfy's header actions.
    page("push", TOPIC, subject="a, b; http, Evil, https://evil.example " + HOSTILE_JOB)
    deliver_due(now=T0)
    title = ntfy.messages[0]["title"]
    assert title.startswith("a, b; http, Evil, https://evil.example [Sign in]")
    assert title.isprintable()


def test_a_refused_token_fails_the_page(db, ntfy, settings):
    settings.BATCHWATCH_NTFY_TOKEN = "tk_wrong"
    notification = page("push", TOPIC)
    assert deliver(notification.pk, now=T0) == "failed"
    notification.refresh_from_db()
    assert "401" in notification.last_error and "unauthorized" in notification.last_error


def test_a_rate_limited_publish_is_retried_once_then_delivered(db, ntfy):
    ntfy.fail(429, {"code": 42901, "http": 429, "error": "limit reached"}, retry_after=10)
    notification = page("push", TOPIC)
    assert deliver(notification.pk, now=T0) == "pending"
    notification.refresh_from_db()
    assert notification.next_attempt_at == T0 + timedelta(seconds=10)
    assert deliver_due(now=T0 + timedelta(seconds=10)) == 1
    assert len(ntfy.messages) == 1 and len(ntfy.requests) == 2


def test_push_not_configured_fails_with_what_to_set(db, settings):
    settings.BATCHWATCH_NTFY_URL = ""
    notification = page("push", TOPIC)
    assert deliver(notification.pk, now=T0) == "failed"
    notification.refresh_from_db()
    assert "BATCHWATCH_NTFY_URL" in notification.last_error


def test_a_topic_with_a_path_is_refused(db, ntfy):
    notification = page("push", "../admin")
    assert deliver(notification.pk, now=T0) == "failed"
    assert ntfy.requests == []
