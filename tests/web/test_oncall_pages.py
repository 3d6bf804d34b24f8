"""Incident, rotation and silence pages: render, act with the right persona, refuse others."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batchwatch.alerts.models import Incident, Silence
from batchwatch.oncall.models import Rotation, RotationOverride
from batchwatch.oncall.selectors import rotation_schedule
from batchwatch.oncall.services import layer_save
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


def test_the_rotations_list_reads_in_a_fixed_number_of_queries(
    client, rotation, teammate, team_b, people, make_user, django_assert_max_num_queries
):
    client.force_login(teammate)
    with CaptureQueriesContext(connection) as one:
        assert client.get("/rotations/").status_code == 200
    now = datetime.now(UTC)
    for n in range(12):
        extra = Rotation.objects.create(slug=f"r-{n}", name=f"R {n}", team=team_b)
        layer_save(
            rotation=extra,
            participants=[people["bob"], make_user(f"p{n}")],
            start_date=date(2026, 1, 5),
            handoff_time=time(9),
            turn_length=timedelta(days=1),
        )
        RotationOverride.objects.create(
            rotation=extra,
            user=people["carol"],
            starts_at=now + timedelta(hours=n),
            ends_at=now + timedelta(hours=n + 2),
        )
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get("/rotations/").content.decode()
    assert page.count('href="/rotations/r-') == 12


def test_the_rotations_list_shows_who_is_on_call_and_the_next_handoff(
    client, rotation, teammate, people
):
    now = datetime.now(UTC)
    RotationOverride.objects.create(
        rotation=rotation,
        user=people["bob"],
        starts_at=now + timedelta(hours=3),
        ends_at=now + timedelta(hours=5),
    )
    client.force_login(teammate)
    row = client.get("/rotations/").context["rows"][0]
    shifts = rotation_schedule(rotation, now, now + timedelta(days=14))
    assert row["oncall"].pk == shifts[0].user_id in {people["alice"].pk, people["carol"].pk}
    assert row["handoff"] == shifts[1].starts_at == now + timedelta(hours=3)
    assert row["next"] == people["bob"]


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
