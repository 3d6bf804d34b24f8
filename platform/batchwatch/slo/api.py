"""REST API for SLOs (``/api/v1/slos/``) with their evaluated states."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import permissions, serializers, viewsets
from rest_framework.exceptions import PermissionDenied

from batchwatch.catalog.models import Job, Team
from batchwatch.catalog.permissions import can_manage_jobs_of, is_admin
from batchwatch.core.api import DURATION_BOUNDS
from batchwatch.slo.models import SLO, SLOState
from batchwatch.slo.services import slo_save


class SLOStateSerializer(serializers.ModelSerializer):
    job = serializers.CharField(source="job.key")

    class Meta:
        model = SLOState
        fields = [
            "job",
            "status",
            "sli",
            "good",
            "total",
            "budget_total",
            "budget_remaining_ratio",
            "burn_rates",
            "evaluated_at",
            "changed_at",
        ]


class SLOSerializer(serializers.ModelSerializer):
    job = serializers.SlugRelatedField(
        slug_field="key", queryset=Job.objects.all(), allow_null=True, required=False
    )
    team = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), allow_null=True, required=False
    )
    states = SLOStateSerializer(many=True, read_only=True)

    class Meta:
        model = SLO
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "kind",
            "job",
            "team",
            "label_selector",
            "objective",
            "window_unit",
            "window_size",
            "window_type",
            "deadline_time",
            "deadline_timezone",
            "deadline_day_offset",
            "prediction_lead",
            "max_age",
            "duration_threshold",
            "warning_budget_ratio",
            "is_active",
            "states",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            name: DURATION_BOUNDS for name in ("prediction_lead", "max_age", "duration_threshold")
        }


def owning_team(slo: SLO) -> Team | None:
    return slo.job.owner_team if slo.job_id else slo.team


class SLOPermission(permissions.BasePermission):
    message = "Only members of the SLO's team (or an admin) may change it."

    def has_object_permission(self, request, view, obj: SLO) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return can_manage_jobs_of(request.user, owning_team(obj))


@extend_schema_view(
    create=extend_schema(
        examples=[
            OpenApiExample(
                "A deadline SLO",
                request_only=True,
                value={
                    "slug": "ledger-close-by-7",
                    "name": "Ledger close by 07:00 New York",
                    "kind": "deadline",
                    "job": "airflow:prod-airflow/ledger_nightly_close",
                    "objective": "99",
                    "window_unit": "runs",
                    "window_size": 30,
                    "deadline_time": "07:00",
                    "deadline_timezone": "America/New_York",
                },
            )
        ]
    )
)
class SLOViewSet(viewsets.ModelViewSet):
    serializer_class = SLOSerializer
    permission_classes = [permissions.IsAuthenticated, SLOPermission]
    search_fields = ["slug", "name", "job__key"]
    filterset_fields = ["kind", "is_active"]

    def get_queryset(self):
        return SLO.objects.select_related("job__owner_team", "team").prefetch_related("states__job")

    def _save(self, serializer, instance: SLO | None):
        slo = instance or SLO()
        for field, value in serializer.validated_data.items():
            setattr(slo, field, value)
        team = owning_team(slo)
        if team is None and not slo.label_selector:
            slo_save(slo)  # attached to nothing: validation says so (400) before any permission
        if not (can_manage_jobs_of(self.request.user, team) or is_admin(self.request.user)):
            raise PermissionDenied(
                "Only admins may define SLOs by labels alone."
                if team is None
                else f"You are not a member of team '{team.slug}', so you cannot give it SLOs."
            )
        serializer.instance = slo_save(slo)

    def perform_create(self, serializer):
        self._save(serializer, None)

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)
