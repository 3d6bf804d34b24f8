"""Times, durations, sizes and schedules as people read them. Pure: no database, no request.

Durations read "850 ms", "4.2s", "12s", "45m 16s", "2h 05m", "3d 4h"; sizes use decimal units
(1 kB = 1,000 bytes, as disks and networks count them); relative times read "3 h ago" or
"in 5 h"; a five-field cron in its zone reads "every day at 02:00 New York" for the common
shapes and stays the raw expression for the others.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from croniter import croniter

EMPTY = "—"
SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_DAY_ALIASES = {name[:3].lower(): i for i, name in enumerate(DAY_NAMES)}
_MONTH_ALIASES = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_NUMBER = re.compile(r"\d{1,2}")
_STEP = re.compile(r"\*/(\d{1,2})")


def _seconds(value: float | int | timedelta | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) else None


def duration(value: float | int | timedelta | None) -> str:
    """A length of time given in seconds (or a timedelta): "850 ms", "4.2s", "12s", "45m 16s",
    "2h 05m", "3d 4h"; "—" when there is none."""
    seconds = _seconds(value)
    if seconds is None:
        return EMPTY
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds == 0:
        return "0s"
    if seconds < 1:
        millis = seconds * 1000
        if millis < 10 and millis != int(millis):
            return f"{millis:.1f} ms"
        if round(millis) < 1000:
            return f"{round(millis)} ms"
        seconds = 1.0
    if seconds < 10 and round(seconds, 1) < 10:
        return f"{seconds:.1f}s".replace(".0s", "s")
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    minutes = round(seconds / 60)
    if minutes < 24 * 60:
        return f"{minutes // 60}h {minutes % 60:02d}m"
    hours = round(seconds / 3600)
    days, rest = divmod(hours, 24)
    return f"{days}d {rest}h" if rest else f"{days}d"


def duration_ms(value: float | int | None) -> str:
    """A length of time given in milliseconds (spans), as :func:`duration` says it."""
    seconds = _seconds(value)
    return duration(None if seconds is None else seconds / 1000)


def size(value: float | int | None) -> str:
    """A byte count in decimal units: "850 B", "1.5 kB", "12.1 GB"; "—" when there is none."""
    amount = _seconds(value)  # (any finite number)
    if amount is None:
        return EMPTY
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount < 1000:
        return f"{sign}{int(amount)} B"
    for unit in SIZE_UNITS[1:]:
        amount /= 1000
        if round(amount, 1) < 1000 or unit == SIZE_UNITS[-1]:
            return f"{sign}{amount:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def ago(when: datetime, *, now: datetime) -> str:
    """``when`` relative to ``now``: "just now", "12 min ago", "3 h 20 min ago", "in 5 h",
    "2 d ago"."""
    delta = (when - now).total_seconds()
    future = delta > 0
    seconds = abs(delta)
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        text = f"{max(1, round(seconds / 60))} min"
    elif seconds < 24 * 3600:
        hours, rest = divmod(int(seconds // 60), 60)
        text = f"{hours} h {rest} min" if hours < 10 and rest else f"{hours} h"
    else:
        days, rest = divmod(int(seconds // 3600), 24)
        text = f"{days} d {rest} h" if days < 3 and rest else f"{days} d"
    return f"in {text}" if future else f"{text} ago"


def zone_label(zone: str | tzinfo) -> str:
    """A zone as people say it: "New York" for America/New_York, "UTC" for Etc/UTC."""
    name = zone if isinstance(zone, str) else str(getattr(zone, "key", zone))
    if name.upper() in ("UTC", "ETC/UTC", "GMT", "ETC/GMT", "Z", "ZULU", "UNIVERSAL"):
        return "UTC"
    return name.rsplit("/", 1)[-1].replace("_", " ")


def absolute(when: datetime, zone: tzinfo) -> str:
    """``when`` in ``zone`` with the zone's abbreviation: "2026-11-24 17:00 EST"."""
    local = when.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or zone_label(zone)}"


