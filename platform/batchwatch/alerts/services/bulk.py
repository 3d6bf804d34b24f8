"""Acting on many incidents at once: acknowledge or resolve the open incidents a filter
selects ("mine", a team, an urgency, a state, or given ids), only those the actor may act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from batchwatch.alerts.models import Incident
from batchwatch.alerts.services.incidents import (
    FiringAlertsError,
    incident_acknowledge,
    incident_resolve,
)
from batchwatch.alerts.services.timers import OPEN_STATES
from batchwatch.catalog.models import Membership
from batchwatch.catalog.permissions import is_admin
from batchwatch.oncall.selectors import oncall_for_teams

if TYPE_CHECKING:
    from django.contrib.auth.models import User

BULK_ACTIONS = ("acknowledge", "resolve")
# At most this many incidents per call: a bigger selection is acted on in several calls.
BULK_LIMIT = 500


@dataclass
class IncidentFilter:
    """Which open incidents: all of the given criteria hold (none given: every open one)."""

    mine: bool = False  # assigned to the actor
    team: str = ""  # team slug
    urgency: str = ""  # high | low
    state: str = ""  # triggered | acknowledged ("": both)
    ids: list[int] | None = None  # None: any; [] selects nothing


@dataclass
class BulkResult:
    matched: int = 0  # open incidents the filter selects
    changed: int = 0  # acknowledged or resolved now
    unchanged: int = 0  # already in that state
    firing: int = 0  # not resolved: alerts still fire (resolve with force)
    not_permitted: int = 0  # the actor may not act on them (another team's)
    remaining: int = 0  # over the limit of one call: call again
    ids: list[int] = field(default_factory=list)  # the incidents changed


def _selected(actor: User, filters: IncidentFilter) -> QuerySet[Incident]:
    query = Incident.objects.filter(state__in=OPEN_STATES)
    if filters.state:
        if filters.state not in OPEN_STATES:
            raise ValidationError({"state": "Choose triggered or acknowledged (open incidents)."})
        query = query.filter(state=filters.state)
    if filters.urgency:
        if filters.urgency not in Incident.Urgency.values:
            raise ValidationError({"urgency": "Choose high or low."})
        query = query.filter(urgency=filters.urgency)
    if filters.team:
        query = query.filter(team__slug=filters.team)
    if filters.mine:
        query = query.filter(assignee=actor)
    if filters.ids is not None:
        query = query.filter(pk__in=filters.ids)
    return query.order_by("pk")


def incidents_permitted(actor: User, *, incidents: list[Incident], now: datetime) -> list[Incident]:
    """Those of ``incidents`` the actor may act on, decided for all at once with the rule of
    ``alerts.permissions.can_act_on_incident``: admins; the assignee; members of the owning
    team; whoever is on call for it now."""
    if is_admin(actor):
        return incidents
    teams = set(Membership.objects.filter(user=actor).values_list("team_id", flat=True))
    others = {
        i.team_id
        for i in incidents
        if i.team_id is not None and i.team_id not in teams and i.assignee_id != actor.pk
    }
    for team_id, rows in (oncall_for_teams(sorted(others), now) if others else {}).items():
        if any(person is not None and person.pk == actor.pk for _, person in rows):
            teams.add(team_id)
    return [
        i
        for i in incidents
        if i.assignee_id == actor.pk or (i.team_id is not None and i.team_id in teams)
    ]


def incidents_bulk_act(
    actor: User,
    *,
    action: str,
    filters: IncidentFilter,
    now: datetime,
    force: bool = False,
) -> BulkResult:
    """Acknowledge or resolve the open incidents ``filters`` selects that ``actor`` may act
    on (at most :data:`BULK_LIMIT`, oldest first); returns what became of them.

    Each incident is acted on as one by hand would be (its own transaction), so a resolve
    refused because alerts still fire (without ``force``) leaves the others done.
    """
    if action not in BULK_ACTIONS:
        raise ValidationError({"action": f"Choose one of {', '.join(BULK_ACTIONS)}."})
    selected = list(_selected(actor, filters).only("pk", "team_id", "assignee_id", "state"))
    result = BulkResult(matched=len(selected))
    permitted = incidents_permitted(actor, incidents=selected, now=now)
    result.not_permitted = len(selected) - len(permitted)
    result.remaining = max(0, len(permitted) - BULK_LIMIT)
    for incident in permitted[:BULK_LIMIT]:
        if action == "acknowledge":
            if incident.state != Incident.State.TRIGGERED:
                result.unchanged += 1
                continue
            done = incident_acknowledge(incident, now=now, actor=actor)
            changed = done.state == Incident.State.ACKNOWLEDGED
        else:
            try:
                done = incident_resolve(incident, now=now, actor=actor, force=force)
            except FiringAlertsError:
                result.firing += 1
                continue
            changed = True
        if changed:
            result.changed += 1
            result.ids.append(done.pk)
        else:
            result.unchanged += 1
    return result
