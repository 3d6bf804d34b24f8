"""Pages to add, change and remove a rotation's layers (the team's owners and staff; the
rotation page lists the layers to everyone). Thin: the form is read here, ``oncall.layers``
saves. A later ``alerts load-config`` replaces a configured rotation's layers again."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from batchwatch.alerts.loading_sections import parse_duration
from batchwatch.oncall.layers import MAX_PARTICIPANTS, rotation_layer_delete, rotation_layer_save
from batchwatch.oncall.models import Rotation, RotationLayer
from batchwatch.oncall.permissions import can_edit_layers
from batchwatch.oncall.selectors import rotation_schedule, rotations_with_layers, users_by_id

EXTRA_TURNS = 2  # empty turn rows offered below the layer's people
HANDOFFS_SHOWN = 3
_UNITS = [
    (re.compile(r"(weeks?|wks?)"), "w"),
    (re.compile(r"(days?)"), "d"),
    (re.compile(r"(hours?|hrs?)"), "h"),
    (re.compile(r"(minutes?|mins?)"), "m"),
]


def _now() -> datetime:
    return datetime.now(UTC)


def parse_turn(raw: str) -> timedelta:
    """``1 week``, ``12h``, ``3 days``, ``1d12h``: the words config as code's ``7d``/``2w``
    stand for are accepted too. ``ValueError`` with a sentence otherwise."""
    text = raw.strip().lower()
    for pattern, unit in _UNITS:
        text = pattern.sub(unit, text)
    text = re.sub(r"[\s,]+|and", "", text)
    if not text or text.isdigit():  # a bare number would be seconds: surely a mistake here
        raise ValueError(f"{raw[:40]!r} is not a length like 1 week, 3 days or 12h")
    try:
        return parse_duration(text)
    except (ValueError, OverflowError):
        raise ValueError(f"{raw[:40]!r} is not a length like 1 week, 3 days or 12h") from None


def turn_text(value: timedelta) -> str:
    """The inverse of ``parse_turn`` for the edit form: ``1w``, ``1d12h``, ``45m``."""
    seconds = int(value.total_seconds())
    parts = []
    for size, unit in ((604800, "w"), (86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0m"


def _rotation(request: HttpRequest, slug: str) -> Rotation:
    rotation = get_object_or_404(Rotation.objects.select_related("team"), slug=slug)
    if not can_edit_layers(request.user, rotation):
        raise PermissionDenied("Only the rotation's team's owners (or an admin) change its layers.")
    return rotation


def _layer(rotation: Rotation, layer_id: int) -> RotationLayer:
    layer = (
        RotationLayer.objects.filter(rotation=rotation, pk=layer_id)
        .prefetch_related("participants__user")
        .first()
    )
    if layer is None:
        raise Http404("No such layer in this rotation.")
    return layer


def _daily(restrictions: list[Any]) -> dict | None:
    return next((r for r in restrictions if isinstance(r, dict) and r.get("kind") == "daily"), None)


def _initial(layer: RotationLayer | None) -> dict[str, Any]:
    if layer is None:
        return {
            "name": "",
            "start_date": "",
            "handoff_time": "09:00",
            "turn": "1 week",
            "people": [],
        }
    daily = _daily(layer.restrictions) or {}
    return {
        "name": layer.name,
        "start_date": layer.start_date.isoformat(),
        "handoff_time": layer.handoff_time.strftime("%H:%M"),
        "turn": turn_text(layer.turn_length),
        "people": [p.user.get_username() for p in layer.participants.all()],
        "window_start": daily.get("start", ""),
        "window_end": daily.get("end", ""),
    }


def _posted(request: HttpRequest) -> dict[str, Any]:
    post = request.POST
    return {
        "name": post.get("name", "")[:200],
        "start_date": post.get("start_date", "")[:20],
        "handoff_time": post.get("handoff_time", "")[:10],
        "turn": post.get("turn", "")[:40],
        "people": [p for p in post.getlist("person")[:MAX_PARTICIPANTS] if p],
        "window_start": post.get("window_start", "")[:10],
        "window_end": post.get("window_end", "")[:10],
    }


def _restrictions(form: dict[str, Any], layer: RotationLayer | None) -> list[Any]:
    """The daily window of the form in place of the layer's first daily one; the layer's other
    restrictions (set by configuration or the API) are kept as they are."""
    kept = list(layer.restrictions) if layer is not None else []
    daily = _daily(kept)
    if daily is not None:
        kept.remove(daily)
    if form["window_start"] or form["window_end"]:
        window = {"kind": "daily", "start": form["window_start"], "end": form["window_end"]}
        kept.insert(0, window)
    return kept


def _parse(form: dict[str, Any], rotation: Rotation) -> dict[str, Any]:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key, parse in (
        ("start_date", date.fromisoformat),
        ("handoff_time", time.fromisoformat),
        ("turn_length", parse_turn),
    ):
        raw = form["turn"] if key == "turn_length" else form[key]
        try:
            values[key] = parse(raw)
        except (ValueError, TypeError):
            errors[key] = f"{raw[:40]!r} is not valid here."
    members = {
        m.user.get_username(): m.user for m in rotation.team.memberships.select_related("user")
    }
    unknown = [p for p in form["people"] if p not in members]
    if unknown:
        errors["participants"] = "Not in the team: " + ", ".join(unknown)
    values["participants"] = [members[p] for p in form["people"] if p in members]
    if errors:
        raise ValidationError(errors)
    return values


def _handoffs(rotation_id: int, now: datetime) -> str:
    rotation = rotations_with_layers().get(pk=rotation_id)
    shifts = rotation_schedule(rotation, now, now + timedelta(days=60))[1 : 1 + HANDOFFS_SHOWN]
    users = users_by_id(s.user_id for s in shifts)
    return "; ".join(
        f"{s.starts_at:%a %Y-%m-%d %H:%M} UTC to "
        + (users[s.user_id].get_username() if s.user_id in users else "nobody")
        for s in shifts
    )


@require_http_methods(["GET", "POST"])
@login_required
def layer_edit(request: HttpRequest, slug: str, layer_id: int | None = None) -> HttpResponse:
    rotation = _rotation(request, slug)
    layer = _layer(rotation, layer_id) if layer_id is not None else None
    form = _initial(layer)
    errors: list[str] = []
    if request.method == "POST":
        form = _posted(request)
        now = _now()
        try:
            values = _parse(form, rotation)
            rotation_layer_save(
                rotation,
                layer=layer,
                name=form["name"],
                restrictions=_restrictions(form, layer),
                actor=request.user,  # type: ignore[arg-type]
                request=request,
                now=now,
                **values,
            )
        except ValidationError as exc:
            errors = list(exc.messages)
        else:
            messages.success(request, "Layer saved. Next handoffs: " + _handoffs(rotation.pk, now))
            return redirect("web:rotation", rotation.slug)
    members = sorted(
        (m.user for m in rotation.team.memberships.select_related("user")),
        key=lambda u: u.get_username(),
    )
    turns = form["people"] + [""] * EXTRA_TURNS
    return render(
        request,
        "web/rotation_layer_form.html",
        {
            "rotation": rotation,
            "layer": layer,
            "form": form,
            "turns": turns,
            "members": members,
            "errors": errors,
        },
        status=400 if errors else 200,
    )


@require_http_methods(["GET", "POST"])
@login_required
def layer_delete(request: HttpRequest, slug: str, layer_id: int) -> HttpResponse:
    """GET asks first; POST removes."""
    rotation = _rotation(request, slug)
    layer = _layer(rotation, layer_id)
    if request.method == "POST":
        rotation_layer_delete(layer, actor=request.user, request=request)  # type: ignore[arg-type]
        now = _now()
        messages.success(request, "Layer removed. Next handoffs: " + _handoffs(rotation.pk, now))
        return redirect("web:rotation", rotation.slug)
    return render(request, "web/rotation_layer_delete.html", {"rotation": rotation, "layer": layer})


def layers_context(request: HttpRequest, rotation: Rotation) -> dict[str, Any]:
    """What the rotation page shows of layers (prefetched by ``rotations_with_layers``)."""
    layers = list(rotation.layers.all())
    people = users_by_id(p.user_id for layer in layers for p in layer.participants.all())
    return {
        "layers": [
            {
                "layer": layer,
                "turn": turn_text(layer.turn_length),
                "people": [
                    people[p.user_id].get_username()
                    for p in layer.participants.all()
                    if p.user_id in people
                ],
            }
            for layer in layers
        ],
        "layers_editable": can_edit_layers(request.user, rotation),
    }
