"""``/api/v1/escalation-policies/``: who is paged, in order, for a team's incidents. Everyone
signed in reads them (on-call work crosses team lines); the team's owners and staff replace a
policy's steps and how many times they repeat (``PATCH``), as on the team's settings page."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, cast

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from batchwatch.catalog.models import Team
from batchwatch.catalog.permissions import can_manage_team
from batchwatch.oncall.models import EscalationPolicy, EscalationStep, Rotation
from batchwatch.oncall.services import policy_steps_set

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_STEPS = 30
MAX_REPEAT = 10


class StepSerializer(serializers.ModelSerializer):
    rotation = serializers.SlugRelatedField(
        slug_field="slug", queryset=Rotation.objects.all(), required=False, allow_null=True
    )
    user = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )
    team = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), required=False, allow_null=True
    )
    wait = serializers.DurationField(
        min_value=timedelta(0),
        max_value=timedelta(days=1),
        required=False,
        help_text="How long to wait for an acknowledgement before the next step (default 5 min).",
    )

    class Meta:
        model = EscalationStep
        fields = ["target", "rotation", "user", "team", "wait"]


class PolicySerializer(serializers.ModelSerializer):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    steps = StepSerializer(many=True, read_only=True)

    class Meta:
        model = EscalationPolicy
        fields = ["id", "slug", "name", "team", "is_team_default", "repeat", "ack_timeout", "steps"]
        read_only_fields = fields


class PolicyStepsSerializer(serializers.Serializer):
    steps = StepSerializer(many=True, max_length=MAX_STEPS)  # type: ignore[call-arg]
    repeat = serializers.IntegerField(
        min_value=0,
        max_value=MAX_REPEAT,
        required=False,
        help_text="How many more times to run the steps when nobody acknowledges (absent: kept).",
    )


@extend_schema_view(
    list=extend_schema(summary="List escalation policies"),
    retrieve=extend_schema(summary="An escalation policy with its steps"),
)
class EscalationPolicyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = PolicySerializer
    permission_classes = [IsAuthenticated]
    lookup_field = "slug"
    filter_backends: list = []
    queryset = EscalationPolicy.objects.none()  # for the schema; get_queryset decides

    def get_queryset(self) -> QuerySet[EscalationPolicy]:
        steps = EscalationStep.objects.select_related("rotation", "user", "team").order_by(
            "position", "id"
        )
        return (
            EscalationPolicy.objects.select_related("team")
            .prefetch_related(Prefetch("steps", queryset=steps))
            .order_by("team__name", "name")
        )

    @extend_schema(
        summary="Replace a policy's steps (the team's owners, staff)",
        request=PolicyStepsSerializer,
        responses=PolicySerializer,
    )
    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        policy = self.get_object()
        if not can_manage_team(request.user, policy.team):
            raise PermissionDenied("Only the team's owners (or an admin) change its policies.")
        given = PolicyStepsSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        policy_steps_set(
            policy,
            steps=[dict(step) for step in data["steps"]],
            repeat=data.get("repeat", policy.repeat),
            actor=cast("User", request.user),
            request=request,
        )
        return Response(PolicySerializer(self.get_queryset().get(pk=policy.pk)).data)
