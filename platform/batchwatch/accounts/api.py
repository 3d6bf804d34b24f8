"""``/api/v1/tokens/``: one's own API tokens. POST creates one and answers with the token
itself, once; DELETE revokes (the row stays, revoked). People list and revoke their own
tokens; staff may also revoke (and read) anyone's by id."""

from __future__ import annotations

from datetime import UTC, datetime

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from batchwatch.accounts.models import DEFAULT_LIFETIME, ApiToken
from batchwatch.accounts.permissions import can_revoke_token
from batchwatch.accounts.selectors import tokens_of
from batchwatch.accounts.services import DEFAULT, NAME_MAX, create_token, revoke_token
from batchwatch.core.api import bounded_instant


class ApiTokenSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.get_username", read_only=True)
    state = serializers.SerializerMethodField(
        help_text="`active`, `expired` or `revoked`, as of this answer."
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "user",
            "prefix",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "state",
        ]
        read_only_fields = fields

    def get_state(self, token: ApiToken) -> str:
        return token.state_at(datetime.now(UTC))


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(
        read_only=True, help_text="The token itself. Shown in this answer only: copy it now."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=NAME_MAX, help_text="What uses the token, e.g. 'deploy script'."
    )
    expires_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text=(
            f"When the token stops working; absent: in {DEFAULT_LIFETIME.days} days; null: never."
        ),
    )

    def validate_expires_at(self, value):
        if value is None:
            return None
        value = bounded_instant(value, "expires_at")
        if value <= datetime.now(UTC):
            raise serializers.ValidationError("An expiry must be in the future.")
        return value


@extend_schema_view(
    list=extend_schema(summary="List your API tokens"),
    retrieve=extend_schema(summary="An API token (yours; staff: anyone's)"),
    destroy=extend_schema(summary="Revoke an API token (yours; staff: anyone's)"),
)
class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ApiTokenSerializer
    permission_classes = [IsAuthenticated]
    queryset = ApiToken.objects.none()  # for the schema; get_queryset decides

    def get_queryset(self):
        user = self.request.user
        if self.action != "list" and (user.is_staff or user.is_superuser):
            return ApiToken.objects.select_related("user")
        # Someone else's token is a 404, not a 403: its id says nothing.
        return tokens_of(user)

    @extend_schema(
        summary="Create an API token (the answer holds the token, once)",
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer},
    )
    def create(self, request, *args, **kwargs):
        given = ApiTokenCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        token, raw = create_token(
            request.user,
            name=data["name"],
            expires_at=data.get("expires_at", DEFAULT),
            by=request.user,
            request=request,
        )
        token.token = raw
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        token = self.get_object()
        if not can_revoke_token(request.user, token):  # get_queryset already scopes it
            return Response(status=status.HTTP_404_NOT_FOUND)
        revoke_token(token, by=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
