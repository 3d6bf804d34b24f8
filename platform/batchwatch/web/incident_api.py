"""``GET /api/v1/incidents/{id}/hub/``: what the incident page shows beside the incident itself
(links per alert, moments, runs since, lineage, who was paged, the runbook), as JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from batchwatch.alerts.models import Incident
from batchwatch.alerts.permissions import can_view_incident
from batchwatch.alerts.selectors_hub import HubAlert, incident_pages
from batchwatch.core.links import path_for
from batchwatch.core.numbers import parse_id
from batchwatch.notify.models import Notification
from batchwatch.web.incident_hub import IncidentHub, incident_hub

# Addresses that name a person or a place, not a secret (a webhook URL may hold a token).
SHOWN_ADDRESSES = {Notification.Transport.EMAIL, Notification.Transport.SLACK}


class HubJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    url = serializers.CharField(help_text="Its page (a path on this site).")


class HubRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    state = serializers.CharField()
    url = serializers.CharField()
    trace_url = serializers.CharField(allow_blank=True, help_text="Empty: no trace.")


class HubRunsSinceSerializer(serializers.Serializer):
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    other = serializers.IntegerField()
    latest_state = serializers.CharField(allow_blank=True)
    probably_recovered = serializers.BooleanField(help_text="The newest run since succeeded.")


class HubLinkSerializer(serializers.Serializer):
    label = serializers.CharField()
    url = serializers.CharField()


class HubAlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    summary = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    severity = serializers.CharField(allow_blank=True)
    labels = serializers.DictField(child=serializers.CharField(allow_blank=True))
    attached_reason = serializers.CharField(allow_blank=True)
    happened = serializers.ChoiceField(choices=["failed", "was due", "started firing"])
    happened_at = serializers.DateTimeField()
    noticed_at = serializers.DateTimeField()
    job = HubJobSerializer(allow_null=True)
    run = HubRunSerializer(allow_null=True)
    dashboard_url = serializers.CharField(allow_blank=True)
    engine_ui = HubLinkSerializer(allow_null=True, help_text="Null: its URL is not configured.")
    runs_since = HubRunsSinceSerializer(allow_null=True, help_text="Null: no job.")


class HubDownstreamSerializer(serializers.Serializer):
    job = serializers.CharField(help_text="The job's key.")
    job_id = serializers.IntegerField()
    team = serializers.CharField(allow_null=True)
    last_run_state = serializers.CharField(allow_null=True)
    url = serializers.CharField()


class HubUpstreamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    state = serializers.CharField()
    team = serializers.CharField(allow_null=True)
    upstream_jobs = serializers.ListField(child=serializers.CharField())
    url = serializers.CharField()


class HubPageSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    purpose = serializers.CharField()
    transport = serializers.CharField()
    to = serializers.CharField(help_text="A user name, a channel's name, or an address.")
    state = serializers.CharField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True)


class HubRunbookSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField()
    first_steps_heading = serializers.CharField(allow_blank=True)
    first_steps_html = serializers.CharField(
        allow_blank=True, help_text="Sanitised HTML, rendered with the incident's values."
    )


class IncidentHubSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    state = serializers.CharField()
    group_labels = serializers.DictField(child=serializers.CharField(allow_blank=True))
    url = serializers.CharField()
    alerts = HubAlertSerializer(many=True)
    probably_recovered_after = serializers.IntegerField(
        help_text="When every alert's job succeeded since: the fewest successes; else 0."
    )
    downstream = HubDownstreamSerializer(many=True, help_text="Jobs that read from these.")
    upstream_incidents = HubUpstreamSerializer(many=True, help_text="Open, of jobs upstream.")
    paged = HubPageSerializer(many=True)
    runbook = HubRunbookSerializer(allow_null=True)
    silence_url = serializers.CharField(help_text="The silence form, prefilled.")


def _alert(row: HubAlert) -> dict[str, Any]:
    alert, job, run, since = row.alert, row.job, row.run, row.runs_since
    return {
        "id": alert.pk,
        "name": alert.name,
        "summary": alert.summary,
        "status": alert.status,
        "severity": alert.severity,
        "labels": {str(k): str(v) for k, v in alert.labels.items()},
        "attached_reason": row.member.attached_reason,
        "happened": row.happened,
        "happened_at": row.happened_at,
        "noticed_at": row.noticed_at,
        "job": {"id": job.pk, "key": job.key, "url": row.job_path} if job else None,
        "run": (
            {
                "id": run.pk,
                "external_id": run.external_id,
                "state": run.state,
                "url": row.run_path,
                "trace_url": row.trace_path,
            }
            if run
            else None
        ),
        "dashboard_url": row.dashboard_url,
        "engine_ui": (
            {"label": row.engine_link.label, "url": row.engine_link.url}
            if row.engine_link
            else None
        ),
        "runs_since": (
            {
                "succeeded": since.succeeded,
                "failed": since.failed,
                "other": since.other,
                "latest_state": since.latest_state,
                "probably_recovered": since.recovered,
            }
            if since
            else None
        ),
    }


def _to(n: Notification) -> str:
    if n.user is not None:
        return n.user.get_username()
    if n.channel is not None:
        return n.channel.name
    return n.address if n.transport in SHOWN_ADDRESSES else ""


def hub_data(hub: IncidentHub) -> dict[str, Any]:
    """The hub as plain data, in the shape of :class:`IncidentHubSerializer`."""
    incident, runbook, steps = hub.incident, hub.runbook, hub.first_steps
    return {
        "id": incident.pk,
        "title": incident.title,
        "state": incident.state,
        "group_labels": {str(k): str(v) for k, v in incident.group_labels.items()},
        "url": path_for("web:incident", incident.pk),
        "alerts": [_alert(row) for row in hub.alerts],
        "probably_recovered_after": hub.recovered,
        "downstream": [
            {
                "job": d.job.key,
                "job_id": d.job.pk,
                "team": d.job.owner_team.slug if d.job.owner_team else None,
                "last_run_state": d.last_run.state if d.last_run else None,
                "url": path_for("web:job", d.job.pk),
            }
            for d in hub.downstream
        ],
        "upstream_incidents": [
            {
                "id": u.incident.pk,
                "title": u.incident.title,
                "state": u.incident.state,
                "team": u.incident.team.slug if u.incident.team else None,
                "upstream_jobs": list(u.upstream_jobs),
                "url": path_for("web:incident", u.incident.pk),
            }
            for u in hub.upstream
        ],
        "paged": [
            {
                "at": n.created_at,
                "purpose": n.purpose,
                "transport": n.transport,
                "to": _to(n),
                "state": n.state,
                "delivered_at": n.delivered_at,
                "attempts": n.attempts,
                "last_error": n.last_error,
            }
            for n in incident_pages(incident)
        ],
        "runbook": (
            {
                "slug": runbook.slug,
                "title": runbook.title,
                "url": path_for("web:runbook", runbook.slug, query={"incident": incident.pk}),
                "first_steps_heading": steps.heading if steps else "",
                "first_steps_html": str(steps.html) if steps else "",
            }
            if runbook
            else None
        ),
        "silence_url": hub.silence_url,
    }


class IncidentHubView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="An incident's hub: where to look and what is around it",
        description="Per alert: its job, failing run, trace, dashboard and the engine's own "
        "UI; when it failed and when it was noticed; the runs since. The jobs downstream, "
        "open incidents upstream, who was paged and whether it arrived, the runbook with its "
        "first steps. For whoever may act on the incident and the people it paged; a 404 "
        "for anyone else.",
        responses=IncidentHubSerializer,
    )
    def get(self, request: Request, pk: str) -> Response:
        now = datetime.now(UTC)
        incident_id = parse_id(pk)
        incident = (
            Incident.objects.select_related("team", "assignee").filter(pk=incident_id).first()
            if incident_id is not None
            else None
        )
        if incident is None or not can_view_incident(request.user, incident, now):
            raise NotFound("No such incident.")
        return Response(IncidentHubSerializer(hub_data(incident_hub(incident, now=now))).data)
