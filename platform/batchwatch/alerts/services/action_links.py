"""One-time action links made for a page (``action_links_create``), and the lines an e-mail
shows them in. Used by ``action_link_use``; their form and the rules that refuse one are in
``alerts/action_links.py``."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings

from batchwatch.alerts.action_links import ActionToken, secret_hash
from batchwatch.alerts.models import ActionLink, Incident
from batchwatch.core.links import absolute_url

ACTION_LINK_VIEW = "web:action-link"


def action_links_create(
    *, incident: Incident, user_id: int, channel: str, now: datetime
) -> dict[str, str]:
    """One link per action that applies to ``incident`` now, for the user ``user_id``, sent over
    ``channel`` (``email``, ``sms``, ``push``...): ``{action: absolute URL}``, written in one
    query. A transport puts it into the notification's payload as ``action_links``.

    Acknowledge only while the incident is triggered; none for a resolved incident. Each
    link lives ``BATCHWATCH_ACTION_LINK_HOURS`` and dies as soon as the incident is
    acknowledged, resolved, snoozed or restarted (its ``escalation_token`` moves on)."""
    if incident.state == Incident.State.RESOLVED:
        return {}
    actions = [ActionLink.Action.RESOLVE, ActionLink.Action.SNOOZE]
    if incident.state == Incident.State.TRIGGERED:
        actions.insert(0, ActionLink.Action.ACKNOWLEDGE)
    expires_at = now + timedelta(hours=settings.BATCHWATCH_ACTION_LINK_HOURS)
    links, urls = [], {}
    for action in actions:
        secret = secrets.token_urlsafe(24)
        links.append(
            ActionLink(
                secret_hash=secret_hash(secret),
                user_id=user_id,
                incident=incident,
                action=action,
                channel=channel[:12],
                escalation_token=incident.escalation_token,
                created_at=now,
                expires_at=expires_at,
            )
        )
        token = ActionToken(incident.pk, action, secret)
        urls[str(action)] = absolute_url(ACTION_LINK_VIEW, token.text)
    ActionLink.objects.bulk_create(links)
    return urls


LINK_LABELS = {"acknowledge": "Acknowledge", "resolve": "Resolve", "snooze": "Snooze 1 hour"}
# Pages to these carry links: e-mail shows them, SMS and push transports read the payload's.
LINK_TRANSPORTS = frozenset({"email", "sms", "push"})


def action_links_text(links: dict[str, str]) -> str:
    """The links as lines under a page's text ("" for none)."""
    if not links:
        return ""
    lines = [f"{LINK_LABELS.get(action, action)}: {url}" for action, url in links.items()]
    return (
        "\n\n"
        + "\n".join(lines)
        + "\n(Each link asks you to confirm, acts once, and lasts until the incident changes "
        "or the link expires.)"
    )


# An expired link is kept a while, so that a late click is told "expired" rather than "not
# valid"; then it goes (links are made for every page: three a person paged).
KEEP_EXPIRED = timedelta(days=7)


def action_links_prune(*, now: datetime) -> int:
    """Delete the links that expired more than ``KEEP_EXPIRED`` ago; how many."""
    deleted, _ = ActionLink.objects.filter(expires_at__lt=now - KEEP_EXPIRED).delete()
    return deleted
