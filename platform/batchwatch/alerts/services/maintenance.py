"""Maintenance windows: created, changed and deleted through here (API, admin), audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from batchwatch.alerts.models import MaintenanceWindow
from batchwatch.alerts.services.silences import _suppression_team
from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest
    from rest_framework.request import Request

MAINTENANCE_FIELDS = frozenset(
    {"name", "matchers", "starts_at", "duration", "recurrence", "timezone", "until", "comment"}
)


def _window_detail(window: MaintenanceWindow) -> dict[str, Any]:
    return {
        "name": window.name,
        "matchers": list(window.matchers or []),
        "starts_at": window.starts_at.isoformat() if window.starts_at else None,
        "duration_seconds": window.duration.total_seconds() if window.duration else None,
        "recurrence": window.recurrence,
    }


@transaction.atomic
def maintenance_window_create(
    *,
    fields: dict[str, Any],
    created_by: User | None = None,
    request: HttpRequest | Request | None = None,
    actor_name: str = "",
) -> MaintenanceWindow:
    """A maintenance window from validated fields (matchers already confined to the creator's
    teams, see ``alerts.permissions.confine_matchers``), and its audit event."""
    unknown = set(fields) - MAINTENANCE_FIELDS
    if unknown:
        raise ValidationError(f"Cannot set {', '.join(sorted(unknown))} of a maintenance window.")
    window = MaintenanceWindow(created_by=created_by, **fields)
    window.full_clean()
    window.save()
    record_event(
        AuditEvent.Action.MAINTENANCE_CREATED,
        actor=created_by,
        actor_name=actor_name,
        team=_suppression_team(window.matchers),
        target=window,
        detail=_window_detail(window),
        request=request,
    )
    return window


@transaction.atomic
def maintenance_window_update(
    *,
    window: MaintenanceWindow,
    changes: dict[str, Any],
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
    actor_name: str = "",
) -> MaintenanceWindow:
    """Change a window and record which fields changed, before and after (a save that changes
    nothing records nothing)."""
    unknown = set(changes) - MAINTENANCE_FIELDS
    if unknown:
        raise ValidationError(
            f"Cannot change {', '.join(sorted(unknown))} of a maintenance window."
        )
    before = _window_detail(window)
    team_before = _suppression_team(window.matchers)
    for name, value in changes.items():
        setattr(window, name, value)
    window.full_clean()
    window.save()
    after = _window_detail(window)
    changed = sorted(k for k in after if after[k] != before[k])
    if changed:
        record_event(
            AuditEvent.Action.MAINTENANCE_UPDATED,
            actor=actor,
            actor_name=actor_name,
            # Made global (no team matcher left): still its former team's event to see.
            team=_suppression_team(window.matchers) or team_before,
            target=window,
            detail={
                "changed": changed,
                "before": {k: before[k] for k in changed},
                "after": {k: after[k] for k in changed},
            },
            request=request,
        )
    return window


@transaction.atomic
def maintenance_window_delete(
    *,
    window: MaintenanceWindow,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
    actor_name: str = "",
) -> None:
    """Delete a window; its audit event keeps what it was (the row is gone)."""
    record_event(
        AuditEvent.Action.MAINTENANCE_DELETED,
        actor=actor,
        actor_name=actor_name,
        team=_suppression_team(window.matchers),
        target=window,
        detail=_window_detail(window),
        request=request,
    )
    window.delete()
