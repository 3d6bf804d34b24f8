"""Reads of the outbox."""

from __future__ import annotations

from django.db.models import Count

from batchwatch.notify.models import Notification


def outbox_depth_by_state() -> dict[str, int]:
    """How many notifications are in each state (pending and sending are the depth)."""
    rows = Notification.objects.values("state").annotate(n=Count("id"))
    return {row["state"]: row["n"] for row in rows}
