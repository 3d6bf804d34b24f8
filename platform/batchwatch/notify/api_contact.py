"""``/api/v1/me/contact-methods/`` and ``/api/v1/me/notification-rules/``: the signed-in
person's own contact methods and notification rules.

Only one's own: every query is scoped to ``request.user``, so someone else's method or rule is
a 404 for everyone, staff included (staff see and change them in the admin, which audits
nothing less). The writes are ``accounts.services``; sending a code or a test page goes
through the outbox (``notify.services_contact``), hence this module lives in notify, above
accounts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from batchwatch.accounts.models import CODE_DIGITS, ContactMethod, NotificationRule
from batchwatch.accounts.selectors import contact_methods_of, notification_rules_of
from batchwatch.accounts.services import (
    SendTooSoon,
    contact_method_create,
    contact_method_delete,
    contact_method_update,
    contact_method_verify,
    notification_rule_create,
    notification_rule_delete,
    notification_rule_update,
)
from batchwatch.notify.services_contact import contact_method_send_code, contact_method_test_page

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _user(request: Request) -> User:
    # Only signed-in people reach here (IsAuthenticated); the stubs cannot know it.
    return cast("User", request.user)


class ContactMethodSerializer(serializers.ModelSerializer):
    verified = serializers.BooleanField(source="is_verified", read_only=True)

    class Meta:
        model = ContactMethod
        fields = ["id", "kind", "label", "address", "verified", "verified_at", "created_at"]
        read_only_fields = fields


class ContactMethodCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ContactMethod.Kind.choices)
    address = serializers.CharField(
        max_length=1000,
        required=False,
        allow_blank=True,
        help_text=(
            "E-mail address; phone number in international format (+44 20 7946 0018), stored in"
            " E.164; ntfy topic (absent or empty: a random one); Slack member ID (U…); https://"
            " URL for Teams (Workflows webhook) and webhooks."
        ),
    )
    label = serializers.CharField(  # type: ignore[assignment]  # a field named like Field.label
        max_length=100, required=False, allow_blank=True
    )


class ContactMethodUpdateSerializer(serializers.Serializer):
    address = serializers.CharField(
        max_length=1000,
        required=False,
        help_text="A new address is unverified until a code sent there is entered back.",
    )
    label = serializers.CharField(  # type: ignore[assignment]  # a field named like Field.label
        max_length=100, required=False, allow_blank=True
    )


class VerifySerializer(serializers.Serializer):
    code = serializers.CharField(
        max_length=20, help_text=f"The {CODE_DIGITS}-digit code sent to the method."
    )


class QueuedSerializer(serializers.Serializer):
    detail = serializers.CharField()


def _queued(what: str) -> Response:
    return Response({"detail": what}, status=status.HTTP_202_ACCEPTED)


def _throttled(exc: SendTooSoon) -> exceptions.Throttled:
    return exceptions.Throttled(wait=exc.retry_after, detail=exc.message)


@extend_schema_view(
    list=extend_schema(summary="List your contact methods"),
    retrieve=extend_schema(summary="One of your contact methods"),
    destroy=extend_schema(summary="Remove a contact method and the rules that use it"),
)
class ContactMethodViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ContactMethodSerializer
    permission_classes = [IsAuthenticated]
    queryset = ContactMethod.objects.none()  # for the schema; get_queryset decides
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        # Another person's method is a 404, not a 403: its id says nothing.
        return contact_methods_of(self.request.user)

    @extend_schema(
        summary="Add a contact method (unverified until a code sent to it comes back)",
        request=ContactMethodCreateSerializer,
        responses={201: ContactMethodSerializer},
        examples=[
            OpenApiExample(
                "SMS", request_only=True, value={"kind": "sms", "address": "+1 415 555 0100"}
            ),
            OpenApiExample("Push (random ntfy topic)", request_only=True, value={"kind": "push"}),
        ],
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        given = ContactMethodCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        method = contact_method_create(
            _user(request), by=request.user, request=request, **given.validated_data
        )
        return Response(ContactMethodSerializer(method).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a contact method's label or address",
        request=ContactMethodUpdateSerializer,
        responses={200: ContactMethodSerializer},
    )
    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        method = self.get_object()
        given = ContactMethodUpdateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        method = contact_method_update(
            method, by=request.user, request=request, **given.validated_data
        )
        return Response(ContactMethodSerializer(method).data)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        contact_method_delete(self.get_object(), by=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Send a new verification code to a contact method",
        request=None,
        responses={202: QueuedSerializer},
    )
    @action(detail=True, methods=["post"], url_path="send-code")
    def send_code(self, request: Request, pk: str | None = None) -> Response:
        method = self.get_object()
        try:
            contact_method_send_code(method, now=datetime.now(UTC))
        except SendTooSoon as exc:
            raise _throttled(exc) from None
        return _queued(f"A code is on its way to {method}.")

    @extend_schema(
        summary="Verify a contact method with the code sent to it",
        request=VerifySerializer,
        responses={200: ContactMethodSerializer},
    )
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        method = self.get_object()
        given = VerifySerializer(data=request.data)
        given.is_valid(raise_exception=True)
        method = contact_method_verify(
            method,
            code=given.validated_data["code"],
            now=datetime.now(UTC),
            by=request.user,
            request=request,
        )
        return Response(ContactMethodSerializer(method).data)

    @extend_schema(
        summary="Send a test page to a verified contact method",
        request=None,
        responses={202: QueuedSerializer},
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        method = self.get_object()
        try:
            contact_method_test_page(method, now=datetime.now(UTC))
        except SendTooSoon as exc:
            raise _throttled(exc) from None
        return _queued(f"A test page is on its way to {method}.")


class OwnMethodField(serializers.PrimaryKeyRelatedField):
    """A contact method of the person asking; anyone else's reads as no such method."""

    default_error_messages = {
        "does_not_exist": "No contact method {pk_value} of yours.",
        "incorrect_type": "A contact method is given by its id (a number).",
    }

    def get_queryset(self):
        return contact_methods_of(self.context["request"].user)


