"""Reads of rotations: specs for the schedule computation, who is on call, final schedules."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet

from batchwatch.oncall.models import (
    LayerParticipant,
    Rotation,
    RotationLayer,
    RotationOverride,
    ShiftSwap,
)
from batchwatch.oncall.schedule import (
    LayerSpec,
    OnCall,
    PeriodSpec,
    RotationSpec,
    Shift,
    final_schedule,
    next_in_rotation,
    oncall_at,
    parse_restrictions,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def rotations_with_layers() -> QuerySet[Rotation]:
    return Rotation.objects.select_related("team").prefetch_related(
        Prefetch(
            "layers",
            queryset=RotationLayer.objects.prefetch_related(
                Prefetch("participants", queryset=LayerParticipant.objects.order_by("position"))
            ).order_by("position", "id"),
        )
    )


def rotation_spec(
    rotation: Rotation, *, start: datetime | None = None, end: datetime | None = None
) -> RotationSpec:
    """The plain description of a rotation (overrides and swaps near [start, end))."""
    layers = tuple(
        LayerSpec(
            position=layer.position,
            start_local=datetime.combine(layer.start_date, layer.handoff_time),
            turn=layer.turn_length,
            participants=tuple(p.user_id for p in layer.participants.all()),
            restrictions=parse_restrictions(layer.restrictions or []),
            ends_at=layer.ends_at,
            name=layer.name,
        )
        for layer in rotation.layers.all()
    )
    overrides = RotationOverride.objects.filter(rotation=rotation).order_by("created_at", "id")
    swaps = ShiftSwap.objects.filter(rotation=rotation, state=ShiftSwap.State.TAKEN).order_by(
        "created_at", "id"
    )
    if start is not None:
        overrides = overrides.filter(ends_at__gt=start)
        swaps = swaps.filter(ends_at__gt=start)
    if end is not None:
        overrides = overrides.filter(starts_at__lt=end)
        swaps = swaps.filter(starts_at__lt=end)
    return RotationSpec(
        zone=ZoneInfo(rotation.timezone),
        layers=layers,
        overrides=tuple(PeriodSpec(o.user_id, o.starts_at, o.ends_at) for o in overrides),
        swaps=tuple(
            PeriodSpec(s.taker_id, s.starts_at, s.ends_at, s.requester_id)
            for s in swaps
            if s.taker_id is not None  # (a taken swap has its taker)
        ),
    )


def rotation_oncall(rotation: Rotation, at: datetime) -> OnCall:
    return oncall_at(rotation_spec(rotation, start=at, end=at + timedelta(seconds=1)), at)


def rotation_next(rotation: Rotation, at: datetime) -> int | None:
    return next_in_rotation(rotation_spec(rotation, start=at, end=at + timedelta(seconds=1)), at)


def rotation_schedule(rotation: Rotation, start: datetime, end: datetime) -> list[Shift]:
    return final_schedule(rotation_spec(rotation, start=start, end=end), start, end)


def users_by_id(ids: Iterable[int | None]) -> dict[int | None, User]:
    """The users of ``ids``, by id; keyed to be asked for any id a shift holds (None included,
    which is never there)."""
    wanted = {i for i in ids if i is not None}
    return {user.pk: user for user in get_user_model().objects.filter(pk__in=wanted)}


def oncall_for_teams(
    team_ids: Iterable[int], at: datetime
) -> dict[int, list[tuple[Rotation, User | None]]]:
    """Per team, each rotation and who is on call in it now (for pages and Slack)."""
    rotations = list(rotations_with_layers().filter(team_id__in=team_ids))
    result: dict[int, list[tuple[Rotation, User | None]]] = {}
    who = {rotation.pk: rotation_oncall(rotation, at).user_id for rotation in rotations}
    users = users_by_id(who.values())
    for rotation in rotations:
        result.setdefault(rotation.team_id, []).append((rotation, users.get(who[rotation.pk])))
    return result


def person_shifts(user_id: int, start: datetime, end: datetime) -> list[tuple[Rotation, Shift]]:
    """A person's shifts across every rotation they appear in (their iCal feed)."""
    rotation_ids = set(
        LayerParticipant.objects.filter(user_id=user_id).values_list(
            "layer__rotation_id", flat=True
        )
    )
    rotation_ids |= set(
        RotationOverride.objects.filter(user_id=user_id, ends_at__gt=start).values_list(
            "rotation_id", flat=True
        )
    )
    rotation_ids |= set(
        ShiftSwap.objects.filter(taker_id=user_id, ends_at__gt=start).values_list(
            "rotation_id", flat=True
        )
    )
    out = []
    for rotation in rotations_with_layers().filter(pk__in=rotation_ids):
        for shift in rotation_schedule(rotation, start, end):
            if shift.user_id == user_id:
                out.append((rotation, shift))
    return sorted(out, key=lambda item: item[1].starts_at)
