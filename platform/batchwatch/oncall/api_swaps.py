"""``/api/v1/shift-swaps/``: a person's shifts of a period offered to her team, and taken by
one of them (the schedule then gives them to the taker). Everyone signed in reads them; a
member offers her own shifts (owners anyone's of the team), another member takes them for
herself, and the requester, the taker or an owner cancels (``oncall.permissions``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from batchwatch.core.api import bounded_instant
from batchwatch.oncall.models import Rotation, ShiftSwap
from batchwatch.oncall.permissions import can_cancel_swap, can_offer_swap, can_take_swap
from batchwatch.oncall.services import swap_cancel, swap_offer, swap_take

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _user(request: Request) -> User:
    # Only signed-in people reach here (IsAuthenticated); the stubs cannot know it.
    return cast("User", request.user)


class SwapSerializer(serializers.ModelSerializer):
    rotation = serializers.SlugRelatedField(slug_field="slug", queryset=Rotation.objects.all())
    requester = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        help_text="Whose shifts are offered (default: yours).",
    )
    taker = serializers.CharField(
        source="taker.get_username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = ShiftSwap
        fields = ["id", "rotation", "requester", "taker", "starts_at", "ends_at", "state"]
        read_only_fields = ["id", "taker", "state"]

    def validate_starts_at(self, value: datetime) -> datetime:
        return bounded_instant(value, "starts_at")

    def validate_ends_at(self, value: datetime) -> datetime:
        return bounded_instant(value, "ends_at")


@extend_schema_view(
    list=extend_schema(
        summary="List shift swaps",
        parameters=[
            OpenApiParameter("rotation", str, description="A rotation's slug."),
            OpenApiParameter("state", str, enum=ShiftSwap.State.values),
        ],
    ),
    retrieve=extend_schema(summary="A shift swap"),
    create=extend_schema(
        summary="Offer shifts of a period (yours; owners: anyone's of the team)",
        responses={201: SwapSerializer},
    ),
)
class ShiftSwapViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = SwapSerializer
    permission_classes = [IsAuthenticated]
    filter_backends: list = []
    queryset = ShiftSwap.objects.none()  # for the schema; get_queryset decides

    def get_queryset(self) -> QuerySet[ShiftSwap]:
        rows = ShiftSwap.objects.select_related("rotation__team", "requester", "taker").order_by(
            "starts_at", "id"
        )
        params = self.request.query_params
        if params.get("rotation"):
            rows = rows.filter(rotation__slug=params["rotation"])
        if params.get("state") in ShiftSwap.State.values:
            rows = rows.filter(state=params["state"])
        return rows

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        data = serializer.validated_data
        requester = data.get("requester") or _user(self.request)
        if not can_offer_swap(self.request.user, data["rotation"], requester_id=requester.pk):
            raise PermissionDenied(
                "A member offers only her own shifts; the team's owners (or an admin) anyone's."
            )
        serializer.instance = swap_offer(
            data["rotation"],
            requester=requester,
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            now=datetime.now(UTC),
            actor=_user(self.request),
            request=self.request,
        )

    @extend_schema(summary="Take an open swap's shifts (yourself)", request=None)
    @action(detail=True, methods=["post"])
    def take(self, request: Request, pk: str | None = None) -> Response:
        swap = self.get_object()
        if not can_take_swap(request.user, swap):
            raise PermissionDenied("Someone of the team other than its requester takes a swap.")
        swap = swap_take(
            swap, taker=_user(request), now=datetime.now(UTC), actor=_user(request), request=request
        )
        return Response(SwapSerializer(swap).data)

    @extend_schema(summary="Cancel a swap (its requester, its taker, owners)", request=None)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        swap = self.get_object()
        if not can_cancel_swap(request.user, swap):
            raise PermissionDenied("Only its requester, its taker or an owner cancels a swap.")
        swap = swap_cancel(swap, actor=_user(request), request=request)
        return Response(SwapSerializer(swap).data, status=status.HTTP_200_OK)
