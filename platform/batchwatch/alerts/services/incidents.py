"""The incident lifecycle: people and integrations acknowledging, resolving, reopening,
snoozing, reassigning and escalating incidents (and the resolution a flush makes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from batchwatch.alerts.models import Alert, Incident, IncidentAlert, TimelineEntry, Timer
from batchwatch.alerts.services.escalation import _escalate, _user_recipient
from batchwatch.alerts.services.timeline import timeline_write
from batchwatch.alerts.services.timers import _timer_set, _timers_cancel
from batchwatch.notify.services import notification_enqueue

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _resolve(
    incident: Incident, now: datetime, *, actor: User | None, actor_label: str, message: str
) -> None:
    incident.state = Incident.State.RESOLVED
    incident.open_group_key = None
    incident.resolved_at = now
    incident.resolved_by = actor
    incident.snoozed_until = None
    incident.escalation_token += 1
    incident.save(
        update_fields=[
            "state",
            "open_group_key",
            "resolved_at",
            "resolved_by",
            "snoozed_until",
            "escalation_token",
        ]
    )
    _timers_cancel(incident)
    timeline_write(
        incident,
        at=now,
        kind=TimelineEntry.Kind.RESOLVED,
        message=message,
        actor=actor,
        actor_label=actor_label,
    )
    # Downstream alerts that waited on this (upstream) incident get their own chance now.
    Alert.objects.filter(
        memberships__incident=incident,
        status=Alert.Status.FIRING,
    ).exclude(memberships__attached_reason="").update(needs_routing=True)


def _actor_label(actor: User | None, actor_label: str) -> str:
    if actor_label:
        return actor_label
    return actor.get_username() if actor is not None else "batchwatch"


def _log_action(
    incident: Incident, now: datetime, kind: str, message: str, actor: User | None, actor_label: str
) -> None:
    timeline_write(
        incident,
        at=now,
        kind=kind,
        message=message,
        actor=actor,
        actor_label=_actor_label(actor, actor_label),
    )


def _locked(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident.pk)


def incident_acknowledge(
    incident: Incident, *, now: datetime, actor: User | None = None, actor_label: str = ""
) -> Incident:
    """Stop the escalation; an ack timeout (from the policy) re-triggers it later.

    The acknowledger becomes the assignee, unless a person assigned the incident to someone
    else explicitly (``incident_reassign``): that assignment stands.
    """
    with transaction.atomic():
        incident = _locked(incident)
        if incident.state != Incident.State.TRIGGERED:
            return incident  # acknowledging twice, or a resolved incident: nothing to do
        incident.state = Incident.State.ACKNOWLEDGED
        incident.acknowledged_at = now
        incident.acknowledged_by = actor
        incident.escalation_token += 1
        if actor is not None and not (
            incident.assigned_explicitly and incident.assignee_id not in (None, actor.pk)
        ):
            incident.assignee = actor
        incident.save(
            update_fields=[
                "state",
                "acknowledged_at",
                "acknowledged_by",
                "escalation_token",
                "assignee",
            ]
        )
        _timers_cancel(incident, Timer.Kind.ESCALATE, Timer.Kind.UNSNOOZE)
        timeout = (incident.escalation_snapshot or {}).get("ack_timeout_seconds")
        if timeout:
            _timer_set(
                incident,
                Timer.Kind.ACK_TIMEOUT,
                now + timedelta(seconds=timeout),
                token=incident.escalation_token,
            )
        _log_action(
            incident,
            now,
            TimelineEntry.Kind.ACKNOWLEDGED,
            "Acknowledged; escalation stopped",
            actor,
            actor_label,
        )
    return incident


class FiringAlertsError(ValidationError):
    """Resolving by hand an incident whose alerts still fire, without ``force``."""

    def __init__(self, firing: int) -> None:
        self.firing = firing
        super().__init__(
            f"{firing} alert{'s' if firing != 1 else ''} of this incident still "
            f"fire{'s' if firing == 1 else ''}. Resolve with force to mark "
            f"{'them' if firing != 1 else 'it'} resolved too: a later firing then opens a "
            "new incident.",
            code="alerts_firing",
        )


def _firing_alert_ids(incident: Incident) -> list[int]:
    """The incident's own (grouped, not lineage-attached) alerts that still fire."""
    return list(
        IncidentAlert.objects.filter(
            incident=incident, attached_reason="", alert__status=Alert.Status.FIRING
        ).values_list("alert_id", flat=True)
    )


def incident_resolve(
    incident: Incident,
    *,
    now: datetime,
    actor: User | None = None,
    actor_label: str = "",
    force: bool = False,
) -> Incident:
    """Resolve by hand. Refused (``FiringAlertsError``) while some of its alerts still fire,
    unless ``force``: those alerts are then marked resolved (by ``actor``), so their next
    firing report opens a new incident instead of vanishing into this resolved one."""
    with transaction.atomic():
        incident = _locked(incident)
        if incident.state == Incident.State.RESOLVED:
            return incident
        firing = _firing_alert_ids(incident)
        if firing and not force:
            raise FiringAlertsError(len(firing))
        if firing:
            Alert.objects.filter(pk__in=firing).update(
                status=Alert.Status.RESOLVED,
                ends_at=now,
                expires_at=None,
                needs_routing=False,
                suppressed_reason="",
                resolved_by=actor,
            )
        _resolve(
            incident,
            now,
            actor=actor,
            actor_label=_actor_label(actor, actor_label),
            message=f"Resolved with {len(firing)} alert(s) still firing, marked resolved"
            if firing
            else "Resolved",
        )
    return incident


