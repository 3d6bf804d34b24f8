"""The rotation page: each shift from its real handoff, in the rotation's zone and the viewer's
(DST changes included), who is on call and how to reach them, and the calendar link with its
``webcal://`` form and copy button shown to the team and staff only."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from batchwatch.oncall.services import layer_save, rotation_upsert
from batchwatch.slack.models import SlackUserLink
from batchwatch.web import oncall_views


@pytest.fixture
def daily(team_a, people):
    """New York, a daily 09:00 handoff between alice and bob from 2026-10-01."""
    rotation = rotation_upsert(
        slug="ny-daily", name="NY daily", team=team_a, timezone="America/New_York"
    )
    layer_save(
        rotation=rotation,
        participants=[people["alice"], people["bob"]],
        start_date=date(2026, 10, 1),
        handoff_time=time(9, 0),
        turn_length=timedelta(days=1),
    )
    return rotation


def _page(client, monkeypatch, user, rotation, now: datetime) -> str:
    monkeypatch.setattr(oncall_views, "_now", lambda: now)
    client.force_login(user)
    response = client.get(f"/rotations/{rotation.slug}/")
    assert response.status_code == 200
    return response.content.decode()


def test_handoffs_read_nine_local_across_the_autumn_change(client, monkeypatch, daily, teammate):
    page = _page(client, monkeypatch, teammate, daily, datetime(2026, 10, 29, 15, tzinfo=UTC))
    assert "From (America/New_York)" in page
    assert "Sat 2026-10-31 09:00 EDT" in page and "Sun 2026-11-01 09:00 EST" in page
    # The first shift began the day before the window: its real start, not midnight.
    assert "Wed 2026-10-28 09:00 EDT" in page
    assert "Thu 2026-10-29 00:00" not in page
    # The viewer's zone (UTC here) differs: the same handoffs an hour apart in UTC.
    assert "your zone, UTC" in page
    assert "Sat 2026-10-31 13:00 UTC" in page and "Sun 2026-11-01 14:00 UTC" in page


def test_handoffs_read_nine_local_across_the_spring_change(client, monkeypatch, daily, teammate):
    page = _page(client, monkeypatch, teammate, daily, datetime(2027, 3, 10, 15, tzinfo=UTC))
    assert "Sat 2027-03-13 09:00 EST" in page and "Sun 2027-03-14 09:00 EDT" in page
    assert "Sat 2027-03-13 14:00 UTC" in page and "Sun 2027-03-14 13:00 UTC" in page


def test_the_viewers_own_zone_is_the_second_column(client, monkeypatch, daily, teammate):
    client.cookies["bw_tz"] = "Europe%2FParis"  # what static/batchwatch/tz.js reports
    page = _page(client, monkeypatch, teammate, daily, datetime(2026, 10, 29, 15, tzinfo=UTC))
    assert "your zone, Europe/Paris" in page
    assert "Sat 2026-10-31 14:00 CET" in page and "Sun 2026-11-01 15:00 CET" in page
    client.cookies["bw_tz"] = "America%2FNew_York"  # the rotation's own: one column is enough
    page = _page(client, monkeypatch, teammate, daily, datetime(2026, 10, 29, 15, tzinfo=UTC))
    assert "your zone" not in page and "Sun 2026-11-01 09:00 EST" in page


def test_a_rotation_in_the_viewers_zone_has_no_second_column(
    client, monkeypatch, team_a, people, teammate
):
    rotation = rotation_upsert(slug="utc", name="UTC", team=team_a, timezone="UTC")
    layer_save(
        rotation=rotation,
        participants=[people["alice"]],
        start_date=date(2026, 10, 1),
        handoff_time=time(9, 0),
        turn_length=timedelta(days=1),
    )
    page = _page(client, monkeypatch, teammate, rotation, datetime(2026, 10, 29, 15, tzinfo=UTC))
    assert "From (UTC)" in page and "your zone" not in page
    # Alice alone, every day since 10-01: one shift, from its real start 28 days before.
    assert "Thu 2026-10-01 09:00 UTC" in page


def test_the_person_on_call_and_how_to_reach_them(client, monkeypatch, daily, people, outsider):
    now = datetime(2026, 10, 29, 15, tzinfo=UTC)  # 11:00 in New York: turn 28, alice's
    page = _page(client, monkeypatch, outsider, daily, now)
    assert "On call now" in page and 'href="mailto:alice@example.com"' in page
    assert "slack.com" not in page
    SlackUserLink.objects.create(
        user=people["alice"], slack_user_id="U0ALICE", slack_team_id="T0TEAM", slack_name="alice"
    )
    page = _page(client, monkeypatch, outsider, daily, now)
    assert "https://slack.com/app_redirect?channel=U0ALICE&amp;team=T0TEAM" in page
    assert "@alice" in page


@pytest.mark.parametrize("persona", ["owner", "teammate", "admin"])
def test_the_team_and_staff_get_the_webcal_link_and_a_copy_button(
    client, monkeypatch, daily, persona, request
):
    user = request.getfixturevalue(persona)
    page = _page(client, monkeypatch, user, daily, datetime(2026, 10, 29, 15, tzinfo=UTC))
    assert f"webcal://testserver/ical/rotations/{daily.slug}.ics?token={daily.feed_token}" in page
    assert 'data-copy="rotation-feed-url"' in page and "batchwatch/copy.js" in page
    assert "<script>" not in page  # CSP: no inline script


def test_an_outsider_gets_no_feed_link_in_any_form(client, monkeypatch, daily, outsider):
    page = _page(client, monkeypatch, outsider, daily, datetime(2026, 10, 29, 15, tzinfo=UTC))
    assert daily.feed_token not in page
    assert "webcal://" not in page and "/ical/rotations/" not in page
    assert "data-copy" not in page


def test_the_rotations_list_gives_the_next_handoff_on_the_rotations_clock(
    client, monkeypatch, daily, teammate
):
    monkeypatch.setattr(oncall_views, "_now", lambda: datetime(2026, 10, 31, 15, tzinfo=UTC))
    client.force_login(teammate)
    page = client.get("/rotations/").content.decode()
    assert "Sun 2026-11-01 09:00 EST" in page
    assert "webcal://testserver/ical/people/tom.ics?token=" in page
    assert 'data-copy="person-feed-url"' in page
