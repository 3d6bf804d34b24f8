"""A reply in the thread of an incident's Slack message becomes a note on its timeline.

Called by the events view after the signature check. Slack redelivers an event it believes we
missed (``X-Slack-Retry-Num``), so each reply is recorded by its channel and ``ts`` in the same
transaction as its note: a redelivery finds it and adds nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from batchwatch.alerts.permissions import can_act_on_incident
from batchwatch.alerts.services import incident_note_add
from batchwatch.slack.models import SlackMessage, SlackThreadNote
from batchwatch.slack.selectors import link_for_slack_user
from batchwatch.slack.wire import ThreadReply

logger = logging.getLogger("batchwatch.slack")


def handle_thread_reply(reply: ThreadReply, *, now: datetime) -> str:
    """Make the reply a note when it answers an incident message; returns what happened."""
    message = (
        SlackMessage.objects.select_related("incident")
        .filter(slack_channel_id=reply.channel_id, ts=reply.thread_ts)
        .exclude(ts="")
        .first()
    )
    if message is None:
        return "not an incident thread"
    incident = message.incident
    if SlackThreadNote.objects.filter(slack_channel_id=reply.channel_id, ts=reply.ts).exists():
        return "already noted"
    link = link_for_slack_user(reply.user_id)
    author = link.user if link is not None else None
    if author is not None and not can_act_on_incident(author, incident, now):
        logger.info(
            "slack.thread_note_ignored",
            extra={"incident": incident.pk, "slack_user": reply.user_id, "reason": "not allowed"},
        )
        return "not allowed"
    label = "" if author is not None else f"Slack user {reply.user_name or reply.user_id}"
    try:
        with transaction.atomic():
            record = SlackThreadNote.objects.create(
                slack_channel_id=reply.channel_id,
                ts=reply.ts,
                event_id=reply.event_id[:64],
                incident=incident,
                received_at=now,
            )
            record.entry = incident_note_add(
                incident,
                author=author,
                text=reply.text,
                now=now,
                source="slack",
                author_label=label,
            )
            record.save(update_fields=["entry"])
    except IntegrityError:
        return "already noted"  # a redelivery that raced the first delivery
    except ValidationError as exc:
        logger.info(
            "slack.thread_note_ignored",
            extra={"incident": incident.pk, "slack_user": reply.user_id, "reason": str(exc)[:200]},
        )
        return "invalid note"
    return "noted"
