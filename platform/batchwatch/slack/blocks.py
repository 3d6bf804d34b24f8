"""Block Kit for an incident message: pure functions of an ``IncidentCard``.

Action ids are the contract with ``interactions.py``; every interactive element carries the
incident id as its value (or in its block id, for the selects), so a click never depends on
the message's text. Limits followed: header text ≤ 150, button text ≤ 75, ≤ 10 section fields.
"""

from __future__ import annotations

from datetime import datetime

from batchwatch.core.links import absolute_url, slack_escape, trusted_url
from batchwatch.slack.selectors import IncidentCard

ACKNOWLEDGE = "incident.acknowledge"
RESOLVE = "incident.resolve"
ESCALATE = "incident.escalate"
SNOOZE = "incident.snooze"
REASSIGN = "incident.reassign"
LINK_PREFIX = "link."
LINK_BUTTONS = (
    ("Runbook", "runbook"),
    ("Run / trace", "run"),
    ("Dashboard", "dashboard"),
    ("Job", "job"),
)
ACTIONS = frozenset({ACKNOWLEDGE, RESOLVE, ESCALATE, SNOOZE, REASSIGN})

SNOOZE_CHOICES = {
    "30m": "30 minutes",
    "1h": "1 hour",
    "4h": "4 hours",
    "tomorrow-0900": "Until 09:00 tomorrow (your time)",
}
STATE_ICONS = {"triggered": ":red_circle:", "acknowledged": ":large_yellow_circle:"}
STATE_ICONS["resolved"] = ":large_green_circle:"


def _plain(text: str, limit: int = 75) -> dict:
    return {"type": "plain_text", "text": text[:limit], "emoji": True}


