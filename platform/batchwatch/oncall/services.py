"""Writes of on-call: rotations, layers, overrides, swaps, escalation policies; handoffs."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone as django_timezone

from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event
from batchwatch.catalog.models import Team
from batchwatch.notify.services import Recipient, notification_enqueue
from batchwatch.oncall.models import (
    EscalationPolicy,
    EscalationStep,
    LayerParticipant,
    Rotation,
    RotationLayer,
    RotationOverride,
    ShiftSwap,
    _feed_token,
)
from batchwatch.oncall.selectors import rotation_schedule, rotations_with_layers, users_by_id

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User
    from django.http import HttpRequest
    from rest_framework.request import Request

HANDOFF_LOOKBACK = timedelta(minutes=5)


@transaction.atomic
def rotation_upsert(
    *, slug: str, name: str, team: Team, timezone: str = "UTC", handoff_notices: bool = True
) -> Rotation:
    """Create the rotation ``slug`` or update its fields, validated as the admin does
    (``ValidationError`` keyed by field). Its layers and overrides are left as they are."""
    rotation = Rotation.objects.select_for_update().filter(slug=slug).first() or Rotation(slug=slug)
    if rotation.pk is not None and rotation.timezone != timezone:
        rotation.schedule_changed_at = django_timezone.now()  # every handoff moves
    rotation.name = name
    rotation.team = team
    rotation.timezone = timezone
    rotation.handoff_notices = handoff_notices
    rotation.full_clean()
    rotation.save()
    return rotation


def schedule_changed(rotation: Rotation) -> None:
    """Note that any shift of ``rotation`` may have changed (its layers changed, an override
    was taken away): the iCal feeds' SEQUENCE of every event is at least this instant. In the
    caller's transaction."""
    rotation.schedule_changed_at = django_timezone.now()
    Rotation.objects.filter(pk=rotation.pk).update(schedule_changed_at=rotation.schedule_changed_at)


def rotation_layers_clear(*, rotation: Rotation) -> None:
    """Remove every layer of ``rotation`` (and their participants), before saving new ones."""
    rotation.layers.all().delete()
    schedule_changed(rotation)


@transaction.atomic
def layer_save(
    *,
    rotation: Rotation,
    participants: list[User],
    start_date: date,
    handoff_time: time,
    turn_length: timedelta,
    position: int = 0,
    name: str = "",
    restrictions: list[Any] | None = None,
    ends_at: datetime | None = None,
) -> RotationLayer:
    """A layer with its participants in order (a user may appear more than once), validated
    as the admin does (``ValidationError`` keyed by field); a layer needs someone in it."""
    if not participants:
        raise ValidationError({"participants": "A layer needs at least one person."})
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
    schedule_changed(rotation)
    return layer


def override_add(
    *,
    rotation: Rotation,
    user: User,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
    created_by: User | None = None,
) -> RotationOverride:
    """``user`` on call instead of the layers' choice for the period (``ValidationError``
    keyed by field when the period or the reason is refused)."""
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "An override ends after it starts."})
    override = RotationOverride(
        rotation=rotation,
        user=user,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by=created_by,
    )
    override.full_clean()
    override.save()
    return override


def override_ensure(
    *,
    rotation: Rotation,
    user: User,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
) -> RotationOverride:
    """The override of ``user`` for exactly this period, added unless it exists: loading the
    same configuration twice adds it once (an existing one keeps its reason)."""
    if ends_at > starts_at:  # override_add names the problem otherwise
        existing = RotationOverride.objects.filter(
            rotation=rotation, user=user, starts_at=starts_at, ends_at=ends_at
        ).first()
        if existing is not None:
            return existing
    return override_add(
        rotation=rotation, user=user, starts_at=starts_at, ends_at=ends_at, reason=reason
    )


@transaction.atomic
def override_create(
    rotation: Rotation,
    *,
    user: User,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    reason: str = "",
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
) -> RotationOverride:
    """A person's override added by someone of the team (the web page and the API): the
    person is in the rotation's team and the period has not ended yet; audited. Callers check
    ``oncall.permissions.can_add_override`` first."""
    if not rotation.team.memberships.filter(user=user).exists():
        raise ValidationError(
            {"user": f"{user.get_username()} is not in {rotation.team.name}, this rotation's team."}
        )
    if ends_at <= now:
        raise ValidationError({"ends_at": "This period is over already: choose a later end."})
    override = override_add(
        rotation=rotation,
        user=user,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by=actor,
    )
    _override_event(AuditEvent.Action.OVERRIDE_CREATED, override, actor, request)
    return override


