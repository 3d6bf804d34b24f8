"""The iCal feeds as a calendar app reads them: they parse, an event keeps its UID and SEQUENCE
from one fetch to the next, an override changes only the events it touches, and handoffs stay
at 09:00 local across DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.test import Client

from batchwatch.oncall import api
from batchwatch.oncall.ical import person_feed_token
from batchwatch.oncall.models import Rotation
from batchwatch.oncall.services import layer_save, override_add, rotation_upsert

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
CHANGED = datetime(2026, 9, 1, tzinfo=UTC)  # when the layers were "saved"


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
    Rotation.objects.filter(pk=rotation.pk).update(schedule_changed_at=CHANGED)
    return Rotation.objects.get(pk=rotation.pk)


def _fetch(monkeypatch, url: str, now: datetime) -> list[icalendar.Event]:
    monkeypatch.setattr(api, "_now", lambda: now)
    response = Client().get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    parsed = icalendar.Calendar.from_ical(response.content)
    return list(parsed.walk("VEVENT"))


def _feed(rotation: Rotation) -> str:
    return f"/ical/rotations/{rotation.slug}.ics?token={rotation.feed_token}"


def _by_uid(events: list[icalendar.Event]) -> dict[str, icalendar.Event]:
    return {str(event["UID"]): event for event in events}


def test_the_feed_parses_and_every_event_has_what_a_calendar_needs(monkeypatch, daily):
    now = datetime(2026, 10, 20, 15, 7, 31, tzinfo=UTC)
    events = _fetch(monkeypatch, _feed(daily), now)
    assert len(events) > 90
    for event in events:
        for prop in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "SEQUENCE"):
            assert prop in event, prop
        assert event.decoded("DTSTAMP") == now
        assert event.decoded("DTSTART").tzinfo is not None
        assert event.decoded("DTEND") > event.decoded("DTSTART")
    assert len(_by_uid(events)) == len(events)  # no UID twice


def test_two_fetches_give_the_same_uids_starts_and_sequences(monkeypatch, daily):
    first = _by_uid(_fetch(monkeypatch, _feed(daily), datetime(2026, 10, 20, 15, 7, tzinfo=UTC)))
    later = _by_uid(_fetch(monkeypatch, _feed(daily), datetime(2026, 10, 20, 18, 41, tzinfo=UTC)))
    assert first.keys() == later.keys()
    for uid, event in first.items():
        assert event.decoded("DTSTART") == later[uid].decoded("DTSTART")
        assert event.decoded("DTEND") == later[uid].decoded("DTEND")
        assert event["SEQUENCE"] == later[uid]["SEQUENCE"]
    # The earliest event is the real shift (from its 09:00 handoff), not the window's edge.
    earliest = min(first.values(), key=lambda e: e.decoded("DTSTART"))
    assert earliest.decoded("DTSTART").astimezone(NY).time() == time(9, 0)


def test_a_day_later_the_events_still_there_are_unchanged(monkeypatch, daily):
    first = _by_uid(_fetch(monkeypatch, _feed(daily), datetime(2026, 10, 20, 15, tzinfo=UTC)))
    later = _by_uid(_fetch(monkeypatch, _feed(daily), datetime(2026, 10, 21, 15, tzinfo=UTC)))
    common = first.keys() & later.keys()
    assert len(common) >= len(first) - 2
    assert all(first[uid].decoded("DTEND") == later[uid].decoded("DTEND") for uid in common)


def test_an_override_changes_only_the_events_it_touches(monkeypatch, daily, people):
    now = datetime(2026, 10, 20, 15, tzinfo=UTC)
    before = _by_uid(_fetch(monkeypatch, _feed(daily), now))
    # Carol covers 2026-10-27 from 13:00 to 17:00 New York, inside one person's day.
    starts = datetime(2026, 10, 27, 13, tzinfo=NY).astimezone(UTC)
    override_add(
        rotation=daily, user=people["carol"], starts_at=starts, ends_at=starts + timedelta(hours=4)
    )
    after = _by_uid(_fetch(monkeypatch, _feed(daily), now))
    changed = {
        uid
        for uid in before.keys() & after.keys()
        if before[uid].decoded("DTEND") != after[uid].decoded("DTEND")
        or before[uid]["SEQUENCE"] != after[uid]["SEQUENCE"]
    }
    day_start = datetime(2026, 10, 27, 9, tzinfo=NY)
    assert changed == {f"rotation-{daily.pk}-{day_start.astimezone(UTC):%Y%m%dT%H%M%SZ}@batchwatch"}
    (uid,) = changed
    assert after[uid]["SEQUENCE"] > before[uid]["SEQUENCE"]
    new = after.keys() - before.keys()
    assert len(new) == 2  # carol's four hours, and the rest of that day after her
    assert before.keys() <= after.keys()
    summaries = {str(after[u]["SUMMARY"]) for u in new}
    assert "carol on call: NY daily" in summaries


def test_handoffs_stay_at_nine_in_new_york_across_both_dst_changes(monkeypatch, daily):
    autumn = _fetch(monkeypatch, _feed(daily), datetime(2026, 10, 25, 12, tzinfo=UTC))
    spring = _fetch(monkeypatch, _feed(daily), datetime(2027, 3, 1, 12, tzinfo=UTC))
    for events in (autumn, spring):
        starts = sorted(e.decoded("DTSTART") for e in events)
        assert {s.astimezone(NY).time() for s in starts} == {time(9, 0)}
    utc_hours = {
        s.astimezone(NY).date(): s.astimezone(UTC).hour
        for s in (e.decoded("DTSTART") for e in autumn + spring)
    }
    assert utc_hours[date(2026, 10, 31)] == 13  # EDT
    assert utc_hours[date(2026, 11, 1)] == 14  # EST from 02:00 that morning
    assert utc_hours[date(2027, 3, 13)] == 14  # EST
    assert utc_hours[date(2027, 3, 14)] == 13  # EDT from 02:00 that morning


def test_london_handoffs_stay_at_nine_across_the_clocks_going_back(monkeypatch, team_a, people):
    rotation = rotation_upsert(slug="ldn", name="London", team=team_a, timezone="Europe/London")
    layer_save(
        rotation=rotation,
        participants=[people["alice"], people["bob"]],
        start_date=date(2026, 10, 1),
        handoff_time=time(9, 0),
        turn_length=timedelta(days=1),
    )
    events = _fetch(monkeypatch, _feed(rotation), datetime(2026, 10, 20, 12, tzinfo=UTC))
    starts = {e.decoded("DTSTART").astimezone(LONDON): e for e in events}
    assert {s.time() for s in starts} == {time(9, 0)}
    by_day = {s.date(): s.astimezone(UTC).hour for s in starts}
    assert by_day[date(2026, 10, 24)] == 8  # BST
    assert by_day[date(2026, 10, 25)] == 9  # GMT from 02:00 that morning


def test_a_persons_feed_is_stable_and_distinct_from_the_rotations(monkeypatch, daily, people):
    alice = people["alice"]
    url = f"/ical/people/alice.ics?token={person_feed_token(alice)}"
    first = _by_uid(_fetch(monkeypatch, url, datetime(2026, 10, 20, 15, tzinfo=UTC)))
    later = _by_uid(_fetch(monkeypatch, url, datetime(2026, 10, 20, 19, tzinfo=UTC)))
    assert first.keys() == later.keys() and first
    rotation_uids = _by_uid(
        _fetch(monkeypatch, _feed(daily), datetime(2026, 10, 20, 15, tzinfo=UTC))
    ).keys()
    assert not first.keys() & rotation_uids
    assert all(f"-u{alice.pk}-" in uid for uid in first)
    assert all(e.decoded("DTSTART").astimezone(NY).time() == time(9, 0) for e in first.values())


def test_a_layer_change_raises_every_sequence(monkeypatch, daily, people):
    now = datetime(2026, 10, 20, 15, tzinfo=UTC)
    before = _by_uid(_fetch(monkeypatch, _feed(daily), now))
    layer_save(
        rotation=daily,
        participants=[people["carol"]],
        start_date=date(2026, 10, 1),
        handoff_time=time(9, 0),
        turn_length=timedelta(days=1),
        position=1,
        restrictions=[{"kind": "daily", "start": "12:00", "end": "13:00"}],
    )
    after = _by_uid(_fetch(monkeypatch, _feed(daily), now))
    common = before.keys() & after.keys()
    assert common
    assert all(after[uid]["SEQUENCE"] > before[uid]["SEQUENCE"] for uid in common)
