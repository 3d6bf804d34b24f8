"""``/api/v1/rotation-layers/``: the layers that decide a rotation's shifts. Everyone signed in
reads them (the schedule is no secret); the rotation's team's owners and staff add, change and
remove them (``oncall.permissions.can_edit_layers``). Someone outside the team who tries to
change one gets 404, as if it did not exist; a member of the team gets 403."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

from batchwatch.catalog.permissions import can_manage_jobs_of
from batchwatch.core.api import ServiceModelViewSet
from batchwatch.oncall.layers import MAX_PARTICIPANTS, rotation_layer_delete, rotation_layer_save
from batchwatch.oncall.models import LayerParticipant, Rotation, RotationLayer
from batchwatch.oncall.permissions import can_edit_layers

if TYPE_CHECKING:
    from django.contrib.auth.models import User


MAX_TURN = timedelta(days=366)


def _user(request: Request) -> User:
    # Only signed-in people reach here (IsAuthenticated); the stubs cannot know it.
    return cast("User", request.user)


class ParticipantsField(serializers.ListField):
    def get_attribute(self, instance: RotationLayer) -> list[Any]:
        # Prefetched in turn order (get_queryset): no query per layer.
        return [p.user for p in instance.participants.all()]


class LayerSerializer(serializers.ModelSerializer):
    rotation = serializers.SlugRelatedField(slug_field="slug", queryset=Rotation.objects.all())
    participants = ParticipantsField(
        child=serializers.SlugRelatedField(
            slug_field="username", queryset=get_user_model().objects.filter(is_active=True)
        ),
        min_length=1,
        max_length=MAX_PARTICIPANTS,
        help_text="Usernames in turn order (people of the rotation's team; one may repeat).",
    )
    restrictions = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        default=list,
        help_text="When the layer has someone on call, in the rotation's zone; empty: always.",
    )

    class Meta:
        model = RotationLayer
        fields = [
            "id",
            "rotation",
            "position",
            "name",
            "start_date",
            "handoff_time",
            "turn_length",
            "participants",
            "restrictions",
        ]
        read_only_fields = ["id", "position"]
        extra_kwargs = {"name": {"required": False}}

    def validate_turn_length(self, value: timedelta) -> timedelta:
        if value > MAX_TURN:
            raise serializers.ValidationError("A turn lasts at most a year.")
        return value

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # A layer stays with its rotation: a change names the same one (or none).
        if self.instance is not None and not isinstance(self.instance, list | QuerySet):
            fields["rotation"].read_only = True
        return fields


def _editable(request: Request, rotation: Rotation) -> None:
    """404 outside the rotation's team (as if it were not there), 403 for its members."""
    if not can_manage_jobs_of(request.user, rotation.team):
        raise NotFound("No such rotation layer.")
    if not can_edit_layers(request.user, rotation):
        raise PermissionDenied("Only the rotation's team's owners (or an admin) change its layers.")


@extend_schema_view(
    list=extend_schema(
        summary="List rotation layers",
        parameters=[
            OpenApiParameter("rotation", str, description="A rotation's slug."),
            OpenApiParameter("team", str, description="A team's slug."),
        ],
    ),
    retrieve=extend_schema(summary="A rotation layer"),
    create=extend_schema(
        summary="Add a layer on top of the rotation's others (the team's owners)",
        responses={201: LayerSerializer},
    ),
    update=extend_schema(summary="Change a layer (the team's owners)"),
    partial_update=extend_schema(summary="Change some of a layer (the team's owners)"),
    destroy=extend_schema(summary="Remove a layer (the team's owners)"),
)
class RotationLayerViewSet(ServiceModelViewSet):
    serializer_class = LayerSerializer
    permission_classes = [IsAuthenticated]
    filter_backends: list = []
    queryset = RotationLayer.objects.none()  # for the schema; get_queryset decides

    def get_queryset(self) -> QuerySet[RotationLayer]:
        rows = (
            RotationLayer.objects.select_related("rotation__team")
            .prefetch_related(
                Prefetch(
                    "participants",
                    queryset=LayerParticipant.objects.select_related("user").order_by(
                        "position", "id"
                    ),
                )
            )
            .order_by("rotation__slug", "position", "id")
        )
        params = self.request.query_params
        if params.get("rotation"):
            rows = rows.filter(rotation__slug=params["rotation"])
        if params.get("team"):
            rows = rows.filter(rotation__team__slug=params["team"])
        return rows

    def save_through_service(
        self, serializer: serializers.BaseSerializer, layer: RotationLayer | None
    ) -> RotationLayer:
        data = serializer.validated_data
        rotation = layer.rotation if layer is not None else data["rotation"]
        _editable(self.request, rotation)
        people = (
            data["participants"]
            if "participants" in data
            else [p.user for p in layer.participants.all()]  # type: ignore[union-attr]
        )

        def kept(name: str) -> Any:
            return data[name] if name in data else getattr(layer, name)

        return rotation_layer_save(
            rotation,
            layer=layer,
            name=kept("name") if layer is not None else data.get("name", ""),
            start_date=kept("start_date"),
            handoff_time=kept("handoff_time"),
            turn_length=kept("turn_length"),
            participants=people,
            restrictions=kept("restrictions") if layer is not None else data["restrictions"],
            actor=_user(self.request),
            request=self.request,
            now=datetime.now(UTC),
        )

    def delete_through_service(self, instance: RotationLayer) -> None:
        _editable(self.request, instance.rotation)
        rotation_layer_delete(instance, actor=_user(self.request), request=self.request)
