"""``/api/v1/alert-integrations/``: the senders of alerts (Alertmanager, PagerDuty Events,
generic webhooks) and their tokens. A team's members see its integrations (the token's
prefix, never the token); its owners and staff create them (the token is in the answer, once)
and revoke them (the row stays, revoked). Integrations of no team are staff's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from batchwatch.alerts.models import Integration
from batchwatch.alerts.services import integration_create, integrations_revoke
from batchwatch.catalog.models import Team
from batchwatch.catalog.permissions import can_manage_team
from batchwatch.core.permissions import is_admin

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _user(request: Request) -> User:
    # Only signed-in people reach here (IsAuthenticated); the stubs cannot know it.
    return cast("User", request.user)


class IntegrationSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Team.objects.all(),
        allow_null=True,
        required=False,
        help_text="Alerts from here get team=<slug> (none: staff only).",
    )

    class Meta:
        model = Integration
        fields = [
            "id",
            "name",
            "kind",
            "team",
            "token_prefix",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = ["id", "token_prefix", "created_at", "last_used_at", "revoked_at"]


class IntegrationCreatedSerializer(IntegrationSerializer):
    token = serializers.CharField(
        read_only=True, help_text="The token itself. Shown in this answer only: copy it now."
    )

    class Meta(IntegrationSerializer.Meta):
        fields = [*IntegrationSerializer.Meta.fields, "token"]
        read_only_fields = fields


def _may_manage(user, team: Team | None) -> bool:
    return can_manage_team(user, team) if team else is_admin(user)


@extend_schema_view(
    list=extend_schema(summary="List the alert integrations of your teams (staff: all)"),
    retrieve=extend_schema(summary="An alert integration (its token's prefix only)"),
    destroy=extend_schema(summary="Revoke an alert integration (its team's owners, staff)"),
)
class IntegrationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = IntegrationSerializer
    permission_classes = [IsAuthenticated]
    filter_backends: list = []
    queryset = Integration.objects.none()  # for the schema; get_queryset decides

    def get_queryset(self) -> QuerySet[Integration]:
        rows = Integration.objects.select_related("team").order_by("name", "id")
        if is_admin(self.request.user):
            return rows
        # Another team's integration is a 404: its id says nothing.
        return rows.filter(team__memberships__user=_user(self.request))

    @extend_schema(
        summary="Create an alert integration (the answer holds its token, once)",
        responses={201: IntegrationCreatedSerializer},
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        given = IntegrationSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        if not _may_manage(request.user, data.get("team")):
            raise PermissionDenied("Only the team's owners (or an admin) create its integrations.")
        integration, raw = integration_create(
            name=data["name"],
            kind=data["kind"],
            team=data.get("team"),
            actor=_user(request),
            request=request,
        )
        integration.token = raw  # type: ignore[attr-defined]
        return Response(
            IntegrationCreatedSerializer(integration).data, status=status.HTTP_201_CREATED
        )

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        integration = self.get_object()
        if not _may_manage(request.user, integration.team):
            raise PermissionDenied("Only the team's owners (or an admin) revoke its integrations.")
        integrations_revoke(
            Integration.objects.filter(pk=integration.pk),
            now=datetime.now(UTC),
            actor=_user(request),
            request=request,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
