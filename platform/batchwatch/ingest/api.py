"""``/api/v1/ingest-keys/``: the keys telemetry senders use. A team's members see its keys
(the prefix, never the key); its owners and staff create them (the key is in the answer,
once) and revoke them (the row stays, revoked). Keys of no team are staff's."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from batchwatch.catalog.models import Team
from batchwatch.catalog.permissions import can_manage_team
from batchwatch.core.permissions import is_admin
from batchwatch.ingest.models import IngestKey
from batchwatch.ingest.services import ingest_key_create, ingest_keys_revoke


class IngestKeySerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Team.objects.all(),
        allow_null=True,
        required=False,
        help_text="The team whose jobs the key reports (none: staff only).",
    )
    created_by = serializers.CharField(
        source="created_by.get_username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = IngestKey
        fields = [
            "id",
            "name",
            "team",
            "key_prefix",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = ["id", "key_prefix", "created_at", "last_used_at", "revoked_at"]


class IngestKeyCreatedSerializer(IngestKeySerializer):
    key = serializers.CharField(
        read_only=True, help_text="The key itself. Shown in this answer only: copy it now."
    )

    class Meta(IngestKeySerializer.Meta):
        fields = [*IngestKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="List the ingest keys of your teams (staff: all)"),
    retrieve=extend_schema(summary="An ingest key (its prefix, never the key)"),
    destroy=extend_schema(summary="Revoke an ingest key (its team's owners, staff)"),
)
class IngestKeyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = IngestKeySerializer
    permission_classes = [IsAuthenticated]
    filter_backends: list = []
    queryset = IngestKey.objects.none()  # for the schema; get_queryset decides

    def get_queryset(self) -> QuerySet[IngestKey]:
        rows = IngestKey.objects.select_related("team", "created_by").order_by("name", "id")
        if is_admin(self.request.user):
            return rows
        # Another team's key is a 404: its id says nothing.
        return rows.filter(team__memberships__user=self.request.user)

    @extend_schema(
        summary="Create an ingest key (the answer holds the key, once)",
        responses={201: IngestKeyCreatedSerializer},
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        given = IngestKeySerializer(data=request.data)
        given.is_valid(raise_exception=True)
        team = given.validated_data.get("team")
        allowed = can_manage_team(request.user, team) if team else is_admin(request.user)
        if not allowed:
            raise PermissionDenied("Only the team's owners (or an admin) create its ingest keys.")
        key, raw = ingest_key_create(
            name=given.validated_data["name"], team=team, created_by=request.user, request=request
        )
        key.key = raw  # type: ignore[attr-defined]
        return Response(IngestKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        key = self.get_object()
        allowed = can_manage_team(request.user, key.team) if key.team else is_admin(request.user)
        if not allowed:
            raise PermissionDenied("Only the team's owners (or an admin) revoke its ingest keys.")
        ingest_keys_revoke(
            keys=IngestKey.objects.filter(pk=key.pk),
            now=datetime.now(UTC),
            actor=request.user,
            request=request,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
