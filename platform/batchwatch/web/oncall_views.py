"""Pages for the incident list and rotations (one incident: ``incident_views``; silences:
``silence_views``). Thin: selectors to read, services to act."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from batchwatch.accounts.services import rotate_feed_secret
from batchwatch.alerts.models import Incident
from batchwatch.alerts.selectors import incidents_query
from batchwatch.alerts.selectors_people import incidents_visible_to
from batchwatch.catalog.models import Team
from batchwatch.catalog.permissions import is_admin
from batchwatch.core.links import path_for
from batchwatch.oncall.ical import person_feed_token
from batchwatch.oncall.permissions import can_see_rotation_feed
from batchwatch.oncall.selectors import (
    oncall_now,
    rotation_oncall,
    rotation_shifts,
    rotations_with_layers,
    users_by_id,
)
from batchwatch.oncall.services import rotation_feed_rotate
from batchwatch.web.incident_bulk_views import filters_query, list_filters
from batchwatch.web.rotation_layers import layers_context
from batchwatch.web.rotation_page import (
    calendar_context,
    contacts_of,
    feed_links,
    wall_clock,
    webcal,
)
from batchwatch.web.team_views import rotation_overrides_context

CALENDAR_DAYS = 14


def _now() -> datetime:
    return datetime.now(UTC)


@require_GET
@login_required
def incidents(request):
    # Filters combine and stay in the URL; the bulk actions (incident_bulk_views) take the same.
    filters = list_filters(request.GET)
    state = filters["state"]
    team = Team.objects.filter(slug=filters["team"]).first() if filters["team"] else None
    filters["team"] = team.slug if team else ""  # an unknown team: all, for the bulk form too
    now = _now()
    query = incidents_query(
        state=None if state == "all" else state, team_slug=team.slug if team else None
    )
    if filters["mine"]:
        query = query.filter(assignee=request.user)
    if filters["urgency"]:
        query = query.filter(urgency=filters["urgency"])
    # Only those whose page the person may open (alerts.permissions.can_view_incident).
    rows = incidents_visible_to(request.user, query, now=now)[:200]
    confirm_ids = request.GET.get("ids", "")
    return render(
        request,
        "web/incidents.html",
        {
            "incidents": rows,
            "state": state,
            "team": team,
            "teams": Team.objects.all(),
            "now": now,
            "all_visible": is_admin(request.user),
            "filters": filters,
            "filters_query": filters_query(filters).items(),
            "list_url": path_for("web:incidents", query=filters_query(filters)),
            "urgencies": Incident.Urgency.values,
            "confirm_resolve": request.GET.get("confirm") == "resolve",
            "confirm_all": request.GET.get("all") == "1",
            "confirm_ids": [v for v in confirm_ids.split(",") if v.isdigit()][:500],
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def rotations(request):
    if request.method == "POST":
        # The only action here: a new personal feed secret (the person's own, nobody else's).
        if request.POST.get("action") == "rotate-feed":
            rotate_feed_secret(request.user, request=request)
            messages.success(
                request, "Your calendar link was replaced: the old one no longer works."
            )
        return redirect("web:rotations")
    now = _now()
    # Every rotation in a fixed number of queries (``oncall_now`` reads overrides and swaps of
    # all at once); its horizon is the 14 days the "next handoff" column looks ahead.
    rows = [
        {
            "rotation": entry.rotation,
            "oncall": entry.user,
            "handoff": entry.until,
            "handoff_local": (
                wall_clock(entry.until, ZoneInfo(entry.rotation.timezone)) if entry.until else None
            ),
            "next": entry.following,
        }
        for entry in oncall_now(None, now)
    ]
    # Only the signed-in person's own link: it lists their shifts to whoever holds it.
    person_feed_url = request.build_absolute_uri(
        reverse("person-ical", args=[request.user.get_username()])
        + "?"
        + urlencode({"token": person_feed_token(request.user)})
    )
    return render(
        request,
        "web/rotations.html",
        {
            "rows": rows,
            "now": now,
            "person_feed_url": person_feed_url,
            "person_webcal_url": webcal(person_feed_url),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def rotation_page(request, slug: str):
    rotation = get_object_or_404(rotations_with_layers(), slug=slug)
    # The feed link is a credential: only the rotation's team and staff see or rotate it.
    feed_visible = can_see_rotation_feed(request.user, rotation)
    if request.method == "POST":
        if request.POST.get("action") != "rotate-feed":
            messages.error(request, "Unknown action.")
        elif not feed_visible:
            messages.error(
                request, "Only members of the rotation's team (or an admin) may replace its link."
            )
        else:
            rotation_feed_rotate(rotation=rotation, by=request.user, request=request)
            messages.success(request, "Calendar link replaced: the old one no longer works.")
        return redirect("web:rotation", rotation.slug)
    now = _now()
    # The window starts at midnight in the rotation's zone: its days are the strip's columns.
    zone = ZoneInfo(rotation.timezone)
    start = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    start = start.astimezone(UTC)
    shifts = rotation_shifts(rotation, start, start + timedelta(days=CALENDAR_DAYS))
    oncall_id = rotation_oncall(rotation, now).user_id
    users = users_by_id([*(s.user_id for s in shifts), oncall_id])
    names = {pk: user.get_username() for pk, user in users.items()}
    oncall = users.get(oncall_id)
    span = timedelta(days=CALENDAR_DAYS).total_seconds()
    return render(
        request,
        "web/rotation.html",
        {
            "rotation": rotation,
            **calendar_context(rotation, shifts, names, start=start, days=CALENDAR_DAYS),
            "now_left": (now - start).total_seconds() / span * 100,
            "oncall": oncall,
            "contacts": contacts_of(oncall),
            **(feed_links(request, rotation) if feed_visible else {}),
            **rotation_overrides_context(request, rotation, now),
            **layers_context(request, rotation),
        },
    )
