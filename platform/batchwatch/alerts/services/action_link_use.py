"""Using a one-time action link: the POST of its confirmation page (or of a push app's
button) acts once, as the link's user (``action_link_use``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from batchwatch.alerts.action_links import (
    ActionLinkRefused,
    ActionToken,
    refusal_for,
    unknown_link,
)
from batchwatch.alerts.models import ActionLink, Incident
from batchwatch.alerts.selectors_action_links import action_link_find
from batchwatch.alerts.services.channel_actions import VIA_LINK, incident_act_from_channel
from batchwatch.alerts.services.incidents import FiringAlertsError


@dataclass(frozen=True)
class ActionLinkUsed:
    link: ActionLink
    incident: Incident


def action_link_use(
    *, token: ActionToken, viewer_id: int | None, now: datetime, force: bool = False
) -> ActionLinkUsed:
    """Act once through the link ``token`` names, as its user; raises ``ActionLinkRefused``
    (nothing changed) when it may not.

    The link is marked used by a conditional UPDATE in the transaction of the action, so two
    POSTs of one link act once: the second waits for the first's row lock, then finds it used.
    ``force`` resolves even while alerts fire (the confirmation page said how many)."""
    try:
        with transaction.atomic():
            link = action_link_find(token)
            incident = None
            if link is not None:
                # Under the incident's row lock, then the link read again: a concurrent use of
                # this link (or another action on the incident) has committed or not begun.
                incident = Incident.objects.select_for_update().get(pk=link.incident_id)
                link.refresh_from_db(fields=["used_at"])
            refusal = refusal_for(link, token, incident=incident, viewer_id=viewer_id, now=now)
            if refusal is not None or link is None or incident is None:
                raise refusal or unknown_link()
            claimed = ActionLink.objects.filter(
                pk=link.pk, used_at=None, expires_at__gt=now
            ).update(used_at=now)
            if not claimed:  # (SQLite serializes writers; PostgreSQL has the lock above)
                raise ActionLinkRefused(410, "This link was already used. Nothing was changed.")
            incident = incident_act_from_channel(
                incident=incident,
                user=link.user,
                action=link.action,
                channel=link.channel,
                via=VIA_LINK,
                now=now,
                force=force,
            )
    except FiringAlertsError as exc:
        raise ActionLinkRefused(
            409,
            f"{' '.join(exc.messages)} Nothing was changed: open this link again to resolve "
            "it and them.",
            incident_id=token.incident_id,
        ) from None
    except ValidationError as exc:
        raise ActionLinkRefused(
            409,
            f"{' '.join(exc.messages)} This link no longer applies; nothing was changed.",
            incident_id=token.incident_id,
        ) from None
    link.used_at = now
    return ActionLinkUsed(link=link, incident=incident)
