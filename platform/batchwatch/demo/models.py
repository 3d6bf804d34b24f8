"""What only the demo keeps: that this database holds the demo, and the pages it sent.

In the demo, e-mails, webhooks and log-channel notices are not sent anywhere: they land in
the demo inbox (``/demo/inbox/``), so the terminal stays quiet and a visitor can read exactly
what an on-call engineer would have received.
"""

from __future__ import annotations

from django.db import models

from batchwatch.core.fields import BulkJSONField


class DemoInstallation(models.Model):
    """One row when ``load_demo`` has loaded this database (the inbox is on only then)."""

    loaded_at = models.DateTimeField()
    loads = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"demo loaded at {self.loaded_at:%Y-%m-%d %H:%M} UTC"


class InboxMessage(models.Model):
    """A notification the demo delivered into its inbox instead of sending it."""

    transport = models.CharField(max_length=12)
    purpose = models.CharField(max_length=10)
    address = models.CharField(max_length=1000)
    subject = models.CharField(max_length=500)
    body = models.TextField(blank=True)
    payload = BulkJSONField(default=dict, blank=True)
    # The outbox row it came from (kept as a number: the inbox outlives pruned rows).
    notification_id = models.BigIntegerField(null=True, blank=True, unique=True)
    incident_id = models.BigIntegerField(null=True, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.transport} to {self.address}: {self.subject}"
