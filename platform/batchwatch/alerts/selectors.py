"""Reads of alerting: incident lists and timelines, overdue timers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Coalesce

from batchwatch.alerts.config import load_config
from batchwatch.alerts.models import Alert, Incident, IncidentAlert, TimelineEntry, Timer
from batchwatch.alerts.services.suppression import Inhibitor, SuppressionKind, SuppressionReason
from batchwatch.notify.models import Notification


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str
    actor: str
    message: str
    state: str = ""  # for notifications: pending / delivered / failed


def incident_timeline(incident: Incident) -> list[TimelineItem]:
    """The incident's history, with each notification's delivery state, in time order."""
    items = [
        TimelineItem(e.at, e.kind, e.actor.get_username() if e.actor else e.actor_label, e.message)
        for e in TimelineEntry.objects.filter(incident=incident).select_related("actor")
    ]
    for n in Notification.objects.filter(incident=incident).order_by("created_at", "id"):
        detail = f" ({n.last_error})" if n.last_error else ""
        when = n.delivered_at or n.created_at
        items.append(
            TimelineItem(
                when,
                f"notification_{n.state}",
                "outbox",
                f"{n.get_purpose_display()} to {n.address}: {n.get_state_display().lower()}"
                f"{detail}, {n.attempts} attempt(s)",
                n.state,
            )
        )
    return sorted(items, key=lambda item: item.at)


def incidents_query(
    *, state: str | None = None, team_slug: str | None = None
) -> QuerySet[Incident]:
    """Incidents newest first, with their team, assignee and alert count (one query).

    ``state``: one of the states, or "open" for triggered and acknowledged.
    """
    # The count as a subquery, not a GROUP BY over the join: the page's LIMIT then applies
    # before counting (20,000 incidents: ~200 ms -> a few), and the list's COUNT(*) leaves
    # the unused subquery out.
    alerts = (
        IncidentAlert.objects.filter(incident=OuterRef("pk"))
        .order_by()
        .values("incident")
        .annotate(n=Count("*"))
        .values("n")
    )
    query = Incident.objects.select_related("team", "assignee").annotate(
        alert_count=Coalesce(Subquery(alerts), 0)
    )
    if state == "open":
        query = query.exclude(state=Incident.State.RESOLVED)
    elif state:
        query = query.filter(state=state)
    if team_slug:
        query = query.filter(team__slug=team_slug)
    return query.order_by("-created_at", "-id")


def overdue_timers(now: datetime) -> QuerySet[Timer]:
    """Pending timers later than the allowed slack: the auditor's view (admin, /metrics)."""
    slack = timedelta(seconds=settings.BATCHWATCH_TIMER_OVERDUE_SECONDS)
    return Timer.objects.filter(state=Timer.State.PENDING, due_at__lt=now - slack)


def open_incident_counts() -> dict[tuple[str, str], int]:
    rows = (
        Incident.objects.exclude(state=Incident.State.RESOLVED)
        .values("team__slug", "state")
        .annotate(n=Count("id"))
    )
    return {(row["team__slug"] or "", row["state"]): row["n"] for row in rows}


def inhibited_count(incident: Incident, *, now: datetime) -> int:
    """Firing alerts muted by an inhibition rule whose source is one of this incident's
    alerts (with equal values of the rule's ``equal`` labels): what it is hiding."""
    targets = list(
        Alert.objects.filter(
            status=Alert.Status.FIRING,
            suppressed_reason__startswith=SuppressionReason.prefix(SuppressionKind.INHIBITED),
        ).only("labels", "suppressed_reason")
    )
    if not targets:
        return 0
    sources = list(
        Alert.objects.filter(
            memberships__incident=incident,
            memberships__attached_reason="",
            status=Alert.Status.FIRING,
        ).only("labels")
    )
    inhibitor = Inhibitor(load_config(now).inhibit_rules, sources=sources)
    rules = {rule.name: rule for rule in inhibitor.rules}
    count = 0
    for target in targets:
        reason = SuppressionReason.parse(target.suppressed_reason)
        rule = rules.get(reason.detail) if reason is not None else None
        if rule is not None and inhibitor.inhibits(rule, target):
            count += 1
    return count


def incidents_unacknowledged(
    team_ids: list[int] | None, *, user_id: int, limit: int = 25
) -> tuple[list[Incident], int]:
    """Triggered incidents of the teams or assigned to the user (``team_ids`` None: every
    incident), high urgency first, then the oldest: what waits for someone to acknowledge
    it; the first ``limit`` and how many there are in all. One query, with team, assignee,
    alert count (a subquery, counted for the rows read only) and the total (a window)."""
    alerts = (
        IncidentAlert.objects.filter(incident=OuterRef("pk"))
        .order_by()
        .values("incident")
        .annotate(n=Count("*"))
        .values("n")
    )
    query = Incident.objects.filter(state=Incident.State.TRIGGERED)
    if team_ids is not None:
        query = query.filter(Q(team_id__in=team_ids) | Q(assignee_id=user_id))
    rows: list[Incident] = list(
        query.select_related("team", "assignee")
        .annotate(alert_count=Coalesce(Subquery(alerts), 0), total=Window(Count("*")))
        .order_by("urgency", "created_at", "id")[:limit]
    )
    return rows, (getattr(rows[0], "total", 0) if rows else 0)
