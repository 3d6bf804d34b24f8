"""The team's own routes on its settings page: the form (what was typed, kept when refused),
and the actions that add, change and remove a route through ``alerts.services``.

The team's owners and staff change them (the services check it again); members see them.
Registered in ``team_views.ACTIONS``; removing asks first, through the page's confirmation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, QueryDict

from batchwatch.alerts.loading_sections import parse_duration
from batchwatch.alerts.models import Route
from batchwatch.alerts.permissions import can_change_team_routes
from batchwatch.alerts.services import team_route_create, team_route_delete, team_route_update
from batchwatch.catalog.models import Team
from batchwatch.core.numbers import parse_id
from batchwatch.notify.models import Channel
from batchwatch.oncall.models import EscalationPolicy

DURATIONS = (
    ("group_wait", "Group wait"),
    ("group_interval", "Group interval"),
    ("repeat_interval", "Repeat interval"),
)
Confirm = Callable[[HttpRequest, Team, str, str], None]


def duration_words(value: timedelta | None) -> str:
    """``1h30m``, ``45s``, ``2d``: as the form reads it back (empty for none)."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _typed(post: QueryDict) -> dict[str, Any]:
    """The form as typed, to show it again when refused."""
    return {
        "name": post.get("route_name", ""),
        "matchers": post.get("route_matchers", ""),
        "policy": post.get("route_policy", ""),
        "channels": post.getlist("route_channels"),
        "group_by": post.get("route_group_by", ""),
        **{key: post.get(f"route_{key}", "") for key, _ in DURATIONS},
        "continue": post.get("route_continue") == "on",
    }


def _stored(route: Route, team: Team) -> dict[str, Any]:
    own = f'team="{team.slug}"'
    return {
        "name": route.name,
        "matchers": "\n".join(m for m in route.matchers or [] if m != own),
        "policy": route.escalation_policy.slug if route.escalation_policy else "",
        "channels": [str(c.pk) for c in route.channels.all()],  # prefetched
        "group_by": ", ".join(route.group_by) if route.group_by is not None else "",
        **{key: duration_words(getattr(route, key)) for key, _ in DURATIONS},
        "continue": route.continue_matching,
    }


def route_forms(request: HttpRequest, team: Team, routes: list[Route], failed: str) -> dict:
    """What the page's route forms show: each route's values (as typed if its edit was just
    refused) set on it as ``form``; the add form's values returned."""
    post = request.POST
    for route in routes:
        refused = failed == "route-edit" and parse_id(post.get("route")) == route.pk
        route.form = _typed(post) if refused else _stored(route, team)  # type: ignore[attr-defined]
        route.refused = refused  # type: ignore[attr-defined]
    return _typed(post) if failed == "route-add" else {"channels": []}


def _values(post: QueryDict) -> dict[str, Any]:
    """The service's arguments from the form; ``ValidationError`` naming the field at fault."""
    policy = None
    if slug := post.get("route_policy", "").strip():
        policy = EscalationPolicy.objects.filter(slug=slug).first()
        if policy is None:
            raise ValidationError(f"There is no escalation policy {slug!r}.")
    ids = [parse_id(raw) for raw in post.getlist("route_channels")]
    channels = list(Channel.objects.filter(pk__in=[i for i in ids if i is not None]))
    if None in ids or len(channels) != len(set(ids)):
        raise ValidationError("Choose the channels among the team's.")
    group_by = [g for g in re.split(r"[,\s]+", post.get("route_group_by", "")) if g]
    durations: dict[str, timedelta | None] = {}
    for key, label in DURATIONS:
        text = post.get(f"route_{key}", "").strip()
        try:
            durations[key] = parse_duration(text) if text else None
        except ValueError as exc:
            raise ValidationError(f"{label}: {exc}.") from None
        except OverflowError:  # 99999999999w
            raise ValidationError(f"{label}: at most 30 days.") from None
    return {
        "name": post.get("route_name", "").strip(),
        "matchers": [line.strip() for line in post.get("route_matchers", "").splitlines()],
        "escalation_policy": policy,
        "channels": channels,
        "group_by": group_by or None,
        "continue_matching": post.get("route_continue") == "on",
        **durations,
    }


def _owner_only(request: HttpRequest, team: Team) -> None:
    if not can_change_team_routes(request.user, team):
        raise ValidationError("Only the team's owners (or an admin) change its routes.")


def _route(request: HttpRequest, team: Team) -> Route:
    route = (
        Route.objects.filter(team=team, pk=parse_id(request.POST.get("route")) or 0)
        .prefetch_related("mute_time_intervals", "active_time_intervals")
        .first()
    )
    if route is None:
        raise Http404("No such route of this team.")
    return route


def route_add_action(request: HttpRequest, team: Team) -> None:
    _owner_only(request, team)
    route = team_route_create(team, **_values(request.POST), actor=request.user, request=request)
    messages.success(request, f"Route {route} added: {team.name}'s alerts that match it go there.")


def route_edit_action(request: HttpRequest, team: Team) -> None:
    _owner_only(request, team)
    route = _route(request, team)
    saved = team_route_update(
        route,
        **_values(request.POST),
        # The form does not edit time intervals (set through the API): kept.
        mute_time_intervals=[i.name for i in route.mute_time_intervals.all()],
        active_time_intervals=[i.name for i in route.active_time_intervals.all()],
        actor=request.user,
        request=request,
    )
    messages.success(request, f"Route {saved} saved.")


def route_delete_action(request: HttpRequest, team: Team, *, confirm: Confirm) -> None:
    _owner_only(request, team)
    route = _route(request, team)
    confirm(request, team, "route-delete", str(route))
    team_route_delete(route, actor=request.user, request=request)
    messages.success(request, f"Route {route} removed.")
