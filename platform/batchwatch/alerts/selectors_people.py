"""Reads about people around an incident: whom to offer when reassigning it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model

from batchwatch.alerts.models import Incident
from batchwatch.catalog.models import Membership
from batchwatch.oncall.selectors import oncall_for_teams

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
