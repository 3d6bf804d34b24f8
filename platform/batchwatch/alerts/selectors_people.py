"""Reads about people around an incident: whom to offer when reassigning it, and which
incidents a person may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from batchwatch.alerts.models import Incident
from batchwatch.catalog.models import Membership
from batchwatch.core.permissions import is_admin
from batchwatch.notify.models import Notification
from batchwatch.oncall.models import LayerParticipant, RotationOverride, ShiftSwap
from batchwatch.oncall.selectors import oncall_for_teams, rotation_oncall, rotations_with_layers

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# A long list of "others" helps nobody at 3 a.m.: the rest is reachable by username.
OTHERS_LIMIT = 50


@dataclass(frozen=True)
class Candidate:
    user: User
    reason: str  # "on call (Ledger primary)", "member of Ledger", "other"
    group: str  # "oncall" | "team" | "other"


def reassign_candidates(incident: Incident, *, now: datetime) -> list[Candidate]:
    """Whom to offer as the incident's assignee, in this order: whoever is on call for its
    team now (per rotation), then the team's other members, then other active users (by
    username, at most :data:`OTHERS_LIMIT`). The current assignee is left out. Four queries
    whatever the team's size."""
    seen: set[int] = {incident.assignee_id} if incident.assignee_id else set()
    out: list[Candidate] = []
    team = incident.team
    if team is not None:
        for rotation, person in oncall_for_teams([team.pk], now).get(team.pk, []):
            if person is not None and person.is_active and person.pk not in seen:
                seen.add(person.pk)
                out.append(Candidate(person, f"on call ({rotation.name})", "oncall"))
        members = (
            Membership.objects.filter(team=team, user__is_active=True)
            .select_related("user")
            .order_by("user__username")
        )
        for membership in members:
            if membership.user_id not in seen:
                seen.add(membership.user_id)
                out.append(Candidate(membership.user, f"member of {team.name}", "team"))
    others = (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(pk__in=seen)
        .order_by("username")[:OTHERS_LIMIT]
    )
    out += [Candidate(user, "other", "other") for user in others]
    return out


def teams_on_call(user_id: int, *, now: datetime) -> set[int]:
    """The teams ``user_id`` is on call for at ``now``. Only the rotations that could give
    them a shift are asked (a layer names them, an override or a taken swap covers ``now``),
    each with :func:`~batchwatch.oncall.selectors.rotation_oncall`, as
    ``alerts.permissions.can_act_on_incident`` asks: six queries, and two per such rotation."""
    rotation_ids = set(
        LayerParticipant.objects.filter(user_id=user_id).values_list(
            "layer__rotation_id", flat=True
        )
    )
    # (the window rotation_oncall reads overrides and swaps in)
    near = {"starts_at__lt": now + timedelta(seconds=1), "ends_at__gt": now}
    rotation_ids |= set(
        RotationOverride.objects.filter(user_id=user_id, **near).values_list(
            "rotation_id", flat=True
        )
    )
    rotation_ids |= set(
        ShiftSwap.objects.filter(taker_id=user_id, state=ShiftSwap.State.TAKEN, **near).values_list(
            "rotation_id", flat=True
        )
    )
    if not rotation_ids:
        return set()
    return {
        rotation.team_id
        for rotation in rotations_with_layers().filter(pk__in=rotation_ids)
        if rotation_oncall(rotation, now).user_id == user_id
    }


def incidents_visible_to(
    user,
    query: QuerySet[Incident] | None = None,
    *,
    now: datetime,
    on_call_teams: set[int] | None = None,
) -> QuerySet[Incident]:
    """Those of ``query`` (default: every incident) that ``user`` may see, by the rule of
    ``alerts.permissions.can_view_incident`` in the database: admins all; others the
    incidents of their teams and of the teams they are on call for now, those assigned to
    them and those that paged them. One filter on the query, whatever its size (plus
    :func:`teams_on_call`'s reads, unless the caller read them: ``on_call_teams``)."""
    if query is None:
        query = Incident.objects.all()
    if is_admin(user):
        return query
    if not user or not user.is_authenticated:
        return query.none()
    teams = Membership.objects.filter(user_id=user.pk).values("team_id")
    paged = Notification.objects.filter(incident_id=OuterRef("pk"), user_id=user.pk)
    return query.filter(
        Q(assignee_id=user.pk)
        | Q(team_id__in=teams)
        | Q(team_id__in=teams_on_call(user.pk, now=now) if on_call_teams is None else on_call_teams)
        | Exists(paged)
    )
