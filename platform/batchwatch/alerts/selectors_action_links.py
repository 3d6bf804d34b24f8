"""Reads of one-time action links: the link a token names, and what its confirmation page
shows (``action_link_preview``). Opening a link changes nothing: mail scanners open them all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from batchwatch.alerts.action_links import (
    ActionLinkRefused,
    ActionToken,
    refusal_for,
    secret_hash,
    unknown_link,
)
from batchwatch.alerts.models import ActionLink, Alert, Incident, IncidentAlert


def action_link_find(token: ActionToken) -> ActionLink | None:
    """The link whose secret ``token`` holds, with its user and incident."""
    return (
        ActionLink.objects.select_related("user", "incident", "incident__team")
        .filter(secret_hash=secret_hash(token.secret))
        .first()
    )


@dataclass(frozen=True)
class ActionLinkPreview:
    link: ActionLink
    incident: Incident
    firing: int  # the incident's own alerts still firing (resolving marks them resolved)


def action_link_preview(
    *, token: ActionToken, viewer_id: int | None, now: datetime
) -> ActionLinkPreview:
    """What the link would do if confirmed now; raises ``ActionLinkRefused`` as its POST
    would (unknown, altered, used, expired, another person signed in, no longer applies)."""
    link = action_link_find(token)
    incident = link.incident if link is not None else None
    refusal = refusal_for(link, token, incident=incident, viewer_id=viewer_id, now=now)
    if refusal is not None or link is None or incident is None:
        raise refusal or unknown_link()
    firing = 0
    if link.action == ActionLink.Action.RESOLVE:
        firing = IncidentAlert.objects.filter(
            incident=incident, attached_reason="", alert__status=Alert.Status.FIRING
        ).count()
    return ActionLinkPreview(link=link, incident=incident, firing=firing)


__all__ = ["ActionLinkPreview", "ActionLinkRefused", "action_link_find", "action_link_preview"]
