"""Escalation: paging a snapshotted policy's steps, one timer after another."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model

from batchwatch.alerts.models import Incident, TimelineEntry, Timer
from batchwatch.alerts.services.action_links import (
    LINK_TRANSPORTS,
    action_links_create,
    action_links_text,
)
from batchwatch.alerts.services.timeline import timeline_write
from batchwatch.alerts.services.timers import _timer_set
from batchwatch.notify.models import Channel
from batchwatch.notify.services import Recipient, notification_enqueue
from batchwatch.oncall.models import EscalationStep
from batchwatch.oncall.selectors import rotation_next, rotation_oncall, rotations_with_layers

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _user_recipient(user: User) -> Recipient:
    if user.email:
        return Recipient("email", user.email, user_id=user.pk, label=user.get_username())
    return Recipient("log", user.get_username(), user_id=user.pk, label=user.get_username())


def step_recipients(step: dict[str, Any], *, now: datetime) -> tuple[list[Recipient], str]:
    """Who a snapshotted step reaches at ``now``, and a sentence saying why."""
    User = get_user_model()
    target = step["target"]
    if target in (EscalationStep.Target.ROTATION, EscalationStep.Target.NEXT_IN_ROTATION):
        rotation = rotations_with_layers().filter(pk=step["rotation_id"]).first()
        if rotation is None:
            return [], "the rotation no longer exists"
        if target == EscalationStep.Target.ROTATION:
            user_id, why = rotation_oncall(rotation, now).user_id, f"on call in {rotation.name}"
        else:
            user_id, why = rotation_next(rotation, now), f"next in {rotation.name}"
        user = User.objects.filter(pk=user_id).first() if user_id else None
        if user is None:
            return [], f"nobody is on call in {rotation.name}"
        return [_user_recipient(user)], why
    if target == EscalationStep.Target.USER:
        user = User.objects.filter(pk=step["user_id"]).first()
        return ([_user_recipient(user)], "named in the policy") if user else ([], "user gone")
    channels = list(Channel.objects.filter(team_id=step["team_id"], is_broken=False))
    return [Recipient(c.kind, c.address, channel=c, label=c.name) for c in channels], "team channel"


def _escalate(incident: Incident, step_index: int, loop: int, now: datetime) -> None:
    snapshot = incident.escalation_snapshot or {}
    steps = snapshot.get("steps") or []
    if not steps:
        if incident.escalation_step < 0:
            incident.escalation_step = 0
            incident.save(update_fields=["escalation_step"])
            timeline_write(
                incident,
                at=now,
                kind=TimelineEntry.Kind.NO_ESCALATION,
                message="No escalation policy: nobody is paged (group notifications only)",
            )
        return
    step = steps[step_index]
    recipients, why = step_recipients(step, now=now)
    for recipient in recipients:
        body = f"Escalation step {step_index + 1} of '{snapshot.get('name')}' ({why})."
        payload: dict[str, Any] = {
            "incident": incident.pk,
            "step": step_index + 1,
            "loop": loop + 1,
        }
        if recipient.user_id and recipient.transport in LINK_TRANSPORTS:
            # (A replayed step writes links again; nobody receives those, and they expire.)
            links = action_links_create(
                incident=incident, user_id=recipient.user_id, channel=recipient.transport, now=now
            )
            payload["action_links"] = links
            body += action_links_text(links)
        notification_enqueue(
            purpose="page",
            recipient=recipient,
            subject=f"[{incident.urgency.upper()}] #{incident.pk} {incident.title}",
            body=body,
            payload=payload,
            idempotency_key=(
                f"page:{incident.pk}:{incident.escalation_token}:{loop}:{step_index}:"
                f"{recipient.transport}:{recipient.address}"
            ),
            now=now,
            incident=incident,
        )
    who = ", ".join(r.label or r.address for r in recipients) or "nobody"
    loop_text = f" (repeat {loop})" if loop else ""
    timeline_write(
        incident,
        at=now,
        kind=TimelineEntry.Kind.ESCALATED,
        message=f"Step {step_index + 1}{loop_text}: paged {who} ({why})",
        data={"step": step_index, "loop": loop, "recipients": [r.address for r in recipients]},
    )
    user_ids = [r.user_id for r in recipients if r.user_id]
    incident.escalation_step, incident.escalation_loop = step_index, loop
    fields = ["escalation_step", "escalation_loop"]
    if user_ids and not incident.assigned_explicitly:
        # Whoever was paged last holds it, unless a person assigned it explicitly.
        incident.assignee_id = user_ids[0]
        fields.append("assignee")
    incident.save(update_fields=fields)
    if incident.urgency == Incident.Urgency.LOW:
        return  # low urgency notifies the first step and stops there
    wait = timedelta(seconds=step["wait_seconds"])
    if step_index + 1 < len(steps):
        nxt, nxt_loop = step_index + 1, loop
    elif loop < snapshot.get("repeat", 0):
        nxt, nxt_loop = 0, loop + 1
    else:
        return
    _timer_set(
        incident,
        Timer.Kind.ESCALATE,
        now + wait,
        token=incident.escalation_token,
        step=nxt,
        loop=nxt_loop,
    )


def _retrigger(incident: Incident, now: datetime, message: str) -> None:
    incident.state = Incident.State.TRIGGERED
    incident.snoozed_until = None
    incident.escalation_token += 1
    incident.save(update_fields=["state", "snoozed_until", "escalation_token"])
    timeline_write(incident, at=now, kind=TimelineEntry.Kind.RETRIGGERED, message=message)
    _escalate(incident, 0, 0, now)
