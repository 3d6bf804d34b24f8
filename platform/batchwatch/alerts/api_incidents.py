"""REST API of incidents: list and detail (with alerts and timeline), the actions people take
(acknowledge, resolve, reopen, snooze, reassign, escalate, notes), whom to reassign to, and
acting on many at once (``bulk``).

Reading is for whoever may open the incident's page (``alerts.permissions.can_view_incident``:
those who may act, and the people it paged); to others an incident does not exist (404, and
not listed). Acting is for members of the owning team, its on-call, the assignee and admins
(``alerts.permissions.can_act_on_incident``); bulk actions touch only the incidents the
caller may act on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from batchwatch.alerts import selectors, services
from batchwatch.alerts.models import Alert, Incident
from batchwatch.alerts.permissions import can_act_on_incident
from batchwatch.alerts.selectors_people import incidents_visible_to, reassign_candidates
from batchwatch.alerts.services.bulk import (
    BULK_ACTIONS,
    IncidentFilter,
    incidents_bulk_act,
)
from batchwatch.alerts.services.phone_actions import STATUSES as PROVIDER_STATUSES
from batchwatch.notify.models import Notification
from batchwatch.notify.selectors import incident_deliveries

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from batchwatch.catalog.models import Team

TRUE = ("1", "true", "yes")
MAX_ID = 2**31 - 1


def _now() -> datetime:
    return datetime.now(UTC)


class AlertSerializer(serializers.ModelSerializer):
    # null: still firing, or resolved by its source (not by a person)
    resolved_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "source",
            "fingerprint",
            "labels",
            "annotations",
            "summary",
            "severity",
            "status",
            "starts_at",
            "ends_at",
            "generator_url",
            "suppressed_reason",
            "first_received_at",
            "last_received_at",
            "received_count",
            "resolved_by",
        ]


class TimelineSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField(help_text='e.g. "opened", "acknowledged", "note", "reopened"')
    actor = serializers.CharField()
    message = serializers.CharField()


class IncidentSerializer(serializers.ModelSerializer):
    # null: an incident of no team (staff's), one nobody is assigned
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    assignee: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    alert_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "title",
            "state",
            "urgency",
            "severity",
            "team",
            "assignee",
            "assigned_explicitly",
            "group_key",
            "group_labels",
            "route_path",
            "escalation_step",
            "snoozed_until",
            "created_at",
            "acknowledged_at",
            "resolved_at",
            "alert_count",
        ]


class IncidentDetailSerializer(IncidentSerializer):
    alerts = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()
    escalation_policy = serializers.JSONField(source="escalation_snapshot", read_only=True)

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "alerts", "timeline", "escalation_policy"]

    def get_alerts(self, incident) -> list[dict]:
        return [
            {**AlertSerializer(m.alert).data, "attached_reason": m.attached_reason}
            for m in incident.memberships.select_related("alert__resolved_by")
        ]

    def get_timeline(self, incident) -> list[dict]:
        # many=True makes a ListSerializer, whose data is a list (ReturnList); the stubs type
        # the call as the serializer itself, whose data is a dict.
        return cast(
            "list[dict]", TimelineSerializer(selectors.incident_timeline(incident), many=True).data
        )


class SnoozeInput(serializers.Serializer):
    until = serializers.DateTimeField()


class ReassignInput(serializers.Serializer):
    user = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True)
    )


class ResolveInput(serializers.Serializer):
    force = serializers.BooleanField(
        default=False,
        help_text="Resolve even with alerts still firing: they are marked resolved too, and "
        "a later firing opens a new incident.",
    )


class FiringAlertsResponse(serializers.Serializer):
    detail = serializers.CharField()
    firing_alerts = serializers.IntegerField(help_text="How many alerts still fire.")
    force = serializers.CharField(help_text="How to resolve anyway.")


class ReopenInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class NoteInput(serializers.Serializer):
    text = serializers.CharField(
        max_length=services.NOTE_MAX_LENGTH,
        help_text=f"At most {services.NOTE_MAX_LENGTH} characters.",
    )


class CandidateSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    reason = serializers.CharField(help_text='"on call (<rotation>)", "member of <team>", "other"')
    group = serializers.ChoiceField(choices=["oncall", "team", "other"])


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField(help_text="When it was queued.")
    who = serializers.CharField(
        help_text="The person's name, else the channel's, else the (masked) address."
    )
    username = serializers.CharField(help_text='The person it went to; "" for a channel.')
    address = serializers.CharField(
        help_text="Where it went: a phone number in full to staff and to its person, masked "
        '(+1 *** *** 1234) to others; "" when it is a URL, topic or key you may not see.'
    )
    transport = serializers.ChoiceField(choices=Notification.Transport.choices)
    purpose = serializers.ChoiceField(choices=Notification.Purpose.choices)
    provider_id = serializers.CharField(
        help_text="The provider's id of the message or call (Twilio's SID); \"\" if none."
    )
    state = serializers.ChoiceField(choices=Notification.State.choices)
    delivered_at = serializers.DateTimeField(allow_null=True, help_text="Handed to the provider.")
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()
    provider_status = serializers.ChoiceField(
        choices=["", *sorted(PROVIDER_STATUSES), "unknown"],
        help_text='The provider\'s latest status callback; "" before any.',
    )
    provider_status_at = serializers.DateTimeField(allow_null=True)
    provider_error_code = serializers.CharField(help_text="The provider's error code, if any.")
    answered_by = serializers.CharField(help_text='A call\'s "human" or "machine_…"; else "".')


class BulkInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=BULK_ACTIONS)
    force = serializers.BooleanField(
        default=False, help_text="resolve: also those whose alerts still fire."
    )
    mine = serializers.BooleanField(default=False, help_text="Only incidents assigned to me.")
    team = serializers.SlugField(required=False, allow_blank=True, max_length=64)
    urgency = serializers.ChoiceField(choices=Incident.Urgency.choices, required=False)
    state = serializers.ChoiceField(
        choices=[Incident.State.TRIGGERED, Incident.State.ACKNOWLEDGED], required=False
    )
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=500,
        help_text="Only these incidents (with the other criteria).",
    )


class BulkResultSerializer(serializers.Serializer):
    matched = serializers.IntegerField(help_text="Open incidents the filter selects.")
    changed = serializers.IntegerField(help_text="Acknowledged or resolved now.")
    unchanged = serializers.IntegerField(help_text="Already in that state.")
    firing = serializers.IntegerField(help_text="Not resolved: alerts still fire (use force).")
    not_permitted = serializers.IntegerField(help_text="Other teams' incidents, left alone.")
    remaining = serializers.IntegerField(help_text="Over the limit of one call: call again.")
    ids = serializers.ListField(child=serializers.IntegerField(), help_text="Changed ones.")


LIST_FILTERS = [
    OpenApiParameter("state", str, enum=list(Incident.State.values)),
    OpenApiParameter("open", bool, description="Triggered and acknowledged ones."),
    OpenApiParameter("team", str, description="Team slug."),
    OpenApiParameter("urgency", str, enum=list(Incident.Urgency.values)),
    OpenApiParameter("mine", bool, description="Assigned to me."),
]


class IncidentViewSet(viewsets.ReadOnlyModelViewSet):
    """Incidents the caller may see, newest first. Filters: ``state``, ``open=true``,
    ``team`` (slug), ``urgency``, ``mine=true`` (assigned to me)."""

    permission_classes = [permissions.IsAuthenticated]

    def get_queryset(self):
        params = self.request.query_params
        state = "open" if params.get("open") in TRUE else params.get("state")
        query = selectors.incidents_query(state=state, team_slug=params.get("team"))
        if params.get("urgency"):
            query = query.filter(urgency=params["urgency"])
        if params.get("mine") in TRUE:
            query = query.filter(assignee_id=self.request.user.pk)
        # The incident page's rule, so the API shows no more than the pages do; the detail
        # and the actions look incidents up here too, so an unseen one is a 404 for them.
        return incidents_visible_to(self.request.user, query, now=_now())

    def get_serializer_class(self):
        return IncidentDetailSerializer if self.action == "retrieve" else IncidentSerializer

    @extend_schema(parameters=LIST_FILTERS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def _permitted(self, request) -> tuple[Incident, datetime]:
        incident = self.get_object()
        now = _now()
        if not can_act_on_incident(request.user, incident, now):
            raise PermissionDenied(
                "Only members of the owning team, its on-call, the assignee or an admin may act."
            )
        return incident, now

    def _detail(self, incident: Incident, code: int = status.HTTP_200_OK) -> Response:
        # (what incidents_query annotates on the list; counted here for one incident)
        cast("Any", incident).alert_count = incident.memberships.count()
        return Response(IncidentDetailSerializer(incident).data, status=code)

    def _act(self, request, func, **kwargs: Any) -> Response:
        incident, now = self._permitted(request)
        return self._detail(func(incident, now=now, actor=request.user, **kwargs))

    @extend_schema(request=None, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Acknowledge: the escalation stops and you become the assignee (unless someone
        else was assigned explicitly)."""
        return self._act(request, services.incident_acknowledge)

    @extend_schema(
        request=ResolveInput,
        responses={
            200: IncidentDetailSerializer,
            409: OpenApiResponse(FiringAlertsResponse, description="Alerts still fire."),
        },
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Resolve. With alerts still firing: 409, unless ``force`` (they resolve too)."""
        data = ResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        incident, now = self._permitted(request)
        try:
            incident = services.incident_resolve(
                incident, now=now, actor=request.user, force=data.validated_data["force"]
            )
        except services.FiringAlertsError as exc:
            return Response(
                {
                    "detail": exc.messages[0],
                    "firing_alerts": exc.firing,
                    "force": 'POST again with {"force": true} to resolve it and its alerts.',
                },
                status=status.HTTP_409_CONFLICT,
            )
        return self._detail(incident)

    @extend_schema(request=ReopenInput, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        """Reopen a resolved incident: triggered again, its escalation from the first step."""
        data = ReopenInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self._act(
            request, services.incident_reopen, reason=data.validated_data.get("reason", "")
        )

    @extend_schema(request=None, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def escalate(self, request, pk=None):
        return self._act(request, services.incident_escalate)

    @extend_schema(request=SnoozeInput, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def snooze(self, request, pk=None):
        data = SnoozeInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self._act(request, services.incident_snooze, until=data.validated_data["until"])

    @extend_schema(request=ReassignInput, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk=None):
        data = ReassignInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self._act(request, services.incident_reassign, user=data.validated_data["user"])

    @extend_schema(request=NoteInput, responses={201: TimelineSerializer})
    @action(detail=True, methods=["post"])
    def notes(self, request, pk=None):
        """Add a note to the incident's timeline."""
        data = NoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        incident, now = self._permitted(request)
        entry = services.incident_note_add(
            incident,
            author=request.user,
            text=data.validated_data["text"],
            now=now,
            source="api",
        )
        item = {
            "at": entry.at,
            "kind": entry.kind,
            "actor": entry.actor_label,
            "message": entry.message,
        }
        return Response(TimelineSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=CandidateSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="reassign-candidates", pagination_class=None)
    def reassign_candidates(self, request, pk=None):
        """Whom to reassign to: the team's on-call first, then its members, then others."""
        candidates = reassign_candidates(self.get_object(), now=_now())
        return Response(CandidateSerializer(candidates, many=True).data)

    @extend_schema(responses=DeliverySerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def deliveries(self, request, pk=None):
        """The incident's delivery log, oldest first: who was paged or notified, how, our
        delivery state and the provider's latest status callback (queued, sent, delivered,
        failed, answered, no-answer, busy...)."""
        incident = self.get_object()
        rows = incident_deliveries(incident_id=incident.pk, viewer=request.user)
        return Response(DeliverySerializer(rows, many=True).data)

    @extend_schema(request=BulkInput, responses=BulkResultSerializer)
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """Acknowledge or resolve the open incidents a filter selects (``mine``, ``team``,
        ``urgency``, ``state``, ``ids``): only those you may act on are touched."""
        data = BulkInput(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        result = incidents_bulk_act(
            cast("User", request.user),
            action=given["action"],
            filters=IncidentFilter(
                mine=given["mine"],
                team=given.get("team", ""),
                urgency=given.get("urgency", ""),
                state=given.get("state", ""),
                ids=given.get("ids"),
            ),
            now=_now(),
            force=given["force"],
        )
        return Response(BulkResultSerializer(result).data)
