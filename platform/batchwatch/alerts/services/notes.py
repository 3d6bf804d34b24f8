"""Notes on an incident's timeline: what people found and did, written from the web, the API
or a Slack thread reply, so whoever takes over reads the story in one place."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from batchwatch.alerts.models import Incident, TimelineEntry
from batchwatch.alerts.services.timeline import timeline_write

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# The timeline's message column holds 1000 characters: a note is never cut silently.
NOTE_MAX_LENGTH = 1000
NOTE_SOURCES = ("web", "api", "slack")


def incident_note_add(
    incident: Incident,
    *,
    author: User | None,
    text: str,
    now: datetime,
    source: str = "web",
    author_label: str = "",
) -> TimelineEntry:
    """Add a note to the incident's timeline (open or resolved); returns the entry.

    ``text`` is stripped; empty, over :data:`NOTE_MAX_LENGTH` characters or holding control
    characters other than newlines and tabs is refused (``ValidationError``). ``author`` may
    be None for a Slack reply of someone not linked to a user: ``author_label`` names them.
    Permission is the caller's (``alerts.permissions.can_act_on_incident``).
    """
    if source not in NOTE_SOURCES:
        raise ValidationError({"source": f"A note comes from one of {', '.join(NOTE_SOURCES)}."})
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "A note needs some text."})
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationError(
            {"text": f"A note has at most {NOTE_MAX_LENGTH} characters ({len(text)} given)."}
        )
    if any(ord(c) < 32 and c not in "\n\t\r" for c in text) or "\x7f" in text:
        raise ValidationError({"text": "A note cannot hold control characters."})
    if author is not None:
        label = author.get_username() + (" (Slack)" if source == "slack" else "")
    else:
        label = author_label.strip()[:200] or source
    return timeline_write(
        incident,
        at=now,
        kind=TimelineEntry.Kind.NOTE,
        message=text,
        actor=author,
        actor_label=label,
        data={"source": source},
    )
