"""What the team settings page reads, in a fixed number of queries whatever the team's size."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet

from batchwatch.accounts.selectors import users_without_high_urgency_method
from batchwatch.alerts.models import Integration, Route
from batchwatch.catalog.models import Membership, Team
from batchwatch.ingest.models import IngestKey
from batchwatch.notify.models import Channel
from batchwatch.oncall.models import (
    EscalationPolicy,
    EscalationStep,
    Rotation,
    RotationOverride,
    ShiftSwap,
)


@dataclass
class TeamSettings:
    team: Team
    memberships: list[Membership]
    rotations: list[Rotation]  # each with .upcoming and .swaps_ahead: those not over yet
    ingest_keys: list[IngestKey]
    integrations: list[Integration]
    policies: list[EscalationPolicy]
    routes: list[Route]  # the configuration's that page through one of the team's policies
    team_routes: list[Route] = field(default_factory=list)  # the team's own, in their order
    channels: list[Channel] = field(default_factory=list)  # the team's
    # Members whom nothing but their account e-mail would page at high urgency.
    unreachable: set[int] = field(default_factory=set)
    owners: int = field(init=False)

    def __post_init__(self) -> None:
        self.owners = sum(m.role == Membership.Role.OWNER for m in self.memberships)


def team_memberships(team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user").order_by("user__username")


def rotation_overrides_upcoming(rotation_ids: list[int], now: datetime) -> dict[int, list[Any]]:
    """Per rotation, its overrides that have not ended at ``now``, soonest first."""
    found: dict[int, list[Any]] = {pk: [] for pk in rotation_ids}
    rows = (
        RotationOverride.objects.filter(rotation_id__in=rotation_ids, ends_at__gt=now)
        .select_related("user", "created_by", "rotation__team")
        .order_by("starts_at", "id")
    )
    for override in rows:
        found[override.rotation_id].append(override)
    return found


def rotation_swaps_ahead(rotation_ids: list[int], now: datetime) -> dict[int, list[Any]]:
    """Per rotation, its open and taken swaps that have not ended at ``now``, soonest first."""
    found: dict[int, list[Any]] = {pk: [] for pk in rotation_ids}
    rows = (
        ShiftSwap.objects.filter(rotation_id__in=rotation_ids, ends_at__gt=now)
        .exclude(state=ShiftSwap.State.CANCELLED)
        .select_related("requester", "taker", "rotation__team")
        .order_by("starts_at", "id")
    )
    for swap in rows:
        found[swap.rotation_id].append(swap)
    return found


def team_settings(team: Team, *, now: datetime) -> TeamSettings:
    rotations = list(Rotation.objects.filter(team=team).order_by("name"))
    upcoming = rotation_overrides_upcoming([r.pk for r in rotations], now)
    swaps = rotation_swaps_ahead([r.pk for r in rotations], now)
    for rotation in rotations:
        rotation.upcoming = upcoming[rotation.pk]  # type: ignore[attr-defined]
        rotation.swaps_ahead = swaps[rotation.pk]  # type: ignore[attr-defined]
    steps = EscalationStep.objects.select_related("rotation", "user", "team").order_by(
        "position", "id"
    )
    memberships = list(team_memberships(team))
    return TeamSettings(
        team=team,
        memberships=memberships,
        unreachable={
            user.pk for user in users_without_high_urgency_method([m.user_id for m in memberships])
        },
        rotations=rotations,
        ingest_keys=list(
            IngestKey.objects.filter(team=team)
            .select_related("created_by")
            .order_by("revoked_at", "name", "id")
        ),
        integrations=list(
            Integration.objects.filter(team=team).order_by("revoked_at", "name", "id")
        ),
        policies=list(
            EscalationPolicy.objects.filter(team=team)
            .prefetch_related(Prefetch("steps", queryset=steps))
            .order_by("name")
        ),
        routes=list(
            Route.objects.filter(escalation_policy__team=team, team=None)
            .select_related("escalation_policy")
            .order_by("escalation_policy__name", "position", "id")
        ),
        team_routes=list(
            Route.objects.filter(team=team)
            .select_related("escalation_policy")
            .prefetch_related("channels", "mute_time_intervals", "active_time_intervals")
            .order_by("position", "id")
        ),
        channels=list(Channel.objects.filter(team=team).order_by("name", "id")),
    )
