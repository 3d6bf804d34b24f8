"""Suppression: whether a firing alert is held back, and why.

The checks run in this order, the first that holds wins: a silence or maintenance window,
an inhibition rule, an unhealthy upstream (lineage, see ``grouping``), a muted route.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import models

from batchwatch.alerts.config import AlertingConfig, InhibitSpec
from batchwatch.alerts.matchers import matches_all
from batchwatch.alerts.models import Alert
from batchwatch.alerts.routing import RouteNode
from batchwatch.alerts.services.timeline import alert_title
from batchwatch.core.links import absolute_url
from batchwatch.notify.models import Channel
from batchwatch.notify.services import Recipient, notification_enqueue

if TYPE_CHECKING:
    from batchwatch.alerts.lineage import Blocking


class SuppressionKind(models.TextChoices):
    SILENCE = "silence", "Silence"
    MAINTENANCE = "maintenance", "Maintenance window"
    INHIBITED = "inhibited", "Inhibition rule"
    UPSTREAM = "upstream", "Unhealthy upstream"
    ROUTE_MUTED = "route_muted", "Route muted"


# The sentence stored in ``Alert.suppressed_reason`` for each kind ("{}" is the detail).
_SENTENCES = {
    SuppressionKind.SILENCE: "silence {}",
    SuppressionKind.MAINTENANCE: "maintenance {}",
    SuppressionKind.INHIBITED: "inhibited by rule '{}'",
    SuppressionKind.ROUTE_MUTED: "route muted ({})",
    SuppressionKind.UPSTREAM: "{}",  # lineage's own sentence: "upstream <job> is <state>"
}


@dataclass(frozen=True)
class SuppressionReason:
    """Why an alert is held back: a kind and its detail (the silence, the rule's name, the
    upstream, the mute). ``Alert.suppressed_reason`` stores :attr:`text`, what people read;
    :meth:`parse` reads it back, so the sentence is written and read here only."""

    kind: SuppressionKind
    detail: str

    @property
    def text(self) -> str:
        return _SENTENCES[self.kind].format(self.detail)

    @staticmethod
    def prefix(kind: SuppressionKind) -> str:
        """How a stored reason of ``kind`` starts (to filter on it in a query)."""
        return _SENTENCES[kind].split("{}")[0]

    @classmethod
    def parse(cls, text: str) -> SuppressionReason | None:
        """The reason a stored ``suppressed_reason`` says (None for none)."""
        for kind, sentence in _SENTENCES.items():
            head, tail = sentence.split("{}")
            if head and text.startswith(head) and text.endswith(tail):
                return cls(kind, text[len(head) : len(text) - len(tail)])
        return cls(SuppressionKind.UPSTREAM, text) if text else None


class Inhibitor:
    """Alertmanager inhibition: a target is muted while a firing source matches, with equal
    values of the ``equal`` labels (an alert does not inhibit itself). Sources are loaded
    once per batch, per rule; or given (those of one incident, for what it is hiding)."""

    def __init__(self, rules: list[InhibitSpec], *, sources: list[Alert] | None = None):
        self.rules = rules
        self._given = sources
        self._sources: dict[int, list[Alert]] = {}

    def _firing_sources(self, rule: InhibitSpec) -> list[Alert]:
        if rule.id not in self._sources:
            candidates: Iterable[Alert]
            if self._given is not None:
                candidates = self._given
            else:
                query = Alert.objects.filter(status=Alert.Status.FIRING)
                for matcher in rule.source:
                    if matcher.op == "=" and matcher.value:
                        query = query.filter(**{f"labels__{matcher.name}": matcher.value})
                candidates = query.only("id", "labels")
            self._sources[rule.id] = [a for a in candidates if matches_all(rule.source, a.labels)]
        return self._sources[rule.id]

    def inhibits(self, rule: InhibitSpec, alert: Alert) -> bool:
        """Whether ``rule`` mutes ``alert`` now."""
        if not matches_all(rule.target, alert.labels):
            return False
        return any(
            source.pk != alert.pk
            and all(source.labels.get(n, "") == alert.labels.get(n, "") for n in rule.equal)
            for source in self._firing_sources(rule)
        )

    def inhibited_by(self, alert: Alert) -> str | None:
        """The name of the first rule that mutes ``alert``, if one does."""
        for rule in self.rules:
            if self.inhibits(rule, alert):
                return rule.name
        return None


def silenced_or_inhibited(
    alert: Alert, *, config: AlertingConfig, inhibitor: Inhibitor
) -> SuppressionReason | None:
    """The first two checks: a silence or maintenance window in force, then inhibition."""
    silence = config.suppressed_by(alert.labels)
    if silence is not None:
        until = f"{silence.ends_at:%Y-%m-%d %H:%M} UTC"
        detail = f"{silence.id} ({silence.name}) until {until}"
        return SuppressionReason(SuppressionKind(silence.kind), detail)
    rule = inhibitor.inhibited_by(alert)
    if rule is not None:
        return SuppressionReason(SuppressionKind.INHIBITED, rule)
    return None


def route_mute(
    routes: list[RouteNode], *, now: datetime
) -> tuple[list[RouteNode], SuppressionReason | None]:
    """The last check: the alert's routes not muted now, and a reason when all of them are."""
    live = [node for node in routes if node.muted_by(now) is None]
    if not live:
        return live, SuppressionReason(SuppressionKind.ROUTE_MUTED, str(routes[0].muted_by(now)))
    return live, None


def _save_suppression(alerts: list[Alert]) -> None:
    """Write changed suppression fields: one UPDATE per distinct (reason, needs_routing), as
    a storm's alerts mostly share them (bulk_update's CASE per row costs more than it saves)."""
    by_value: dict[tuple[str, bool], list[int]] = {}
    for alert in alerts:
        by_value.setdefault((alert.suppressed_reason, alert.needs_routing), []).append(alert.pk)
    for (reason, needs_routing), ids in by_value.items():
        Alert.objects.filter(pk__in=ids).update(
            suppressed_reason=reason, needs_routing=needs_routing
        )


def _notice_downstream(alert: Alert, attach: Blocking, now: datetime) -> None:
    """Tell the downstream team, without paging, that their alert is waiting on upstream."""
    job = alert.job
    team = job.owner_team if job is not None and job.owner_team_id else None
    if team is None:
        return
    where = f" (incident #{attach.incident.pk})" if attach.incident else ""
    for channel in Channel.objects.filter(team=team, is_broken=False):
        notification_enqueue(
            purpose="notice",
            recipient=Recipient(channel.kind, channel.address, channel=channel),
            subject=f"[notice] {alert_title(alert)}: {attach.reason}{where}; not paging",
            body="Runbook: "
            + absolute_url("web:runbook-for", query={"kind": "upstream_late", "job": alert.job_id}),
            idempotency_key=f"notice:{alert.pk}:{alert.starts_at.isoformat()}:{channel.pk}",
            now=now,
            incident=attach.incident,
        )
