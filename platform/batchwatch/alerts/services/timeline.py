"""Timeline entries: what happened to an incident, built (or written) one way."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from batchwatch.alerts.models import Incident, TimelineEntry

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def timeline_entry(
    incident: Incident,
    *,
    at: datetime,
    kind: TimelineEntry.Kind | str,
    message: str,
    actor: User | None = None,
    actor_label: str = "batchwatch",
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """An unsaved entry, for callers that insert many at once (``bulk_create``)."""
    return TimelineEntry(
        incident=incident,
        at=at,
        kind=kind,
        actor=actor,
        actor_label=actor_label,
        message=message[:1000],
        data=data or {},
    )


def timeline_write(
    incident: Incident,
    *,
    at: datetime,
    kind: TimelineEntry.Kind | str,
    message: str,
    actor: User | None = None,
    actor_label: str = "batchwatch",
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """Write one entry now."""
    entry = timeline_entry(
        incident, at=at, kind=kind, message=message, actor=actor, actor_label=actor_label, data=data
    )
    entry.save()
    return entry


class AlertFacts(Protocol):
    """What a title and a group notification read of an alert: an Alert, or the few fields a
    flush reads of many (``flushes._Member``)."""

    @property
    def fingerprint(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def labels(self) -> dict[str, Any]: ...
    @property
    def summary(self) -> str: ...


def alert_title(alert: AlertFacts) -> str:
    return alert.summary or alert.labels.get("alertname") or alert.fingerprint
