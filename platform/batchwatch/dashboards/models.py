"""What we deployed to Grafana: the history of deployments and, per dashboard, the version we
last wrote (a newer version on the server means someone edited it in the UI: drift)."""

from __future__ import annotations

from django.db import models


class Deployment(models.Model):
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    grafana_url = models.CharField(max_length=500)
    revision = models.CharField(max_length=100, blank=True)
    dry_run = models.BooleanField(default=False)
    prune = models.BooleanField(default=False)
    on_drift = models.CharField(max_length=10)
    ok = models.BooleanField(default=False)
    writes = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, help_text="Count of dashboards per outcome.")
    report = models.JSONField(default=list, help_text="One entry per dashboard.")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        kind = "dry run" if self.dry_run else "deployment"
        return f"{kind} {self.started_at:%Y-%m-%d %H:%M} ({self.revision or 'no revision'})"


class DeployedDashboard(models.Model):
    grafana_url = models.CharField(max_length=500)
    uid = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    folder_uid = models.CharField(max_length=40)
    version = models.PositiveIntegerField(help_text="The version our last write created.")
    content_hash = models.CharField(
        max_length=64, help_text="Of the normalised JSON on the server after our last write."
    )
    source_hash = models.CharField(
        max_length=64,
        help_text="Of what we built then (differs from content_hash after adopting a UI edit).",
    )
    deployed_at = models.DateTimeField()
    deployment = models.ForeignKey(
        Deployment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["uid"]
        constraints = [
            models.UniqueConstraint(fields=["grafana_url", "uid"], name="deployed_dashboard_once")
        ]

    def __str__(self) -> str:
        return f"{self.uid} v{self.version}"
