"""The incident page, the hub of on-call work: what is broken and since when, where to look
(job, run, trace, dashboard, the engine's UI), what waits downstream and what may have caused
it upstream, the runbook's first steps, the delivery log (who was paged and notified, how, and
what the provider reported), the timeline with notes, and the actions.

Thin: reads in ``incident_hub`` (also ``GET /api/v1/incidents/{id}/hub/``), services to act.
An incident is shown only to whoever may act on it and to the people it paged; others get a
404, as for one that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from batchwatch.alerts import services
from batchwatch.alerts.models import Incident
from batchwatch.alerts.permissions import can_act_on_incident, can_view_incident
from batchwatch.alerts.selectors import incident_timeline
from batchwatch.alerts.selectors_people import reassign_candidates
from batchwatch.core.links import path_for
from batchwatch.notify.selectors import broken_channels_of, incident_deliveries
from batchwatch.web.incident_hub import incident_hub

SNOOZES = {"30m": timedelta(minutes=30), "1h": timedelta(hours=1), "4h": timedelta(hours=4)}


def _now() -> datetime:
    return datetime.now(UTC)


def _visible(request, incident_id: int, now: datetime) -> tuple[Incident, bool]:
    """The incident if the user may see it (else 404), and whether they may act on it."""
    incident = get_object_or_404(
        Incident.objects.select_related("team", "assignee", "acknowledged_by", "resolved_by"),
        pk=incident_id,
    )
    can_act = can_act_on_incident(request.user, incident, now)
    if not can_act and not can_view_incident(request.user, incident, now):
        raise Http404("No such incident")
    return incident, can_act


@require_GET
@login_required
def incident_page(request, incident_id: int):
    now = _now()
    incident, can_act = _visible(request, incident_id, now)
    return render(
        request,
        "web/incident.html",
        {
            "incident": incident,
            "hub": incident_hub(incident, now=now),
            "now": now,
            "group_labels": sorted(incident.group_labels.items()),
            "timeline": incident_timeline(incident),
            "can_act": can_act,
            "confirm_resolve": request.GET.get("confirm") == "resolve",
            "people": reassign_candidates(incident, now=now),
            "snoozes": list(SNOOZES),
            "broken_channels": broken_channels_of(incident),
            "deliveries": incident_deliveries(incident_id=incident.pk, viewer=request.user),
            "slack_messages": incident.slack_messages.exclude(ts=""),
        },
    )


@require_POST
@login_required
def incident_act(request, incident_id: int):
    now = _now()
    incident, can_act = _visible(request, incident_id, now)
    if not can_act:
        messages.error(
            request, "Only the owning team, its on-call, the assignee or an admin may act."
        )
        return redirect("web:incident", incident_id)
    action = request.POST.get("action") or ""
    try:
        done = _act(request, incident, action, now)
    except services.FiringAlertsError as exc:
        # Resolving while alerts still fire asks first: the page offers "Resolve anyway".
        messages.warning(request, " ".join(exc.messages))
        return redirect(path_for("web:incident", incident_id, query={"confirm": "resolve"}))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done)
    return redirect("web:incident", incident_id)


def _act(request, incident: Incident, action: str, now: datetime) -> str:
    """Carry out ``action``; the confirmation to show. Raises ValidationError."""
    actor, post = request.user, request.POST
    if action == "acknowledge":
        incident = services.incident_acknowledge(incident, now=now, actor=actor)
        if incident.assignee_id == actor.pk:
            return "Acknowledged: the escalation stopped, and it is assigned to you."
        return "Acknowledged: the escalation stopped."
    if action == "resolve":
        services.incident_resolve(incident, now=now, actor=actor, force=post.get("force") == "1")
        return "Resolved."
    if action == "reopen":
        services.incident_reopen(incident, now=now, actor=actor, reason=post.get("reason", ""))
        return "Reopened: the escalation starts again from its first step."
    if action == "escalate":
        services.incident_escalate(incident, now=now, actor=actor)
        return "Escalated: the next step is being paged."
    if action.startswith("snooze-") and action[7:] in SNOOZES:
        until = now + SNOOZES[action[7:]]
        services.incident_snooze(incident, until=until, now=now, actor=actor)
        return f"Snoozed until {until:%H:%M} UTC: it triggers again then."
    if action == "reassign":
        user = get_user_model().objects.filter(username=post.get("user")).first()
        if user is None:
            raise ValidationError("Choose someone to assign it to.")
        services.incident_reassign(incident, user=user, now=now, actor=actor)
        return f"Assigned to {user.get_username()}; they were notified."
    if action == "note":
        services.incident_note_add(incident, author=actor, text=post.get("text", ""), now=now)
        return "Note added to the timeline."
    raise ValidationError("Unknown action.")
