"""Forwarding to PagerDuty's Events API v2 (the stand-in in pagerduty_server.py): one alert
per incident by its dedup key, acknowledge and resolve following the incident."""

from __future__ import annotations

from datetime import timedelta

from batchwatch.alerts.services import incident_acknowledge, incident_resolve
from batchwatch.notify.models import Channel
from batchwatch.notify.services import deliver, deliver_due
from tests.notify.pagerduty_server import ROUTING_KEY
from tests.notify.paging import T0, open_incident, page


def forward() -> Channel:
    return Channel.objects.create(name="ledger PD", kind="pagerduty", address=ROUTING_KEY)


def test_a_page_triggers_one_alert_keyed_by_the_incident(db, pagerduty, route_tree):
    incident = open_incident()
    channel = forward()
    notification = page("pagerduty", ROUTING_KEY, channel=channel, incident=incident)
    assert deliver_due(now=T0) == 1
    assert deliver_due(now=T0 + timedelta(minutes=5)) == 0
    key = f"batchwatch-incident-{incident.pk}"
    assert list(pagerduty.alerts) == [key]
    event = pagerduty.alerts[key].events[0]
    assert event["event_action"] == "trigger" and event["routing_key"] == ROUTING_KEY
    assert event["payload"]["summary"].startswith(f"#{incident.pk} ")
    assert event["payload"]["severity"] == "critical"  # high urgency, no severity label
    assert event["payload"]["source"] == "airflow/ledger/nightly"
    assert event["payload"]["custom_details"]["incident"] == incident.pk
    assert event["links"][0]["href"].endswith(f"/incidents/{incident.pk}/")
    notification.refresh_from_db()
    assert notification.state == "delivered" and notification.provider_id == key


def test_a_retried_trigger_is_one_alert_at_pagerduty(db, pagerduty, route_tree):
    # A trigger that reached PagerDuty but whose answer was lost (a 502 from a proxy after
    # the event was taken) is sent again: the same dedup key makes it the same alert.
    incident = open_incident()
    channel = forward()
    first = page("pagerduty", ROUTING_KEY, channel=channel, incident=incident, key="p1")
    second = page("pagerduty", ROUTING_KEY, channel=channel, incident=incident, key="p2")
    assert deliver(first.pk, now=T0) == "delivered"
    pagerduty.fail(502, b"Bad Gateway")
    assert deliver(second.pk, now=T0) == "pending"
    assert deliver_due(now=T0 + timedelta(seconds=5)) == 1
    assert len(pagerduty.alerts) == 1
    assert len(pagerduty.alerts[f"batchwatch-incident-{incident.pk}"].events) == 2


def test_acknowledge_and_resolve_follow_the_incident(db, pagerduty, route_tree, people):
    incident = open_incident()
    channel = forward()
    page("pagerduty", ROUTING_KEY, channel=channel, incident=incident, key="trigger")
    deliver_due(now=T0)
    incident_acknowledge(incident, now=T0 + timedelta(minutes=1), actor=people["alice"])
    page("pagerduty", ROUTING_KEY, channel=channel, incident=incident, key="ack")
    deliver_due(now=T0 + timedelta(minutes=1))
    alert = pagerduty.alerts[f"batchwatch-incident-{incident.pk}"]
    assert alert.state == "acknowledged"
    assert alert.events[-1] == {
        "routing_key": ROUTING_KEY,
        "event_action": "acknowledge",
        "dedup_key": f"batchwatch-incident-{incident.pk}",
    }
    incident_resolve(incident, now=T0 + timedelta(minutes=2), actor=people["alice"], force=True)
    page("pagerduty", ROUTING_KEY, channel=channel, incident=incident, key="resolve")
    deliver_due(now=T0 + timedelta(minutes=2))
    assert alert.state == "resolved" and len(pagerduty.alerts) == 1


def test_an_invalid_routing_key_fails_and_marks_the_channel_broken(db, pagerduty):
    channel = Channel.objects.create(name="PD", kind="pagerduty", address="too-short")
    notification = page("pagerduty", channel.address, channel=channel)
    assert deliver(notification.pk, now=T0) == "failed"
    channel.refresh_from_db()
    assert channel.is_broken and "routing_key" in channel.last_error
    assert pagerduty.alerts == {}


def test_rate_limiting_is_retried_after_what_pagerduty_says(db, pagerduty):
    pagerduty.fail(429, {"status": "throttle event", "message": "Too many"}, retry_after=60)
    channel = forward()
    notification = page("pagerduty", ROUTING_KEY, channel=channel)
    assert deliver(notification.pk, now=T0) == "pending"
    notification.refresh_from_db()
    assert notification.next_attempt_at == T0 + timedelta(seconds=60)
    channel.refresh_from_db()
    assert not channel.is_broken
    assert deliver_due(now=T0 + timedelta(seconds=60)) == 1
    assert len(pagerduty.alerts) == 1
