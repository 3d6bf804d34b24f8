"""Alertmanager's time intervals: is an instant inside ``times`` / ``weekdays`` /
``days_of_month`` / ``months`` / ``years`` in a ``location``?

Each spec field is optional (absent = always); ``times`` end-exclusive; negative days of the
month count from the month's end; ranges are written ``"monday:friday"``, ``"1:5"``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = [m.lower() for m in calendar.month_name[1:]]
UTC_ZONE = ZoneInfo("UTC")
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True)
class IntervalSpec:
    times: tuple[tuple[int, int], ...] = ()
    weekdays: tuple[tuple[int, int], ...] = ()
    days_of_month: tuple[tuple[int, int], ...] = ()
    months: tuple[tuple[int, int], ...] = ()
    years: tuple[tuple[int, int], ...] = ()
    zone: ZoneInfo = UTC_ZONE

    def contains(self, instant: datetime) -> bool:
        local = instant.astimezone(self.zone)
        if self.times:
            minute = local.hour * 60 + local.minute
            if not any(start <= minute < end for start, end in self.times):
                return False
        if self.weekdays and not _in(local.weekday(), self.weekdays):
            return False
        if self.days_of_month:
            length = calendar.monthrange(local.year, local.month)[1]
            ok = False
            for start, end in self.days_of_month:
                start = start if start > 0 else length + start + 1
                end = end if end > 0 else length + end + 1
                ok = ok or start <= local.day <= end
            if not ok:
                return False
        if self.months and not _in(local.month, self.months):
            return False
        return not (self.years and not _in(local.year, self.years))


def _in(value: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(start <= value <= end for start, end in ranges)


def _range(raw: object, names: list[str] | None, what: str, low: int, high: int) -> tuple[int, int]:
    text = str(raw).strip().lower()
    parts = text.split(":") if ":" in text and not text.startswith("-") else [text]
    if text.startswith("-") and ":" in text[1:]:
        first, _, second = text[1:].partition(":")
        parts = ["-" + first, second]
    values = []
    for part in parts:
        if names and part in names:
            values.append(names.index(part) + (0 if what == "weekdays" else 1))
            continue
        try:
            number = int(part)
        except ValueError:
            raise ValueError(f"{what}: {raw!r} is not a valid value or range") from None
        if not (low <= number <= high) or (number == 0 and what == "days_of_month"):
            raise ValueError(f"{what}: {number} is out of range")
        values.append(number)
    start, end = values[0], values[-1]
    if what != "days_of_month" and end < start:
        raise ValueError(f"{what}: {raw!r} ends before it starts")
    return (start, end)


def parse_interval(raw: dict) -> IntervalSpec:
    if not isinstance(raw, dict):
        raise ValueError("a time interval is a mapping of times/weekdays/days_of_month/...")
    unknown = set(raw) - {"times", "weekdays", "days_of_month", "months", "years", "location"}
    if unknown:
        raise ValueError(f"unknown time interval field(s): {', '.join(sorted(unknown))}")
    times: list[tuple[int, int]] = []
    for item in raw.get("times") or []:
        bounds = []
        for key in ("start_time", "end_time"):
            match = _TIME.match(str((item or {}).get(key, "")))
            if not match:
                raise ValueError(f"times: {key} must be HH:MM, got {item!r}")
            bounds.append(int(match[1]) * 60 + int(match[2]))
        if bounds[1] <= bounds[0]:
            raise ValueError(f"times: {item!r} must end after it starts")
        times.append((bounds[0], bounds[1]))
    try:
        zone = ZoneInfo(raw.get("location") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"location {raw.get('location')!r} is not an IANA time zone") from None
    return IntervalSpec(
        times=tuple(times),
        weekdays=tuple(_range(v, WEEKDAYS, "weekdays", 0, 6) for v in raw.get("weekdays") or []),
        days_of_month=tuple(
            _range(v, None, "days_of_month", -31, 31) for v in raw.get("days_of_month") or []
        ),
        months=tuple(_range(v, MONTHS, "months", 1, 12) for v in raw.get("months") or []),
        years=tuple(_range(v, None, "years", 1, 9999) for v in raw.get("years") or []),
        zone=zone,
    )


def parse_intervals(raw: list) -> tuple[IntervalSpec, ...]:
    if not isinstance(raw, list):
        raise ValueError("time_intervals must be a list")
    return tuple(parse_interval(item) for item in raw)


def any_contains(specs: tuple[IntervalSpec, ...], instant: datetime) -> bool:
    return any(spec.contains(instant) for spec in specs)
