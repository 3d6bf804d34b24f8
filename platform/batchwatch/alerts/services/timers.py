"""Durable timers: one pending timer of each kind per incident, and when a group flushes."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from batchwatch.alerts.models import Alert, Incident, IncidentAlert, Timer

OPEN_STATES = (Incident.State.TRIGGERED, Incident.State.ACKNOWLEDGED)


def _timer_set(
    incident: Incident,
    kind: str,
    due: datetime,
    *,
    token: int = 0,
    step: int = 0,
    loop: int = 0,
    earliest: bool = False,
) -> None:
    """Make the incident's pending timer of ``kind`` due at ``due`` (one pending per kind).

    ``earliest``: keep an existing timer that is due sooner (a flush is never postponed).
    """
    for _ in range(2):
        pending = Timer.objects.filter(incident=incident, kind=kind, state=Timer.State.PENDING)
        existing = pending.first()
        if existing is not None:
            if earliest and existing.due_at <= due:
                return
            pending.update(due_at=due, token=token, step=step, loop=loop)
            return
        try:
            with transaction.atomic():
                Timer.objects.create(
                    incident=incident, kind=kind, due_at=due, token=token, step=step, loop=loop
                )
            return
        except IntegrityError:
            continue  # another process created it meanwhile: update that one


def _timers_cancel(incident: Incident, *kinds: str) -> None:
    query = Timer.objects.filter(incident=incident, state=Timer.State.PENDING)
    if kinds:
        query = query.filter(kind__in=kinds)
    query.update(state=Timer.State.CANCELLED)


def _schedule_flush(incident: Incident, now: datetime, *, started_long_ago: bool = False) -> None:
    """A change in the group: flush after group_wait (first time; at once when an alert
    started more than group_wait ago, as Alertmanager) or group_interval.

    ``incident`` must be locked (``SELECT ... FOR UPDATE``) and read after the lock: a flush
    holds the lock until it commits, so a change that arrives while a flush is in flight
    waits for it and then sees the flush's committed timer (the repeat, hours away), which
    it brings forward. Without the lock, it would keep the in-flight flush's own timer, still
    pending to it, and the flush, working from the alerts before the change, would schedule
    only the repeat: a resolve lost until repeat_interval."""
    if incident.last_flush_at is None:
        due = now if started_long_ago else incident.created_at + incident.group_wait
    else:
        due = incident.last_flush_at + incident.group_interval
    _timer_set(incident, Timer.Kind.FLUSH, max(due, now), earliest=True)


def _schedule_flush_for_alerts(alert_ids: list[int], now: datetime) -> None:
    if not alert_ids:
        return
    # Locked in id order (as a storm's flushes lock them): see _schedule_flush.
    holding = IncidentAlert.objects.filter(alert_id__in=alert_ids).values("incident_id")
    for incident in (
        Incident.objects.select_for_update()
        .filter(pk__in=holding, state__in=OPEN_STATES)
        .order_by("pk")
    ):
        _schedule_flush(incident, now)


def _started_long_ago(incident: Incident, alerts: list[Alert], now: datetime) -> bool:
    """Whether one of these alerts started more than group_wait ago (by its own startsAt):
    Alertmanager then flushes a group that has not flushed yet at once rather than waiting
    group_wait again (alerts re-sent after a restart, or held up on the way)."""
    return any(a.starts_at + incident.group_wait < now for a in alerts)


def _first_flush_due(incident: Incident, alerts: list[Alert], now: datetime) -> datetime:
    return now if _started_long_ago(incident, alerts, now) else now + incident.group_wait
