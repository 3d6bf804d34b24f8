"""``/api/v1/team-routes/``: a team's own routes, tried before the configuration's for the
team's alerts (``alerts.services.team_routes``). A team's members list and read its routes;
its owners and staff add, change and remove them; staff see every team's. Someone outside the
team gets 404 for its routes, as if they were not there; a member who tries a change, 403.
The configuration's routes (config as code, admin) are not here."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

from batchwatch.alerts.models import Route, TimeInterval
from batchwatch.alerts.permissions import can_change_team_routes
from batchwatch.alerts.services.team_routes import (
    MAX_CHANNELS,
    MAX_GROUP_BY,
    MAX_MATCHER_LENGTH,
    MAX_MATCHERS,
    team_route_create,
    team_route_delete,
    team_route_update,
)
from batchwatch.catalog.models import Team
from batchwatch.core.api import ServiceModelViewSet
from batchwatch.core.permissions import is_admin
from batchwatch.notify.models import Channel
from batchwatch.oncall.models import EscalationPolicy

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_WAIT = timedelta(days=30)
DURATION_HELP = "None: inherited from the root route. Like 00:00:30 (at most 30 days)."


def _user(request: Request) -> User:
    # Only signed-in people reach here (IsAuthenticated); the stubs cannot know it.
    return cast("User", request.user)


def _duration() -> serializers.DurationField:
    return serializers.DurationField(
        required=False,
        allow_null=True,
        min_value=timedelta(0),
        max_value=MAX_WAIT,
        help_text=DURATION_HELP,
    )


def _intervals() -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="name",
        queryset=TimeInterval.objects.all(),
        many=True,
        required=False,
        help_text="Names of time intervals (from the configuration).",
    )


class TeamRouteSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Team.objects.all(),
        help_text="The team whose alerts the route takes (its slug).",
    )
    matchers = serializers.ListField(
        child=serializers.CharField(max_length=MAX_MATCHER_LENGTH, allow_blank=False),
        max_length=MAX_MATCHERS,
        required=False,
        help_text='Like ["severity=\\"critical\\""]; team="<slug>" is always added.',
    )
    escalation_policy = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=EscalationPolicy.objects.all(),
        required=False,
        allow_null=True,
        help_text="One of the team's policies (its slug); none: as the root route.",
    )
    channels = serializers.PrimaryKeyRelatedField(
        queryset=Channel.objects.all(),
        many=True,
        required=False,
        help_text="Ids of the team's channels that get the group notifications.",
    )
    group_by = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=MAX_GROUP_BY,
        required=False,
        allow_null=True,
        help_text='Label names (["..."]: every label); none: inherited.',
    )
    group_wait = _duration()
    group_interval = _duration()
    repeat_interval = _duration()
    mute_time_intervals = _intervals()
    active_time_intervals = _intervals()

    class Meta:
        model = Route
        fields = [
            "id",
            "team",
            "position",
            "name",
            "matchers",
            "escalation_policy",
            "channels",
            "group_by",
            "group_wait",
            "group_interval",
            "repeat_interval",
            "continue_matching",
            "mute_time_intervals",
            "active_time_intervals",
        ]
        read_only_fields = ["id", "position"]
        extra_kwargs = {"name": {"required": False}}

    def validate_channels(self, value: list[Channel]) -> list[Channel]:
        if len(value) > MAX_CHANNELS:
            raise serializers.ValidationError(f"At most {MAX_CHANNELS} channels.")
        return value

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # A route stays with its team: a change names the same one (or none).
        if self.instance is not None and not isinstance(self.instance, list | QuerySet):
            fields["team"].read_only = True
        return fields


def _editable(request: Request, team: Team) -> None:
    """403 for anyone but the team's owners and staff (outsiders reach here only to create:
    another team's route is not in their list, so a change of one is a 404)."""
    if not can_change_team_routes(request.user, team):
        raise PermissionDenied("Only the team's owners (or an admin) change its routes.")


def _values(data: dict[str, Any], route: Route | None) -> dict[str, Any]:
    """The service's arguments: what the request gives, else the route's (or the defaults)."""

    def kept(name: str, default: Any) -> Any:
        if name in data:
            return data[name]
        return getattr(route, name) if route is not None else default

    def kept_many(name: str) -> list[Any]:
        if name in data:
            return list(data[name])
        return list(getattr(route, name).all()) if route is not None else []

    return {
        "name": kept("name", ""),
        "matchers": list(kept("matchers", [])),
        "escalation_policy": kept("escalation_policy", None),
        "channels": kept_many("channels"),
        "group_by": kept("group_by", None),
        "group_wait": kept("group_wait", None),
        "group_interval": kept("group_interval", None),
        "repeat_interval": kept("repeat_interval", None),
        "continue_matching": kept("continue_matching", False),
        "mute_time_intervals": [i.name for i in kept_many("mute_time_intervals")],
        "active_time_intervals": [i.name for i in kept_many("active_time_intervals")],
    }


@extend_schema_view(
    list=extend_schema(
        summary="List the routes of your teams (staff: every team's)",
        parameters=[OpenApiParameter("team", str, description="A team's slug.")],
    ),
    retrieve=extend_schema(summary="A team route"),
    create=extend_schema(
        summary="Add a route to a team, after its others (the team's owners)",
        responses={201: TeamRouteSerializer},
    ),
    update=extend_schema(summary="Change a team route (the team's owners)"),
    partial_update=extend_schema(summary="Change some of a team route (the team's owners)"),
    destroy=extend_schema(summary="Remove a team route (the team's owners)"),
)
class TeamRouteViewSet(ServiceModelViewSet):
    serializer_class = TeamRouteSerializer
    permission_classes = [IsAuthenticated]
    filter_backends: list = []
    queryset = Route.objects.none()  # for the schema; get_queryset decides

    def get_queryset(self) -> QuerySet[Route]:
        rows = (
            Route.objects.filter(team__isnull=False)
            .select_related("team", "escalation_policy")
            .prefetch_related("channels", "mute_time_intervals", "active_time_intervals")
            .order_by("team__slug", "position", "id")
        )
        if not is_admin(self.request.user):
            # Another team's route is a 404: its id says nothing.
            rows = rows.filter(team__in=Team.objects.filter(memberships__user=_user(self.request)))
        team = self.request.query_params.get("team")
        if team:
            rows = rows.filter(team__slug=team)
        return rows

    def save_through_service(
        self, serializer: serializers.BaseSerializer, instance: Route | None
    ) -> Route:
        data = serializer.validated_data
        values = _values(data, instance)
        if instance is None:
            _editable(self.request, data["team"])
            return team_route_create(
                data["team"], **values, actor=_user(self.request), request=self.request
            )
        assert instance.team is not None  # get_queryset lists team routes only
        _editable(self.request, instance.team)
        return team_route_update(
            instance, **values, actor=_user(self.request), request=self.request
        )

    def delete_through_service(self, instance: Route) -> None:
        assert instance.team is not None  # get_queryset lists team routes only
        _editable(self.request, instance.team)
        team_route_delete(instance, actor=_user(self.request), request=self.request)
