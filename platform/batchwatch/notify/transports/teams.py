"""Microsoft Teams: an Adaptive Card posted to a channel's Workflows webhook.

Office 365 connectors are retired; a channel's address is the URL of a Power Automate
workflow "When a Teams webhook request is received" → "Post card in a chat or channel",
which takes ``{"type": "message", "attachments": [<Adaptive Card>]}`` and answers 202. The
card (version 1.4): the incident's number and title, a fact set (state, urgency, severity,
team, jobs), the page's text, and ``Action.OpenUrl`` buttons to the incident, job, run and
runbook (workflows post no ``Action.Submit``: acknowledging happens in Batchwatch).

A sender's text is Markdown to Teams (TextBlock and fact values render bold, italics, lists
and ``[text](url)`` links; HTML is not rendered): every character Markdown gives a meaning
is escaped with a backslash, so a job called ``[Sign in](https://evil)`` shows as typed.
The URL is a request made on the channel owner's behalf: checked against the private network
as webhooks are. No idempotency key: a post whose answer was lost is posted again on retry.
"""

from __future__ import annotations

import json
import re

from batchwatch.core.links import trusted_url
from batchwatch.notify.transports.base import TransportError, post, retry_after, temporary_status
from batchwatch.notify.transports.facts import IncidentFacts, facts_for, one_line

CARD_VERSION = "1.4"
MAX_BYTES = 27_000  # Teams refuses messages over ~28 KB (413)
_MARKDOWN = re.compile(r"([\\`*_\[\]()<>~|])")
_LIST_MARKER = re.compile(r"^(\s*)([-+]|\d+\.)(\s)")
LINKS = (("job", "Job"), ("run", "Run"), ("runbook", "Runbook"), ("dashboard", "Dashboard"))


def escape(text: object) -> str:
    """``text`` shown as typed in an Adaptive Card TextBlock or fact: Markdown's emphasis,
    link and code characters escaped, and a list marker at the start (cards render no
    headings, tables, images or quotes)."""
    escaped = _MARKDOWN.sub(r"\\\1", str(text))
    return _LIST_MARKER.sub(_unlisted, escaped)


def _unlisted(match: re.Match[str]) -> str:
    marker = match.group(2)  # "- ", "+ " or "12. "
    marker = marker[:-1] + "\\." if marker.endswith(".") else "\\" + marker
    return match.group(1) + marker + match.group(3)


def _facts(facts: IncidentFacts) -> list[dict]:
    rows = [
        ("State", facts.state),
        ("Urgency", facts.urgency),
        ("Severity", facts.severity),
        ("Team", facts.team),
        ("Jobs", ", ".join(facts.jobs[:10])),
    ]
    return [
        {"title": title, "value": escape(one_line(value, 300))} for title, value in rows if value
    ]


def _actions(facts: IncidentFacts) -> list[dict]:
    urls = [("Open incident", facts.url)] + [
        (label, facts.links.get(name, "")) for name, label in LINKS
    ]
    actions: list[dict] = []
    for title, url in urls:
        if (url := trusted_url(url) or "") and all(a["url"] != url for a in actions):
            actions.append({"type": "Action.OpenUrl", "title": title, "url": url})
    return actions


def card_message(notification) -> dict:
    """The Workflows webhook's body: one message holding one Adaptive Card."""
    facts = facts_for(notification)
    number = f"#{facts.number} " if facts.number else ""
    body: list[dict] = [
        {
            "type": "TextBlock",
            "text": escape(one_line(f"{number}{facts.title}", 300)),
            "size": "Medium",
            "weight": "Bolder",
            "wrap": True,
            "style": "heading",
        },
        {"type": "FactSet", "facts": _facts(facts)},
    ]
    if notification.body:
        text = "\n\n".join(escape(one_line(line, 500)) for line in notification.body.splitlines())
        body.append({"type": "TextBlock", "text": text[:8000], "wrap": True, "isSubtle": True})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "actions": _actions(facts),
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def send_teams(notification) -> None:
    message = card_message(notification)
    data = json.dumps(message).encode()
    if len(data) > MAX_BYTES:  # a huge page text: the card without it
        message["attachments"][0]["content"]["body"] = message["attachments"][0]["content"]["body"][
            :2
        ]
        data = json.dumps(message).encode()
    response = post(
        notification.address,
        body=data,
        headers={"Content-Type": "application/json"},
        what="the Teams workflow",
    )
    status = response.status
    if status < 300:
        return
    if temporary_status(status):
        raise TransportError(
            f"Teams HTTP {status}", retry_after=retry_after(response.headers.get("Retry-After"))
        )
    if 300 <= status < 400:
        raise TransportError(f"Teams HTTP {status}: the workflow URL redirects", permanent=True)
    # 413: this card is too big (the channel is fine); 401/403/404: the flow is gone, off or
    # no longer shared.
    raise TransportError(
        f"Teams HTTP {status}: the workflow refused the card",
        permanent=True,
        breaks_channel=status != 413,
    )
