"""Group flushes: Alertmanager's notification semantics (group_wait, group_interval,
repeat_interval), one incident at a time or a storm's many at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from batchwatch.alerts.config import AlertingConfig, load_config
from batchwatch.alerts.models import Alert, Incident, IncidentAlert, TimelineEntry, Timer
from batchwatch.alerts.routing import RouteNode
from batchwatch.alerts.services.escalation import _escalate
from batchwatch.alerts.services.incidents import _resolve
from batchwatch.alerts.services.timeline import (
    AlertFacts,
    alert_title,
    timeline_entry,
    timeline_write,
)
from batchwatch.alerts.services.timers import _timer_set
from batchwatch.alerts.team_channels import team_default_channel
from batchwatch.core.bulk import update_rows
from batchwatch.notify.models import Channel, Notification
from batchwatch.notify.services import notifications_enqueue_many


class _Member(NamedTuple):
    """What a group notification needs of an alert (see :func:`_group_notifications`)."""

    fingerprint: str
    status: str
    labels: dict[str, Any]
    summary: str


# Receiver channels by (route channel ids, incident team id), for the flushes of one batch.
_ChannelsCache = dict[tuple[tuple[int, ...], int | None], list[Channel]]


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
    channels_cache: _ChannelsCache = {}
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
                    timeline_entry(
                        incident,
                        at=now,
                        kind=TimelineEntry.Kind.NO_ESCALATION,
                        message="No escalation policy: nobody is paged (group notifications only)",
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
        timeline_write(
            incident,
            at=now,
            kind=TimelineEntry.Kind.MUTED,
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
        # Not notified now means the active set did not grow: it was notified before, and
        # last_notified_at is written with every notified_fingerprints that holds alerts.
        assert incident.last_notified_at is not None, "active alerts never notified"
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
    active: list[AlertFacts]  # firing and not silenced
    fingerprints: list[str]  # of the active alerts, sorted
    muted: str | None  # why the route is muted now, if it is
    notify: bool  # send "firing": active, not muted, and the set grew or repeat_interval passed


def _flush_view(
    incident: Incident, alerts: Sequence[AlertFacts], config: AlertingConfig, now: datetime
) -> _FlushView:
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


def _notify_group(
    incident: Incident,
    alerts: Sequence[AlertFacts],
    status: str,
    channel_ids: tuple[int, ...],
    now: datetime,
) -> None:
    channels = _group_channels(incident, channel_ids)
    notifications_enqueue_many(_group_notifications(incident, alerts, status, channels, now))
    _group_entry(incident, alerts, status, channels, now).save()


def _group_channels(
    incident: Incident, channel_ids: tuple[int, ...], cache: _ChannelsCache | None = None
) -> list[Channel]:
    """The route's receiver channels, or the team's Slack channel when none is Slack."""
    key = (tuple(channel_ids), incident.team_id)
    if cache is not None and key in cache:
        return cache[key]
    channels = list(Channel.objects.filter(pk__in=channel_ids, is_broken=False))
    if not any(c.kind == Channel.Kind.SLACK for c in channels):
        # No Slack receiver on the route: the incident message goes to the team's channel.
        default = team_default_channel(incident.team)
        if default is not None and not default.is_broken:
            channels.append(default)
    if cache is not None:
        cache[key] = channels
    return channels


def _group_notifications(
    incident: Incident,
    alerts: Sequence[AlertFacts],
    status: str,
    channels: list[Channel],
    now: datetime,
) -> list[Notification]:
    """One group notification per channel (unsaved): the subject, the alerts, a stable key."""
    lines = [f"- {alert_title(a)}" for a in alerts[:20]]
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


def _group_entry(
    incident: Incident,
    alerts: Sequence[AlertFacts],
    status: str,
    channels: list[Channel],
    now: datetime,
) -> TimelineEntry:
    return timeline_entry(
        incident,
        at=now,
        kind=TimelineEntry.Kind(f"group_{status}"),
        message=f"Group notification ({status}, {len(alerts)} alert(s)) to "
        + (", ".join(c.name for c in channels) or "no receiver channel"),
    )
