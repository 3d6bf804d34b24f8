"""Reads of the outbox."""

from __future__ import annotations

from django.db.models import Model

from batchwatch.notify.models import Channel


def broken_channels_of(incident: Model) -> list[Channel]:
    """Channels marked broken that this incident's notifications went (or would go) to."""
    return list(
        Channel.objects.filter(is_broken=True, notifications__incident_id=incident.pk)
        .distinct()
        .order_by("name")
    )
