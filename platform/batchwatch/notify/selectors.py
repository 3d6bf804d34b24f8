"""Reads of the outbox."""

from __future__ import annotations

from django.db.models import Count

from batchwatch.notify.models import Channel, Notification


def outbox_depth_by_state() -> dict[str, int]:
    """How many notifications are in each state (pending and sending are the depth)."""
    rows = Notification.objects.values("state").annotate(n=Count("id"))
    return {row["state"]: row["n"] for row in rows}


def broken_channels_of(incident) -> list[Channel]:
    """Channels marked broken that this incident's notifications went (or would go) to."""
    return list(
        Channel.objects.filter(is_broken=True, notifications__incident=incident)
        .distinct()
        .order_by("name")
    )
