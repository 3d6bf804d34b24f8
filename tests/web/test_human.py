"""web/human.py: durations, sizes, relative times, zones and cron as people read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from batchwatch.web import human

NOW = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (float("nan"), "—"),
        ("not a number", "—"),
        (0, "0s"),
        (0.0004, "0.4 ms"),
        (0.85, "850 ms"),
        (0.9996, "1s"),
        (4.25, "4.2s"),
        (12.4, "12s"),
        (59.4, "59s"),
        (59.6, "1m 00s"),
        (2716.1, "45m 16s"),
        (7500, "2h 05m"),
        (86_399, "1d"),
        (3 * 86_400 + 4 * 3600, "3d 4h"),
        (timedelta(minutes=5), "5m 00s"),
        (-90, "-1m 30s"),
    ],
)
def test_duration(seconds, text):
    assert human.duration(seconds) == text


@pytest.mark.parametrize(
    ("millis", "text"), [(716_000.0, "11m 56s"), (850, "850 ms"), (1.5, "1.5 ms"), (None, "—")]
)
def test_duration_of_milliseconds(millis, text):
    assert human.duration_ms(millis) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (None, "—"),
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (1500, "1.5 kB"),
        (999_960, "1.0 MB"),  # not "1000.0 kB"
        (12_100_000_000, "12.1 GB"),
        (2 * 10**12, "2.0 TB"),
        (-1500, "-1.5 kB"),
    ],
)
def test_sizes_in_decimal_units(count, text):
    assert human.size(count) == text


@pytest.mark.parametrize(
    ("offset", "text"),
    [
        (timedelta(seconds=-10), "just now"),
        (timedelta(minutes=-12), "12 min ago"),
        (timedelta(hours=-3), "3 h ago"),
        (timedelta(hours=-3, minutes=-20), "3 h 20 min ago"),
        (timedelta(hours=-12, minutes=-20), "12 h ago"),
        (timedelta(hours=5), "in 5 h"),
        (timedelta(minutes=30), "in 30 min"),
        (timedelta(days=-2, hours=-5), "2 d 5 h ago"),
        (timedelta(days=-9, hours=-5), "9 d ago"),
    ],
)
def test_relative_times(offset, text):
    assert human.ago(NOW + offset, now=NOW) == text


@pytest.mark.parametrize(
    ("zone", "label"),
    [
        ("America/New_York", "New York"),
        ("America/Argentina/Buenos_Aires", "Buenos Aires"),
        ("UTC", "UTC"),
        ("Etc/UTC", "UTC"),
        (ZoneInfo("Europe/Berlin"), "Berlin"),
    ],
)
def test_zone_labels(zone, label):
    assert human.zone_label(zone) == label


def test_absolute_times_carry_the_zone_abbreviation():
    assert human.absolute(NOW, ZoneInfo("America/New_York")) == "2026-11-24 17:00 EST"
    assert human.absolute(NOW, UTC) == "2026-11-24 22:00 UTC"
    assert human.iso(NOW) == "2026-11-24T22:00:00Z"


@pytest.mark.parametrize(
    ("offset", "word"),
    [
        (timedelta(hours=1), "today"),
        (timedelta(hours=3), "tomorrow"),
        (timedelta(days=-1), "yesterday"),
    ],
)
def test_day_words(offset, word):
    assert human.day_word(NOW + offset, now=NOW, zone=UTC) == word


@pytest.mark.parametrize(
    ("cron", "zone", "words"),
    [
        ("0 2 * * *", "America/New_York", "every day at 02:00 New York"),
        ("15 * * * *", "UTC", "every hour at :15"),
        ("30 6 * * 1-5", "UTC", "weekdays at 06:30 UTC"),
        ("30 6 * * MON-FRI", "UTC", "weekdays at 06:30 UTC"),
        ("0 6 * * 0,6", "UTC", "weekends at 06:00 UTC"),
        ("0 6 * * 1", "Europe/London", "every Monday at 06:00 London"),
        ("0 6 * * 1,3,5", "UTC", "Mondays, Wednesdays and Fridays at 06:00 UTC"),
        ("0 6 * * 0,1", "UTC", "Mondays and Sundays at 06:00 UTC"),
        ("0 6 * * 1-7", "UTC", "every day at 06:00 UTC"),
        ("0 2,14 * * *", "Europe/Berlin", "every day at 02:00 and 14:00 Berlin"),
        ("* * * * *", "UTC", "every minute"),
        ("*/15 * * * *", "UTC", "every 15 minutes"),
        ("0 */4 * * *", "UTC", "every 4 hours at :00"),
        ("0 0 1 * *", "UTC", "on the 1st of every month at 00:00 UTC"),
        ("30 3 22 * *", "UTC", "on the 22nd of every month at 03:30 UTC"),
        ("@daily", "UTC", "every day at 00:00 UTC"),
        ("@hourly", "UTC", "every hour at :00"),
        # Shapes not described stay as written; so does what croniter refuses.
        ("0 9-17 * * *", "UTC", "0 9-17 * * *"),
        ("0 0 1 1 *", "UTC", "0 0 1 1 *"),
        ("0 6 1 * 1", "UTC", "0 6 1 * 1"),
        ("not cron", "UTC", "not cron"),
        ("61 * * * *", "UTC", "61 * * * *"),
        ("", "UTC", ""),
    ],
)
def test_cron_in_words(cron, zone, words):
    assert human.cron_words(cron, zone) == words


def test_unknown_zone_names_fall_back_to_utc():
    assert human.zone_or_utc("Mars/Olympus") is UTC
    assert human.zone_or_utc("") is UTC
    assert human.zone_or_utc("Asia/Tokyo") == ZoneInfo("Asia/Tokyo")
