"""``/api/v1/escalation-policies/``: who is paged, in order, for a team's incidents. Everyone
signed in reads them (on-call work crosses team lines); the team's owners and staff replace a
policy's steps, how many times they repeat and its severity -> urgency overrides
(``PATCH``), as on the team's settings page."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, cast

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from batchwatch.catalog.models import Team
from batchwatch.catalog.permissions import can_manage_team
from batchwatch.oncall.models import (
    URGENCIES,
    EscalationPolicy,
    EscalationStep,
    Rotation,
    validate_urgency_mapping,
)
from batchwatch.oncall.services import policy_steps_set

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_STEPS = 30
MAX_REPEAT = 10
MAX_OVERRIDES = 50
URGENCY_HELP = (
    'Overrides of the severity -> urgency mapping, e.g. {"warning": "high"}. By default '
    "critical, error, page, high, p1 and p2 are high, anything else low."
)


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
    urgency_by_severity = serializers.DictField(
        child=serializers.ChoiceField(choices=URGENCIES), read_only=True, help_text=URGENCY_HELP
    )

    class Meta:
        model = EscalationPolicy
        fields = [
            "id",
            "slug",
            "name",
            "team",
            "is_team_default",
            "repeat",
            "ack_timeout",
            "urgency_by_severity",
            "steps",
        ]
        read_only_fields = fields


class PolicyStepsSerializer(serializers.Serializer):
    steps = StepSerializer(  # type: ignore[call-arg]
        many=True, max_length=MAX_STEPS, required=False, help_text="The steps (absent: kept)."
    )
    repeat = serializers.IntegerField(
        min_value=0,
        max_value=MAX_REPEAT,
        required=False,
        help_text="How many more times to run the steps when nobody acknowledges (absent: kept).",
    )
    urgency_by_severity = serializers.DictField(
        child=serializers.ChoiceField(choices=URGENCIES),
        required=False,
        help_text=URGENCY_HELP
        + " Replaces the policy's overrides ({}: the defaults; absent: kept).",
    )

    def validate_urgency_by_severity(self, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_OVERRIDES:
            raise serializers.ValidationError(f"At most {MAX_OVERRIDES} severities.")
        try:  # the model's rule, so the API refuses what the admin and the loader refuse
            validate_urgency_mapping(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


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
        summary="Replace a policy's steps or urgency mapping (the team's owners, staff)",
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
            steps=[dict(step) for step in data["steps"]] if "steps" in data else None,
            repeat=data.get("repeat", policy.repeat),
            urgency_by_severity=data.get("urgency_by_severity"),
            actor=cast("User", request.user),
            request=request,
        )
        return Response(PolicySerializer(self.get_queryset().get(pk=policy.pk)).data)
