"""Writes of alerting: intake, grouping into incidents, suppression, the incident lifecycle,
escalation and the durable timers that drive it.

Every function takes ``now`` (timezone-aware UTC): the same code runs live, in tests at fixed
instants, and in ``alerts simulate``. Side effects are outbox rows written in the caller's
transaction (``notify.services.notification_enqueue``), delivered after commit.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F

from batchwatch.alerts import intake_quarantine, lineage
from batchwatch.alerts.config import AlertingConfig, load_config
from batchwatch.alerts.intake import (
    ACKNOWLEDGE,
    RESOLVE,
    TRIGGER,
    AlertEvent,
    event_record,
)
from batchwatch.alerts.matchers import matches_all, matches_empty, parse_matchers
from batchwatch.alerts.models import (
    Alert,
    AlertIntake,
    Incident,
    IncidentAlert,
    Integration,
    Silence,
    TimelineEntry,
    Timer,
    generate_token,
    hash_token,
)
from batchwatch.alerts.routing import RouteNode, resolve
from batchwatch.catalog.models import Job, Team
from batchwatch.core import queues
from batchwatch.core.bulk import update_rows
from batchwatch.notify.models import Channel, Notification
from batchwatch.notify.services import (
    Recipient,
    notification_enqueue,
    notifications_enqueue_many,
)
from batchwatch.oncall.models import EscalationPolicy, EscalationStep
from batchwatch.oncall.selectors import rotation_next, rotation_oncall, rotations_with_layers

logger = logging.getLogger("batchwatch.alerts")

SIGNALS_SOURCE = "signals"
HIGH_SEVERITIES = {"critical", "error", "page", "high", "p1", "p2"}
OPEN_STATES = (Incident.State.TRIGGERED, Incident.State.ACKNOWLEDGED)
WORKER = f"{socket.gethostname()}:{os.getpid()}"
# Fault injection for the reliability tests only: a pause after a timer's effects are written
# and before they commit, so that a test can kill the process inside that window.
_FAULT_PAUSE = float(os.environ.get("BATCHWATCH_FAULT_PAUSE_BEFORE_COMMIT", "0") or 0)


# --- Integrations -------------------------------------------------------------------------------


def integration_create(*, name: str, kind: str, team: Team | None = None, labels=None):
    """A new integration and its token, returned once (only its hash is stored)."""
    if kind not in Integration.Kind.values:
        raise ValidationError({"kind": f"unknown integration kind {kind!r}"})
    raw = generate_token()
    integration = Integration.objects.create(
        name=name,
        kind=kind,
        team=team,
        labels=labels or {},
        token_hash=hash_token(raw),
        token_prefix=raw[:10],
    )
    return integration, raw


# Known tokens are remembered per process for a few seconds: a storm sends hundreds of
# requests a second with the same token. Revoking through the service (admin does) forgets
# them here at once; other processes stop accepting the token within TOKEN_CACHE_SECONDS.
TOKEN_CACHE_SECONDS = 5.0
_TOKEN_CACHE_MAX = 1000
_token_cache: dict[tuple[str, str], tuple[float, Integration]] = {}


def integration_for_token(raw: str, *, kind: str) -> Integration | None:
    if not raw:
        return None
    key = (hash_token(raw), kind)
    hit = _token_cache.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    integration = (
        Integration.objects.filter(token_hash=key[0], kind=kind, revoked_at=None)
        .select_related("team")
        .order_by()
        .first()
    )
    if integration is not None:  # unknown tokens are not remembered: new ones work at once
        if len(_token_cache) >= _TOKEN_CACHE_MAX:
            _token_cache.clear()
        _token_cache[key] = (time.monotonic() + TOKEN_CACHE_SECONDS, integration)
    return integration


def integrations_revoke(integrations, *, now: datetime) -> int:
    """Revoke integrations (a queryset); their tokens stop working now in this process and
    within ``TOKEN_CACHE_SECONDS`` in the others."""
    count = integrations.filter(revoked_at__isnull=True).update(revoked_at=now)
    integration_tokens_forget()
    return count


def integration_tokens_forget() -> None:
    """Forget the tokens this process remembers (after an integration is changed)."""
    _token_cache.clear()


# --- Intake -------------------------------------------------------------------------------------


@dataclass
class ReceiveResult:
    received: int = 0
    new: int = 0
    resolved: int = 0
    grouped: int = 0
    suppressed: int = 0
    incidents_opened: list[int] = field(default_factory=list)
    acknowledged: int = 0


def alerts_receive(
    *,
    events: list[AlertEvent],
    source: str,
    now: datetime,
    integration: Integration | None = None,
    job_by_fingerprint: dict[str, Job] | None = None,
    signal_by_fingerprint: dict[str, int] | None = None,
    config: AlertingConfig | None = None,
) -> ReceiveResult:
    """Record a batch of alert events from one source, then route what newly fires.

    Identity is ``(source, fingerprint)``: a repeated event updates the same alert. Resolve
    events schedule their incidents' next flush (which sends "resolved" once all resolved);
    acknowledge events (PagerDuty) acknowledge the open incidents holding the alert.
    """
    result = ReceiveResult(received=len(events))
    latest: dict[str, AlertEvent] = {}
    for event in events:
        latest[event.fingerprint] = event  # the last report of an alert in a batch wins
    with transaction.atomic():
        config = config or load_config(now)
        existing = {
            alert.fingerprint: alert
            for alert in Alert.objects.filter(source=source, fingerprint__in=list(latest))
        }
        extra_labels = dict(integration.labels) if integration else {}
        if integration and integration.team_id:
            extra_labels.setdefault("team", integration.team.slug)
        creates, updates, acks = [], [], []
        jobs = lineage.jobs_for_labels([e.labels for e in latest.values()])
        for fingerprint, event in latest.items():
            alert = existing.get(fingerprint)
            if event.action == ACKNOWLEDGE:
                if alert is not None:
                    acks.append(alert)
                continue
            if alert is None and event.action == RESOLVE:
                continue  # resolving what we never saw: nothing to do (PagerDuty does the same)
            labels = {**extra_labels, **event.labels} if event.labels else None
            if alert is None:
                alert = Alert(
                    source=source,
                    integration=integration,
                    fingerprint=fingerprint,
                    first_received_at=now,
                    received_count=0,
                    status=Alert.Status.RESOLVED,  # set below
                    starts_at=event.starts_at or now,
                    labels=labels or {},
                )
                creates.append(alert)
            else:
                updates.append(alert)
            was_firing = alert.status == Alert.Status.FIRING
            if labels is not None:
                alert.labels = labels
            if event.annotations:
                alert.annotations = event.annotations
            if event.summary:
                alert.summary = event.summary[:500]
            if event.severity:
                alert.severity = event.severity[:20]
            if event.generator_url:
                alert.generator_url = event.generator_url
            alert.last_received_at = now
            alert.received_count += 1
            if job_by_fingerprint and fingerprint in job_by_fingerprint:
                alert.job = job_by_fingerprint[fingerprint]
            elif alert.job_id is None:
                alert.job = jobs.get(alert.labels.get("job", ""))
            if signal_by_fingerprint and fingerprint in signal_by_fingerprint:
                alert.signal_id = signal_by_fingerprint[fingerprint]
            if event.action == TRIGGER:
                if not was_firing:
                    alert.starts_at = event.starts_at or now
                    alert.ends_at = None
                    result.new += 1
                alert.status = Alert.Status.FIRING
                alert.expires_at = event.expires_at
            else:
                alert.status = Alert.Status.RESOLVED
                alert.ends_at = event.ends_at or now
                alert.expires_at = None
                alert.needs_routing = False
                alert.suppressed_reason = ""
                if was_firing:
                    result.resolved += 1
        Alert.objects.bulk_create(creates, batch_size=500)
        if creates and creates[0].pk is None:  # SQLite before RETURNING: fetch the ids
            ids = dict(
                Alert.objects.filter(
                    source=source, fingerprint__in=[a.fingerprint for a in creates]
                ).values_list("fingerprint", "pk")
            )
            for alert in creates:
                alert.pk = alert.id = ids[alert.fingerprint]
        update_rows(
            updates,
            [
                "labels",
                "annotations",
                "summary",
                "severity",
                "generator_url",
                "status",
                "starts_at",
                "ends_at",
                "expires_at",
                "job",
                "signal",
                "last_received_at",
                "received_count",
                "needs_routing",
                "suppressed_reason",
            ],
            batch_size=500,
        )
        changed = [a for a in creates + updates if a.status == Alert.Status.RESOLVED]
        _schedule_flush_for_alerts([a.pk for a in changed], now)
        firing = [a for a in creates + updates if a.status == Alert.Status.FIRING]
        # Firing alerts not in an open incident (new, re-firing, or whose incident was
        # resolved by hand) are routed; the others are refreshed in place.
        in_open = set(
            IncidentAlert.objects.filter(
                alert_id__in=[a.pk for a in firing], incident__state__in=OPEN_STATES
            ).values_list("alert_id", flat=True)
        )
        outcome = _route_alerts([a for a in firing if a.pk not in in_open], config, now)
        result.grouped, result.suppressed = outcome.grouped, outcome.suppressed
        result.incidents_opened = outcome.opened
        for alert in acks:
            for incident in Incident.objects.filter(
                memberships__alert=alert, state=Incident.State.TRIGGERED
            ):
                incident_acknowledge(incident=incident, now=now, actor_label=f"{source} event")
                result.acknowledged += 1
        if integration is not None:
            Integration.objects.filter(pk=integration.pk).update(last_used_at=now)
    return result


# --- Queued intake ------------------------------------------------------------------------------

# PostgreSQL advisory lock of the intake drain: one drainer at a time keeps arrival order.
# (SQLite transactions here are BEGIN IMMEDIATE: drainers queue on the write lock anyway.)
INTAKE_DRAIN_LOCK = 0x6277_0001
INTAKE_CHUNK = 20


def alerts_accept(
    *, events: list[AlertEvent], source: str, now: datetime, integration: Integration | None
) -> None:
    """Queue parsed events for :func:`intake_drain`: one INSERT, durable once committed.

    What a webhook request waits for in queued mode; dedup, grouping and routing happen in
    the drain, as of ``now`` (the arrival), so group_wait still counts from arrival.
    """
    queues.enqueue(
        AlertIntake,
        source=source,
        integration_id=integration.pk if integration else None,
        received_at=now,
        events=[event_record(event) for event in events],
    )


# The worker's drain lets a storm pass before processing it: while batches keep arriving
# (the last one less than INTAKE_QUIET ago) the CPU goes to answering the senders, and no
# batch waits longer than INTAKE_MAX_DEFER. Flushes are timed from arrival, so grouping and
# group_wait are unchanged; only a route whose group_wait is shorter than the wait notifies
# later (by at most INTAKE_MAX_DEFER, during a storm).
INTAKE_QUIET = timedelta(milliseconds=100)
INTAKE_MAX_DEFER = timedelta(seconds=1)


def intake_drain_due(*, now: datetime) -> bool:
    """Whether queued batches wait and the storm that brought them has passed (or they have
    waited INTAKE_MAX_DEFER): when ``alerts worker`` drains."""
    arrivals = queues.pending_arrivals(AlertIntake)
    if arrivals is None:
        return False
    oldest, newest = arrivals
    return now - newest >= INTAKE_QUIET or now - oldest >= INTAKE_MAX_DEFER


def intake_drain(*, now: datetime, limit: int = 1000) -> int:
    """Process queued intake batches oldest first (at most ``limit``); returns how many.

    Batches go through :func:`alerts_receive` in arrival order. Consecutive batches from one
    source that arrived within ``INTAKE_MERGE_WINDOW`` and share no alert are processed as one
    (what a storm sends: one call per thousand alerts instead of one per hundred), as of the
    last arrival among them; a repeated alert starts a new call, so every report still counts
    and the last word on an alert still wins. A batch that cannot be processed (a bug, not bad
    input: that was refused at the edge) keeps its error for admin and does not hold up the
    others. An unavailable database rolls the whole chunk back: nothing is marked, the next
    drain takes it again.
    """
    drained = 0
    config: AlertingConfig | None = None
    while drained < limit:
        with transaction.atomic():
            if not queues.drain_lock(INTAKE_DRAIN_LOCK):
                return drained  # another process is draining
            chunk = list(
                AlertIntake.objects.filter(processed_at=None)
                .select_related("integration__team")
                .order_by("id")[: min(INTAKE_CHUNK, limit - drained)]
            )
            if not chunk:
                return drained
            config = config or load_config(now)
            events = {item.pk: intake_quarantine.batch_events(item, now) for item in chunk}

            def receive(group, config=config, events=events, only=None):
                alerts_receive(
                    events=only or [event for item in group for event in events[item.pk]],
                    source=group[0].source,
                    integration=group[0].integration,
                    now=max(item.received_at for item in group),
                    config=config,
                )

            failed: dict[int, str] = {}
            for group in _intake_groups(chunk, events):
                failed.update(queues.process_group(group, receive, what="alerts.intake"))
            # A batch that failed alone: its alerts one by one, the failing ones quarantined.
            for item in (item for item in chunk if item.pk in failed):
                done, kept = intake_quarantine.batch_salvage(
                    item, events[item.pk], lambda i, e: receive([i], only=e), now
                )
                error = failed[item.pk]
                failed[item.pk] = f"{kept} alert(s) quarantined, {done} processed; {error}"
            queues.mark_processed(AlertIntake, chunk, failed, now)
            drained += len(chunk)
    return drained


INTAKE_MERGE_WINDOW = timedelta(milliseconds=500)


def _intake_groups(chunk: list[AlertIntake], events: dict[int, list[AlertEvent]]):
    """Split a chunk into groups of batches that can be processed as one (see intake_drain)."""
    groups: list[list[AlertIntake]] = []
    seen: set[str] = set()
    for item in chunk:
        fingerprints = {e.fingerprint for e in events[item.pk]}
        if groups:
            first = groups[-1][0]
            if (
                item.source == first.source
                and item.integration_id == first.integration_id
                and item.received_at - first.received_at <= INTAKE_MERGE_WINDOW
                and not fingerprints & seen
            ):
                groups[-1].append(item)
                seen |= fingerprints
                continue
        groups.append([item])
        seen = set(fingerprints)
    return groups


def intake_prune(*, now: datetime) -> int:
    """Forget processed intake batches after a day (failed ones too: their alerts' errors
    were logged; admin shows them until then)."""
    return queues.prune_processed(AlertIntake, now=now)


@dataclass
class RouteOutcome:
    grouped: int = 0
    suppressed: int = 0
    opened: list[int] = field(default_factory=list)


def _route_alerts(alerts: list[Alert], config: AlertingConfig, now: datetime) -> RouteOutcome:
    """Suppress or group firing alerts that are in no open incident."""
    outcome = RouteOutcome()
    if not alerts:
        return outcome
    inhibitor = _Inhibitor(config)
    upstream = lineage.UpstreamState(now)
    memberships: list[IncidentAlert] = []
    timeline: list[TimelineEntry] = []
    by_key: dict[str, tuple[RouteNode, list[Alert]]] = {}
    suppressed: list[Alert] = []
    before = {id(a): (a.suppressed_reason, a.needs_routing) for a in alerts}
    for alert in alerts:
        reason = None
        routes = resolve(config.tree, alert.labels)
        silence = config.suppressed_by(alert.labels)
        if silence is not None:
            until = f"{silence.ends_at:%Y-%m-%d %H:%M} UTC"
            reason = f"{silence.kind} {silence.id} ({silence.name}) until {until}"
        else:
            rule = inhibitor.inhibited_by(alert)
            if rule is not None:
                reason = f"inhibited by rule '{rule}'"
        if reason is None:
            attach = upstream.blocking(alert)
            if attach is not None:
                reason = attach.reason
                if attach.incident is not None:
                    memberships.append(
                        IncidentAlert(
                            incident=attach.incident,
                            alert=alert,
                            added_at=now,
                            attached_reason=attach.reason,
                        )
                    )
                    timeline.append(
                        _entry(
                            attach.incident,
                            now,
                            "alert_attached",
                            f"Downstream alert attached: {_alert_title(alert)} ({attach.reason})",
                            data={"alert": alert.pk, "job": alert.labels.get("job", "")},
                        )
                    )
                _notice_downstream(alert, attach, now)
        if reason is None:
            live = [node for node in routes if node.muted_by(now) is None]
            if not live:
                reason = f"route muted ({routes[0].muted_by(now)})"
            routes = live
        if reason is not None:
            alert.suppressed_reason = reason[:500]
            alert.needs_routing = True
            suppressed.append(alert)
            continue
        alert.suppressed_reason = ""
        alert.needs_routing = False
        suppressed.append(alert)  # saved with the others: clears an old reason
        for node in routes:
            key = node.group_key(alert.labels)
            by_key.setdefault(key, (node, []))[1].append(alert)
    changed = [a for a in suppressed if (a.suppressed_reason, a.needs_routing) != before[id(a)]]
    _save_suppression(changed)
    outcome.suppressed = sum(1 for a in suppressed if a.needs_routing)
    opened: list[Incident] = []
    first_flush: dict[int, datetime] = {}
    lookups = _Lookups()
    if by_key:
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
                incident, created = _incident_open(node, key, group[0], now, lookups, timeline)
                if created:
                    outcome.opened.append(incident.pk)
                    opened.append(incident)
            for alert in group:
                memberships.append(IncidentAlert(incident=incident, alert=alert, added_at=now))
            outcome.grouped += len(group)
            names = ", ".join(_alert_title(a) for a in group[:5])
            more = f" and {len(group) - 5} more" if len(group) > 5 else ""
            timeline.append(
                _entry(
                    incident,
                    now,
                    "alerts_grouped",
                    f"{len(group)} alert(s) grouped: {names}{more}",
                    data={"alerts": [a.pk for a in group[:100]]},
                )
            )
            if created:
                first_flush[incident.pk] = _first_flush_due(incident, group, now)
            else:
                _schedule_flush(
                    incident, now, started_long_ago=_started_long_ago(incident, group, now)
                )
    IncidentAlert.objects.bulk_create(memberships, ignore_conflicts=True, batch_size=500)
    TimelineEntry.objects.bulk_create(timeline, batch_size=500)
    # A new incident has no timer yet: its first flush, after group_wait, in one INSERT.
    Timer.objects.bulk_create(
        Timer(incident=incident, kind=Timer.Kind.FLUSH, due_at=first_flush[incident.pk])
        for incident in opened
    )
    return outcome


def _started_long_ago(incident: Incident, alerts: list[Alert], now: datetime) -> bool:
    """Whether one of these alerts started more than group_wait ago (by its own startsAt):
    Alertmanager then flushes a group that has not flushed yet at once rather than waiting
    group_wait again (alerts re-sent after a restart, or held up on the way)."""
    return any(a.starts_at + incident.group_wait < now for a in alerts)


def _first_flush_due(incident: Incident, alerts: list[Alert], now: datetime) -> datetime:
    return now if _started_long_ago(incident, alerts, now) else now + incident.group_wait


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


class _Lookups:
    """Teams and escalation policies read once per routing batch (a storm opens many
    incidents for the same few teams and policies)."""

    def __init__(self):
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


class _Inhibitor:
    """Alertmanager inhibition: a target is muted while a firing source matches, with equal
    values of the ``equal`` labels. Sources are loaded once per batch, per rule."""

    def __init__(self, config: AlertingConfig):
        self.rules = config.inhibit_rules
        self._sources: dict[int, list[Alert]] = {}

    def _firing_sources(self, rule) -> list[Alert]:
        if rule.id not in self._sources:
            query = Alert.objects.filter(status=Alert.Status.FIRING)
            for matcher in rule.source:
                if matcher.op == "=" and matcher.value:
                    query = query.filter(**{f"labels__{matcher.name}": matcher.value})
            self._sources[rule.id] = [
                a for a in query.only("id", "labels") if matches_all(rule.source, a.labels)
            ]
        return self._sources[rule.id]

    def inhibited_by(self, alert: Alert) -> str | None:
        for rule in self.rules:
            if not matches_all(rule.target, alert.labels):
                continue
            for source in self._firing_sources(rule):
                if source.pk == alert.pk:
                    continue  # an alert does not inhibit itself
                if all(source.labels.get(n, "") == alert.labels.get(n, "") for n in rule.equal):
                    return rule.name
        return None


def _alert_title(alert: Alert) -> str:
    return alert.summary or alert.labels.get("alertname") or alert.fingerprint


def _entry(incident, at, kind, message, *, actor=None, actor_label="batchwatch", data=None):
    return TimelineEntry(
        incident=incident,
        at=at,
        kind=kind,
        actor=actor,
        actor_label=actor_label,
        message=message[:1000],
        data=data or {},
    )


def _team_for(
    alert: Alert, config_policy: EscalationPolicy | None, lookups: _Lookups
) -> Team | None:
    slug = alert.labels.get("team")
    if slug:
        team = lookups.team(slug)
        if team:
            return team
    if alert.job_id and alert.job.owner_team_id:
        return alert.job.owner_team
    if alert.integration_id and alert.integration.team_id:
        return alert.integration.team
    return config_policy.team if config_policy else None


def _policy_snapshot(policy: EscalationPolicy | None) -> dict:
    if policy is None:
        return {}
    steps = []
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
    }


def _incident_open(
    node: RouteNode, key: str, alert: Alert, now, lookups: _Lookups, timeline: list
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
                urgency=Incident.Urgency.HIGH
                if severity.lower() in HIGH_SEVERITIES
                else Incident.Urgency.LOW,
                escalation_snapshot=_policy_snapshot(policy),
                created_at=now,
            )
    except IntegrityError:
        return Incident.objects.get(open_group_key=key), False
    timeline.append(
        _entry(
            incident,
            now,
            "opened",
            f"Incident opened on route '{node.name}' (group {key}); "
            + (f"escalation policy '{policy.name}'" if policy else "no escalation policy"),
        )
    )
    logger.info("alerts.incident_opened", extra={"incident": incident.pk, "group": key})
    return incident, True


def _notice_downstream(alert: Alert, attach, now: datetime) -> None:
    """Tell the downstream team, without paging, that their alert is waiting on upstream."""
    team = alert.job.owner_team if alert.job_id and alert.job.owner_team_id else None
    if team is None:
        return
    where = f" (incident #{attach.incident.pk})" if attach.incident else ""
    for channel in Channel.objects.filter(team=team, is_broken=False):
        notification_enqueue(
            purpose="notice",
            recipient=Recipient(channel.kind, channel.address, channel=channel),
            subject=f"[notice] {_alert_title(alert)}: {attach.reason}{where}; not paging",
            body=f"Runbook: {settings.BATCHWATCH_BASE_URL}/runbooks/for/"
            f"?kind=upstream_late&job={alert.job_id}",
            idempotency_key=f"notice:{alert.pk}:{alert.starts_at.isoformat()}:{channel.pk}",
            now=now,
            incident=attach.incident,
        )


# --- Timers -------------------------------------------------------------------------------------


def _timer_set(incident, kind, due, *, token=0, step=0, loop=0, earliest=False) -> None:
    """Make the incident's pending timer of ``kind`` due at ``due`` (one pending per kind).

    ``earliest``: keep an existing timer that is due sooner (a flush is never postponed).
    """
    for _ in range(2):
        pending = Timer.objects.filter(incident=incident, kind=kind, state=Timer.State.PENDING)
        existing = pending.first()
        if existing is not None:
            if earliest and existing.due_at <= due:
                return
            pending.update(due_at=due, token=token, step=step, loop=loop)
            return
        try:
            with transaction.atomic():
                Timer.objects.create(
                    incident=incident, kind=kind, due_at=due, token=token, step=step, loop=loop
                )
            return
        except IntegrityError:
            continue  # another process created it meanwhile: update that one


def _timers_cancel(incident, *kinds) -> None:
    query = Timer.objects.filter(incident=incident, state=Timer.State.PENDING)
    if kinds:
        query = query.filter(kind__in=kinds)
    query.update(state=Timer.State.CANCELLED)


def _schedule_flush(incident: Incident, now: datetime, *, started_long_ago: bool = False) -> None:
    """A change in the group: flush after group_wait (first time; at once when an alert
    started more than group_wait ago, as Alertmanager) or group_interval.

    ``incident`` must be locked (``SELECT ... FOR UPDATE``) and read after the lock: a flush
    holds the lock until it commits, so a change that arrives while a flush is in flight
    waits for it and then sees the flush's committed timer (the repeat, hours away), which
    it brings forward. Without the lock, it would keep the in-flight flush's own timer, still
    pending to it, and the flush, working from the alerts before the change, would schedule
    only the repeat: a resolve lost until repeat_interval."""
    if incident.last_flush_at is None:
        due = now if started_long_ago else incident.created_at + incident.group_wait
    else:
        due = incident.last_flush_at + incident.group_interval
    _timer_set(incident, Timer.Kind.FLUSH, max(due, now), earliest=True)


def _schedule_flush_for_alerts(alert_ids: list[int], now: datetime) -> None:
    if not alert_ids:
        return
    # Locked in id order (as a storm's flushes lock them): see _schedule_flush.
    holding = IncidentAlert.objects.filter(alert_id__in=alert_ids).values("incident_id")
    for incident in (
        Incident.objects.select_for_update()
        .filter(pk__in=holding, state__in=OPEN_STATES)
        .order_by("pk")
    ):
        _schedule_flush(incident, now)


def timers_run_due(*, now: datetime, limit: int = 500, worker: str = WORKER) -> int:
    """Run the timers due at ``now``; returns how many ran. Safe in any number of processes.

    Each timer is claimed by a conditional ``UPDATE ... WHERE state = 'pending'`` in the same
    transaction as its effects (outbox rows, the next timer): if the process dies before
    commit, nothing happened and the timer is still pending; if two processes race, exactly
    one update hits the row. On PostgreSQL, ``SKIP LOCKED`` lets workers share a backlog
    instead of queueing on the same rows; SQLite serialises writers anyway.
    """
    # Nothing due, what a polling worker mostly finds: one indexed read, no transaction.
    if not Timer.objects.filter(state=Timer.State.PENDING, due_at__lte=now).exists():
        return 0
    executed = 0
    config: AlertingConfig | None = None  # loaded once for the whole run, when first needed
    while executed < limit:
        with transaction.atomic():
            query = Timer.objects.filter(state=Timer.State.PENDING, due_at__lte=now).order_by(
                "due_at", "id"
            )
            if connection.vendor == "postgresql":
                query = query.select_for_update(skip_locked=True)
            batch = list(query[:50])
            if not batch:
                break
            flushes = [t for t in batch if t.kind == Timer.Kind.FLUSH]
            if len(flushes) > 1:
                config = config or load_config(now)
                if _run_flushes(flushes, now, config, worker):
                    executed += len(flushes)
                    batch = [t for t in batch if t.kind != Timer.Kind.FLUSH]
            for timer in batch:
                claimed = Timer.objects.filter(pk=timer.pk, state=Timer.State.PENDING).update(
                    state=Timer.State.DONE, executed_at=now, executed_by=worker[:200]
                )
                if not claimed:
                    continue
                if config is None and timer.kind == Timer.Kind.FLUSH:
                    config = load_config(now)
                try:
                    with transaction.atomic():
                        ran = _execute(timer, now, config)
                        if _FAULT_PAUSE:
                            time.sleep(_FAULT_PAUSE)
                except (OperationalError, InterfaceError):
                    # The database's fault (away, or a deadlock broken), not the timer's: the
                    # whole round rolls back and the timer is pending for the next one.
                    raise
                except Exception:
                    logger.exception("alerts.timer_failed", extra={"timer": timer.pk})
                    Timer.objects.filter(pk=timer.pk).update(state=Timer.State.FAILED)
                    continue
                if not ran:
                    Timer.objects.filter(pk=timer.pk).update(state=Timer.State.STALE)
                executed += 1
    return executed


def _run_flushes(timers: list[Timer], now: datetime, config: AlertingConfig, worker: str) -> bool:
    """Group flushes due together (a storm's): claimed with one UPDATE and done with set-based
    writes (:func:`_flush_many`). False when that could not be done: the timers are pending
    again, and the caller runs them one by one like any timer (so only one at fault fails)."""
    ids = [t.pk for t in timers]
    claimed = Timer.objects.filter(pk__in=ids, state=Timer.State.PENDING).update(
        state=Timer.State.DONE, executed_at=now, executed_by=worker[:200]
    )
    if claimed == len(timers):
        try:
            with transaction.atomic():
                _flush_many(timers, now, config)
                if _FAULT_PAUSE:
                    time.sleep(_FAULT_PAUSE)
            return True
        except Exception:
            logger.warning("alerts.flush_batch_failed", exc_info=True)
    Timer.objects.filter(pk__in=ids, executed_by=worker[:200], executed_at=now).update(
        state=Timer.State.PENDING, executed_at=None, executed_by=""
    )
    return False


class _Member(NamedTuple):
    """What a group notification needs of an alert (see :func:`_group_notifications`)."""

    fingerprint: str
    status: str
    labels: dict
    summary: str


def _flush_many(timers: list[Timer], now: datetime, config: AlertingConfig) -> None:
    """:func:`_flush` for many incidents at once, with the same decisions.

    The common case of a storm, a group to notify as firing, is written in bulk: one read of
    the incidents and one of their alerts, one INSERT each for the notifications, timeline
    entries and next flush timers, three UPDATEs. Any other case (muted, resolved,
    nothing new) goes through :func:`_flush` itself.
    """
    incidents = list(
        Incident.objects.select_for_update(of=("self",))
        .select_related("team")
        .filter(pk__in={t.incident_id for t in timers})
        .order_by("pk")
    )
    # The four fields a group notification reads, not whole alerts: a storm's flush reads
    # thousands of them.
    members: dict[int, list[_Member]] = {}
    rows = IncidentAlert.objects.filter(incident__in=incidents, attached_reason="").values_list(
        "incident_id", "alert__fingerprint", "alert__status", "alert__labels", "alert__summary"
    )
    for incident_id, *fields in rows:
        members.setdefault(incident_id, []).append(_Member(*fields))
    channels_cache: dict = {}
    notifications: list[Notification] = []
    timeline: list[TimelineEntry] = []
    next_flushes: list[Timer] = []
    escalate: list[Incident] = []
    notified: list[Incident] = []
    unescalated: list[int] = []
    for incident in incidents:
        if incident.state == Incident.State.RESOLVED:
            continue
        view = _flush_view(incident, members.get(incident.pk, []), config, now)
        if not view.notify:
            _flush(incident, now, config)
            continue
        node, active = view.node, view.active
        channels = _group_channels(incident, node.channel_ids if node else (), channels_cache)
        notifications += _group_notifications(incident, active, "firing", channels, now)
        timeline.append(_group_entry(incident, active, "firing", channels, now))
        incident.last_flush_at = incident.last_notified_at = now
        incident.notified_fingerprints = view.fingerprints
        notified.append(incident)
        if incident.escalation_step < 0 and incident.state == Incident.State.TRIGGERED:
            if (incident.escalation_snapshot or {}).get("steps"):
                escalate.append(incident)  # pages: after the group notification, as _flush
            else:
                incident.escalation_step = 0
                unescalated.append(incident.pk)
                timeline.append(
                    _entry(
                        incident,
                        now,
                        "no_escalation",
                        "No escalation policy: nobody is paged (group notifications only)",
                    )
                )
        next_flushes.append(
            Timer(incident=incident, kind=Timer.Kind.FLUSH, due_at=now + incident.repeat_interval)
        )
    # Three statements for all: what they share, then each one's fingerprints.
    Incident.objects.filter(pk__in=[i.pk for i in notified]).update(
        last_flush_at=now, last_notified_at=now
    )
    Incident.objects.filter(pk__in=unescalated).update(escalation_step=0)
    update_rows(notified, ["notified_fingerprints"])
    notifications_enqueue_many(notifications)
    TimelineEntry.objects.bulk_create(timeline, batch_size=500)
    # None of these incidents has a pending flush (theirs were just claimed), unless an alert
    # arrived meanwhile and set one, due sooner: that one stays.
    Timer.objects.bulk_create(next_flushes, ignore_conflicts=True, batch_size=500)
    for incident in escalate:
        _escalate(incident, 0, 0, now)


def _execute(timer: Timer, now: datetime, config: AlertingConfig | None = None) -> bool:
    incident = Incident.objects.select_for_update().get(pk=timer.incident_id)
    if timer.kind == Timer.Kind.FLUSH:
        _flush(incident, now, config)
        return True
    if timer.token != incident.escalation_token or incident.state == Incident.State.RESOLVED:
        return False  # fenced: an acknowledgement, resolution or restart came after it
    if timer.kind == Timer.Kind.ESCALATE:
        if incident.state != Incident.State.TRIGGERED:
            return False
        _escalate(incident, timer.step, timer.loop, now)
    elif timer.kind == Timer.Kind.ACK_TIMEOUT:
        if incident.state != Incident.State.ACKNOWLEDGED:
            return False
        _retrigger(incident, now, "Acknowledgement timed out: back to triggered")
    elif timer.kind == Timer.Kind.UNSNOOZE:
        _retrigger(incident, now, "Snooze ended: back to triggered")
    return True


# --- Group flushes (Alertmanager's notification semantics) --------------------------------------


def _flush(incident: Incident, now: datetime, config: AlertingConfig | None = None) -> None:
    if incident.state == Incident.State.RESOLVED:
        return
    members = list(
        IncidentAlert.objects.filter(incident=incident, attached_reason="").select_related("alert")
    )
    alerts = [m.alert for m in members]
    view = _flush_view(incident, alerts, config or load_config(now), now)
    node, active, muted = view.node, view.active, view.muted
    incident.last_flush_at = now
    fields = ["last_flush_at"]
    if muted and active:
        TimelineEntry.objects.create(
            incident=incident,
            at=now,
            kind="muted",
            message=f"Notifications held: route muted ({muted})",
        )
        incident.save(update_fields=fields)
        _timer_set(incident, Timer.Kind.FLUSH, now + incident.group_interval)
        return
    fingerprints = view.fingerprints
    notified = set(incident.notified_fingerprints)
    channel_ids = node.channel_ids if node else ()
    if active:
        if view.notify:
            _notify_group(incident, active, "firing", channel_ids, now)
            incident.notified_fingerprints = fingerprints
            incident.last_notified_at = now
            fields += ["notified_fingerprints", "last_notified_at"]
        elif set(fingerprints) != notified:
            incident.notified_fingerprints = fingerprints
            fields.append("notified_fingerprints")
        incident.save(update_fields=fields)
        if incident.escalation_step < 0 and incident.state == Incident.State.TRIGGERED:
            _escalate(incident, 0, 0, now)
        _timer_set(incident, Timer.Kind.FLUSH, incident.last_notified_at + incident.repeat_interval)
        return
    incident.save(update_fields=fields)
    if any(a.status == Alert.Status.FIRING for a in alerts):  # all silenced: look again later
        _timer_set(incident, Timer.Kind.FLUSH, now + incident.group_interval)
        return
    if notified:
        _notify_group(incident, alerts, "resolved", channel_ids, now)
    _resolve(incident, now, actor=None, actor_label="batchwatch", message="All alerts resolved")


@dataclass
class _FlushView:
    """What a flush sees of a group (shared by :func:`_flush` and :func:`_flush_many`)."""

    node: RouteNode | None
    active: list  # firing and not silenced
    fingerprints: list[str]  # of the active alerts, sorted
    muted: str | None  # why the route is muted now, if it is
    notify: bool  # send "firing": active, not muted, and the set grew or repeat_interval passed


def _flush_view(incident: Incident, alerts: list, config: AlertingConfig, now) -> _FlushView:
    node = config.route_by_id(incident.route_id) if incident.route_id else config.tree
    active = [
        a
        for a in alerts
        if a.status == Alert.Status.FIRING and config.suppressed_by(a.labels) is None
    ]
    muted = node.muted_by(now) if node else None
    fingerprints = sorted(a.fingerprint for a in active)
    grew = not set(fingerprints) <= set(incident.notified_fingerprints)
    repeat = (
        incident.last_notified_at is not None
        and now - incident.last_notified_at >= incident.repeat_interval
    )
    notify = bool(active) and not muted and (grew or repeat)
    return _FlushView(node, active, fingerprints, muted, notify)


def _notify_group(incident, alerts, status, channel_ids, now) -> None:
    channels = _group_channels(incident, channel_ids)
    notifications_enqueue_many(_group_notifications(incident, alerts, status, channels, now))
    _group_entry(incident, alerts, status, channels, now).save()


def _group_channels(incident, channel_ids, cache: dict | None = None) -> list[Channel]:
    """The route's receiver channels, or the team's Slack channel when none is Slack."""
    key = (tuple(channel_ids), incident.team_id)
    if cache is not None and key in cache:
        return cache[key]
    channels = list(Channel.objects.filter(pk__in=channel_ids, is_broken=False))
    if not any(c.kind == Channel.Kind.SLACK for c in channels):
        # No Slack receiver on the route: the incident message goes to the team's channel.
        from batchwatch.slack.services import team_default_channel

        default = team_default_channel(incident.team)
        if default is not None and not default.is_broken:
            channels.append(default)
    if cache is not None:
        cache[key] = channels
    return channels


def _group_notifications(incident, alerts, status, channels, now) -> list[Notification]:
    """One group notification per channel (unsaved): the subject, the alerts, a stable key."""
    lines = [f"- {_alert_title(a)}" for a in alerts[:20]]
    subject = f"[{status.upper()}:{len(alerts)}] #{incident.pk} {incident.title}"
    payload = {
        "incident": incident.pk,
        "status": status,
        "group_key": incident.group_key,
        "group_labels": incident.group_labels,
        "alerts": [
            {"fingerprint": a.fingerprint, "labels": a.labels, "status": a.status}
            for a in alerts[:200]
        ],
    }
    stamp = now.isoformat()
    return [
        Notification(
            purpose="group",
            transport=channel.kind,
            address=channel.address,
            channel=channel,
            incident=incident,
            subject=subject[:500],
            body="\n".join(lines),
            payload=payload,
            idempotency_key=f"group:{incident.pk}:{status}:{stamp}:{channel.pk}"[:300],
            next_attempt_at=now,
            created_at=now,
        )
        for channel in channels
    ]


def _group_entry(incident, alerts, status, channels, now) -> TimelineEntry:
    return _entry(
        incident,
        now,
        f"group_{status}",
        f"Group notification ({status}, {len(alerts)} alert(s)) to "
        + (", ".join(c.name for c in channels) or "no receiver channel"),
    )


# --- Escalation ---------------------------------------------------------------------------------


def _user_recipient(user) -> Recipient:
    if user.email:
        return Recipient("email", user.email, user_id=user.pk, label=user.get_username())
    return Recipient("log", user.get_username(), user_id=user.pk, label=user.get_username())


def step_recipients(step: dict, now: datetime) -> tuple[list[Recipient], str]:
    """Who a snapshotted step reaches at ``now``, and a sentence saying why."""
    User = get_user_model()
    target = step["target"]
    if target in (EscalationStep.Target.ROTATION, EscalationStep.Target.NEXT_IN_ROTATION):
        rotation = rotations_with_layers().filter(pk=step["rotation_id"]).first()
        if rotation is None:
            return [], "the rotation no longer exists"
        if target == EscalationStep.Target.ROTATION:
            user_id, why = rotation_oncall(rotation, now).user_id, f"on call in {rotation.name}"
        else:
            user_id, why = rotation_next(rotation, now), f"next in {rotation.name}"
        user = User.objects.filter(pk=user_id).first() if user_id else None
        if user is None:
            return [], f"nobody is on call in {rotation.name}"
        return [_user_recipient(user)], why
    if target == EscalationStep.Target.USER:
        user = User.objects.filter(pk=step["user_id"]).first()
        return ([_user_recipient(user)], "named in the policy") if user else ([], "user gone")
    channels = list(Channel.objects.filter(team_id=step["team_id"], is_broken=False))
    return [Recipient(c.kind, c.address, channel=c, label=c.name) for c in channels], "team channel"


def _escalate(incident: Incident, step_index: int, loop: int, now: datetime) -> None:
    snapshot = incident.escalation_snapshot or {}
    steps = snapshot.get("steps") or []
    if not steps:
        if incident.escalation_step < 0:
            incident.escalation_step = 0
            incident.save(update_fields=["escalation_step"])
            TimelineEntry.objects.create(
                incident=incident,
                at=now,
                kind="no_escalation",
                message="No escalation policy: nobody is paged (group notifications only)",
            )
        return
    step = steps[step_index]
    recipients, why = step_recipients(step, now)
    for recipient in recipients:
        notification_enqueue(
            purpose="page",
            recipient=recipient,
            subject=f"[{incident.urgency.upper()}] #{incident.pk} {incident.title}",
            body=f"Escalation step {step_index + 1} of '{snapshot.get('name')}' ({why}).",
            payload={"incident": incident.pk, "step": step_index + 1, "loop": loop + 1},
            idempotency_key=(
                f"page:{incident.pk}:{incident.escalation_token}:{loop}:{step_index}:"
                f"{recipient.transport}:{recipient.address}"
            ),
            now=now,
            incident=incident,
        )
    who = ", ".join(r.label or r.address for r in recipients) or "nobody"
    loop_text = f" (repeat {loop})" if loop else ""
    TimelineEntry.objects.create(
        incident=incident,
        at=now,
        kind="escalated",
        message=f"Step {step_index + 1}{loop_text}: paged {who} ({why})",
        data={"step": step_index, "loop": loop, "recipients": [r.address for r in recipients]},
    )
    user_ids = [r.user_id for r in recipients if r.user_id]
    incident.escalation_step, incident.escalation_loop = step_index, loop
    fields = ["escalation_step", "escalation_loop"]
    if user_ids:
        incident.assignee_id = user_ids[0]
        fields.append("assignee")
    incident.save(update_fields=fields)
    if incident.urgency == Incident.Urgency.LOW:
        return  # low urgency notifies the first step and stops there
    wait = timedelta(seconds=step["wait_seconds"])
    if step_index + 1 < len(steps):
        nxt, nxt_loop = step_index + 1, loop
    elif loop < snapshot.get("repeat", 0):
        nxt, nxt_loop = 0, loop + 1
    else:
        return
    _timer_set(
        incident,
        Timer.Kind.ESCALATE,
        now + wait,
        token=incident.escalation_token,
        step=nxt,
        loop=nxt_loop,
    )


def _retrigger(incident: Incident, now: datetime, message: str) -> None:
    incident.state = Incident.State.TRIGGERED
    incident.snoozed_until = None
    incident.escalation_token += 1
    incident.save(update_fields=["state", "snoozed_until", "escalation_token"])
    TimelineEntry.objects.create(incident=incident, at=now, kind="retriggered", message=message)
    _escalate(incident, 0, 0, now)


def _resolve(incident, now, *, actor, actor_label, message) -> None:
    incident.state = Incident.State.RESOLVED
    incident.open_group_key = None
    incident.resolved_at = now
    incident.resolved_by = actor
    incident.snoozed_until = None
    incident.escalation_token += 1
    incident.save(
        update_fields=[
            "state",
            "open_group_key",
            "resolved_at",
            "resolved_by",
            "snoozed_until",
            "escalation_token",
        ]
    )
    _timers_cancel(incident)
    TimelineEntry.objects.create(
        incident=incident,
        at=now,
        kind="resolved",
        actor=actor,
        actor_label=actor_label,
        message=message,
    )
    # Downstream alerts that waited on this (upstream) incident get their own chance now.
    Alert.objects.filter(
        memberships__incident=incident,
        status=Alert.Status.FIRING,
    ).exclude(memberships__attached_reason="").update(needs_routing=True)


# --- The incident lifecycle (people and integrations acting) -----------------------------------


def _actor_label(actor, actor_label: str) -> str:
    if actor_label:
        return actor_label
    return actor.get_username() if actor is not None else "batchwatch"


def _log_action(incident, now, kind: str, message: str, actor, actor_label: str) -> None:
    TimelineEntry.objects.create(
        incident=incident,
        at=now,
        kind=kind,
        actor=actor,
        actor_label=_actor_label(actor, actor_label),
        message=message,
    )


def _locked(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident.pk)


def incident_acknowledge(
    *, incident: Incident, now: datetime, actor=None, actor_label=""
) -> Incident:
    """Stop the escalation; an ack timeout (from the policy) re-triggers it later."""
    with transaction.atomic():
        incident = _locked(incident)
        if incident.state != Incident.State.TRIGGERED:
            return incident  # acknowledging twice, or a resolved incident: nothing to do
        incident.state = Incident.State.ACKNOWLEDGED
        incident.acknowledged_at = now
        incident.acknowledged_by = actor
        incident.escalation_token += 1
        if actor is not None and incident.assignee_id is None:
            incident.assignee = actor
        incident.save(
            update_fields=[
                "state",
                "acknowledged_at",
                "acknowledged_by",
                "escalation_token",
                "assignee",
            ]
        )
        _timers_cancel(incident, Timer.Kind.ESCALATE, Timer.Kind.UNSNOOZE)
        timeout = (incident.escalation_snapshot or {}).get("ack_timeout_seconds")
        if timeout:
            _timer_set(
                incident,
                Timer.Kind.ACK_TIMEOUT,
                now + timedelta(seconds=timeout),
                token=incident.escalation_token,
            )
        _log_action(
            incident, now, "acknowledged", "Acknowledged; escalation stopped", actor, actor_label
        )
    return incident


def incident_resolve(*, incident: Incident, now: datetime, actor=None, actor_label="") -> Incident:
    with transaction.atomic():
        incident = _locked(incident)
        if incident.state == Incident.State.RESOLVED:
            return incident
        _resolve(
            incident,
            now,
            actor=actor,
            actor_label=_actor_label(actor, actor_label),
            message="Resolved",
        )
    return incident


def incident_snooze(
    *, incident: Incident, until: datetime, now: datetime, actor=None, actor_label=""
):
    """Quiet until ``until``, then back to triggered with a fresh escalation."""
    if until <= now:
        raise ValidationError({"until": "A snooze ends in the future."})
    if until - now > timedelta(days=7):
        raise ValidationError({"until": "A snooze lasts at most 7 days."})
    with transaction.atomic():
        incident = _locked(incident)
        if incident.state == Incident.State.RESOLVED:
            raise ValidationError("A resolved incident cannot be snoozed.")
        incident.state = Incident.State.ACKNOWLEDGED
        incident.snoozed_until = until
        incident.escalation_token += 1
        incident.save(update_fields=["state", "snoozed_until", "escalation_token"])
        _timers_cancel(incident, Timer.Kind.ESCALATE, Timer.Kind.ACK_TIMEOUT)
        _timer_set(incident, Timer.Kind.UNSNOOZE, until, token=incident.escalation_token)
        _log_action(
            incident,
            now,
            "snoozed",
            f"Snoozed until {until:%Y-%m-%d %H:%M} UTC",
            actor,
            actor_label,
        )
    return incident


def incident_reassign(*, incident: Incident, user, now: datetime, actor=None, actor_label=""):
    with transaction.atomic():
        incident = _locked(incident)
        if incident.state == Incident.State.RESOLVED:
            raise ValidationError("A resolved incident cannot be reassigned.")
        incident.assignee = user
        incident.save(update_fields=["assignee"])
        count = TimelineEntry.objects.filter(incident=incident, kind="reassigned").count()
        notification_enqueue(
            purpose="page",
            recipient=_user_recipient(user),
            subject=f"[ASSIGNED] #{incident.pk} {incident.title}",
            body=f"{_actor_label(actor, actor_label)} assigned this incident to you.",
            idempotency_key=f"assign:{incident.pk}:{count}:{user.pk}",
            now=now,
            incident=incident,
        )
        _log_action(
            incident, now, "reassigned", f"Reassigned to {user.get_username()}", actor, actor_label
        )
    return incident


def incident_escalate(*, incident: Incident, now: datetime, actor=None, actor_label=""):
    """Go to the next escalation step now (by hand)."""
    with transaction.atomic():
        incident = _locked(incident)
        if incident.state == Incident.State.RESOLVED:
            raise ValidationError("A resolved incident cannot be escalated.")
        steps = (incident.escalation_snapshot or {}).get("steps") or []
        if not steps:
            raise ValidationError("This incident has no escalation policy to escalate along.")
        _log_action(incident, now, "escalate_requested", "Escalation requested", actor, actor_label)
        incident.state = Incident.State.TRIGGERED
        incident.snoozed_until = None
        incident.escalation_token += 1
        incident.save(update_fields=["state", "snoozed_until", "escalation_token"])
        _timers_cancel(incident, Timer.Kind.ESCALATE, Timer.Kind.ACK_TIMEOUT, Timer.Kind.UNSNOOZE)
        nxt = (incident.escalation_step + 1) % len(steps)
        _escalate(incident, nxt, incident.escalation_loop, now)
    return incident


# --- Periodic work --------------------------------------------------------------------------------


def alerts_reconsider(*, now: datetime) -> int:
    """Expire unrefreshed alerts; route suppressed ones whose reason has gone."""
    expired = list(
        Alert.objects.filter(status=Alert.Status.FIRING, expires_at__lte=now).values_list(
            "pk", flat=True
        )
    )
    with transaction.atomic():
        if expired:
            Alert.objects.filter(pk__in=expired).update(
                status=Alert.Status.RESOLVED,
                ends_at=F("expires_at"),
                needs_routing=False,
                suppressed_reason="",
            )
            _schedule_flush_for_alerts(expired, now)
        waiting = list(
            Alert.objects.filter(needs_routing=True, status=Alert.Status.FIRING).select_related(
                "job", "integration"
            )[:2000]
        )
        if waiting:
            attached_open = set(
                IncidentAlert.objects.filter(alert__in=waiting, incident__state__in=OPEN_STATES)
                .exclude(attached_reason="")
                .values_list("alert_id", flat=True)
            )
            _route_alerts([a for a in waiting if a.pk not in attached_open], load_config(now), now)
    return len(expired) + len(waiting)


def silence_create(*, matchers: list[str], starts_at, ends_at, comment: str, created_by=None, now):
    """A silence, validated as Alertmanager does (one matcher must not match the empty string)."""
    try:
        parsed = parse_matchers(matchers)
    except ValueError as exc:
        raise ValidationError({"matchers": str(exc)}) from exc
    if not parsed:
        raise ValidationError({"matchers": "A silence needs at least one matcher."})
    if all(matches_empty(m) for m in parsed):
        raise ValidationError(
            {
                "matchers": "At least one matcher must not match the empty string, "
                "or the silence would silence everything."
            }
        )
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "A silence ends after it starts."})
    if ends_at <= now:
        raise ValidationError({"ends_at": "This silence would already be over."})
    if not (comment or "").strip():
        raise ValidationError({"comment": "Say why (it is what the next on-call reads)."})
    return Silence.objects.create(
        matchers=[str(m) for m in parsed],
        starts_at=starts_at,
        ends_at=ends_at,
        comment=comment.strip(),
        created_by=created_by,
        created_at=now,
    )


def silence_expire(*, silence: Silence, now: datetime) -> Silence:
    """End a silence now (a pending one never starts); the alerts it held come back at the
    next reconsideration."""
    if silence.ends_at > now:
        if silence.starts_at >= now:
            silence.starts_at = now - timedelta(milliseconds=1)
        silence.ends_at = now
        silence.save(update_fields=["starts_at", "ends_at"])
    return silence