@transaction.atomic
def override_delete(
    override: RotationOverride,
    *,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
) -> None:
    """Take an override away (the layers decide again); audited. Callers check
    ``oncall.permissions.can_delete_override`` first."""
    _override_event(AuditEvent.Action.OVERRIDE_DELETED, override, actor, request)
    override.delete()
    schedule_changed(override.rotation)


def _override_event(
    action: str,
    override: RotationOverride,
    actor: User | None,
    request: HttpRequest | Request | None,
) -> None:
    record_event(
        action,
        actor=actor,
        team=override.rotation.team,
        target=override,
        detail={
            "rotation": override.rotation.slug,
            "user": override.user.get_username(),
            "starts_at": override.starts_at.isoformat(),
            "ends_at": override.ends_at.isoformat(),
        },
        request=request,
    )


@transaction.atomic
def swap_offer(
    rotation: Rotation,
    *,
    requester: User,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
) -> ShiftSwap:
    """``requester`` offers her shifts of ``rotation`` within the period to whoever of the
    team takes them (open until then); audited. Callers check
    ``oncall.permissions.can_offer_swap`` first."""
    if not rotation.team.memberships.filter(user=requester).exists():
        raise ValidationError(
            {"requester": f"{requester.get_username()} is not in {rotation.team.name}."}
        )
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "A swap ends after it starts."})
    if ends_at <= now:
        raise ValidationError({"ends_at": "This period is over already: choose a later end."})
    swap = ShiftSwap.objects.create(
        rotation=rotation, requester=requester, starts_at=starts_at, ends_at=ends_at
    )
    _swap_event(swap, actor, request)
    return swap


@transaction.atomic
def swap_take(
    swap: ShiftSwap,
    *,
    taker: User,
    now: datetime,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
) -> ShiftSwap:
    """``taker`` takes an open swap: from now the schedule gives her the requester's shifts
    of the period. Two people taking it at once: the row lock lets one through, the other is
    told it is taken. Callers check ``oncall.permissions.can_take_swap`` first."""
    swap = ShiftSwap.objects.select_for_update().select_related("rotation__team").get(pk=swap.pk)
    if swap.state != ShiftSwap.State.OPEN:
        raise ValidationError(f"This swap is {swap.get_state_display().lower()} already.")
    if swap.ends_at <= now:
        raise ValidationError("This swap's period is over.")
    if not swap.rotation.team.memberships.filter(user=taker).exists():
        raise ValidationError({"taker": f"{taker.get_username()} is not in the rotation's team."})
    swap.taker = taker
    swap.state = ShiftSwap.State.TAKEN
    swap.save(update_fields=["taker", "state", "updated_at"])
    _swap_event(swap, actor, request)
    return swap


@transaction.atomic
def swap_cancel(
    swap: ShiftSwap,
    *,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
) -> ShiftSwap:
    """Cancel an open or taken swap (the schedule forgets it). Callers check
    ``oncall.permissions.can_cancel_swap`` first."""
    swap = ShiftSwap.objects.select_for_update().select_related("rotation__team").get(pk=swap.pk)
    if swap.state == ShiftSwap.State.CANCELLED:
        raise ValidationError("This swap is cancelled already.")
    swap.state = ShiftSwap.State.CANCELLED
    swap.save(update_fields=["state", "updated_at"])
    _swap_event(swap, actor, request)
    return swap


def _swap_event(swap: ShiftSwap, actor: User | None, request: HttpRequest | Request | None) -> None:
    record_event(
        AuditEvent.Action.SWAP_CHANGED,
        actor=actor,
        team=swap.rotation.team,
        target=swap,
        detail={
            "rotation": swap.rotation.slug,
            "state": swap.state,
            "requester": swap.requester.get_username(),
            "taker": swap.taker.get_username() if swap.taker else None,
            "starts_at": swap.starts_at.isoformat(),
            "ends_at": swap.ends_at.isoformat(),
        },
        request=request,
    )


@transaction.atomic
def policy_upsert(
    *,
    slug: str,
    name: str,
    team: Team,
    repeat: int = 0,
    ack_timeout: timedelta | None = None,
    is_team_default: bool = False,
    urgency_by_severity: dict[str, str] | None = None,
) -> EscalationPolicy:
    """Create the policy ``slug`` or update its fields, validated as the admin does
    (``ValidationError`` keyed by field). Its steps are left as they are;
    ``urgency_by_severity`` (overrides of the default mapping) absent means none."""
    policy = EscalationPolicy.objects.select_for_update().filter(slug=slug).first()
    policy = policy or EscalationPolicy(slug=slug)
    policy.name = name
    policy.team = team
    policy.repeat = repeat
    policy.ack_timeout = ack_timeout
    policy.is_team_default = is_team_default
    policy.urgency_by_severity = urgency_by_severity or {}
    policy.full_clean()
    policy.save()
    return policy