def incident_reopen(
    incident: Incident,
    *,
    now: datetime,
    actor: User | None = None,
    actor_label: str = "",
    reason: str = "",
) -> Incident:
    """Reopen a resolved incident: it is triggered again and its escalation restarts from
    the first step of its policy (as snapshotted when it opened), paging as a new incident
    would. Refused when a newer incident is open for the same group (act on that one)."""
    reason = reason.strip()
    if len(reason) > 500:
        raise ValidationError({"reason": "A reason has at most 500 characters."})
    with transaction.atomic():
        incident = _locked(incident)
        if incident.state != Incident.State.RESOLVED:
            raise ValidationError("Only a resolved incident can be reopened.")
        newer = (
            Incident.objects.filter(open_group_key=incident.group_key)
            .exclude(pk=incident.pk)
            .first()
        )
        if newer is not None:
            raise ValidationError(
                f"Incident #{newer.pk} is open for the same alerts: act on that one instead."
            )
        _reopen_fields(incident)
        try:
            with transaction.atomic():
                incident.save(update_fields=_REOPEN_FIELDS)
        except IntegrityError:  # a new incident of the group opened meanwhile
            raise ValidationError("A newer incident is open for the same alerts.") from None
        _log_action(
            incident,
            now,
            TimelineEntry.Kind.REOPENED,
            f"Reopened: {reason}" if reason else "Reopened",
            actor,
            actor_label,
        )
        _escalate(incident, 0, 0, now)
    return incident


_REOPEN_FIELDS = [
    "state",
    "open_group_key",
    "resolved_at",
    "resolved_by",
    "acknowledged_at",
    "acknowledged_by",
    "snoozed_until",
    "escalation_token",
    "escalation_step",
    "escalation_loop",
]


def _reopen_fields(incident: Incident) -> None:
    incident.state = Incident.State.TRIGGERED
    incident.open_group_key = incident.group_key
    incident.resolved_at = incident.resolved_by = None
    incident.acknowledged_at = incident.acknowledged_by = None
    incident.snoozed_until = None
    incident.escalation_token += 1  # timers of before the resolution stay stale
    incident.escalation_step, incident.escalation_loop = -1, 0


def incident_snooze(
    incident: Incident,
    *,
    until: datetime,
    now: datetime,
    actor: User | None = None,
    actor_label: str = "",
) -> Incident:
    """Quiet until ``until``, then back to triggered with a fresh escalation."""
    if until <= now:
        raise ValidationError({"until": "A snooze ends in the future."})
    if until - now > timedelta(days=7):
        raise ValidationError({"until": "A snooze lasts at most 7 days."})
    with transaction.atomic():
        incident = _locked(incident)
        if incident.state == Incident.State.RESOLVED:
            raise ValidationError("A resolved incident cannot be snoozed.")
        incident.state = Incident.State.ACKNOWLEDGED
        incident.snoozed_until = until
        incident.escalation_token += 1
        incident.save(update_fields=["state", "snoozed_until", "escalation_token"])
        _timers_cancel(incident, Timer.Kind.ESCALATE, Timer.Kind.ACK_TIMEOUT)
        _timer_set(incident, Timer.Kind.UNSNOOZE, until, token=incident.escalation_token)
        _log_action(
            incident,
            now,
            TimelineEntry.Kind.SNOOZED,
            f"Snoozed until {until:%Y-%m-%d %H:%M} UTC",
            actor,
            actor_label,
        )
    return incident


def incident_reassign(
    incident: Incident,
    *,
    user: User,
    now: datetime,
    actor: User | None = None,
    actor_label: str = "",
) -> Incident:
    with transaction.atomic():
        incident = _locked(incident)
        if incident.state == Incident.State.RESOLVED:
            raise ValidationError("A resolved incident cannot be reassigned.")
        incident.assignee = user
        incident.assigned_explicitly = True
        incident.save(update_fields=["assignee", "assigned_explicitly"])
        count = TimelineEntry.objects.filter(
            incident=incident, kind=TimelineEntry.Kind.REASSIGNED
        ).count()
        notification_enqueue(
            purpose="page",
            recipient=_user_recipient(user),
            subject=f"[ASSIGNED] #{incident.pk} {incident.title}",
            body=f"{_actor_label(actor, actor_label)} assigned this incident to you.",
            idempotency_key=f"assign:{incident.pk}:{count}:{user.pk}",
            now=now,
            incident=incident,
        )
        _log_action(
            incident,
            now,
            TimelineEntry.Kind.REASSIGNED,
            f"Reassigned to {user.get_username()}",
            actor,
            actor_label,
        )
    return incident


def incident_escalate(
    incident: Incident, *, now: datetime, actor: User | None = None, actor_label: str = ""
) -> Incident:
    """Go to the next escalation step now (by hand)."""
    with transaction.atomic():
        incident = _locked(incident)
        if incident.state == Incident.State.RESOLVED:
            raise ValidationError("A resolved incident cannot be escalated.")
        steps = (incident.escalation_snapshot or {}).get("steps") or []
        if not steps:
            raise ValidationError("This incident has no escalation policy to escalate along.")
        _log_action(
            incident,
            now,
            TimelineEntry.Kind.ESCALATE_REQUESTED,
            "Escalation requested",
            actor,
            actor_label,
        )
        incident.state = Incident.State.TRIGGERED
        incident.snoozed_until = None
        incident.escalation_token += 1
        incident.save(update_fields=["state", "snoozed_until", "escalation_token"])
        _timers_cancel(incident, Timer.Kind.ESCALATE, Timer.Kind.ACK_TIMEOUT, Timer.Kind.UNSNOOZE)
        nxt = (incident.escalation_step + 1) % len(steps)
        _escalate(incident, nxt, incident.escalation_loop, now)
    return incident
