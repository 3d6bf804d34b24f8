"""Reading the audit log: who may see which events."""

from __future__ import annotations

from typing import cast

from django.db.models import Model, Q, QuerySet

from batchwatch.audit.models import AuditEvent
from batchwatch.core.permissions import is_admin


def team_model() -> type[Model]:
    """The catalog's team model, through the log's own relation (as ``get_user_model`` does
    for users): the catalog writes to the audit log, so audit cannot import it."""
    return cast("type[Model]", AuditEvent._meta.get_field("team").related_model)


def audit_events_visible_to(user) -> QuerySet[AuditEvent]:
    """Staff see every event; a member sees the events of their teams and their own actions;
    anyone else nothing. Actor and team come in the same query (no query per row)."""
    events = AuditEvent.objects.select_related("actor", "team")
    if is_admin(user):
        return events
    if not user or not user.is_authenticated:
        return events.none()
    teams = user.memberships.values("team_id")  # the catalog's Membership rows of the user
    return events.filter(Q(team_id__in=teams) | Q(actor=user))
