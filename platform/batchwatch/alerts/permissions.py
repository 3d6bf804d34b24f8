"""Who may act on what in alerting. Reading is confined the same way, in the database: a
person reads the incidents, alerts, silences and maintenance windows of their teams, staff all
of them (``selectors_people.incidents_visible_to``, ``selectors_tenancy``).

* An incident: members of the owning team, whoever is on call for that team right now, the
  assignee, and admins. An incident without a team: admins (and its assignee) only. Its page
  is for them and for the people it paged (:func:`can_view_incident`).
* A silence or a maintenance window belongs to the team(s) its ``team="<slug>"`` equality
  matchers name. A member creates them only confined to their own teams' alerts
  (:func:`confine_matchers` adds the team matcher, or refuses a matcher set that could match
  another team's alerts); only admins create global ones (no team matcher). Editing,
  expiring and deleting one is for members of its team and admins
  (:func:`can_change_suppression`).
* A team's own routes: its members read them, its owners and admins change them
  (:func:`can_change_team_routes`); anyone else is told they do not exist.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError

from batchwatch.alerts.matchers import matches_empty, parse_matchers
from batchwatch.alerts.models import Incident
from batchwatch.catalog.models import Membership, Team
from batchwatch.catalog.permissions import can_manage_team, is_admin
from batchwatch.notify.models import Notification
from batchwatch.oncall.selectors import oncall_for_teams

TEAM_LABEL = "team"


def can_act_on_incident(user, incident: Incident, now: datetime) -> bool:
    if not user or not user.is_authenticated:
        return False
    if is_admin(user) or incident.assignee_id == user.pk:
        return True
    if incident.team_id is None:
        return False  # nobody's incident: a member of any team must not close it
    if Membership.objects.filter(team_id=incident.team_id, user=user).exists():
        return True
    on_call = oncall_for_teams([incident.team_id], now).get(incident.team_id, [])
    return any(person is not None and person.pk == user.pk for _, person in on_call)


def can_manage_silences(user) -> bool:
    """Who may create silences and maintenance windows at all: members of any team (confined
    to their teams by :func:`confine_matchers`), and admins."""
    if not user or not user.is_authenticated:
        return False
    return is_admin(user) or Membership.objects.filter(user=user).exists()


def _team_slugs(user) -> list[str]:
    return list(
        Membership.objects.filter(user=user)
        .order_by("team__slug")
        .values_list("team__slug", flat=True)
    )


def suppression_teams(matchers) -> set[str]:
    """The teams a silence or window belongs to: the values of its ``team="…"`` matchers
    (none for a global one, or for stored matchers that no longer parse)."""
    try:
        parsed = parse_matchers(matchers)
    except ValueError:
        return set()
    return {m.value for m in parsed if m.name == TEAM_LABEL and m.op == "="}


def confine_matchers(
    user, matchers, *, team: str | None = None, what: str = "silence"
) -> list[str]:
    """The matchers to store for ``user``'s new silence or window, confined to their teams.

    ``team`` (a slug) picks the team; a member of one team may leave it out. Raises
    ``ValidationError`` for matchers that do not parse or could match other teams' alerts,
    ``PermissionDenied`` for a team the user is not a member of.
    """
    try:
        parsed = parse_matchers(matchers)
    except ValueError as exc:
        raise ValidationError({"matchers": str(exc)}) from exc
    if parsed and all(matches_empty(m) for m in parsed):
        # (checked before the team matcher is added: it would hide that these match anything)
        raise ValidationError(
            {
                "matchers": "At least one matcher must not match the empty string, "
                f"or the {what} would apply to everything."
            }
        )
    team = (team or "").strip() or None
    named = {m.value for m in parsed if m.name == TEAM_LABEL and m.op == "="}
    if team is not None and named and team not in named:
        raise ValidationError(
            {"team": f"The matchers name team {sorted(named)[0]!r}, not {team!r}."}
        )
    extra = []
    if is_admin(user):  # admins may silence any team, or everything (no team matcher)
        if team is not None and not named:
            if not Team.objects.filter(slug=team).exists():
                raise ValidationError({"team": f"There is no team {team!r}."})
            extra.append(team)
    else:
        if any(m.name == TEAM_LABEL and m.op != "=" for m in parsed):
            raise ValidationError(
                {
                    "matchers": 'Match your team by equality only (team="<slug>"): a '
                    "negation or a regular expression on team could match other teams' "
                    "alerts. Only an admin may silence across teams."
                }
            )
        mine = _team_slugs(user)
        outside = sorted((named | ({team} if team else set())) - set(mine))
        if outside:
            raise PermissionDenied(
                f"You are not a member of team {outside[0]!r}: a member silences only the "
                "alerts of their own teams (an admin may silence others)."
            )
        if not named:
            if team is None and len(mine) != 1:
                raise ValidationError(
                    {
                        "team": "You are a member of several teams "
                        f"({', '.join(mine)}): choose the one whose alerts this is for."
                        if mine
                        else "Only members of a team (or an admin) may silence alerts."
                    }
                )
            extra.append(team or mine[0])
    return [str(m) for m in parsed] + [f'{TEAM_LABEL}="{slug}"' for slug in extra]


def can_change_suppression(user, obj) -> bool:
    """May ``user`` edit, expire or delete this silence or maintenance window: members of the
    team(s) it is confined to, and admins (only they change a global one)."""
    if not user or not user.is_authenticated:
        return False
    if is_admin(user):
        return True
    teams = suppression_teams(obj.matchers)
    return bool(teams) and Membership.objects.filter(user=user, team__slug__in=teams).exists()


def can_view_incident(user, incident: Incident, now: datetime) -> bool:
    """Who may open an incident's page: whoever may act on it, and anyone it paged (a person
    an escalation step names may be outside the team). Others are told it does not exist."""
    if can_act_on_incident(user, incident, now):
        return True
    return Notification.objects.filter(incident=incident, user_id=user.pk).exists()


def can_change_team_routes(user, team: Team) -> bool:
    """A team's own routes decide whom its alerts page: its owners and admins change them."""
    return bool(user and user.is_authenticated) and can_manage_team(user, team)
