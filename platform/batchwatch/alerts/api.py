"""REST API: alerts, silences, maintenance windows; incidents (with their timeline and
actions) are in ``api_incidents``.

Each person reads only the alerts, silences and windows of their teams (staff all of them:
``alerts.selectors_tenancy``); to others one does not exist (404, and not listed), for its
detail and for the actions on it alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from croniter import croniter
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from batchwatch.alerts import services
from batchwatch.alerts.api_incidents import AlertSerializer, IncidentViewSet
from batchwatch.alerts.matchers import parse_matchers
from batchwatch.alerts.models import Alert, MaintenanceWindow, Silence
from batchwatch.alerts.permissions import (
    can_change_suppression,
    can_manage_silences,
    confine_matchers,
)
from batchwatch.alerts.selectors_tenancy import (
    alerts_visible_to,
    maintenance_visible_to,
    silences_visible_to,
)
from batchwatch.core.api import DURATION_BOUNDS

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from rest_framework.request import Request

# The router (batchwatch.urls) takes every viewset of alerting from here.
__all__ = ["AlertViewSet", "IncidentViewSet", "MaintenanceViewSet", "SilenceViewSet"]


def _now() -> datetime:
    return datetime.now(UTC)


def _signed_in(request: Request) -> User:
    """The user of a request to a view that requires one (``IsAuthenticated``)."""
    # The stubs type request.user as User | AnonymousUser: they cannot know the permission
    # class has turned anonymous requests away.
    return cast("User", request.user)


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alerts as received, those of the caller's teams (staff: all). Filters: ``status``,
    ``suppressed=true``."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = AlertSerializer

    def get_queryset(self):
        query = Alert.objects.all()
        params = self.request.query_params
        if params.get("status"):
            query = query.filter(status=params["status"])
        if params.get("suppressed") in ("1", "true", "yes"):
            query = query.exclude(suppressed_reason="")
        query = query.select_related("resolved_by").order_by("-last_received_at", "-id")
        return alerts_visible_to(self.request.user, query, now=_now())


TEAM_HELP = (
    'Slug of the team whose alerts this is for: Batchwatch adds the team="<slug>" matcher. '
    "A member of several teams must choose one of theirs; only admins may leave a global one "
    "(no team matcher)."
)


class SilenceSerializer(serializers.ModelSerializer):
    # null: made by config as code, or its author's account was deleted
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    state = serializers.SerializerMethodField()
    team = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=100, help_text=TEAM_HELP
    )

    class Meta:
        model = Silence
        fields = [
            "id",
            "matchers",
            "starts_at",
            "ends_at",
            "comment",
            "created_by",
            "state",
            "created_at",
            "team",
        ]
        read_only_fields = ["id", "created_by", "state", "created_at"]

    def get_state(self, silence) -> str:
        return silence.state_at(_now())


class SilenceViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Silences: create (validated as Alertmanager does), list, expire (DELETE); those of the
    caller's teams (staff: all)."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = SilenceSerializer
    queryset = Silence.objects.select_related("created_by").order_by("-starts_at")

    def get_queryset(self):
        return silences_visible_to(self.request.user, super().get_queryset())

    def create(self, request, *args, **kwargs):
        if not can_manage_silences(request.user):
            raise PermissionDenied("Only members of a team (or an admin) may silence alerts.")
        data = SilenceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        matchers = confine_matchers(
            request.user, data.validated_data["matchers"], team=data.validated_data.get("team")
        )
        silence = services.silence_create(
            matchers=matchers,
            starts_at=data.validated_data["starts_at"],
            ends_at=data.validated_data["ends_at"],
            comment=data.validated_data["comment"],
            created_by=request.user,
            now=_now(),
            request=request,
        )
        return Response(SilenceSerializer(silence).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        silence = self.get_object()
        if not can_change_suppression(request.user, silence):
            raise PermissionDenied(
                "Only members of the silence's team (or an admin) may expire it; "
                "a global silence is an admin's."
            )
        services.silence_expire(silence=silence, now=_now(), actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MaintenanceSerializer(serializers.ModelSerializer):
    team = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=100, help_text=TEAM_HELP
    )

    class Meta:
        model = MaintenanceWindow
        fields = [
            "id",
            "name",
            "matchers",
            "starts_at",
            "duration",
            "recurrence",
            "timezone",
            "until",
            "comment",
            "created_at",
            "team",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"duration": DURATION_BOUNDS}

    def validate_matchers(self, value):
        try:
            if not parse_matchers(value):
                raise ValueError("at least one matcher")
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value

    def validate_recurrence(self, value):
        if value and not croniter.is_valid(value):
            raise serializers.ValidationError(f"{value!r} is not a cron expression")
        return value


@extend_schema_view(
    create=extend_schema(
        examples=[
            OpenApiExample(
                "Every Sunday 02:00-04:00 in New York",
                request_only=True,
                value={
                    "name": "Ledger database maintenance",
                    "matchers": ["job=~ledger_.*"],
                    "team": "ledger",
                    "starts_at": "2026-11-29T07:00:00Z",
                    "duration": "02:00:00",
                    "recurrence": "0 2 * * 0",
                    "timezone": "America/New_York",
                },
            )
        ]
    )
)
class MaintenanceViewSet(viewsets.ModelViewSet):
    """Maintenance windows scheduled ahead (one-off or recurring by cron in a zone); those of
    the caller's teams (staff: all)."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = MaintenanceSerializer
    queryset = MaintenanceWindow.objects.order_by("starts_at")

    def get_queryset(self):
        return maintenance_visible_to(self.request.user, super().get_queryset())

    def check_permissions(self, request):
        super().check_permissions(request)
        if request.method not in permissions.SAFE_METHODS and not can_manage_silences(request.user):
            raise PermissionDenied("Only members of a team (or an admin) may schedule maintenance.")

    def check_object_permissions(self, request, obj):
        super().check_object_permissions(request, obj)
        if request.method not in permissions.SAFE_METHODS and not can_change_suppression(
            request.user, obj
        ):
            raise PermissionDenied(
                "Only members of the window's team (or an admin) may change it; "
                "a global window is an admin's."
            )

    def _confined(self, serializer) -> dict:
        team = serializer.validated_data.pop("team", None)
        if "matchers" not in serializer.validated_data:
            return {}
        return {
            "matchers": confine_matchers(
                self.request.user,
                serializer.validated_data["matchers"],
                team=team,
                what="maintenance window",
            )
        }

    def perform_create(self, serializer):
        confined = self._confined(serializer)  # (takes the write-only team out)
        fields = {**serializer.validated_data, **confined}
        serializer.instance = services.maintenance_window_create(
            fields=fields, created_by=_signed_in(self.request), request=self.request
        )

    def perform_update(self, serializer):
        confined = self._confined(serializer)
        changes = {**serializer.validated_data, **confined}
        serializer.instance = services.maintenance_window_update(
            window=serializer.instance,
            changes=changes,
            actor=_signed_in(self.request),
            request=self.request,
        )

    def perform_destroy(self, instance):
        services.maintenance_window_delete(
            window=instance, actor=_signed_in(self.request), request=self.request
        )
