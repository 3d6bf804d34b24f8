"""REST API for teams and jobs (``/api/v1/teams/``, ``/api/v1/jobs/``).

Views are thin: serializers validate the wire shape, services do the writes, permissions
decide who may. Writes by people outside the owning team get 403 with a sentence.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.permissions import IsAuthenticated

from batchwatch.catalog import services
from batchwatch.catalog.models import Engine, Job, Membership, Team
from batchwatch.catalog.permissions import JobPermission, TeamPermission, can_manage_jobs_of
from batchwatch.catalog.selectors import by_owner_team, job_list
from batchwatch.catalog.validators import LABEL_KEY_RE

User = get_user_model()


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "role"]


class TeamSerializer(serializers.ModelSerializer):
    members = MembershipSerializer(source="memberships", many=True, read_only=True)
    job_count = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = Team
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "slack_channel",
            "slack_thread_updates",
            "members",
            "job_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


@extend_schema_view(
    list=extend_schema(summary="List teams"),
    create=extend_schema(summary="Create a team (admins only)"),
)
class TeamViewSet(viewsets.ModelViewSet):
    serializer_class = TeamSerializer
    permission_classes = [IsAuthenticated, TeamPermission]
    lookup_field = "slug"
    search_fields = ["slug", "name"]
    ordering_fields = ["slug", "name", "created_at"]

    def get_queryset(self):
        return Team.objects.annotate(job_count=Count("jobs")).prefetch_related(
            Prefetch("memberships", queryset=Membership.objects.select_related("user"))
        )

    @transaction.atomic
    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        # Not a creation argument of the service (a setting changed later): set it after.
        thread_updates = data.pop("slack_thread_updates", None)
        team = services.team_create(**data)
        if thread_updates is not None:
            team = services.team_update(team=team, changes={"slack_thread_updates": thread_updates})
        # get_queryset's annotation, which a team fresh from the service lacks: it owns no jobs.
        team.job_count = 0  # type: ignore[attr-defined]
        serializer.instance = team

    def perform_update(self, serializer):
        job_count = serializer.instance.job_count
        serializer.instance = services.team_update(
            team=serializer.instance, changes=serializer.validated_data
        )
        serializer.instance.job_count = job_count

    def perform_destroy(self, instance: Team):
        if instance.jobs.exists():
            raise ApiValidationError(
                {"detail": "This team still owns jobs; move or delete them first."}
            )
        instance.delete()


class JobSerializer(serializers.ModelSerializer):
    owner_team = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), allow_null=True, required=False
    )
    upstream = serializers.SlugRelatedField(
        source="declared_upstream",
        slug_field="key",
        many=True,
        required=False,
        queryset=Job.objects.all(),
        help_text="Keys of the jobs this job waits for (declared edges).",
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "key",
            "engine",
            "namespace",
            "name",
            "description",
            "owner_team",
            "tier",
            "schedule_cron",
            "schedule_timezone",
            "labels",
            "repo_url",
            "runbook",
            "docs_url",
            "upstream",
            "registration",
            "is_active",
            "last_seen_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "key",
            "registration",
            "last_seen_at",
            "created_at",
            "updated_at",
        ]


class JobFilter(filters.FilterSet):
    team = filters.CharFilter(
        method="filter_team", help_text="Team slug; '-' for jobs nobody owns."
    )
    engine = filters.ChoiceFilter(choices=Engine.choices)
    label = filters.CharFilter(
        method="filter_label", help_text="key:value; repeat for several (all must match)."
    )
    is_active = filters.BooleanFilter()

    class Meta:
        model = Job
        fields = ["team", "engine", "label", "is_active", "tier"]

    def filter_team(self, queryset, name, value):
        return by_owner_team(queryset, value)

    def filter_label(self, queryset, name, value):
        for item in self.data.getlist("label"):
            key, sep, wanted = item.partition(":")
            if not sep or not LABEL_KEY_RE.match(key) or "__" in key:
                raise ApiValidationError(
                    {"label": [f"{item!r} is not key:value with a valid label key."]}
                )
            queryset = queryset.filter(**{f"labels__{key}": wanted})
        return queryset


@extend_schema_view(
    list=extend_schema(
        summary="List jobs",
        parameters=[OpenApiParameter("label", OpenApiTypes.STR, many=True)],
    ),
    create=extend_schema(summary="Declare a job (members of its owner team)"),
)
class JobViewSet(viewsets.ModelViewSet):
    serializer_class = JobSerializer
    permission_classes = [IsAuthenticated, JobPermission]
    filterset_class = JobFilter
    search_fields = ["key", "description"]
    ordering_fields = ["key", "tier", "created_at", "last_seen_at"]

    def get_queryset(self):
        return job_list().prefetch_related("upstream_edges__upstream")

    def _check_target_team(self, team: Team | None) -> None:
        if not can_manage_jobs_of(self.request.user, team):
            if team is None:
                raise PermissionDenied("Only admins may declare jobs without an owner team.")
            raise PermissionDenied(
                f"You are not a member of team '{team.slug}', so you cannot give it jobs."
            )

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        self._check_target_team(data.get("owner_team"))
        upstream = data.pop("declared_upstream", [])
        serializer.instance = services.job_create(upstream=upstream, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        if "owner_team" in data and data["owner_team"] != serializer.instance.owner_team:
            self._check_target_team(data["owner_team"])
        upstream = data.pop("declared_upstream", None)
        serializer.instance = services.job_update(
            job=serializer.instance, changes=data, upstream=upstream
        )