def iso(when: datetime) -> str:
    """The machine-readable instant for ``<time datetime=...>``: ISO 8601 in UTC."""
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def day_word(when: datetime, *, now: datetime, zone: tzinfo) -> str:
    """ "today", "tomorrow", "yesterday" or the weekday and date of ``when`` in ``zone``."""
    day = when.astimezone(zone).date()
    offset = (day - now.astimezone(zone).date()).days
    words = {0: "today", 1: "tomorrow", -1: "yesterday"}
    return words.get(offset, f"{day:%a} {day.day} {day:%b}")


# Cron in words.


def _number(field: str, low: int, high: int) -> int | None:
    if _NUMBER.fullmatch(field) and low <= int(field) <= high:
        return int(field)
    return None


def _days_of_week(field: str) -> list[int] | None:
    """The weekdays a day-of-week field names (0 = Sunday), or None for shapes not handled."""
    days: set[int] = set()
    for part in field.lower().split(","):
        bounds = [_DAY_ALIASES.get(p, _number(p, 0, 7)) for p in part.split("-")]
        if len(bounds) > 2 or any(b is None for b in bounds):
            return None
        first, last = bounds[0] or 0, bounds[-1] or 0
        if first > last:
            return None
        days.update(d % 7 for d in range(first, last + 1))
    return sorted(days)


def _day_phrase(days: list[int]) -> str:
    if days == [1, 2, 3, 4, 5]:
        return "weekdays"
    if days == [0, 6]:
        return "weekends"
    if len(days) == 7:
        return "every day"
    if len(days) == 1:
        return f"every {DAY_NAMES[days[0]]}"
    # Monday first, Sunday last, as a working week reads.
    names = [DAY_NAMES[d] + "s" for d in sorted(days, key=lambda d: (d == 0, d))]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _times(minute: int, hour_field: str) -> str | None:
    found = [_number(h, 0, 23) for h in hour_field.split(",")]
    hours = sorted({h for h in found if h is not None})
    if len(hours) < len(set(found)):
        return None
    clock = [f"{h:02d}:{minute:02d}" for h in hours]
    return ", ".join(clock[:-1]) + " and " + clock[-1] if len(clock) > 1 else clock[0]


def cron_words(expression: str, zone: str = "UTC") -> str:
    """A cron expression evaluated in ``zone``, in words for the common shapes ("every day at
    02:00 New York", "every hour at :15", "weekdays at 06:30 UTC", "every 15 minutes", "on
    the 1st of every month at 00:00 UTC"); the expression itself for the others and for
    what croniter refuses."""
    raw = (expression or "").strip()
    text = _NICKNAMES.get(raw.lower(), raw)
    if not raw or not croniter.is_valid(text):
        return raw
    fields = text.split()
    if len(fields) != 5:
        return raw
    minute_f, hour_f, dom_f, month_f, dow_f = fields
    where = zone_label(zone)
    if month_f != "*":
        return raw
    if (dom_f, dow_f) == ("*", "*") and hour_f == "*":
        if minute_f == "*":
            return "every minute"
        if step := _STEP.fullmatch(minute_f):
            n = int(step.group(1))
            return "every minute" if n == 1 else f"every {n} minutes"
        minute = _number(minute_f, 0, 59)
        return raw if minute is None else f"every hour at :{minute:02d}"
    minute = _number(minute_f, 0, 59)
    if minute is None:
        return raw
    if (step := _STEP.fullmatch(hour_f)) and (dom_f, dow_f) == ("*", "*"):
        n = int(step.group(1))
        return f"every hour at :{minute:02d}" if n == 1 else f"every {n} hours at :{minute:02d}"
    times = _times(minute, hour_f)
    if times is None:
        return raw
    if dom_f == "*":
        days = _days_of_week(dow_f) if dow_f != "*" else list(range(7))
        if not days:
            return raw
        return f"{_day_phrase(days)} at {times} {where}"
    day = _number(dom_f, 1, 31)
    if day is None or dow_f != "*":
        return raw
    return f"on the {_ordinal(day)} of every month at {times} {where}"


def zone_or_utc(name: str | None) -> tzinfo:
    """The zone called ``name``, or UTC for an empty or unknown name."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ValueError, KeyError, OSError):
        return UTC


__all__ = [
    "absolute",
    "ago",
    "cron_words",
    "day_word",
    "duration",
    "duration_ms",
    "iso",
    "size",
    "zone_label",
    "zone_or_utc",
]
