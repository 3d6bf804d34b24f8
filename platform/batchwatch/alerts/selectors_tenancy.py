"""Which alerts, silences and maintenance windows a person may read: staff all of them; others
those of their teams. What is not theirs does not exist for them (the API and the pages answer
404), as for incidents (``selectors_people.incidents_visible_to``).

* An **alert** belongs to the team grouping gives its incident (``services.grouping``): the
  team its ``team`` label names if there is such a team, else its job's owner team, else its
  integration's team. A person reads the alerts of the teams whose incidents they see (their
  teams and the teams they are on call for now), and every alert of an incident they may see
  (one grouped with another team's alert, one that paged them or is assigned to them), so the
  alert list never hides what an incident's page shows.
* A **silence** or a **maintenance window** belongs to the team(s) its ``team="<slug>"``
  equality matchers name (``permissions.suppression_teams``, the rule that decides who
  changes it); a global one (no team matcher) is staff's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from django.db.models import Exists, Model, OuterRef, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from batchwatch.alerts.models import Alert, IncidentAlert, MaintenanceWindow, Silence
from batchwatch.alerts.permissions import TEAM_LABEL, suppression_teams
from batchwatch.alerts.selectors_people import incidents_visible_to, teams_on_call
from batchwatch.catalog.models import Membership, Team
from batchwatch.core.permissions import is_admin

_Suppression = TypeVar("_Suppression", bound=Model)


def _signed_in(user: Any) -> bool:
    return bool(user and user.is_authenticated)


def alerts_visible_to(
    user: Any, query: QuerySet[Alert] | None = None, *, now: datetime
) -> QuerySet[Alert]:
    """Those of ``query`` (default: every alert) that ``user`` may read (see the module).
    One filter on the query whatever its size, plus three queries (the person's teams) and
    :func:`~batchwatch.alerts.selectors_people.teams_on_call`'s reads."""
    if query is None:
        query = Alert.objects.all()
    if is_admin(user):
        return query
    if not _signed_in(user):
        return query.none()
    on_call = teams_on_call(user.pk, now=now)
    team_ids = set(Membership.objects.filter(user_id=user.pk).values_list("team_id", flat=True))
    team_ids |= on_call
    slugs = list(Team.objects.filter(pk__in=team_ids).values_list("slug", flat=True))
    # As text, compared as text (as selectors_silences reads a label).
    label = Cast(KeyTextTransform(TEAM_LABEL, "labels"), TextField())
    names_a_team = Exists(Team.objects.filter(slug=OuterRef("label_team")))
    owned = Q(label_team__in=slugs) | (
        ~names_a_team
        & (
            Q(job__owner_team_id__in=team_ids)
            | Q(job__owner_team_id__isnull=True, integration__team_id__in=team_ids)
        )
    )
    in_a_seen_incident = Exists(
        IncidentAlert.objects.filter(
            alert_id=OuterRef("pk"),
            incident__in=incidents_visible_to(user, now=now, on_call_teams=on_call).values("pk"),
        )
    )
    return query.alias(label_team=label).filter(owned | in_a_seen_incident)


def _suppressions_visible_to(user: Any, query: QuerySet[_Suppression]) -> QuerySet[_Suppression]:
    if is_admin(user):
        return query
    if not _signed_in(user):
        return query.none()
    slugs = set(Membership.objects.filter(user_id=user.pk).values_list("team__slug", flat=True))
    # Decided by the matchers parsed as the permissions read them: a row confined to one of
    # the person's teams, or confined to no team at all (a global silence holds their alerts
    # too, so they must be able to see why). Rows that only mention a slug elsewhere
    # (job="ledger_close" under team="risk") are not theirs.
    visible = [
        pk
        for pk, matchers in query.values_list("pk", "matchers")
        if not (teams := suppression_teams(matchers)) or teams & slugs
    ]
    return query.filter(pk__in=visible)


def silences_visible_to(user: Any, query: QuerySet[Silence] | None = None) -> QuerySet[Silence]:
    """Those of ``query`` (default: every silence) that ``user`` may read: staff all; others
    those confined to one of their teams and those confined to none (global ones, which only
    staff change). Two queries and one filter on the query."""
    return _suppressions_visible_to(user, Silence.objects.all() if query is None else query)


def maintenance_visible_to(
    user: Any, query: QuerySet[MaintenanceWindow] | None = None
) -> QuerySet[MaintenanceWindow]:
    """Those of ``query`` (default: every window) that ``user`` may read, by the rule of
    :func:`silences_visible_to`."""
    return _suppressions_visible_to(
        user, MaintenanceWindow.objects.all() if query is None else query
    )
