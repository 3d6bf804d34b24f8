"""One-time action links: the token's form, and the rules that refuse one.

A link's address is ``/a/<incident>-<action>-<secret>/``. Only the secret's SHA-256 is stored
(``ActionLink.secret_hash``); the incident and action in front of it say what the link claims
to do, so a secret pasted behind another incident's number is told apart from a made-up one.
Every refusal is an ``ActionLinkRefused``: an HTTP status and one sentence, nothing changed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from batchwatch.alerts.models import ActionLink, Incident
from batchwatch.alerts.permissions import can_act_on_incident

SNOOZE_FOR = timedelta(hours=1)
ACTION_CODES = {
    ActionLink.Action.ACKNOWLEDGE: "ack",
    ActionLink.Action.RESOLVE: "res",
    ActionLink.Action.SNOOZE: "snz",
}
_ACTIONS = {code: action for action, code in ACTION_CODES.items()}
_TOKEN = re.compile(r"(?P<incident>[1-9][0-9]{0,17})-(?P<code>[a-z]{3})-(?P<secret>[\w-]{20,64})")
DONE = {
    ActionLink.Action.ACKNOWLEDGE: "acknowledged",
    ActionLink.Action.RESOLVE: "resolved",
    ActionLink.Action.SNOOZE: "snoozed for an hour",
}


@dataclass(frozen=True)
class ActionToken:
    """What a link's address says: the incident, the action and the secret."""

    incident_id: int
    action: str
    secret: str

    @property
    def text(self) -> str:
        return f"{self.incident_id}-{ACTION_CODES[ActionLink.Action(self.action)]}-{self.secret}"


class ActionLinkRefused(Exception):
    """A link that does not act: ``status`` and a sentence for the person who opened it."""

    def __init__(self, status: int, message: str, *, incident_id: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.incident_id = incident_id  # set when the person may open the incident's page


def unknown_link() -> ActionLinkRefused:
    return ActionLinkRefused(
        404,
        "This link is not valid: it may have been cut off or mistyped, or it was never sent "
        "by Batchwatch. Nothing was changed.",
    )


def action_token_parse(text: str) -> ActionToken:
    """The token of a link's address; ``unknown_link()`` raised when it has not the form of one."""
    match = _TOKEN.fullmatch(text)
    if match is None or match["code"] not in _ACTIONS:
        raise unknown_link()
    return ActionToken(int(match["incident"]), _ACTIONS[match["code"]], match["secret"])


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _utc(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def _who(user, fallback: str) -> str:
    return user.get_username() if user is not None else fallback


def incident_changed(incident: Incident) -> str:
    """Why an action no longer applies to ``incident``, in its current state."""
    number = f"Incident #{incident.pk}"
    if incident.state == Incident.State.RESOLVED:
        who = _who(incident.resolved_by, "Batchwatch (its alerts resolved)")
        when = f" at {_utc(incident.resolved_at)}" if incident.resolved_at else ""
        return f"{number} was already resolved by {who}{when}."
    if incident.snoozed_until is not None:
        return f"{number} was already snoozed until {_utc(incident.snoozed_until)}."
    if incident.state == Incident.State.ACKNOWLEDGED:
        who = _who(incident.acknowledged_by, "an integration")
        return f"{number} was already acknowledged by {who}."
    return (
        f"{number} changed since this link was sent (escalated, reopened or triggered "
        "again): open it to see where it stands."
    )


def _applies(link: ActionLink, incident: Incident) -> bool:
    if link.escalation_token != incident.escalation_token:
        return False  # acknowledged, resolved, snoozed or restarted since it was sent
    if link.action == ActionLink.Action.ACKNOWLEDGE:
        return incident.state == Incident.State.TRIGGERED
    return incident.state != Incident.State.RESOLVED


def refusal_for(
    link: ActionLink | None,
    token: ActionToken,
    *,
    incident: Incident | None,
    viewer_id: int | None,
    now: datetime,
) -> ActionLinkRefused | None:
    """Why ``link`` (found by ``token``'s secret) may not act now, or ``None``.

    ``viewer_id`` is the person signed in where it was opened (``None``: nobody). The link
    acts as its own user without a sign-in, as a bearer credential bound to one user and one
    incident; a different person signed in is told so rather than acting in someone else's
    name from their session.
    """
    if link is None or incident is None:
        return unknown_link()
    name = link.user.get_username()
    if token.incident_id != link.incident_id or token.action != link.action:
        return ActionLinkRefused(
            400,
            f"This link was made to {link.get_action_display().lower()} incident "
            f"#{link.incident_id}, but its address says otherwise: it was altered. "
            "Nothing was changed.",
        )
    if link.used_at is not None:
        return ActionLinkRefused(
            410,
            f"This link was already used, at {_utc(link.used_at)}: each link acts once. "
            "Nothing was changed.",
            incident_id=link.incident_id,
        )
    if link.expires_at <= now:
        return ActionLinkRefused(
            410,
            f"This link expired at {_utc(link.expires_at)}. Nothing was changed: open the "
            "incident to act on it.",
            incident_id=link.incident_id,
        )
    if viewer_id is not None and viewer_id != link.user_id:
        return ActionLinkRefused(
            403,
            f"This link was sent to {name} and acts only as {name}, but you are signed in "
            "as someone else. Nothing was changed: act from the incident's page, or sign "
            "out to use the link.",
            incident_id=link.incident_id,
        )
    if not can_act_on_incident(link.user, incident, now):
        return ActionLinkRefused(
            403,
            f"{name} may no longer act on incident #{incident.pk}: only its team's members, "
            "its on-call, its assignee and admins may. Nothing was changed.",
        )
    if not _applies(link, incident):
        return ActionLinkRefused(
            409,
            f"{incident_changed(incident)} This link no longer applies; nothing was changed.",
            incident_id=incident.pk,
        )
    return None
