"""Model bases shared by the apps (abstract: no tables of their own)."""

from __future__ import annotations

from django.db import models


class QueuedBatch(models.Model):
    """A row of a durable intake queue (queued alerts, queued run reports): what
    ``core.queues`` reads and writes. Drained oldest first; a processed row keeps the time it
    was processed, and a failed one its error, until ``prune_processed`` forgets it."""

    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        abstract = True
        ordering = ["id"]


class QuarantinedItem(models.Model):
    """Something a sender was answered 2xx for that could not be processed: a queued batch,
    an observation, an alert. Kept with its reason and what is needed to try it again, so that
    a bad item is seen (admin, ``/metrics``, ``manage.py quarantine``) and never blocks the
    items behind it. ``core.quarantine`` writes and reads these rows."""

    class State(models.TextChoices):
        QUARANTINED = "quarantined"
        RETRIED = "retried"
        DISCARDED = "discarded"

    # What it is (``run_report``, ``alert_intake``, ``observation``, ...): the retry handler.
    kind = models.CharField(max_length=40)
    # A short, bounded code (a metric label): ``invalid_label_key``, ``processing_error``...
    reason = models.CharField(max_length=60)
    detail = models.TextField(blank=True, help_text="What was wrong, in a sentence.")
    # Where it came from, for people: ``RunReportBatch 123``, an integration's name...
    origin = models.CharField(max_length=200, blank=True)
    # What the retry handler of ``kind`` needs to process it again (JSON text).
    payload = models.TextField(blank=True)
    received_at = models.DateTimeField()
    quarantined_at = models.DateTimeField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUARANTINED)
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["state", "kind"], name="quarantine_state_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} ({self.reason}) from {self.origin or 'a sender'}"
