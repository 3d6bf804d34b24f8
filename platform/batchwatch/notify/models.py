"""The notification outbox and the channels it delivers to.

A ``Notification`` row is written in the same transaction as the state change that causes it
(an incident paging someone, a group update, a handoff notice) and delivered after commit by a
worker that claims it with a conditional ``UPDATE``, sent and marked delivered one by one. A
process that dies mid-delivery leaves a short lease that it no longer renews; the row is
claimed again within seconds (``notify.leases``). The idempotency key makes "the same
notification" one row however often the cause is replayed, and travels to receivers that
deduplicate (webhooks get it as the ``Idempotency-Key`` header).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from batchwatch.catalog.models import Team
from batchwatch.core import outbound
from batchwatch.core.fields import BulkJSONField


class Channel(models.Model):
    """Somewhere notifications go: an e-mail address, a webhook URL, a Slack channel."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Outgoing webhook (JSON POST)"
        SLACK = "slack", "Slack channel"
        TEAMS = "teams", "Microsoft Teams (Workflows webhook)"
        PAGERDUTY = "pagerduty", "PagerDuty (Events API v2 routing key)"
        LOG = "log", "Log only (development)"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    address = models.CharField(
        max_length=1000, help_text="E-mail address, https:// URL, or Slack channel ID / #name."
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="channels",
        help_text="Steps that target this team's channels deliver here.",
    )
    is_broken = models.BooleanField(
        default=False, help_text="Set on a permanent delivery error; clear it once fixed."
    )
    last_error = models.TextField(blank=True)
    broken_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        super().clean()
        # A webhook is a request Batchwatch makes on the saver's behalf: refuse the private
        # network, loopback and cloud metadata early, with a sentence (checked again, after
        # DNS resolution, when delivering: core/outbound.py).
        if self.kind == self.Kind.WEBHOOK and self.address:
            try:
                outbound.check_url(self.address.strip())
            except outbound.OutboundRefused as exc:
                raise ValidationError({"address": exc.message}) from None


class Notification(models.Model):
    class Purpose(models.TextChoices):
        PAGE = "page", "Page (escalation step)"
        GROUP = "group", "Group update (firing / resolved)"
        NOTICE = "notice", "Non-paging notice"
        HANDOFF = "handoff", "Rotation handoff"
        UPDATE = "update", "Incident update"
        REPLY = "reply", "Reply to a person (Slack ephemeral)"

    class Transport(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Outgoing webhook (JSON POST)"
        SLACK = "slack", "Slack channel"
        LOG = "log", "Log only (development)"
        # An interaction's response_url: ephemeral answers to one person, no channel.
        SLACK_REPLY = "slack_reply", "Slack response URL"
        # A person's own contact methods (accounts.ContactMethod) and forwarding channels.
        SMS = "sms", "SMS (Twilio Messages API)"
        VOICE = "voice", "Voice call (Twilio Calls API)"
        PUSH = "push", "Push (ntfy)"
        TEAMS = "teams", "Microsoft Teams (Workflows webhook)"
        PAGERDUTY = "pagerduty", "PagerDuty (Events API v2)"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed permanently"
        # Not sent because it was no longer wanted when it fell due (``notify.presend``: an
        # acknowledgement elsewhere stopped a person's later pages).
        CANCELLED = "cancelled", "Cancelled"

    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    transport = models.CharField(max_length=12, choices=Transport.choices)
    address = models.CharField(max_length=1000)
    channel = models.ForeignKey(
        Channel, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
    )
    incident = models.ForeignKey(
        "alerts.Incident",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
    )
    subject = models.CharField(max_length=500)
    body = models.TextField(blank=True)
    payload = BulkJSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=300, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    # The claim holding a sending row (``notify.leases``): its holder re-arms the lease and
    # proves it still holds the row before each send.
    claim = models.CharField(max_length=100, blank=True, default="")
    last_error = models.TextField(blank=True)
    # What the provider calls the message it sent (Twilio's message or call SID, ntfy's
    # message id, PagerDuty's dedup key): how its status callbacks find the row.
    provider_id = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The delivery sweep: "pending rows due now" and "sending rows whose lease expired".
            models.Index(
                fields=["next_attempt_at"],
                name="notification_due_idx",
                condition=Q(state__in=["pending", "sending"]),
            ),
            models.Index(fields=["incident", "created_at"], name="notification_incident_idx"),
            # Lease renewal: "the rows these claims hold".
            models.Index(
                fields=["claim"], name="notification_claim_idx", condition=Q(state="sending")
            ),
            # A provider's status callback: "the row this message SID belongs to".
            models.Index(
                fields=["provider_id"],
                name="notification_provider_idx",
                condition=~Q(provider_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} to {self.address}: {self.subject}"
