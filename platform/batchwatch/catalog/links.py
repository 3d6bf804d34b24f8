"""Links to a job's other places: its Grafana dashboard (dashboards as code) or its page."""

from __future__ import annotations

import hashlib
import re

from django.conf import settings

from batchwatch.core.links import absolute_url

UID_MAX = 40  # Grafana's limit on dashboard uids


def dashboard_uid(kind: str, key: str) -> str:
    """A stable Grafana uid: prefix + kind + the catalog key, ≤ 40 characters.

    Keys that do not fit keep a readable head and a hash of the whole key (stable, unique).
    """
    prefix = f"{settings.BATCHWATCH_DASHBOARD_UID_PREFIX}{kind}-"
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", key).strip("-").lower()
    if len(prefix) + len(slug) <= UID_MAX:
        return prefix + slug
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    head = slug[: UID_MAX - len(prefix) - len(digest) - 1].rstrip("-")
    return f"{prefix}{head}-{digest}"


def job_dashboard_url(job, *, page_url: str | None = None) -> str:
    """The job's Grafana dashboard when Grafana is configured, else its Batchwatch page
    (``page_url`` when the caller made it already)."""
    if settings.GRAFANA_URL:
        return f"{settings.GRAFANA_URL.rstrip('/')}/d/{dashboard_uid('job', job.key)}"
    return page_url or absolute_url("web:job", job.pk)
