"""Acting on an incident from outside Batchwatch's pages: a one-time link (e-mail, SMS, push),
an SMS reply or a keypress on a call. The same services act as for the web and Slack; the
timeline entry names the channel it came from (``actor_label`` "alice (SMS)",
``data = {"channel": "sms", "via": "reply"}``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from batchwatch.alerts.action_links import SNOOZE_FOR, incident_changed
from batchwatch.alerts.models import Incident, TimelineEntry
from batchwatch.alerts.services.incidents import (
    incident_acknowledge,
    incident_escalate,
    incident_resolve,
    incident_snooze,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ACKNOWLEDGE, RESOLVE, SNOOZE, ESCALATE = "acknowledge", "resolve", "snooze", "escalate"
ACTION_KINDS = {
    ACKNOWLEDGE: TimelineEntry.Kind.ACKNOWLEDGED,
    RESOLVE: TimelineEntry.Kind.RESOLVED,
    SNOOZE: TimelineEntry.Kind.SNOOZED,
    ESCALATE: TimelineEntry.Kind.ESCALATE_REQUESTED,
}
CHANNEL_LABELS = {
    "email": "e-mail",
    "sms": "SMS",
    "voice": "voice call",
    "push": "push",
    "teams": "Teams",
    "slack": "Slack",
}
VIA_LINK, VIA_REPLY = "link", "reply"


def channel_label(channel: str, *, via: str) -> str:
    """How the timeline names where an action came from: "SMS", "link in e-mail"."""
    label = CHANNEL_LABELS.get(channel, channel)
    return f"link in {label}" if via == VIA_LINK else label


def _still_applies(incident: Incident, action: str) -> bool:
    if action == ACKNOWLEDGE:
        return incident.state == Incident.State.TRIGGERED
    return incident.state != Incident.State.RESOLVED


def incident_act_from_channel(
    *,
    incident: Incident,
    user: User,
    action: str,
    channel: str,
    via: str,
    now: datetime,
    force: bool = False,
) -> Incident:
    """Carry out ``action`` on ``incident`` as ``user``, recording the channel.

    Raises ``ValidationError`` with a sentence when the action no longer applies (already
    acknowledged or resolved, by whom) and ``FiringAlertsError`` when resolving while alerts
    still fire without ``force``; nothing is changed then. The caller checks permission.
    """
    if action not in ACTION_KINDS:
        raise ValueError(f"unknown action {action!r}")
    label = f"{user.get_username()} ({channel_label(channel, via=via)})"
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if not _still_applies(incident, action):
            raise ValidationError(incident_changed(incident), code="changed")
        if action == ACKNOWLEDGE:
            incident = incident_acknowledge(incident, now=now, actor=user, actor_label=label)
        elif action == RESOLVE:
            incident = incident_resolve(
                incident, now=now, actor=user, actor_label=label, force=force
            )
        elif action == SNOOZE:
            incident = incident_snooze(
                incident, until=now + SNOOZE_FOR, now=now, actor=user, actor_label=label
            )
        else:
            incident = incident_escalate(incident, now=now, actor=user, actor_label=label)
        # The services write the entry without data; this action's own entry gets the channel.
        TimelineEntry.objects.filter(
            incident=incident, kind=ACTION_KINDS[action], at=now, actor=user
        ).update(data={"channel": channel, "via": via})
    return incident
