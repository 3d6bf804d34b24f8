"""The viewer's time zone: chosen on the account page (one's own only), else the browser's
(the bw_tz cookie tz.js sets), else UTC; pages show times in it, the API keeps UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batchwatch.accounts.models import Profile
from batchwatch.runs.models import Run, RunSource, RunState

SCHEDULED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # 07:00 EST, 13:00 CET


@pytest.fixture
def winter_run(ledger_job):
    return Run.objects.create(
        job=ledger_job,
        external_id="winter-1",
        state=RunState.SUCCEEDED,
        scheduled_at=SCHEDULED,
        started_at=SCHEDULED,
        ended_at=SCHEDULED + timedelta(seconds=2716.1),
        duration_seconds=2716.1,
        source=RunSource.LEDGER,
    )


def _job_page(client, job) -> str:
    response = client.get(f"/jobs/{job.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_user_in_new_york_sees_new_york_times_with_the_zone_abbreviation(
    client, teammate, ledger_job, winter_run
):
    client.force_login(teammate)
    response = client.post("/account/time-zone/", {"time_zone": "America/New_York"})
    assert response.status_code == 302
    assert Profile.objects.get(user=teammate).time_zone == "America/New_York"
    page = _job_page(client, ledger_job)
    assert "2026-01-15 07:00 EST" in page  # scheduled for, in New York
    assert "2026-01-15 12:00" not in page
    assert "45m 16s" in page and "2716.1 s" not in page  # the run's duration, human
    assert 'datetime="2026-01-15T12:00:00Z"' in page  # the instant itself, for machines


def test_the_chosen_zone_follows_the_person_into_a_new_session(
    client, teammate, ledger_job, winter_run
):
    Profile.objects.create(user=teammate, time_zone="America/New_York")
    client.force_login(teammate)  # signing in puts the zone in the session
    assert "2026-01-15 07:00 EST" in _job_page(client, ledger_job)


def test_without_a_choice_the_browser_zone_applies_else_utc(
    client, teammate, ledger_job, winter_run
):
    client.force_login(teammate)
    assert "2026-01-15 12:00 UTC" in _job_page(client, ledger_job)
    client.cookies["bw_tz"] = "Europe%2FBerlin"  # as tz.js writes it (encodeURIComponent)
    assert "2026-01-15 13:00 CET" in _job_page(client, ledger_job)
    client.cookies["bw_tz"] = "Mars%2FOlympus"
    assert "2026-01-15 12:00 UTC" in _job_page(client, ledger_job)
    # A choice beats the browser; choosing "the browser's zone" again clears it.
    client.cookies["bw_tz"] = "Europe%2FBerlin"
    client.post("/account/time-zone/", {"time_zone": "America/New_York"})
    assert "2026-01-15 07:00 EST" in _job_page(client, ledger_job)
    client.post("/account/time-zone/", {"time_zone": ""})
    assert "2026-01-15 13:00 CET" in _job_page(client, ledger_job)


@pytest.mark.parametrize("persona", ["owner", "teammate", "outsider", "admin"])
def test_each_person_changes_only_their_own_zone(client, request, persona, owner, outsider):
    user = request.getfixturevalue(persona)
    other = outsider if user != outsider else owner
    client.force_login(user)
    response = client.post(
        "/account/time-zone/",
        {"time_zone": "Asia/Tokyo", "user": other.pk, "user_id": other.pk},
    )
    assert response.status_code == 302
    assert Profile.objects.get(user=user).time_zone == "Asia/Tokyo"
    assert not Profile.objects.filter(user=other).exists()
    page = client.get("/account/tokens/").content.decode()
    assert '<option value="Asia/Tokyo" selected>' in page


def test_an_unknown_zone_is_refused_with_a_message(client, teammate):
    client.force_login(teammate)
    response = client.post("/account/time-zone/", {"time_zone": "Mars/Olympus"})
    assert response.status_code == 400
    assert "is not an IANA time zone" in response.content.decode()
    assert not Profile.objects.filter(user=teammate, time_zone="Mars/Olympus").exists()
    response = client.post("/account/time-zone/", {"time_zone": "x" * 500})
    assert response.status_code == 400


def test_signed_out_people_change_nothing(client, db):
    response = client.post("/account/time-zone/", {"time_zone": "Asia/Tokyo"})
    assert response.status_code == 302 and response.url.startswith("/login/")
    assert client.get("/account/time-zone/").status_code == 405
    assert not Profile.objects.exists()


def test_the_api_keeps_utc_whatever_the_viewer_zone(client, teammate):
    Profile.objects.create(user=teammate, time_zone="America/New_York")
    client.force_login(teammate)
    data = client.get("/api/v1/now/").json()
    assert data["generated_at"].endswith("Z")
