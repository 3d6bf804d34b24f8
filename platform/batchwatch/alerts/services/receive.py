"""Intake: recording a batch of alert events, deduplicated by ``(source, fingerprint)``,
then routing what newly fires (see ``grouping``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from batchwatch.alerts import lineage
from batchwatch.alerts.config import AlertingConfig, load_config
from batchwatch.alerts.models import Alert, Incident, IncidentAlert, Integration
from batchwatch.alerts.services.grouping import _route_alerts
from batchwatch.alerts.services.incidents import incident_acknowledge
from batchwatch.alerts.services.semantics import incidents_refresh
from batchwatch.alerts.services.timers import OPEN_STATES, _schedule_flush_for_alerts
from batchwatch.alerts.wire import ACKNOWLEDGE, RESOLVE, TRIGGER, AlertEvent
from batchwatch.catalog.models import Job
from batchwatch.core.bulk import update_rows

SIGNALS_SOURCE = "signals"

# What a repeated event may change of its alert.
_UPDATED_FIELDS = [
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
    "resolved_by",
]


@dataclass
class ReceiveResult:
    received: int = 0
    new: int = 0
    resolved: int = 0
    grouped: int = 0
    suppressed: int = 0
    incidents_opened: list[int] = field(default_factory=list)
    acknowledged: int = 0


@dataclass
class _Batch:
    """What every event of one received batch is recorded with."""

    source: str
    now: datetime
    integration: Integration | None
    job_by_fingerprint: dict[str, Job] | None
    signal_by_fingerprint: dict[str, int] | None
    result: ReceiveResult
    # Alerts seen before whose status, severity, summary or labels this batch changed.
    changed: list[int] = field(default_factory=list)


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
    batch = _Batch(source, now, integration, job_by_fingerprint, signal_by_fingerprint, result)
    latest: dict[str, AlertEvent] = {}
    for event in events:
        latest[event.fingerprint] = event  # the last report of an alert in a batch wins
    with transaction.atomic():
        config = config or load_config(now)
        creates, updates, acks = _dedup(latest, batch)
        _save_alerts(creates, updates, source)
        received = creates + updates
        resolved = [a.pk for a in received if a.status == Alert.Status.RESOLVED]
        _schedule_flush_for_alerts(resolved, now)
        outcome = _route_alerts(_outside_open_incidents(received), config, now)
        result.grouped, result.suppressed = outcome.grouped, outcome.suppressed
        result.incidents_opened = outcome.opened
        if batch.changed:
            # Alerts that changed inside open incidents: what those incidents say follows them.
            incidents_refresh(
                IncidentAlert.objects.filter(
                    alert_id__in=batch.changed, incident__state__in=OPEN_STATES
                ).values_list("incident_id", flat=True),
                now=now,
            )
        _acknowledge(acks, batch)
        if integration is not None:
            Integration.objects.filter(pk=integration.pk).update(last_used_at=now)
    return result


def _dedup(
    latest: dict[str, AlertEvent], batch: _Batch
) -> tuple[list[Alert], list[Alert], list[Alert]]:
    """Each event applied to its alert, a new (unsaved) one when it is the first report:
    the alerts created, those updated, and those whose incidents to acknowledge."""
    existing = {
        alert.fingerprint: alert
        for alert in Alert.objects.filter(source=batch.source, fingerprint__in=list(latest))
    }
    integration = batch.integration
    extra_labels = dict(integration.labels) if integration else {}
    if integration and (team := integration.team) is not None:
        extra_labels.setdefault("team", team.slug)
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
                source=batch.source,
                integration=integration,
                fingerprint=fingerprint,
                first_received_at=batch.now,
                received_count=0,
                status=Alert.Status.RESOLVED,  # set below
                starts_at=event.starts_at or batch.now,
                labels=labels or {},
            )
            creates.append(alert)
            _apply_event(alert, event, labels, jobs, batch)
            continue
        updates.append(alert)
        before = (alert.status, alert.severity, alert.summary, alert.labels)
        _apply_event(alert, event, labels, jobs, batch)
        if (alert.status, alert.severity, alert.summary, alert.labels) != before:
            batch.changed.append(alert.pk)
    return creates, updates, acks


def _apply_event(
    alert: Alert,
    event: AlertEvent,
    labels: dict[str, str] | None,
    jobs: dict[str, Job],
    batch: _Batch,
) -> None:
    """What one report says of its alert: its fields, its job and signal, its status."""
    now, result = batch.now, batch.result
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
    fingerprint = alert.fingerprint
    if batch.job_by_fingerprint and fingerprint in batch.job_by_fingerprint:
        alert.job = batch.job_by_fingerprint[fingerprint]
    elif alert.job_id is None:
        alert.job = jobs.get(alert.labels.get("job", ""))
    if batch.signal_by_fingerprint and fingerprint in batch.signal_by_fingerprint:
        alert.signal_id = batch.signal_by_fingerprint[fingerprint]
    if event.action == TRIGGER:
        if not was_firing:
            alert.starts_at = event.starts_at or now
            alert.ends_at = None
            result.new += 1
        alert.status = Alert.Status.FIRING
        alert.expires_at = event.expires_at
        alert.resolved_by = None
    else:
        alert.status = Alert.Status.RESOLVED
        alert.ends_at = event.ends_at or now
        alert.expires_at = None
        alert.needs_routing = False
        alert.suppressed_reason = ""
        alert.resolved_by = None
        if was_firing:
            result.resolved += 1


def _save_alerts(creates: list[Alert], updates: list[Alert], source: str) -> None:
    Alert.objects.bulk_create(creates, batch_size=500)
    if creates and creates[0].pk is None:  # SQLite before RETURNING: fetch the ids
        ids = dict(
            Alert.objects.filter(
                source=source, fingerprint__in=[a.fingerprint for a in creates]
            ).values_list("fingerprint", "pk")
        )
        for alert in creates:
            alert.pk = alert.id = ids[alert.fingerprint]
    update_rows(updates, _UPDATED_FIELDS, batch_size=500)


def _outside_open_incidents(alerts: list[Alert]) -> list[Alert]:
    """Firing alerts not in an open incident (new, re-firing, or whose incident was resolved
    by hand): the ones to route; the others are refreshed in place."""
    firing = [a for a in alerts if a.status == Alert.Status.FIRING]
    in_open = set(
        IncidentAlert.objects.filter(
            alert_id__in=[a.pk for a in firing], incident__state__in=OPEN_STATES
        ).values_list("alert_id", flat=True)
    )
    return [a for a in firing if a.pk not in in_open]


def _acknowledge(acks: list[Alert], batch: _Batch) -> None:
    """Acknowledge events: the triggered incidents holding their alerts."""
    for alert in acks:
        for incident in Incident.objects.filter(
            memberships__alert=alert, state=Incident.State.TRIGGERED
        ):
            incident_acknowledge(
                incident=incident, now=batch.now, actor_label=f"{batch.source} event"
            )
            batch.result.acknowledged += 1
