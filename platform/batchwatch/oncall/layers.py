"""Writes of rotation layers by a team's people (the rotation page and the API), audited.
Configuration as code replaces all layers of a rotation at once (``services.layer_save``);
these edit one layer in place, so a later ``alerts load-config`` overwrites such edits."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event
from batchwatch.oncall.models import LayerParticipant, Rotation, RotationLayer
from batchwatch.oncall.services import schedule_changed

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest
    from rest_framework.request import Request

# A start this far from today is a typing mistake, and the schedule's arithmetic stays in range.
START_DATE_RANGE = timedelta(days=3660)
MAX_PARTICIPANTS = 100


@transaction.atomic
def rotation_layer_save(
    rotation: Rotation,
    *,
    layer: RotationLayer | None = None,
    name: str,
    start_date: date,
    handoff_time: time,
    turn_length: timedelta,
    participants: list[User],
    restrictions: list[Any],
    actor: User | None,
    request: HttpRequest | Request | None = None,
    now: datetime,
) -> RotationLayer:
    """Add a layer to ``rotation`` (on top of the others) or change ``layer``: its people in
    order (each of the rotation's team; one may appear twice), validated as the admin does
    (``ValidationError`` keyed by field). Callers check ``can_edit_layers`` first."""
    if layer is not None and layer.rotation_id != rotation.pk:
        raise ValidationError({"rotation": "This layer belongs to another rotation."})
    _check_people(rotation, participants)
    if abs(start_date - now.date()) > START_DATE_RANGE:
        raise ValidationError({"start_date": "Choose a start within ten years of today."})
    created = layer is None
    if layer is None:
        top = rotation.layers.aggregate(top=Max("position"))["top"]
        layer = RotationLayer(rotation=rotation, position=0 if top is None else top + 1)
    layer.name = name
    layer.start_date = start_date
    layer.handoff_time = handoff_time
    layer.turn_length = turn_length
    layer.restrictions = restrictions
    layer.full_clean(exclude=["rotation"])
    layer.save()
    layer.participants.all().delete()
    LayerParticipant.objects.bulk_create(
        [
            LayerParticipant(layer=layer, user=user, position=i)
            for i, user in enumerate(participants)
        ]
    )
    schedule_changed(rotation)
    _layer_event(layer, "created" if created else "updated", actor, request)
    return layer


@transaction.atomic
def rotation_layer_delete(
    layer: RotationLayer,
    *,
    actor: User | None,
    request: HttpRequest | Request | None = None,
) -> None:
    """Remove a layer (the others decide alone); audited. Callers check ``can_edit_layers``."""
    _layer_event(layer, "deleted", actor, request)
    layer.delete()
    schedule_changed(layer.rotation)


def _check_people(rotation: Rotation, participants: list[User]) -> None:
    if not participants:
        raise ValidationError({"participants": "A layer needs at least one person."})
    if len(participants) > MAX_PARTICIPANTS:
        raise ValidationError({"participants": f"At most {MAX_PARTICIPANTS} turns in a layer."})
    members = set(
        rotation.team.memberships.filter(user__in=participants).values_list("user_id", flat=True)
    )
    strangers = sorted({u.get_username() for u in participants if u.pk not in members})
    if strangers:
        raise ValidationError(
            {
                "participants": f"Not in {rotation.team.name}, this rotation's team: "
                + ", ".join(strangers)
            }
        )


def _layer_event(
    layer: RotationLayer, change: str, actor: User | None, request: HttpRequest | Request | None
) -> None:
    record_event(
        AuditEvent.Action.LAYER_CHANGED,
        actor=actor,
        team=layer.rotation.team,
        target=layer,
        detail={
            "change": change,
            "rotation": layer.rotation.slug,
            "name": layer.name,
            "start_date": layer.start_date.isoformat(),
            "handoff_time": layer.handoff_time.isoformat(timespec="minutes"),
            "turn_seconds": int(layer.turn_length.total_seconds()),
        },
        request=request,
    )
