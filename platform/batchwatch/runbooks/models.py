"""Runbooks loaded from ``runbooks/*.md`` (the files are the source of truth; see source.py)."""

from __future__ import annotations

from django.db import models


class Runbook(models.Model):
    slug = models.SlugField(max_length=80, unique=True, help_text="The front matter's id.")
    title = models.CharField(max_length=300)
    path = models.CharField(max_length=500, help_text="The file it was loaded from.")
    applies_to = models.JSONField(default=dict)
    owner = models.CharField(max_length=64, help_text="Owner team (slug).")
    severity = models.CharField(max_length=10)
    last_reviewed = models.DateField()
    body = models.TextField(help_text="Markdown with {{ variables }}; rendered per incident.")
    source_hash = models.CharField(max_length=64)
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title
