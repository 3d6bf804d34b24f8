"""The audit log: one row per security-relevant action, never edited afterwards."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        TOKEN_CREATED = "token.created", "API token created"
        TOKEN_REVOKED = "token.revoked", "API token revoked"
        FEED_TOKEN_ROTATED = "feed_token.rotated", "Calendar feed link rotated"
        INGEST_KEY_CREATED = "ingest_key.created", "Ingest key created"
        INGEST_KEY_REVOKED = "ingest_key.revoked", "Ingest key revoked"
        SILENCE_CREATED = "silence.created", "Silence created"
        SILENCE_EXPIRED = "silence.expired", "Silence expired"
        MAINTENANCE_CREATED = "maintenance.created", "Maintenance window created"
        MAINTENANCE_UPDATED = "maintenance.updated", "Maintenance window edited"
        MAINTENANCE_DELETED = "maintenance.deleted", "Maintenance window deleted"
        CONFIG_LOADED = "config.loaded", "Configuration loaded"
        ROLE_CHANGED = "role.changed", "Role changed"
        OVERRIDE_CREATED = "override.created", "Rotation override added"
        OVERRIDE_DELETED = "override.deleted", "Rotation override removed"
        INTEGRATION_CREATED = "integration.created", "Alert integration created"
        INTEGRATION_REVOKED = "integration.revoked", "Alert integration revoked"
        POLICY_CHANGED = "policy.changed", "Escalation policy steps changed"
        SWAP_CHANGED = "swap.changed", "Shift swap offered, taken or cancelled"
        LAYER_CHANGED = "layer.changed", "Rotation layer added, edited or removed"
        ROUTE_CHANGED = "route.changed", "Team route added, edited or removed"
        SECRET_CHANGED = "secret.changed", "Integration secret changed"
        CONTACT_METHOD_CHANGED = (
            "contact_method.changed",
            "Contact method added, verified, edited or removed",
        )
        NOTIFICATION_RULE_CHANGED = (
            "notification_rule.changed",
            "Notification rules or quiet hours changed",
        )
        LOGIN_LOCKED = "login.locked", "Sign-in locked out"

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Kept when the user is deleted, and says who acted when no user did ("cli", "slack:U123").
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices)
    # The team the object belongs to: members see their own teams' events. Named, not
    # imported: the catalog records its own changes here, so audit sits below it.
    team = models.ForeignKey(
        "catalog.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["action", "-at"], name="audit_action_at_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or 'system'}: {self.action}"
