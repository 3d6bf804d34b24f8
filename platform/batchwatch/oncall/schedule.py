"""Who is on call when: pure computation over a rotation's plain description.

Handoffs happen at a wall-clock time in the rotation's IANA zone. Turn boundaries are computed
in local wall-clock time and then placed on the UTC time line, so a weekly Monday-09:00
rotation hands off at 09:00 on the Monday after a DST change too: that week is an hour longer
or shorter in real time, but nobody gets a shortened, skipped or doubled turn. A handoff time
that does not exist (the spring-forward gap) happens at the first instant after the gap; an
ambiguous one (fall back) happens once, at its first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
MAX_SCHEDULE_SPAN = timedelta(days=400)


@dataclass(frozen=True)
class Restriction:
    """A window in local time when a layer has someone on call.

    ``daily``: every day from ``start`` to ``end`` (minutes after midnight; an end before the
    start wraps past midnight). ``weekly``: from ``start`` to ``end`` counted in minutes after
    Monday 00:00.
    """

    kind: str
    start: int
    end: int

    def contains(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        if self.kind == "weekly":
            minute += local.weekday() * 24 * 60
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


def _minutes(value: object, what: str) -> int:
    match = _HHMM.match(str(value or ""))
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError(f"{what} must be a time 'HH:MM' (00:00 to 24:00), not {value!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def parse_restrictions(raw: list[Any]) -> tuple[Restriction, ...]:
    """Restrictions from their stored form; ``ValueError`` with a sentence when malformed."""
    if not isinstance(raw, list):
        raise ValueError("restrictions must be a list")
    out = []
    for index, item in enumerate(raw, start=1):
        where = f"restriction {index}"
        if not isinstance(item, dict) or item.get("kind") not in {"daily", "weekly"}:
            raise ValueError(f"{where}: kind must be 'daily' or 'weekly'")
        start = _minutes(item.get("start"), f"{where}: start")
        end = _minutes(item.get("end"), f"{where}: end")
        if item["kind"] == "weekly":
            days = []
            for key in ("start_day", "end_day"):
                day = item.get(key)
                if not isinstance(day, int) or not 0 <= day <= 6:
                    raise ValueError(f"{where}: {key} must be 0 (Monday) to 6 (Sunday)")
                days.append(day)
            start += days[0] * 1440
            end += days[1] * 1440
        if start == end:
            raise ValueError(f"{where}: start and end are the same")
        out.append(Restriction(kind=item["kind"], start=start, end=end))
    return tuple(out)


@dataclass(frozen=True)
class LayerSpec:
    position: int
    start_local: datetime  # naive, in the rotation's zone
    turn: timedelta
    participants: tuple[int, ...]
    restrictions: tuple[Restriction, ...] = ()
    ends_at: datetime | None = None
    name: str = ""


@dataclass(frozen=True)
class PeriodSpec:
    """An override (``replaces`` is None: whoever is on call) or a taken swap."""

    user_id: int
    starts_at: datetime
    ends_at: datetime
    replaces: int | None = None


@dataclass(frozen=True)
class RotationSpec:
    zone: ZoneInfo
    layers: tuple[LayerSpec, ...]
    overrides: tuple[PeriodSpec, ...] = ()
    swaps: tuple[PeriodSpec, ...] = ()


@dataclass(frozen=True)
class OnCall:
    user_id: int | None
    layer: LayerSpec | None = None
    turn: int | None = None
    source: str = "none"  # layer | override | swap | none


@dataclass
class Shift:
    user_id: int | None
    starts_at: datetime
    ends_at: datetime
    sources: set[str] = field(default_factory=set)
    # The same person was on call before (stays after) the window the shift was computed
    # over: ``starts_at`` (``ends_at``) is that window's edge, not a handoff.
    open_start: bool = False
    open_end: bool = False


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """A local wall-clock time on the UTC time line (first occurrence; after a gap)."""
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def to_local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone)


def boundary(layer: LayerSpec, k: int, zone: ZoneInfo) -> datetime:
    """Start of turn ``k`` of the layer (UTC)."""
    return localize(layer.start_local + k * layer.turn, zone)


def turn_index(layer: LayerSpec, instant: datetime, zone: ZoneInfo) -> int:
    """The turn containing ``instant`` (negative before the first handoff)."""
    naive = to_local(instant, zone).replace(tzinfo=None)
    k = (naive - layer.start_local) // layer.turn
    # The wall-clock estimate can be one off around an ambiguous hour: settle on real time.
    while boundary(layer, k, zone) > instant:
        k -= 1
    while boundary(layer, k + 1, zone) <= instant:
        k += 1
    return k


def _layer_user(layer: LayerSpec, instant: datetime, zone: ZoneInfo) -> tuple[int | None, int]:
    if not layer.participants:
        return None, 0
    if layer.ends_at is not None and instant >= layer.ends_at:
        return None, 0
    k = turn_index(layer, instant, zone)
    if k < 0:
        return None, k
    if layer.restrictions:
        local = to_local(instant, zone)
        if not any(r.contains(local) for r in layer.restrictions):
            return None, k
    return layer.participants[k % len(layer.participants)], k


def oncall_at(spec: RotationSpec, instant: datetime) -> OnCall:
    """Who is on call at ``instant``: an override, else the highest layer with someone."""
    for override in reversed(spec.overrides):
        if override.starts_at <= instant < override.ends_at:
            return OnCall(user_id=override.user_id, source="override")
    for layer in sorted(spec.layers, key=lambda item: item.position, reverse=True):
        user_id, k = _layer_user(layer, instant, spec.zone)
        if user_id is None:
            continue
        for swap in reversed(spec.swaps):
            if swap.replaces == user_id and swap.starts_at <= instant < swap.ends_at:
                return OnCall(user_id=swap.user_id, layer=layer, turn=k, source="swap")
        return OnCall(user_id=user_id, layer=layer, turn=k, source="layer")
    return OnCall(user_id=None)


def next_in_rotation(spec: RotationSpec, instant: datetime) -> int | None:
    """The participant after the current one in the layer that decides now."""
    current = oncall_at(spec, instant)
    layer = current.layer
    if layer is None or current.turn is None:
        for candidate in sorted(spec.layers, key=lambda item: item.position, reverse=True):
            if candidate.participants:
                layer = candidate
                break
        if layer is None:
            return None
        turn = max(turn_index(layer, instant, spec.zone), 0)
    else:
        turn = current.turn
    return layer.participants[(turn + 1) % len(layer.participants)]


def _change_points(spec: RotationSpec, start: datetime, end: datetime) -> list[datetime]:
    zone = spec.zone
    points = {start}
    for layer in spec.layers:
        k = max(turn_index(layer, start, zone), 0)
        while True:
            at = boundary(layer, k, zone)
            if at >= end:
                break
            if at > start:
                points.add(at)
            k += 1
        if layer.ends_at and start < layer.ends_at < end:
            points.add(layer.ends_at)
        if layer.restrictions:
            day: date = to_local(start, zone).date() - timedelta(days=1)
            last = to_local(end, zone).date() + timedelta(days=1)
            while day <= last:
                midnight = datetime.combine(day, time())
                for r in layer.restrictions:
                    for minute in (r.start, r.end):
                        if r.kind == "weekly":
                            if minute // 1440 != day.weekday():
                                continue
                            minute %= 1440
                        at = localize(midnight + timedelta(minutes=minute), zone)
                        if start < at < end:
                            points.add(at)
                day += timedelta(days=1)
    for period in (*spec.overrides, *spec.swaps):
        for at in (period.starts_at, period.ends_at):
            if start < at < end:
                points.add(at)
    return sorted(points)


def final_schedule(spec: RotationSpec, start: datetime, end: datetime) -> list[Shift]:
    """The computed schedule between two instants: consecutive shifts, gaps included."""
    if end <= start:
        return []
    if end - start > MAX_SCHEDULE_SPAN:
        raise ValueError(f"a schedule spans at most {MAX_SCHEDULE_SPAN.days} days")
    return _schedule(spec, start, end)


def _schedule(spec: RotationSpec, start: datetime, end: datetime) -> list[Shift]:
    shifts: list[Shift] = []
    points = _change_points(spec, start, end)
    for index, at in enumerate(points):
        until = points[index + 1] if index + 1 < len(points) else end
        who = oncall_at(spec, at)
        if shifts and shifts[-1].user_id == who.user_id:
            shifts[-1].ends_at = until
            shifts[-1].sources.add(who.source)
        else:
            shifts.append(Shift(who.user_id, at, until, {who.source}))
    if shifts:
        before = oncall_at(spec, start - timedelta(microseconds=1))
        shifts[0].open_start = before.user_id == shifts[0].user_id
        shifts[-1].open_end = oncall_at(spec, end).user_id == shifts[-1].user_id
    return shifts


# How far beyond a window ``shifts_overlapping`` looks for the real start and end of the shifts
# at its edges, and the grid it rounds that reach to (so the same shift gets the same bounds
# on every call, even when it is longer than the reach).
REACH = timedelta(days=35)
_GRID_ORIGIN = datetime(2020, 1, 6, tzinfo=UTC)


def reach_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The wider window ``shifts_overlapping`` computes over: at least ``REACH`` on each side,
    its edges on a ``REACH`` grid so that windows a little apart share them."""
    wide_start = _GRID_ORIGIN + ((start - REACH - _GRID_ORIGIN) // REACH) * REACH
    wide_end = _GRID_ORIGIN - ((_GRID_ORIGIN - end - REACH) // REACH) * REACH
    return wide_start, wide_end


def shifts_overlapping(spec: RotationSpec, start: datetime, end: datetime) -> list[Shift]:
    """The shifts that overlap [start, end), each with its real start and end (the handoffs,
    not the window's edges) when they lie within ``REACH`` of the window; a longer shift keeps
    the wider window's edge and says so (``open_start`` / ``open_end``). Calendar feeds name
    events after their start, which therefore must not move with the instant of the fetch."""
    if end <= start:
        return []
    if end - start > MAX_SCHEDULE_SPAN:
        raise ValueError(f"a schedule spans at most {MAX_SCHEDULE_SPAN.days} days")
    wide_start, wide_end = reach_window(start, end)
    shifts = _schedule(spec, wide_start, wide_end)
    return [s for s in shifts if s.starts_at < end and s.ends_at > start]
