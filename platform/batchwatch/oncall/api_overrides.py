"""``/api/v1/rotation-overrides/``: someone on call instead of the schedule for a period.
Everyone signed in reads them (the schedule is no secret); the rotation's team's owners and
staff add and remove any, a member only her own (``oncall.permissions``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from batchwatch.core.api import bounded_instant
from batchwatch.oncall.models import Rotation, RotationOverride
from batchwatch.oncall.permissions import can_add_override, can_delete_override
from batchwatch.oncall.services import override_create, override_delete

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _user(request: Request) -> User:
    # Only signed-in people reach here (IsAuthenticated); the stubs cannot know it.
    return cast("User", request.user)


class OverrideSerializer(serializers.ModelSerializer):
    rotation = serializers.SlugRelatedField(slug_field="slug", queryset=Rotation.objects.all())
    user = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        help_text="Who is on call for the period (someone of the rotation's team).",
    )
    created_by = serializers.CharField(
        source="created_by.get_username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = RotationOverride
        fields = ["id", "rotation", "user", "starts_at", "ends_at", "reason", "created_by"]
        read_only_fields = ["id", "created_by"]

    def validate_starts_at(self, value: datetime) -> datetime:
        return bounded_instant(value, "starts_at")

    def validate_ends_at(self, value: datetime) -> datetime:
        return bounded_instant(value, "ends_at")


@extend_schema_view(
    list=extend_schema(
        summary="List rotation overrides",
        parameters=[
            OpenApiParameter("rotation", str, description="A rotation's slug."),
            OpenApiParameter("team", str, description="A team's slug."),
            OpenApiParameter("ahead", bool, description="Only those not over yet."),
        ],
    ),
    retrieve=extend_schema(summary="A rotation override"),
    create=extend_schema(
        summary="Add an override (the team's owners; a member for herself)",
        responses={201: OverrideSerializer},
    ),
    destroy=extend_schema(summary="Remove an override (owners; a member her own)"),
)
class RotationOverrideViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = OverrideSerializer
    permission_classes = [IsAuthenticated]
    filter_backends: list = []
    queryset = RotationOverride.objects.none()  # for the schema; get_queryset decides

    def get_queryset(self) -> QuerySet[RotationOverride]:
        rows = RotationOverride.objects.select_related(
            "rotation__team", "user", "created_by"
        ).order_by("starts_at", "id")
        params = self.request.query_params
        if params.get("rotation"):
            rows = rows.filter(rotation__slug=params["rotation"])
        if params.get("team"):
            rows = rows.filter(rotation__team__slug=params["team"])
        if params.get("ahead") in {"true", "1"}:
            rows = rows.filter(ends_at__gt=datetime.now(UTC))
        return rows

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        data = serializer.validated_data
        rotation, user = data["rotation"], data["user"]
        if not can_add_override(self.request.user, rotation, for_user_id=user.pk):
            raise PermissionDenied(
                "Only the rotation's team's owners (or an admin) put others on call; "
                "a member may add an override for herself."
            )
        serializer.instance = override_create(
            rotation,
            user=user,
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            now=datetime.now(UTC),
            reason=data.get("reason", ""),
            actor=_user(self.request),
            request=self.request,
        )

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        override = self.get_object()
        if not can_delete_override(request.user, override):
            raise PermissionDenied(
                "Only the rotation's team's owners, or the person it names, may remove it."
            )
        override_delete(override, actor=_user(request), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
