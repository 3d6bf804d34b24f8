"""Who may act on an incident: members of the owning team, whoever is on call for that team
right now, the assignee, and admins. Everyone signed in may read."""

from __future__ import annotations

from datetime import datetime

from batchwatch.alerts.models import Incident
from batchwatch.catalog.models import Membership
from batchwatch.catalog.permissions import is_admin


def can_act_on_incident(user, incident: Incident, now: datetime) -> bool:
    if not user or not user.is_authenticated:
        return False
    if is_admin(user) or incident.assignee_id == user.pk:
        return True
    if incident.team_id is None:
        return Membership.objects.filter(user=user).exists()
    if Membership.objects.filter(team_id=incident.team_id, user=user).exists():
        return True
    from batchwatch.oncall.selectors import oncall_for_teams

    on_call = oncall_for_teams([incident.team_id], now).get(incident.team_id, [])
    return any(person is not None and person.pk == user.pk for _, person in on_call)


def can_manage_silences(user) -> bool:
    """Silences cross teams (an alert may be anybody's): members of any team, and admins."""
    if not user or not user.is_authenticated:
        return False
    return is_admin(user) or Membership.objects.filter(user=user).exists()
