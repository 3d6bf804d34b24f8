"""Routing and grouping: firing alerts that no open incident holds are held back (see
``suppression``) or routed, and grouped into incidents by their route's group key.

The order: silences and maintenance windows, inhibition, lineage (a downstream alert joins
its upstream's incident), route mute, then routing and grouping; escalation starts at the
group's first flush.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from batchwatch.alerts import lineage
from batchwatch.alerts.config import AlertingConfig
from batchwatch.alerts.models import Alert, Incident, IncidentAlert, TimelineEntry, Timer
from batchwatch.alerts.routing import RouteNode, resolve
from batchwatch.alerts.services.semantics import (
    URGENCY_BY_SEVERITY,
    incidents_refresh,
    urgency_for,
)
from batchwatch.alerts.services.suppression import (
    Inhibitor,
    SuppressionKind,
    SuppressionReason,
    _notice_downstream,
    _save_suppression,
    route_mute,
    silenced_or_inhibited,
)
from batchwatch.alerts.services.timeline import alert_title, timeline_entry
from batchwatch.alerts.services.timers import _first_flush_due, _schedule_flush, _started_long_ago
from batchwatch.catalog.models import Team
from batchwatch.oncall.models import EscalationPolicy

logger = logging.getLogger("batchwatch.alerts")

# The severities the default mapping makes high urgency (see ``semantics``).
HIGH_SEVERITIES = set(URGENCY_BY_SEVERITY)


@dataclass
class RouteOutcome:
    grouped: int = 0
    suppressed: int = 0
    opened: list[int] = field(default_factory=list)


@dataclass
class _Writes:
    """Rows a routing batch inserts at its end, each kind in one statement."""

    memberships: list[IncidentAlert] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)


def _route_alerts(alerts: list[Alert], config: AlertingConfig, now: datetime) -> RouteOutcome:
    """Suppress or group firing alerts that are in no open incident."""
    outcome = RouteOutcome()
    if not alerts:
        return outcome
    writes = _Writes()
    by_key = _suppress_or_route(alerts, config, now, writes)
    outcome.suppressed = sum(1 for a in alerts if a.needs_routing)
    opened, first_flush = _group(by_key, now, outcome, writes) if by_key else ([], {})
    IncidentAlert.objects.bulk_create(writes.memberships, ignore_conflicts=True, batch_size=500)
    TimelineEntry.objects.bulk_create(writes.timeline, batch_size=500)
    # A new incident has no timer yet: its first flush, after group_wait, in one INSERT.
    Timer.objects.bulk_create(
        Timer(incident=incident, kind=Timer.Kind.FLUSH, due_at=first_flush[incident.pk])
        for incident in opened
    )
    # Title, severity and urgency follow the alerts now in each group.
    incidents_refresh({m.incident_id for m in writes.memberships}, now=now)
    return outcome


def _suppress_or_route(
    alerts: list[Alert], config: AlertingConfig, now: datetime, writes: _Writes
) -> dict[str, tuple[RouteNode, list[Alert]]]:
    """Each alert held back (its reason saved) or routed: the routed ones by group key."""
    inhibitor = Inhibitor(config.inhibit_rules)
    upstream = lineage.UpstreamState(now)
    by_key: dict[str, tuple[RouteNode, list[Alert]]] = {}
    before = {id(a): (a.suppressed_reason, a.needs_routing) for a in alerts}
    for alert in alerts:
        routes = resolve(config.tree, alert.labels)
        reason = silenced_or_inhibited(alert, config=config, inhibitor=inhibitor)
        if reason is None:
            attach = upstream.blocking(alert)
            if attach is not None:
                reason = SuppressionReason(SuppressionKind.UPSTREAM, attach.reason)
                _attach_downstream(alert, attach, now, writes)
        if reason is None:
            routes, reason = route_mute(routes, now=now)
        if reason is not None:
            alert.suppressed_reason = reason.text[:500]
            alert.needs_routing = True
            continue
        alert.suppressed_reason = ""
        alert.needs_routing = False
        for node in routes:
            key = node.group_key(alert.labels)
            by_key.setdefault(key, (node, []))[1].append(alert)
    # Saved when changed, routed ones too: that clears an old reason.
    _save_suppression(
        [a for a in alerts if (a.suppressed_reason, a.needs_routing) != before[id(a)]]
    )
    return by_key


def _attach_downstream(
    alert: Alert, attach: lineage.Blocking, now: datetime, writes: _Writes
) -> None:
    """A downstream alert blocked by an unhealthy upstream joins the upstream's incident (if
    there is one) without paging; its team is told."""
    if attach.incident is not None:
        writes.memberships.append(
            IncidentAlert(
                incident=attach.incident,
                alert=alert,
                added_at=now,
                attached_reason=attach.reason,
            )
        )
        writes.timeline.append(
            timeline_entry(
                attach.incident,
                at=now,
                kind=TimelineEntry.Kind.ALERT_ATTACHED,
                message=f"Downstream alert attached: {alert_title(alert)} ({attach.reason})",
                data={"alert": alert.pk, "job": alert.labels.get("job", "")},
            )
        )
    _notice_downstream(alert, attach, now)


def _group(
    by_key: dict[str, tuple[RouteNode, list[Alert]]],
    now: datetime,
    outcome: RouteOutcome,
    writes: _Writes,
) -> tuple[list[Incident], dict[int, datetime]]:
    """Each group into its open incident, opened if there is none; returns the incidents
    opened and when each first flushes (the others' flushes are scheduled here)."""
    opened: list[Incident] = []
    first_flush: dict[int, datetime] = {}
    lookups = _Lookups()
    # Locked (in id order): a flush in flight commits before this adds to its group.
    open_incidents = {
        incident.open_group_key: incident
        for incident in Incident.objects.select_for_update()
        .filter(open_group_key__in=list(by_key))
        .order_by("pk")
    }
    for key, (node, group) in by_key.items():
        incident = open_incidents.get(key)
        created = False
        if incident is None:
            incident, created = _incident_open(node, key, group[0], now, lookups, writes.timeline)
            if created:
                outcome.opened.append(incident.pk)
                opened.append(incident)
        for alert in group:
            writes.memberships.append(IncidentAlert(incident=incident, alert=alert, added_at=now))
        outcome.grouped += len(group)
        writes.timeline.append(_grouped_entry(incident, group, now))
        if created:
            first_flush[incident.pk] = _first_flush_due(incident, group, now)
        else:
            _schedule_flush(incident, now, started_long_ago=_started_long_ago(incident, group, now))
    return opened, first_flush


def _grouped_entry(incident: Incident, group: list[Alert], now: datetime) -> TimelineEntry:
    names = ", ".join(alert_title(a) for a in group[:5])
    more = f" and {len(group) - 5} more" if len(group) > 5 else ""
    return timeline_entry(
        incident,
        at=now,
        kind=TimelineEntry.Kind.ALERTS_GROUPED,
        message=f"{len(group)} alert(s) grouped: {names}{more}",
        data={"alerts": [a.pk for a in group[:100]]},
    )


class _Lookups:
    """Teams and escalation policies read once per routing batch (a storm opens many
    incidents for the same few teams and policies)."""

    def __init__(self) -> None:
        self._teams: dict[str, Team | None] = {}
        self._policies: dict[int, EscalationPolicy | None] = {}
        self._defaults: dict[int, EscalationPolicy | None] = {}

    def team(self, slug: str) -> Team | None:
        if slug not in self._teams:
            self._teams[slug] = Team.objects.filter(slug=slug).first()
        return self._teams[slug]

    def policy(self, pk: int) -> EscalationPolicy | None:
        if pk not in self._policies:
            self._policies[pk] = EscalationPolicy.objects.filter(pk=pk).first()
        return self._policies[pk]

    def default_policy(self, team: Team) -> EscalationPolicy | None:
        if team.pk not in self._defaults:
            self._defaults[team.pk] = EscalationPolicy.objects.filter(
                team=team, is_team_default=True
            ).first()
        return self._defaults[team.pk]


def _team_for(
    alert: Alert, config_policy: EscalationPolicy | None, lookups: _Lookups
) -> Team | None:
    slug = alert.labels.get("team")
    if slug:
        team = lookups.team(slug)
        if team:
            return team
    job = alert.job
    if job is not None and job.owner_team_id:
        return job.owner_team
    integration = alert.integration
    if integration is not None and integration.team_id:
        return integration.team
    return config_policy.team if config_policy else None


def _policy_snapshot(policy: EscalationPolicy | None) -> dict[str, Any]:
    if policy is None:
        return {}
    steps: list[dict[str, Any]] = []
    for step in policy.steps.select_related("rotation", "user", "team").order_by("position", "id"):
        target = step.rotation or step.user or step.team
        steps.append(
            {
                "target": step.target,
                "rotation_id": step.rotation_id,
                "user_id": step.user_id,
                "team_id": step.team_id,
                "wait_seconds": step.wait.total_seconds(),
                "label": f"{step.get_target_display()}: {target}",
            }
        )
    return {
        "policy_id": policy.pk,
        "name": policy.name,
        "repeat": policy.repeat,
        "ack_timeout_seconds": policy.ack_timeout.total_seconds() if policy.ack_timeout else None,
        "steps": steps,
        # The policy's severity → urgency mapping (the defaults with its overrides).
        "urgency_by_severity": policy.urgency_mapping(),
    }


def _incident_open(
    node: RouteNode,
    key: str,
    alert: Alert,
    now: datetime,
    lookups: _Lookups,
    timeline: list[TimelineEntry],
) -> tuple[Incident, bool]:
    """The open incident of a group, created if there is none (safe against a racing twin).

    Its "opened" timeline entry is appended to ``timeline`` (the caller inserts them all).
    """
    policy = lookups.policy(node.policy_id) if node.policy_id else None
    team = _team_for(alert, policy, lookups)
    if policy is None and team is not None:
        policy = lookups.default_policy(team)
    group_labels = node.group_labels(alert.labels)
    title = alert.summary if not node.group_by or alert.summary else ""
    if not title:
        title = alert.labels.get("alertname") or alert.labels.get("kind") or "Alert"
        if group_labels:
            title += " — " + ", ".join(
                f"{k}={v}" for k, v in group_labels.items() if k != "alertname"
            )
    severity = alert.severity or alert.labels.get("severity", "")
    snapshot = _policy_snapshot(policy)
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                title=title[:500],
                group_key=key,
                open_group_key=key,
                group_labels=group_labels,
                route_id=node.id,
                route_path=node.key[:500],
                group_wait=node.group_wait,
                group_interval=node.group_interval,
                repeat_interval=node.repeat_interval,
                team=team,
                severity=severity[:20],
                urgency=urgency_for(severity, snapshot=snapshot),
                escalation_snapshot=snapshot,
                created_at=now,
            )
    except IntegrityError:
        return Incident.objects.get(open_group_key=key), False
    timeline.append(
        timeline_entry(
            incident,
            at=now,
            kind=TimelineEntry.Kind.OPENED,
            message=f"Incident opened on route '{node.name}' (group {key}); "
            + (f"escalation policy '{policy.name}'" if policy else "no escalation policy"),
        )
    )
    logger.info("alerts.incident_opened", extra={"incident": incident.pk, "group": key})
    return incident, True
