"""``alerts simulate``: replay timestamped alerts through the real pipeline, send nothing.

Everything runs inside one transaction that is rolled back at the end: the configuration of
the file (or the database's), the alerts at their instants, the timers in between (group
flushes, escalation steps, acknowledgement timeouts) with a simulated clock, and people's
actions. The outbox rows it wrote say who would have been paged, when and why; nothing is
delivered because nothing commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Min

from batchwatch.alerts import services
from batchwatch.alerts.loading import ConfigError, config_apply, parse_duration, parse_instant
from batchwatch.alerts.models import Alert, Incident, TimelineEntry, Timer
from batchwatch.alerts.wire import RESOLVE, TRIGGER, AlertEvent, label_fingerprint
from batchwatch.notify.models import Notification

SOURCE = "simulation"


@dataclass
class Line:
    at: datetime
    kind: str
    text: str


@dataclass
class Report:
    lines: list[Line] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    checked: int = 0


class _Rollback(Exception):
    pass


def _when(value, start: datetime, where: str) -> datetime:
    if isinstance(value, str) and value.startswith("+"):
        return start + parse_duration(value[1:])
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise ConfigError([f"{where}: {exc}"]) from None


def simulate(data: dict) -> Report:
    if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
        raise ConfigError(["the file needs an 'alerts:' list (and optionally config:, expect:)"])
    starts = [a.get("at") for a in data["alerts"] if isinstance(a, dict)]
    absolute = [s for s in starts if not (isinstance(s, str) and s.startswith("+"))]
    if data.get("start") is None and not absolute:
        raise ConfigError(["give 'start:' when alert times are relative (+5m)"])
    try:
        start = parse_instant(data.get("start") or min(parse_instant(s) for s in absolute))
    except ValueError as exc:
        raise ConfigError([f"start: {exc}"]) from None
    events: list[tuple[datetime, str, dict]] = []
    for i, raw in enumerate(data["alerts"]):
        where = f"alerts[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("labels"), dict):
            raise ConfigError([f"{where}: needs 'at' and 'labels'"])
        if raw.get("status", "firing") not in ("firing", "resolved"):
            raise ConfigError([f"{where}.status: 'firing' or 'resolved'"])
        events.append((_when(raw.get("at", "+0s"), start, f"{where}.at"), "alert", raw))
    for i, raw in enumerate(data.get("actions") or []):
        where = f"actions[{i}]"
        if not isinstance(raw, dict) or raw.get("do") not in ("acknowledge", "resolve"):
            raise ConfigError([f"{where}.do: 'acknowledge' or 'resolve'"])
        events.append((_when(raw.get("at"), start, f"{where}.at"), "action", raw))
    events.sort(key=lambda item: item[0])
    last = events[-1][0] if events else start
    until = _when(data["until"], start, "until") if data.get("until") else last + timedelta(hours=1)
    report = Report()
    try:
        with transaction.atomic():
            if data.get("config") is not None:
                config_apply(data["config"], now=start, create_users=True)
            for name in data.get("users") or []:
                get_user_model().objects.get_or_create(
                    username=name, defaults={"email": f"{name}@example.com"}
                )
            marker = Notification.objects.order_by("-id").values_list("id", flat=True).first() or 0
            entry_marker = (
                TimelineEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
            )
            incident_marker = (
                Incident.objects.order_by("-id").values_list("id", flat=True).first() or 0
            )
            for at, kind, raw in events:
                _advance(at)
                if kind == "alert":
                    _alert(raw, at)
                else:
                    _action(raw, at, report)
            _advance(until)
            _collect(report, marker, entry_marker)
            _expect(report, data.get("expect") or [], start, marker, incident_marker)
            raise _Rollback
    except _Rollback:
        pass
    report.lines.sort(key=lambda line: line.at)
    return report


def _advance(until: datetime) -> None:
    """Run every timer due up to ``until``, each at its own due time, as the scheduler would."""
    for _ in range(100_000):
        due = Timer.objects.filter(state=Timer.State.PENDING).aggregate(m=Min("due_at"))["m"]
        if due is None or due > until:
            break
        services.alerts_reconsider(now=due)
        services.timers_run_due(now=due)
    services.alerts_reconsider(now=until)


def _alert(raw: dict, at: datetime) -> None:
    labels = {str(k): str(v) for k, v in raw["labels"].items()}
    action = TRIGGER if raw.get("status", "firing") == "firing" else RESOLVE
    event = AlertEvent(
        action=action,
        labels=labels,
        fingerprint=raw.get("dedup_key") or label_fingerprint(labels),
        summary=str(raw.get("summary", "")),
        severity=str(raw.get("severity") or labels.get("severity", "")),
    )
    services.alerts_receive(events=[event], source=SOURCE, now=at)


def _action(raw: dict, at: datetime, report: Report) -> None:
    user = get_user_model().objects.filter(username=raw.get("by")).first()
    labels = raw.get("incident") or {}
    incidents = [
        i
        for i in Incident.objects.filter(state__in=services.OPEN_STATES).prefetch_related("alerts")
        if any(all(a.labels.get(k) == str(v) for k, v in labels.items()) for a in i.alerts.all())
    ]
    if not incidents:
        report.lines.append(Line(at, "ACTION", f"{raw['do']}: no open incident matches {labels}"))
        return
    for incident in incidents:
        if raw["do"] == "acknowledge":
            services.incident_acknowledge(incident=incident, now=at, actor=user)
        else:
            # A scenario's "resolve" is the person's decision: alerts still firing resolve too.
            services.incident_resolve(incident=incident, now=at, actor=user, force=True)


def _collect(report: Report, marker: int, entry_marker: int) -> None:
    for n in Notification.objects.filter(pk__gt=marker).select_related("user"):
        who = n.user.get_username() if n.user else n.address
        why = f" — {n.body}" if n.body and n.purpose == "page" else ""
        report.lines.append(Line(n.created_at, n.purpose.upper(), f"{who}: {n.subject}{why}"))
    for entry in TimelineEntry.objects.filter(
        pk__gt=entry_marker,
        kind__in=[
            "opened",
            "alerts_grouped",
            "alert_attached",
            "acknowledged",
            "resolved",
            "retriggered",
            "muted",
        ],
    ).select_related("incident"):
        report.lines.append(
            Line(entry.at, entry.kind.upper(), f"#{entry.incident_id}: {entry.message}")
        )
    for alert in Alert.objects.filter(source=SOURCE).exclude(suppressed_reason=""):
        report.lines.append(
            Line(
                alert.last_received_at,
                "SUPPRESSED",
                f"{_labels(alert.labels)}: {alert.suppressed_reason}",
            )
        )


def _labels(labels: dict) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _expect(report: Report, expectations: list, start: datetime, marker: int, incident_marker: int):
    pages = Notification.objects.filter(pk__gt=marker, purpose="page").select_related("user")
    for i, raw in enumerate(expectations):
        where = f"expect[{i}]"
        report.checked += 1
        if not isinstance(raw, dict) or len(raw) not in (1, 2):
            report.failures.append(
                f"{where}: not an expectation (paged:, not_paged:, incidents:, ...)"
            )
            continue
        if "paged" in raw:
            who = raw["paged"]
            hits = [p for p in pages if p.user and p.user.get_username() == who]
            if "before" in raw:
                limit = _when(raw["before"], start, f"{where}.before")
                hits = [p for p in hits if p.created_at <= limit]
            if not hits:
                when = f" before {raw['before']}" if "before" in raw else ""
                report.failures.append(f"{where}: expected {who} to be paged{when}; they were not")
        elif "not_paged" in raw:
            who = raw["not_paged"]
            if any(p.user and p.user.get_username() == who for p in pages):
                report.failures.append(f"{where}: expected {who} not to be paged; they were")
        elif "incidents" in raw:
            count = Incident.objects.filter(pk__gt=incident_marker).count()
            if count != raw["incidents"]:
                report.failures.append(
                    f"{where}: expected {raw['incidents']} incident(s), got {count}"
                )
        elif "pages" in raw:
            if pages.count() != raw["pages"]:
                report.failures.append(
                    f"{where}: expected {raw['pages']} page(s), got {pages.count()}"
                )
        elif "group_notifications" in raw:
            count = Notification.objects.filter(pk__gt=marker, purpose="group").count()
            if count != raw["group_notifications"]:
                wanted = raw["group_notifications"]
                report.failures.append(
                    f"{where}: expected {wanted} group notification(s), got {count}"
                )
        elif "suppressed" in raw:
            wanted = {str(k): str(v) for k, v in (raw["suppressed"] or {}).items()}
            alerts = [
                a
                for a in Alert.objects.filter(source=SOURCE)
                if all(a.labels.get(k) == v for k, v in wanted.items())
            ]
            if not alerts or any(not a.suppressed_reason for a in alerts):
                report.failures.append(f"{where}: expected alerts {wanted} to be suppressed")
            elif raw.get("reason") and not all(
                raw["reason"] in a.suppressed_reason for a in alerts
            ):
                report.failures.append(
                    f"{where}: suppressed, but not for {raw['reason']!r}: "
                    + "; ".join(a.suppressed_reason for a in alerts)
                )
        else:
            report.failures.append(f"{where}: unknown expectation {sorted(raw)}")