def slack_date(at: datetime) -> str:
    """A date Slack renders in the reader's own time zone (with a UTC fallback)."""
    epoch = int(at.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{at:%Y-%m-%d %H:%M} UTC>"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{int(seconds)}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def _escape(text: str) -> str:
    """mrkdwn control characters (a job name must not become a mention or a link)."""
    return slack_escape(text)


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    button = {"type": "button", "text": _plain(text), "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    return button


def _link_button(text: str, name: str, url: str) -> dict:
    return {"type": "button", "text": _plain(text), "action_id": LINK_PREFIX + name, "url": url}


def fallback_text(card: IncidentCard) -> str:
    """The notification text (push notifications, screen readers)."""
    # Mrkdwn, and the only text a phone's notification shows: the title is a sender's.
    text = f"[{card.state.upper()}] #{card.id} {card.title} ({card.severity}, {card.team})"
    return _escape(text)


def facts(card: IncidentCard) -> list[str]:
    lines = []
    if card.run_started_at:
        lines.append(f"*Run start*\n{slack_date(card.run_started_at)}")
    if card.run_duration_seconds is not None:
        text = _duration(card.run_duration_seconds) + (" so far" if card.run_running else "")
        if card.normal_duration_seconds:
            ratio = card.run_duration_seconds / card.normal_duration_seconds
            text += f" (normal {_duration(card.normal_duration_seconds)}, {ratio:.1f}x)"
        lines.append(f"*Duration vs normal*\n{text}")
    if card.failure_reason:
        reason = card.failure_reason.strip().splitlines()[0][:300]
        lines.append(f"*Failure reason*\n```{_escape(reason)}```")
    alerts = f"{card.grouped} grouped"
    if card.attached:
        alerts += f", {card.attached} downstream attached (lineage)"
    if card.inhibited:
        alerts += f", {card.inhibited} inhibited"
    lines.append(f"*Alerts*\n{alerts}")
    return lines


def links(card: IncidentCard) -> dict[str, str]:
    """The four link buttons, with fallbacks so that each one leads somewhere useful.

    Only URLs to Batchwatch, Grafana or ``BATCHWATCH_LINK_HOSTS`` (``trusted_url``); a button
    whose URL is none of these is left out.
    """
    given = {name: trusted_url(url) for name, url in card.links.items()}
    job_url = given.get("job") or card.url
    urls = {
        "runbook": given.get("runbook")
        or absolute_url("web:runbook-for", query={"incident": card.id}),
        "run": given.get("run") or given.get("trace") or card.url,
        "dashboard": given.get("dashboard") or job_url,
        "job": job_url,
    }
    return {name: url for name, url in urls.items() if trusted_url(url)}


def incident_blocks(card: IncidentCard) -> list[dict]:
    blocks: list[dict] = [
        {"type": "header", "text": _plain(f"#{card.id} {card.title}", 150)},
        {
            "type": "section",
            "block_id": f"summary:{card.id}",
            "text": {
                "type": "mrkdwn",
                "text": f"<{card.url}|Incident #{card.id}> opened {slack_date(card.created_at)}",
            },
            "fields": [{"type": "mrkdwn", "text": f} for f in _summary_fields(card)],
        },
        {
            "type": "section",
            "block_id": f"facts:{card.id}",
            "fields": [{"type": "mrkdwn", "text": f[:2000]} for f in facts(card)[:10]],
        },
    ]
    if card.broken_channels:
        blocks.append(_broken_channels_context(card.broken_channels))
    if card.state != "resolved":
        blocks.append(
            {"type": "actions", "block_id": f"incident:{card.id}", "elements": _actions(card)}
        )
    link_buttons = _link_buttons(card)
    if link_buttons:  # an actions block must have an element
        blocks.append({"type": "actions", "block_id": f"links:{card.id}", "elements": link_buttons})
    return blocks


def _summary_fields(card: IncidentCard) -> list[str]:
    """State, severity, team, jobs, on call and assignee."""
    icon = STATE_ICONS.get(card.state, ":white_circle:")
    state_text = card.state.capitalize()
    if card.snoozed_until and card.state != "resolved":
        state_text += f", snoozed until {slack_date(card.snoozed_until)}"
    elif card.state == "acknowledged" and card.acknowledged_by:
        state_text += f" by {card.acknowledged_by.mention}"
    return [
        f"*State*\n{icon} {state_text}",
        f"*Severity*\n{_escape(card.severity)} ({card.urgency} urgency)",
        f"*Team*\n{_escape(card.team)}",
        f"*Job{'s' if len(card.jobs) > 1 else ''}*\n"
        + (", ".join(f"`{_escape(j)}`" for j in card.jobs[:5]) or "—")
        + (f" and {len(card.jobs) - 5} more" if len(card.jobs) > 5 else ""),
        "*On call*\n" + (", ".join(p.mention for p in card.on_call) or "nobody"),
        "*Assigned*\n" + (card.assignee.mention if card.assignee else "nobody"),
    ]


def _broken_channels_context(channels: list[str]) -> dict:
    return {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": ":warning: Undeliverable channel(s): " + _escape(", ".join(channels)),
            }
        ],
    }


def _actions(card: IncidentCard) -> list[dict]:
    """The buttons and selects of an open incident (Acknowledge only while triggered)."""
    value = str(card.id)
    elements = []
    if card.state == "triggered":
        elements.append(_button("Acknowledge", ACKNOWLEDGE, value, "primary"))
    elements += [
        _button("Resolve", RESOLVE, value),
        {
            "type": "static_select",
            "action_id": SNOOZE,
            "placeholder": _plain("Snooze…"),
            "options": [
                {"text": _plain(label), "value": f"{card.id}:{key}"}
                for key, label in SNOOZE_CHOICES.items()
            ],
        },
        _button("Escalate", ESCALATE, value, "danger"),
        {"type": "users_select", "action_id": REASSIGN, "placeholder": _plain("Reassign…")},
    ]
    return elements


def _link_buttons(card: IncidentCard) -> list[dict]:
    urls = links(card)
    return [_link_button(label, name, urls[name]) for label, name in LINK_BUTTONS if name in urls]


def thread_text(entry) -> str:
    """One timeline entry as a thread reply."""
    who = entry.actor_label or "batchwatch"
    return f"{slack_date(entry.at)} *{_escape(who)}*: {_escape(entry.message)}"