class NotificationRuleSerializer(serializers.ModelSerializer):
    contact_method = OwnMethodField(help_text="The id of one of your verified contact methods.")
    position = serializers.IntegerField(
        min_value=0,
        max_value=32767,
        required=False,
        help_text="Orders rules of the same urgency and delay; absent: after the others.",
    )
    delay_minutes = serializers.IntegerField(
        min_value=0, max_value=1440, required=False, help_text="0 to 1440 (a day); default 0."
    )

    class Meta:
        model = NotificationRule
        fields = ["id", "urgency", "contact_method", "delay_minutes", "position", "created_at"]
        read_only_fields = ["id", "created_at"]


@extend_schema_view(
    list=extend_schema(summary="List your notification rules, in the order they act"),
    retrieve=extend_schema(summary="One of your notification rules"),
    # No request example: the documented examples are replayed on data where no contact
    # method of the caller's is verified, so any example rule would rightly be refused.
    create=extend_schema(summary="Add a notification rule (on a verified method of yours)"),
    partial_update=extend_schema(summary="Change a notification rule"),
    destroy=extend_schema(summary="Remove a notification rule"),
)
class NotificationRuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = NotificationRuleSerializer
    permission_classes = [IsAuthenticated]
    queryset = NotificationRule.objects.none()  # for the schema; get_queryset decides
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return notification_rules_of(self.request.user)

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        serializer.instance = notification_rule_create(
            _user(self.request),
            by=self.request.user,
            request=self.request,
            **serializer.validated_data,
        )

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        serializer.instance = notification_rule_update(
            cast(NotificationRule, serializer.instance),
            by=self.request.user,
            request=self.request,
            **serializer.validated_data,
        )

    def perform_destroy(self, instance: NotificationRule) -> None:
        notification_rule_delete(instance, by=self.request.user, request=self.request)
