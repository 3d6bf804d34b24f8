"""Writes for Slack: refreshes and replies into the outbox, user links, team channels."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event
from batchwatch.catalog.models import Team
from batchwatch.core.annotations import Actor
from batchwatch.notify.models import Channel, Notification
from batchwatch.notify.services import Recipient, notification_enqueue
from batchwatch.slack import config
from batchwatch.slack.models import SlackUserLink, SlackWorkspace
from batchwatch.slack.selectors import messages_to_sync

logger = logging.getLogger("batchwatch.slack")


def slack_syncs_enqueue(*, now: datetime) -> int:
    """Queue one refresh per incident message that is behind its timeline.

    Held back by SLACK_UPDATE_COALESCE_SECONDS and rendered at delivery, so a burst of
    changes (ack, reassign, snooze in a few seconds) becomes one ``chat.update``.
    """
    hold = timedelta(seconds=settings.SLACK_UPDATE_COALESCE_SECONDS)
    count = 0
    for message, newest in messages_to_sync(now=now):
        created = notification_enqueue(
            purpose=Notification.Purpose.UPDATE,
            recipient=Recipient(Channel.Kind.SLACK, message.address, channel=message.channel),
            subject=f"Refresh the Slack message of incident #{message.incident_id}",
            idempotency_key=f"slack-sync:{message.pk}:{newest}",
            now=now,
            incident=message.incident,
            deliver_at=now + hold,
        )
        count += created is not None
    return count


def reply_enqueue(*, response_url: str, text: str, key: str, now: datetime) -> None:
    """An ephemeral answer to the person who clicked, delivered through the outbox."""
    if not config.response_url_allowed(response_url):
        logger.warning("slack.reply_dropped", extra={"reason": "not a Slack response URL"})
        return
    notification_enqueue(
        purpose=Notification.Purpose.REPLY,
        recipient=Recipient(Notification.Transport.SLACK_REPLY, response_url),
        subject=text[:500],
        payload={"response_type": "ephemeral", "replace_original": False, "text": text},
        idempotency_key=f"reply:{key}",
        now=now,
    )


def team_default_channel(team: Team | None) -> Channel | None:
    """The team's Slack channel (Team.slack_channel) as a delivery channel, when Slack is set up."""
    if team is None or not team.slack_channel or not config.is_configured():
        return None
    channel, _ = Channel.objects.get_or_create(
        kind=Channel.Kind.SLACK,
        address=team.slack_channel,
        team=team,
        defaults={"name": f"{team.slug} Slack {team.slack_channel}"},
    )
    return channel


def user_link_set(
    *,
    user: AbstractBaseUser,
    slack_user_id: str,
    timezone: str = "",
    slack_name: str = "",
    source: str = "manual",
) -> SlackUserLink:
    slack_user_id = slack_user_id.strip()
    if not slack_user_id or slack_user_id[0] not in "UW":
        raise ValidationError({"slack_user_id": "A Slack user ID starts with U or W."})
    link, _ = SlackUserLink.objects.update_or_create(
        user=user,
        defaults={
            "slack_user_id": slack_user_id,
            "timezone": timezone,
            "slack_name": slack_name,
            "source": source,
        },
    )
    return link


@dataclass
class LinkReport:
    linked: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def users_link_by_email(
    *, client: WebClient | None = None, progress: Callable[[AbstractBaseUser], object] | None = None
) -> LinkReport:
    """Link every active user with an e-mail and no link yet, via ``users.lookupByEmail``."""
    client = client or config.web_client()
    report = LinkReport()
    users = list(
        get_user_model()
        .objects.filter(is_active=True, slack_link__isnull=True)
        .exclude(email="")
        .order_by("username")
    )
    taken = set(SlackUserLink.objects.values_list("slack_user_id", flat=True))
    for user in users:
        if progress:
            progress(user)
        try:
            found = client.users_lookupByEmail(email=user.email)["user"]
        except SlackApiError as exc:
            error = exc.response.get("error", "") if isinstance(exc.response.data, dict) else ""
            if error == "users_not_found":
                report.not_found.append(user.get_username())
                continue
            raise
        if found["id"] in taken:
            report.skipped.append(user.get_username())
            continue
        user_link_set(
            user=user,
            slack_user_id=found["id"],
            timezone=found.get("tz", "") or "",
            slack_name=found.get("name", "") or "",
            source=SlackUserLink.Source.EMAIL,
        )
        taken.add(found["id"])
        report.linked.append(user.get_username())
    return report


def workspace_save(
    *,
    workspace: SlackWorkspace,
    changed_secrets: list[str],
    actor: Actor = None,
    request: HttpRequest | None = None,
) -> SlackWorkspace:
    """Save the workspace (its secrets encrypted by the field) and record one
    ``secret.changed`` per replaced secret: which one and by whom, never the value."""
    with transaction.atomic():
        workspace.save()
        for name in changed_secrets:
            record_event(
                AuditEvent.Action.SECRET_CHANGED,
                actor=actor,
                target=workspace,
                detail={"field": f"slack.{name}"},
                request=request,
            )
    return workspace
