"""Periodic reconsideration: expiring unrefreshed alerts, routing held ones whose reason went."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F

from batchwatch.alerts.config import load_config
from batchwatch.alerts.models import Alert, IncidentAlert
from batchwatch.alerts.services.grouping import _route_alerts
from batchwatch.alerts.services.semantics import incidents_refresh
from batchwatch.alerts.services.timers import OPEN_STATES, _schedule_flush_for_alerts


def alerts_reconsider(*, now: datetime) -> int:
    """Expire unrefreshed alerts; route suppressed ones whose reason has gone."""
    expired = list(
        Alert.objects.filter(status=Alert.Status.FIRING, expires_at__lte=now).values_list(
            "pk", flat=True
        )
    )
    with transaction.atomic():
        if expired:
            Alert.objects.filter(pk__in=expired).update(
                status=Alert.Status.RESOLVED,
                ends_at=F("expires_at"),
                needs_routing=False,
                suppressed_reason="",
            )
            _schedule_flush_for_alerts(expired, now)
            incidents_refresh(
                IncidentAlert.objects.filter(
                    alert_id__in=expired, incident__state__in=OPEN_STATES
                ).values_list("incident_id", flat=True),
                now=now,
            )
        waiting = list(
            Alert.objects.filter(needs_routing=True, status=Alert.Status.FIRING).select_related(
                "job", "integration"
            )[:2000]
        )
        if waiting:
            attached_open = set(
                IncidentAlert.objects.filter(alert__in=waiting, incident__state__in=OPEN_STATES)
                .exclude(attached_reason="")
                .values_list("alert_id", flat=True)
            )
            _route_alerts([a for a in waiting if a.pk not in attached_open], load_config(now), now)
    return len(expired) + len(waiting)
