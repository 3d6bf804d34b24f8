"""The fence of a person's pages, registered with ``notify.presend`` at start-up: a page
written for one escalation (``payload["token"]``, the incident's ``escalation_token`` then)
goes out only while that escalation runs. Acknowledging, resolving, snoozing or escalating
the incident moves the token on, so an acknowledgement anywhere stops every person's pages
still waiting for their rule's delay."""

from __future__ import annotations

from typing import Any

from batchwatch.alerts.models import Incident


def page_no_longer_wanted(notification: Any) -> str | None:
    """Why ``notification`` must not be sent (its incident was acknowledged, resolved,
    snoozed or escalated since it was written), None to send it. Rows without a token (group
    updates, notices, pages written before rules) are never held: one read per fenced page."""
    payload = notification.payload if isinstance(notification.payload, dict) else {}
    token = payload.get("token")
    if token is None or not notification.incident_id:
        return None
    found = (
        Incident.objects.filter(pk=notification.incident_id)
        .values_list("state", "escalation_token")
        .first()
    )
    if found is None:
        return "the incident no longer exists"
    state, current = found
    if state == Incident.State.ACKNOWLEDGED:
        return "acknowledged elsewhere"
    if state != Incident.State.TRIGGERED:
        return f"the incident is {state}"
    if current != token:
        return "the escalation moved on (escalated or restarted)"
    return None
