"""Ingest keys: what exporters send as ``Authorization: Bearer <key>``."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models

from batchwatch.catalog.models import Team
from batchwatch.core.fields import QueuedJSONField
from batchwatch.core.models import QueuedBatch

KEY_PREFIX = "bwi_"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class IngestKey(models.Model):
    """A secret for telemetry senders. Only its SHA-256 is stored; the key is shown once."""

    name = models.CharField(max_length=200, help_text="Who sends with it, e.g. 'prod Airflow'.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(max_length=12, editable=False)
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="ingest_keys",
        help_text="Jobs this key registers, and no ownership rule claims, belong to this team.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class EventLogImport(models.Model):
    """What was imported from a Spark event log, so a re-import or a watcher skips it."""

    path = models.CharField(max_length=1000, unique=True)
    size = models.BigIntegerField()
    mtime = models.FloatField()
    app_id = models.CharField(max_length=255, blank=True)
    run = models.ForeignKey(
        "runs.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    in_progress = models.BooleanField(default=False)
    events = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    imported_at = models.DateTimeField()

    class Meta:
        ordering = ["-imported_at"]

    def __str__(self) -> str:
        return self.path


class RunReportBatch(QueuedBatch):
    """What one telemetry request said about runs, queued for the ingest drain (queued mode).

    With ``BATCHWATCH_INGEST_RUNS=queued`` an OTLP request stores its spans and this row in
    one transaction and is answered; the drain converges the runs in arrival order (the same
    ``runs_record`` as inline mode). Processed rows are pruned after a day.
    """

    # RunObservations in their stored form (``runs.observations.observation_record``).
    observations = QueuedJSONField()

    class Meta(QueuedBatch.Meta):
        indexes = [
            models.Index(
                fields=["id"],
                name="run_report_pending_idx",
                condition=models.Q(processed_at=None),
            ),
            models.Index(fields=["processed_at"], name="run_report_processed_idx"),
        ]

    def __str__(self) -> str:
        return f"{len(self.observations)} run reports at {self.received_at:%H:%M:%S}"
