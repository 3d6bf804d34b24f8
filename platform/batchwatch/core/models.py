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
