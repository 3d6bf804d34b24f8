"""REST API of the audit log: read-only, each user sees what ``audit_events_visible_to``
lets them see. Filters: ``action``, ``team``, ``since``, ``until``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.permissions import IsAuthenticated

from batchwatch.audit.filters import AuditFilter
from batchwatch.audit.models import AuditEvent
from batchwatch.audit.selectors import audit_events_visible_to
from batchwatch.core.permissions import is_admin


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    action_label = serializers.CharField(source="get_action_display", read_only=True)
    ip = serializers.SerializerMethodField(help_text="The client's address; shown to staff only.")

    class Meta:
        model = AuditEvent
        fields = [
            "id", "at", "action", "action_label", "actor", "actor_name", "team",
            "target_type", "target_id", "target_repr", "detail", "ip",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field({"type": "string", "nullable": True})
    def get_ip(self, event: AuditEvent) -> str | None:
        # Where a colleague signed in from is not a teammate's business.
        return event.ip if is_admin(self.context["request"].user) else None


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Security-relevant actions (tokens, silences, maintenance, configuration, roles), newest
    first. Staff see all; a member sees their teams' events and their own actions."""

    permission_classes = [IsAuthenticated]
    serializer_class = AuditEventSerializer
    filterset_class = AuditFilter
    ordering_fields = ["at"]

    def get_queryset(self):
        return audit_events_visible_to(self.request.user).order_by("-at", "-id")
