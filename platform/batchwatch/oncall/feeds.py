"""What the iCal feeds say: each shift as an event that calendar apps can follow across fetches.

A calendar app keeps events by UID and replaces one when a fetch brings a higher SEQUENCE. So
an event's UID is the rotation's identity and the shift's real start (the handoff, never the
edge of the window fetched: ``schedule.shifts_overlapping``), the same on every fetch; and its
SEQUENCE is the last instant something that decides the shift changed, in seconds since
2020: the rotation's ``schedule_changed_at`` (layers, zone, an override taken away) or the
creation of an override, or the taking or cancelling of a swap, that touches the shift. An
override added next week leaves every other event as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from batchwatch.oncall.models import Rotation, RotationOverride, ShiftSwap
from batchwatch.oncall.schedule import Shift, reach_window, shifts_overlapping
from batchwatch.oncall.selectors import (
    person_rotation_ids,
    rotation_spec,
    rotations_with_layers,
    users_by_id,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeedShift:
    rotation: Rotation
    shift: Shift
    user: User | None
    changed_at: datetime | None  # the last change that touched it (None: none recorded)

    @property
    def sequence(self) -> int:
        if self.changed_at is None or self.changed_at <= SEQUENCE_EPOCH:
            return 0
        return int((self.changed_at - SEQUENCE_EPOCH).total_seconds())

    def uid(self, *, person: int | None = None) -> str:
        """``rotation-<id>-<start in UTC>``, and the person's id in a person's own feed (so
        that the same shift in both feeds is two events to a calendar app)."""
        who = f"-u{person}" if person is not None else ""
        return f"rotation-{self.rotation.pk}{who}-{self.shift.starts_at:%Y%m%dT%H%M%SZ}@batchwatch"


def _changes(rotation: Rotation, wide: tuple[datetime, datetime]) -> list[tuple[datetime, ...]]:
    """(starts_at, ends_at, changed at) of the overrides and of the swaps ever taken near."""
    overrides = RotationOverride.objects.filter(
        rotation=rotation, ends_at__gte=wide[0], starts_at__lte=wide[1]
    ).values_list("starts_at", "ends_at", "created_at")
    swaps = ShiftSwap.objects.filter(
        rotation=rotation, taker__isnull=False, ends_at__gte=wide[0], starts_at__lte=wide[1]
    ).values_list("starts_at", "ends_at", "updated_at")
    return [*overrides, *swaps]


def rotation_feed_shifts(rotation: Rotation, *, start: datetime, end: datetime) -> list[FeedShift]:
    """The shifts of ``rotation`` overlapping [start, end), with their people and the instant
    each last changed. ``rotation`` comes from ``rotations_with_layers``."""
    wide = reach_window(start, end)
    shifts = shifts_overlapping(rotation_spec(rotation, start=wide[0], end=wide[1]), start, end)
    changes = _changes(rotation, wide)
    users = users_by_id(s.user_id for s in shifts)
    out = []
    for shift in shifts:
        touching = [
            at
            for starts_at, ends_at, at in changes
            if starts_at <= shift.ends_at and ends_at >= shift.starts_at
        ]
        if rotation.schedule_changed_at is not None:
            touching.append(rotation.schedule_changed_at)
        out.append(
            FeedShift(rotation, shift, users.get(shift.user_id), max(touching, default=None))
        )
    return out


def person_feed_shifts(user_id: int, *, start: datetime, end: datetime) -> list[FeedShift]:
    """A person's shifts across every rotation they appear in, by start."""
    rotations = rotations_with_layers().filter(pk__in=person_rotation_ids(user_id, since=start))
    out = [
        item
        for rotation in rotations
        for item in rotation_feed_shifts(rotation, start=start, end=end)
        if item.shift.user_id == user_id
    ]
    return sorted(out, key=lambda item: (item.shift.starts_at, item.rotation.pk))
