"""Incident, rotation and silence pages: render, act with the right persona, refuse others."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from batchwatch.alerts.models import Incident, Silence
from tests.alerts.conftest import firing, receive


@pytest.fixture
def incident(route_tree):
    receive(
        [
            firing(
                {
                    "alertname": "LedgerCloseFailed",
                    "job": "close",
                    "team": "ledger",
                    "severity": "critical",
                }
            )
        ],
        datetime.now(UTC),
    )
    return Incident.objects.get()


def test_pages_need_a_login(client, db):
    for url in ("/incidents/", "/rotations/", "/silences/"):
        assert client.get(url).status_code == 302


def test_empty_states_explain_what_to_do(client, teammate):
    client.force_login(teammate)
    assert "Incidents open when alerts arrive" in client.get("/incidents/").content.decode()
    assert "No rotations yet" in client.get("/rotations/").content.decode()
    assert "No silences" in client.get("/silences/").content.decode()


def test_incident_pages_and_actions(client, incident, teammate, outsider, rotation):
    client.force_login(outsider)
    # Another team's incident is not shown to her at all (tests/web/test_incident_hub.py).
    assert client.get(f"/incidents/{incident.pk}/").status_code == 404
    assert (
        client.post(f"/incidents/{incident.pk}/act", {"action": "acknowledge"}).status_code == 404
    )
    incident.refresh_from_db()
    assert incident.state == Incident.State.TRIGGERED
    client.force_login(teammate)
    listing = client.get("/incidents/").content.decode()
    assert f"#{incident.pk}" in listing
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert ("Acknowledge" in page and "Opened" in page) or "opened" in page
    client.post(f"/incidents/{incident.pk}/act", {"action": "snooze-1h"})
    incident.refresh_from_db()
    assert incident.snoozed_until is not None
    response = client.post(
        f"/incidents/{incident.pk}/act", {"action": "reassign", "user": "ghost"}, follow=True
    )
    assert "Choose someone" in response.content.decode()
    # Its alert still fires: resolving asks first, and "Resolve anyway" sends force.
    response = client.post(f"/incidents/{incident.pk}/act", {"action": "resolve"}, follow=True)
    assert "Resolve anyway" in response.content.decode()
    client.post(f"/incidents/{incident.pk}/act", {"action": "resolve", "force": "1"})
    incident.refresh_from_db()
    assert incident.state == Incident.State.RESOLVED


def test_rotation_pages(client, rotation, teammate):
    client.force_login(teammate)
    page = client.get("/rotations/").content.decode()
    assert "Ledger primary" in page and "/ical/people/tom.ics?token=" in page
    page = client.get(f"/rotations/{rotation.slug}/").content.decode()
    assert "cal-bar" in page and f"/ical/rotations/{rotation.slug}.ics?token=" in page


def test_silence_page_creates_and_expires(client, teammate):
    client.force_login(teammate)
    response = client.post(
        "/silences/", {"matchers": 'job="close"', "hours": "2", "comment": "rerun"}, follow=True
    )
    assert "is active" in response.content.decode()
    silence = Silence.objects.get()
    response = client.post(
        "/silences/", {"matchers": 'job=~".*"', "hours": "2", "comment": "x"}, follow=True
    )
    assert "empty string" in response.content.decode()
    client.post("/silences/", {"action": "expire", "silence": silence.pk, "confirm": "1"})
    silence.refresh_from_db()
    assert silence.state_at(datetime.now(UTC)) == "expired"
