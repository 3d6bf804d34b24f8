"""Reads of rotations: specs for the schedule computation, who is on call, final schedules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, QuerySet

from batchwatch.catalog.models import Team
from batchwatch.notify.models import Channel
from batchwatch.oncall.models import (
    EscalationPolicy,
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
    reach_window,
    shifts_overlapping,
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


def rotation_shifts(rotation: Rotation, start: datetime, end: datetime) -> list[Shift]:
    """The shifts overlapping [start, end), each with its real start and end (the handoffs,
    not the window's edges: ``schedule.shifts_overlapping``)."""
    wide_start, wide_end = reach_window(start, end)
    spec = rotation_spec(rotation, start=wide_start, end=wide_end)
    return shifts_overlapping(spec, start, end)


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


def person_rotation_ids(user_id: int, *, since: datetime) -> set[int]:
    """The rotations a person takes turns in, or has an override or a taken swap in after
    ``since``."""
    rotation_ids = set(
        LayerParticipant.objects.filter(user_id=user_id).values_list(
            "layer__rotation_id", flat=True
        )
    )
    rotation_ids |= set(
        RotationOverride.objects.filter(user_id=user_id, ends_at__gt=since).values_list(
            "rotation_id", flat=True
        )
    )
    rotation_ids |= set(
        ShiftSwap.objects.filter(taker_id=user_id, ends_at__gt=since).values_list(
            "rotation_id", flat=True
        )
    )
    return rotation_ids


# The Now page: who is on call for a set of teams and until when, and who cannot be paged.

NOW_HORIZON = timedelta(days=14)


@dataclass(frozen=True)
class OnCallNow:
    rotation: Rotation
    user: User | None  # nobody, in a gap of the schedule
    until: datetime | None  # the next handoff to someone else (None: not within the horizon)
    following: User | None = None  # who takes over at ``until`` (nobody: a gap, or no handoff)


def oncall_now(team_ids: list[int] | None, at: datetime) -> list[OnCallNow]:
    """Each rotation of the teams (``None``: all) with who is on call at ``at``, until when
    and who follows, by team and name. Unlike :func:`oncall_for_teams`, overrides and swaps
    are read for all rotations at once: six queries whatever the number of rotations."""
    rotations = Rotation.objects.select_related("team").order_by("team__name", "name")
    if team_ids is not None:
        rotations = rotations.filter(team_id__in=team_ids)
    found = list(rotations)
    end = at + NOW_HORIZON
    ids = [r.pk for r in found]
    overrides: dict[int, list[PeriodSpec]] = {}
    for o in RotationOverride.objects.filter(
        rotation_id__in=ids, ends_at__gt=at, starts_at__lt=end
    ).order_by("created_at", "id"):
        overrides.setdefault(o.rotation_id, []).append(
            PeriodSpec(o.user_id, o.starts_at, o.ends_at)
        )
    swaps: dict[int, list[PeriodSpec]] = {}
    for s in ShiftSwap.objects.filter(
        rotation_id__in=ids, state=ShiftSwap.State.TAKEN, ends_at__gt=at, starts_at__lt=end
    ).order_by("created_at", "id"):
        if s.taker_id is not None:  # (a taken swap has its taker)
            swaps.setdefault(s.rotation_id, []).append(
                PeriodSpec(s.taker_id, s.starts_at, s.ends_at, s.requester_id)
            )
    layers = _layer_specs(ids)
    current: list[tuple[Rotation, list[Shift]]] = []  # the shift now and the one after
    for rotation in found:
        spec = RotationSpec(
            zone=ZoneInfo(rotation.timezone),
            layers=tuple(layers.get(rotation.pk, ())),
            overrides=tuple(overrides.get(rotation.pk, ())),
            swaps=tuple(swaps.get(rotation.pk, ())),
        )
        current.append((rotation, final_schedule(spec, at, end)[:2]))
    users = users_by_id(shift.user_id for _, shifts in current for shift in shifts)
    return [
        OnCallNow(
            rotation=rotation,
            user=users.get(shifts[0].user_id) if shifts else None,
            until=shifts[1].starts_at if len(shifts) > 1 else None,
            following=users.get(shifts[1].user_id) if len(shifts) > 1 else None,
        )
        for rotation, shifts in current
    ]


def _layer_specs(rotation_ids: list[int]) -> dict[int, list[LayerSpec]]:
    """The layers of the rotations as specs, by rotation id, in two queries read as plain
    values (a hundred rotations' layers and people as model instances cost more than their
    schedules)."""
    people: dict[int, list[int]] = {}
    for layer_id, user_id in (
        LayerParticipant.objects.filter(layer__rotation_id__in=rotation_ids)
        .order_by("position", "id")
        .values_list("layer_id", "user_id")
    ):
        people.setdefault(layer_id, []).append(user_id)
    specs: dict[int, list[LayerSpec]] = {}
    for layer in (
        RotationLayer.objects.filter(rotation_id__in=rotation_ids)
        .order_by("position", "id")
        .values()
    ):
        specs.setdefault(layer["rotation_id"], []).append(
            LayerSpec(
                position=layer["position"],
                start_local=datetime.combine(layer["start_date"], layer["handoff_time"]),
                turn=layer["turn_length"],
                participants=tuple(people.get(layer["id"], ())),
                restrictions=parse_restrictions(layer["restrictions"] or []),
                ends_at=layer["ends_at"],
                name=layer["name"],
            )
        )
    return specs


def paging_gaps(team_ids: list[int] | None) -> dict[int, list[str]]:
    """Why each of the teams (``None``: all) cannot be paged, by team id (teams without a
    problem left out): no rotation, no escalation policy (or only policies without steps),
    a channel marked broken by a permanent delivery error. Three queries."""
    teams = Team.objects.annotate(
        rotation_count=Count("rotations", distinct=True),
    ).order_by("name")
    if team_ids is not None:
        teams = teams.filter(pk__in=team_ids)
    policies = EscalationPolicy.objects.annotate(step_count=Count("steps")).values_list(
        "team_id", "step_count"
    )
    if team_ids is not None:
        policies = policies.filter(team_id__in=team_ids)
    steps_by_team: dict[int, int] = {}
    for team_id, steps in policies:
        steps_by_team[team_id] = steps_by_team.get(team_id, 0) + steps
    broken = Channel.objects.filter(is_broken=True, team__isnull=False).order_by("name")
    if team_ids is not None:
        broken = broken.filter(team_id__in=team_ids)
    broken_by_team: dict[int, list[Channel]] = {}
    for channel in broken:
        if channel.team_id is not None:
            broken_by_team.setdefault(channel.team_id, []).append(channel)
    gaps: dict[int, list[str]] = {}
    for team in teams:
        problems = []
        if not team.rotation_count:
            problems.append("no on-call rotation")
        if team.pk not in steps_by_team:
            problems.append("no escalation policy")
        elif not steps_by_team[team.pk]:
            problems.append("escalation policies without steps")
        for channel in broken_by_team.get(team.pk, []):
            error = f": {channel.last_error[:200]}" if channel.last_error else ""
            problems.append(f"channel {channel.name} is broken{error}")
        if problems:
            gaps[team.pk] = problems
    return gaps
