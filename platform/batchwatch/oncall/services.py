"""Writes of on-call: rotations, layers, overrides, swaps, escalation policies; handoffs."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from batchwatch.notify.services import Recipient, notification_enqueue
from batchwatch.oncall.models import (
    EscalationPolicy,
    EscalationStep,
    LayerParticipant,
    Rotation,
    RotationLayer,
    RotationOverride,
    ShiftSwap,
)
from batchwatch.oncall.selectors import rotation_schedule, rotations_with_layers, users_by_id

HANDOFF_LOOKBACK = timedelta(minutes=5)


@transaction.atomic
def layer_save(
    *,
    rotation: Rotation,
    participants: list,
    start_date,
    handoff_time,
    turn_length: timedelta,
    position: int = 0,
    name: str = "",
    restrictions: list | None = None,
    ends_at: datetime | None = None,
) -> RotationLayer:
    """A layer with its participants in order (a user may appear more than once)."""
    layer = RotationLayer(
        rotation=rotation,
        position=position,
        name=name,
        start_date=start_date,
        handoff_time=handoff_time,
        turn_length=turn_length,
        restrictions=restrictions or [],
        ends_at=ends_at,
    )
    layer.full_clean(exclude=["rotation"])
    layer.save()
    LayerParticipant.objects.bulk_create(
        [
            LayerParticipant(layer=layer, user=user, position=i)
            for i, user in enumerate(participants)
        ]
    )
    return layer


def override_add(*, rotation: Rotation, user, starts_at, ends_at, reason="", created_by=None):
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "An override ends after it starts."})
    return RotationOverride.objects.create(
        rotation=rotation,
        user=user,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by=created_by,
    )


def swap_request(*, rotation: Rotation, requester, starts_at, ends_at) -> ShiftSwap:
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "A swap ends after it starts."})
    return ShiftSwap.objects.create(
        rotation=rotation, requester=requester, starts_at=starts_at, ends_at=ends_at
    )


def swap_take(*, swap: ShiftSwap, taker) -> ShiftSwap:
    with transaction.atomic():
        swap = ShiftSwap.objects.select_for_update().get(pk=swap.pk)
        if swap.state != ShiftSwap.State.OPEN:
            raise ValidationError(f"This swap is {swap.get_state_display().lower()}.")
        if taker.pk == swap.requester_id:
            raise ValidationError("You cannot take your own swap.")
        swap.taker, swap.state = taker, ShiftSwap.State.TAKEN
        swap.save(update_fields=["taker", "state"])
    return swap


@transaction.atomic
def policy_save(
    *, slug, name, team, steps: list[dict], repeat=0, ack_timeout=None, is_team_default=False
) -> EscalationPolicy:
    """Create or replace a policy and its steps (``steps``: EscalationStep field dicts)."""
    policy, _ = EscalationPolicy.objects.update_or_create(
        slug=slug,
        defaults={
            "name": name,
            "team": team,
            "repeat": repeat,
            "ack_timeout": ack_timeout,
            "is_team_default": is_team_default,
        },
    )
    policy.steps.all().delete()
    for position, fields in enumerate(steps):
        step = EscalationStep(policy=policy, position=position, **fields)
        step.full_clean(exclude=["policy"])
        step.save()
    return policy


def handoff_notices_send(*, now: datetime) -> int:
    """Tell people whose shift began in the last few minutes (once: idempotency keys)."""
    sent = 0
    User = get_user_model()
    for rotation in rotations_with_layers().filter(handoff_notices=True):
        shifts = rotation_schedule(rotation, now - HANDOFF_LOOKBACK - timedelta(days=1), now)
        users = users_by_id(s.user_id for s in shifts)
        for previous, shift in itertools.pairwise(shifts):
            if shift.starts_at <= now - HANDOFF_LOOKBACK or shift.user_id is None:
                continue
            incoming = users.get(shift.user_id)
            outgoing = users.get(previous.user_id)
            if not isinstance(incoming, User):
                continue
            recipient = (
                Recipient("email", incoming.email, user_id=incoming.pk)
                if incoming.email
                else Recipient("log", incoming.get_username(), user_id=incoming.pk)
            )
            handed = f" from {outgoing.get_username()}" if outgoing else ""
            created = notification_enqueue(
                purpose="handoff",
                recipient=recipient,
                subject=f"You are now on call for {rotation.name}{handed}",
                idempotency_key=f"handoff:{rotation.pk}:{shift.starts_at.isoformat()}:{incoming.pk}",
                now=now,
            )
            sent += created is not None
    return sent
