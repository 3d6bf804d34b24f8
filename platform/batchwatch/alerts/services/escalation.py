"""Escalation: paging a snapshotted policy's steps, one timer after another."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model

from batchwatch.accounts.selectors import paging_rules_for
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
from batchwatch.notify.services_contact import recipient_for
from batchwatch.oncall.models import EscalationStep
from batchwatch.oncall.selectors import rotation_next, rotation_oncall, rotations_with_layers

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _user_recipient(user: User) -> Recipient:
    if user.email:
        return Recipient("email", user.email, user_id=user.pk, label=user.get_username())
    return Recipient("log", user.get_username(), user_id=user.pk, label=user.get_username())


@dataclass(frozen=True)
class _Page:
    """One page a step writes: to a channel, to a person's account e-mail, or one of a
    person's notification rules (``rule_id``), due at ``deliver_at`` (None: at once)."""

    recipient: Recipient
    deliver_at: datetime | None = None
    rule_id: int | None = None


def _pages_of(recipients: list[Recipient], *, urgency: str, now: datetime) -> list[_Page]:
    """A step's recipients as pages: each person reached through their notification rules of
    the incident's urgency (one query for all of them), a person without any at their
    account e-mail as before rules existed, channels as they are. A low-urgency rule's page
    waits for the end of its person's quiet hours."""
    people = [r.user_id for r in recipients if r.user_id and r.channel is None]
    rules = paging_rules_for(user_ids=people, urgency=urgency) if people else {}
    pages: list[_Page] = []
    for recipient in recipients:
        own = rules.get(recipient.user_id or 0) if recipient.channel is None else None
        if not own:
            pages.append(_Page(recipient))
            continue
        for rule in own:
            due = now + timedelta(minutes=rule.delay_minutes)
            profile = getattr(rule.user, "profile", None)
            if urgency == Incident.Urgency.LOW and profile is not None:
                due = profile.quiet_until(due)
            method = rule.contact_method
            target = recipient_for(method)
            label = f"{recipient.label} ({method.get_kind_display()}"
            label += f" at +{rule.delay_minutes} min)" if rule.delay_minutes else ")"
            pages.append(_Page(replace(target, label=label), due if due > now else None, rule.pk))
    return pages


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


def _page_write(
    incident: Incident,
    page: _Page,
    *,
    body: str,
    key: str,
    step_index: int,
    loop: int,
    now: datetime,
) -> None:
    """Put one of a step's pages in the outbox (nothing when the step ran before)."""
    payload: dict[str, Any] = {"incident": incident.pk, "step": step_index + 1, "loop": loop + 1}
    text = body
    if page.rule_id is not None:
        # Fenced (alerts.paging_fence): sent only while this escalation still runs.
        payload["token"] = incident.escalation_token
    recipient = page.recipient
    if recipient.user_id and recipient.transport in LINK_TRANSPORTS:
        # (A replayed step writes links again; nobody receives those, and they expire.)
        links = action_links_create(
            incident=incident, user_id=recipient.user_id, channel=recipient.transport, now=now
        )
        payload["action_links"] = links
        text += action_links_text(links)
    notification_enqueue(
        purpose="page",
        recipient=recipient,
        subject=f"[{incident.urgency.upper()}] #{incident.pk} {incident.title}",
        body=text,
        payload=payload,
        idempotency_key=key
        + (
            f"rule:{page.rule_id}"
            if page.rule_id is not None
            else f"{recipient.transport}:{recipient.address}"
        ),
        now=now,
        incident=incident,
        deliver_at=page.deliver_at,
    )


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
    body = f"Escalation step {step_index + 1} of '{snapshot.get('name')}' ({why})."
    key = f"page:{incident.pk}:{incident.escalation_token}:{loop}:{step_index}:"
    for page in _pages_of(recipients, urgency=incident.urgency, now=now):
        _page_write(incident, page, body=body, key=key, step_index=step_index, loop=loop, now=now)
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
