"""``/api/v1/teams/<slug>/members/``: a team's people. Everyone signed in reads them (as the
team itself); its owners and staff add people, change roles and take people out; the last
owner stays (``catalog.memberships``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from batchwatch.catalog.memberships import (
    member_add,
    member_remove,
    member_role_change,
    person_find,
)
from batchwatch.catalog.models import Membership, Team
from batchwatch.catalog.permissions import can_manage_team

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _user(request: Request) -> User:
    # Only signed-in people reach here (IsAuthenticated); the stubs cannot know it.
    return cast("User", request.user)


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    name = serializers.CharField(source="user.get_full_name", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "name", "email", "role", "created_at"]
        read_only_fields = fields


class MemberAddSerializer(serializers.Serializer):
    user = serializers.CharField(
        max_length=254, help_text="The person's user name, or their e-mail address."
    )
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.MEMBER)


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


@extend_schema_view(
    list=extend_schema(summary="List a team's members"),
    retrieve=extend_schema(summary="A team's member"),
    destroy=extend_schema(summary="Take someone out of a team (its owners; never the last owner)"),
)
@extend_schema(
    parameters=[
        OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The team.")
    ]
)
class TeamMemberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = MemberSerializer
    permission_classes = [IsAuthenticated]
    queryset = Membership.objects.none()  # for the schema; get_queryset decides
    lookup_field = "username"
    # User names may hold @ . + - (Django's default validator); anything but a slash reaches
    # the view, so that a name no one has is the API's JSON 404, not the web app's page.
    lookup_value_regex = r"[^/]+"
    pagination_class = None
    filter_backends: list = []

    def _team(self) -> Team:
        return get_object_or_404(Team, slug=self.kwargs["slug"])

    def get_queryset(self) -> QuerySet[Membership]:
        return (
            Membership.objects.filter(team__slug=self.kwargs.get("slug", ""))
            .select_related("user", "team")
            .order_by("user__username")
        )

    def get_object(self) -> Membership:
        return get_object_or_404(self.get_queryset(), user__username=self.kwargs[self.lookup_field])

    def _check_owner(self, request: Request, team: Team) -> None:
        if not can_manage_team(request.user, team):
            raise PermissionDenied("Only the team's owners or an admin may change its members.")

    def list(self, request: Request, *args, **kwargs) -> Response:
        self._team()  # an unknown team is a 404, not an empty list
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Add someone to a team (its owners)",
        request=MemberAddSerializer,
        responses={201: MemberSerializer},
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        team = self._team()
        self._check_owner(request, team)
        given = MemberAddSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        user = person_find(given.validated_data["user"])
        membership = member_add(
            team,
            user=user,
            role=given.validated_data["role"],
            actor=_user(request),
            request=request,
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a member's role (its owners; the last owner stays one)",
        request=MemberRoleSerializer,
        responses=MemberSerializer,
    )
    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        membership = self.get_object()
        self._check_owner(request, membership.team)
        given = MemberRoleSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        membership = member_role_change(
            membership, role=given.validated_data["role"], actor=_user(request), request=request
        )
        return Response(MemberSerializer(membership).data)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        membership = self.get_object()
        self._check_owner(request, membership.team)
        member_remove(membership, actor=_user(request), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
