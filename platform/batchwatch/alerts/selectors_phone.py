"""Reads for Twilio's webhooks: which incident a call was placed for."""

from __future__ import annotations

from batchwatch.notify.models import Notification


def incident_of_call(call_sid: str) -> int | None:
    """The incident of the page whose call Twilio names ``call_sid`` (stored by the voice
    transport as the notification's ``provider_id``); None when no page has it."""
    if not call_sid:
        return None
    return (
        Notification.objects.filter(provider_id=call_sid[:100], transport="voice")
        .exclude(incident=None)
        .order_by("-id")
        .values_list("incident_id", flat=True)
        .first()
    )
