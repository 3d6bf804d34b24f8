"""Acting on many incidents from the incident list: acknowledge or resolve the ticked rows, or
every open incident the list's filters select ("select all matching").

Thin: ``alerts.services.bulk.incidents_bulk_act`` decides who may act on what. The selection
is first narrowed to the incidents the person may see (as the list is), so ids of another
team's incidents are neither acted on nor counted: a POST reveals nothing about them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from batchwatch.alerts.models import Incident
from batchwatch.alerts.selectors_people import incidents_visible_to
from batchwatch.alerts.services.bulk import (
    BulkResult,
    IncidentFilter,
    incidents_bulk_act,
)
from batchwatch.alerts.services.timers import OPEN_STATES
from batchwatch.core.links import path_for

LIST_STATES = ("open", "all", *Incident.State.values)


def list_filters(params: QueryDict) -> dict[str, Any]:
    """The incident list's filters from GET or POST parameters, unknown values dropped:
    ``mine`` (assigned to me, as ``IncidentFilter.mine``), ``team`` (a slug), ``urgency``
    and ``state`` (a list state: open, all, or one of the states)."""
    state = params.get("state") or "open"
    urgency = params.get("urgency") or ""
    return {
        "mine": params.get("mine") == "1",
        "team": (params.get("team") or "")[:100],
        "urgency": urgency if urgency in Incident.Urgency.values else "",
        "state": state if state in LIST_STATES else "open",
    }


def filters_query(filters: dict[str, Any]) -> dict[str, str]:
    """``filters`` as URL parameters, defaults left out (the list's address stays short)."""
    query = {"state": filters["state"]} if filters["state"] != "open" else {}
    if filters["mine"]:
        query["mine"] = "1"
    for name in ("team", "urgency"):
        if filters[name]:
            query[name] = filters[name]
    return query


def _selection(request: HttpRequest, filters: dict[str, Any], now: datetime) -> IncidentFilter:
    """What to act on: the ticked ids, or (``all=1``) whatever the filters select; in both
    cases only among the open incidents the person may see."""
    query = Incident.objects.filter(state__in=OPEN_STATES)
    if request.POST.get("all") != "1":
        ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit() and len(v) < 12]
        if not ids:
            raise ValidationError("Tick the incidents to act on, or select all matching.")
        query = query.filter(pk__in=ids)
    # The list's "open"/"all" mean both open states; "resolved" selects nothing to act on.
    state = filters["state"] if filters["state"] not in {"open", "all"} else ""
    return IncidentFilter(
        mine=filters["mine"],
        team=filters["team"],
        urgency=filters["urgency"],
        state=state if state in OPEN_STATES else "",
        ids=(
            []
            if filters["state"] == Incident.State.RESOLVED
            else list(
                incidents_visible_to(request.user, query, now=now).values_list("pk", flat=True)
            )
        ),
    )


def _plural(n: int) -> str:
    return f"{n} incident{'s' if n != 1 else ''}"


def _summary(action: str, result: BulkResult) -> str:
    done = "Acknowledged" if action == "acknowledge" else "Resolved"
    already = "acknowledged" if action == "acknowledge" else "resolved"
    parts = [f"{done} {_plural(result.changed)}."]
    skipped = result.not_permitted + result.unchanged
    if skipped:
        parts.append(
            f"Skipped {skipped}: {result.not_permitted} not permitted, "
            f"{result.unchanged} already {already}."
        )
    if result.remaining:
        parts.append(f"{_plural(result.remaining)} more selected: act again for those.")
    return " ".join(parts)


@require_POST
@login_required
def incidents_bulk(request: HttpRequest) -> HttpResponse:
    now = datetime.now(UTC)
    filters = list_filters(request.POST)
    back = filters_query(filters)
    action = request.POST.get("action") or ""
    force = request.POST.get("force") == "1"
    try:
        selection = _selection(request, filters, now)
        result = incidents_bulk_act(
            request.user, action=action, filters=selection, now=now, force=force
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(path_for("web:incidents", query=back))
    messages.success(request, _summary(action, result))
    if result.firing:
        # As on one incident's page: resolving while alerts still fire asks first, and the
        # list offers "Resolve anyway" for the same selection.
        messages.warning(
            request,
            f"{_plural(result.firing)} not resolved: "
            f"{'their' if result.firing != 1 else 'its'} alerts still fire.",
        )
        confirm = {**back, "confirm": "resolve"}
        if request.POST.get("all") == "1":
            confirm["all"] = "1"
        else:
            confirm["ids"] = ",".join(str(pk) for pk in selection.ids or [])
        return redirect(path_for("web:incidents", query=confirm))
    return redirect(path_for("web:incidents", query=back))
