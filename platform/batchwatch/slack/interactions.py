"""What a click on an incident message does. Called by the view after the signature check.

The state change is a few quick writes (well inside Slack's 3 seconds); everything that talks
to Slack (the message update, the thread reply, an ephemeral refusal) goes to the outbox and
is delivered after the answer.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError

from batchwatch.alerts import services as incidents
from batchwatch.alerts.models import Incident
from batchwatch.alerts.permissions import can_act_on_incident
from batchwatch.core.numbers import parse_id
from batchwatch.slack import blocks
from batchwatch.slack.selectors import link_for_slack_user
from batchwatch.slack.services import reply_enqueue, slack_syncs_enqueue
from batchwatch.slack.wire import BlockAction

logger = logging.getLogger("batchwatch.slack")

UNLINKED = (
    "Batchwatch does not know who you are: your Slack account is not linked to a Batchwatch "
    "user. Ask a Batchwatch admin to link you (Admin → Slack → Slack user links), or make your "
    "Batchwatch e-mail the same as your Slack e-mail and ask them to run "
    "`python manage.py slack link-users`. Nothing was changed."
)
NOT_ALLOWED = (
    "Only members of the owning team ({team}), its current on-call, the assignee or an admin "
    "can act on incident #{id}. Nothing was changed."
)
SNOOZES = {"30m": timedelta(minutes=30), "1h": timedelta(hours=1), "4h": timedelta(hours=4)}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def tomorrow_at_nine(now: datetime, zone_name: str) -> datetime:
    """09:00 tomorrow on the user's wall clock (their Slack time zone), as an instant."""
    zone = _zone(zone_name)
    local = now.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time(9, 0), tzinfo=zone)


def _incident_id(action: BlockAction) -> int | None:
    raw = action.value or action.selected_option.split(":")[0] or action.block_id.split(":")[-1]
    return parse_id(raw)


def handle_block_action(action: BlockAction, *, now: datetime) -> str:
    """Act on one click; returns what happened (for the log), replies go to the outbox."""
    key = f"{action.user_id}:{action.action_ts or now.timestamp()}"

    def refuse(text: str, outcome: str) -> str:
        reply_enqueue(response_url=action.response_url, text=text, key=key, now=now)
        logger.info("slack.action_refused", extra={"action": action.action_id, "why": outcome})
        return outcome

    if action.action_id.startswith(blocks.LINK_PREFIX):
        return "link"  # Slack reports link-button clicks too; the browser did the work
    if action.action_id not in blocks.ACTIONS:
        return refuse(f"Unknown action `{action.action_id}`: nothing was changed.", "unknown")
    link = link_for_slack_user(action.user_id)
    if link is None:
        return refuse(UNLINKED, "unlinked")
    incident_id = _incident_id(action)
    incident = Incident.objects.select_related("team").filter(pk=incident_id).first()
    if incident is None:
        return refuse("That incident no longer exists.", "no incident")
    user = link.user
    if not can_act_on_incident(user, incident, now):
        team = incident.team.name if incident.team else "no team"
        return refuse(NOT_ALLOWED.format(team=team, id=incident.pk), "forbidden")
    label = f"{user.get_username()} (Slack)"
    try:
        if action.action_id == blocks.ACKNOWLEDGE:
            incidents.incident_acknowledge(
                incident=incident, now=now, actor=user, actor_label=label
            )
        elif action.action_id == blocks.RESOLVE:
            incidents.incident_resolve(incident=incident, now=now, actor=user, actor_label=label)
        elif action.action_id == blocks.ESCALATE:
            incidents.incident_escalate(incident=incident, now=now, actor=user, actor_label=label)
        elif action.action_id == blocks.SNOOZE:
            choice = action.selected_option.partition(":")[2]
            if choice == "tomorrow-0900":
                until = tomorrow_at_nine(now, link.timezone)
            elif choice in SNOOZES:
                until = now + SNOOZES[choice]
            else:
                return refuse(f"Unknown snooze choice `{choice}`.", "unknown")
            incidents.incident_snooze(
                incident=incident, until=until, now=now, actor=user, actor_label=label
            )
        elif action.action_id == blocks.REASSIGN:
            target = link_for_slack_user(action.selected_user)
            if target is None:
                return refuse(
                    "That person's Slack account is not linked to a Batchwatch user, so the "
                    "incident cannot be assigned to them. Nothing was changed.",
                    "target unlinked",
                )
            incidents.incident_reassign(
                incident=incident, user=target.user, now=now, actor=user, actor_label=label
            )
    except incidents.FiringAlertsError as exc:
        return refuse(
            f"Incident #{incident.pk}: {exc.firing} alert(s) still firing, so it was not "
            f"resolved. `/batchwatch resolve {incident.pk} force` resolves it and them "
            "(a later firing opens a new incident).",
            "alerts firing",
        )
    except ValidationError as exc:
        return refuse(" ".join(exc.messages), "invalid")
    slack_syncs_enqueue(now=now)
    return "done"