def policy_steps_clear(*, policy: EscalationPolicy) -> None:
    """Remove every step of ``policy``, before adding new ones."""
    policy.steps.all().delete()


def policy_step_add(
    *,
    policy: EscalationPolicy,
    position: int,
    target: str,
    wait: timedelta | None = None,
    rotation: Rotation | None = None,
    user: User | None = None,
    team: Team | None = None,
) -> EscalationStep:
    """One step of ``policy`` (``wait`` defaults to the model's five minutes), validated as
    the admin does (a rotation step needs a rotation, a wait is not negative...):
    ``ValidationError`` keyed by field."""
    step = EscalationStep(
        policy=policy, position=position, target=target, rotation=rotation, user=user, team=team
    )
    if wait is not None:
        step.wait = wait
    step.full_clean(exclude=["policy"])
    step.save()
    return step


@transaction.atomic
def policy_save(
    *,
    slug: str,
    name: str,
    team: Team,
    steps: list[dict[str, Any]],
    repeat: int = 0,
    ack_timeout: timedelta | None = None,
    is_team_default: bool = False,
    urgency_by_severity: dict[str, str] | None = None,
) -> EscalationPolicy:
    """Create or replace a policy and its steps (``steps``: ``policy_step_add`` arguments)."""
    policy = policy_upsert(
        slug=slug,
        name=name,
        team=team,
        repeat=repeat,
        ack_timeout=ack_timeout,
        is_team_default=is_team_default,
        urgency_by_severity=urgency_by_severity,
    )
    policy_steps_clear(policy=policy)
    for position, fields in enumerate(steps):
        policy_step_add(policy=policy, position=position, **fields)
    return policy


@transaction.atomic
def policy_steps_set(
    policy: EscalationPolicy,
    *,
    steps: list[dict[str, Any]] | None,
    repeat: int,
    urgency_by_severity: dict[str, str] | None = None,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
) -> EscalationPolicy:
    """Replace ``policy``'s steps (``policy_step_add`` arguments, in order; None: kept), how
    many times they repeat and, unless None, its severity -> urgency overrides, validated as
    the admin does (``ValidationError`` keyed by field; nothing changes then), in the audit
    log with the steps before and after. Made by the team's owners on the web page and the API:
    callers check ``catalog.permissions.can_manage_team``. A later ``alerts load-config``
    of a file naming the policy replaces them again."""
    policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
    before = _steps_summary(policy)
    urgency_before = dict(policy.urgency_by_severity or {})
    policy.repeat = repeat
    if urgency_by_severity is not None:
        policy.urgency_by_severity = urgency_by_severity
    policy.full_clean()
    policy.save(update_fields=["repeat", "urgency_by_severity"])
    if steps is not None:
        _steps_replace(policy, steps=steps)
    record_event(
        AuditEvent.Action.POLICY_CHANGED,
        actor=actor,
        team=policy.team,
        target=policy,
        detail={
            "before": before,
            "after": _steps_summary(policy),
            "repeat": repeat,
            "urgency_before": urgency_before,
            "urgency_after": policy.urgency_by_severity,
        },
        request=request,
    )
    return policy


def _steps_replace(policy: EscalationPolicy, *, steps: list[dict[str, Any]]) -> None:
    policy_steps_clear(policy=policy)
    for position, fields in enumerate(steps):
        try:
            policy_step_add(policy=policy, position=position, **fields)
        except ValidationError as exc:  # say which step: the same sentence fits several
            raise ValidationError([f"Step {position + 1}: {m}" for m in exc.messages]) from exc


def _steps_summary(policy: EscalationPolicy) -> list[str]:
    steps = policy.steps.select_related("rotation", "user", "team").order_by("position", "id")
    return [
        f"{step.target}:"
        + (
            step.rotation.slug
            if step.rotation
            else step.user.get_username()
            if step.user
            else step.team.slug
            if step.team
            else ""
        )
        + f" wait {int(step.wait.total_seconds())}s"
        for step in steps
    ]


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


def rotation_feed_rotate(
    *, rotation: Rotation, by: User | AnonymousUser, request: HttpRequest | None = None
) -> Rotation:
    """A new feed token for ``rotation``: the old calendar link stops working at once.
    Callers check ``oncall.permissions.can_see_rotation_feed`` first."""
    with transaction.atomic():
        rotation.feed_token = _feed_token()
        rotation.save(update_fields=["feed_token"])
        record_event(
            AuditEvent.Action.FEED_TOKEN_ROTATED,
            actor=by,
            team=rotation.team,
            target=rotation,
            detail={"feed": "rotation", "rotation": rotation.slug},
            request=request,
        )
    return rotation
