"""The alerting configuration at an instant, loaded once per batch as plain objects.

Routing tree, inhibition rules, the silences and maintenance windows in force: everything a
batch of alerts is judged against, in a handful of queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from batchwatch.alerts.matchers import Matcher, matches_all, parse_matchers
from batchwatch.alerts.models import (
    InhibitRule,
    MaintenanceWindow,
    Route,
    Silence,
    TimeInterval,
)
from batchwatch.alerts.routing import RouteNode, build_tree


@dataclass(frozen=True)
class InhibitSpec:
    id: int
    name: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


@dataclass(frozen=True)
class SuppressorSpec:
    """A silence or a maintenance window in force."""

    kind: str  # silence | maintenance
    id: int
    name: str
    matchers: tuple[Matcher, ...]
    ends_at: datetime


@dataclass
class AlertingConfig:
    now: datetime
    tree: RouteNode
    inhibit_rules: list[InhibitSpec]
    suppressors: list[SuppressorSpec]

    def route_by_id(self, route_id: int | None) -> RouteNode | None:
        stack = [self.tree]
        while stack:
            node = stack.pop()
            if node.id == route_id:
                return node
            stack.extend(node.children)
        return None

    def suppressed_by(self, labels: dict[str, str]) -> SuppressorSpec | None:
        for suppressor in self.suppressors:
            if matches_all(suppressor.matchers, labels):
                return suppressor
        return None


def maintenance_window_end(window: MaintenanceWindow, now: datetime) -> datetime | None:
    """When the window's occurrence in force at ``now`` ends; None if none is in force."""
    if window.starts_at <= now < window.starts_at + window.duration:
        return window.starts_at + window.duration
    if not window.recurrence or now < window.starts_at:
        return None
    zone = ZoneInfo(window.timezone)
    # The latest start at or before now (croniter's get_prev is strict: start a second later).
    local = (now + timedelta(seconds=1)).astimezone(zone)
    start = croniter(window.recurrence, local).get_prev(datetime)
    if start < window.starts_at or (window.until and start > window.until):
        return None
    end = start + window.duration
    return end if now < end else None


def load_config(now: datetime) -> AlertingConfig:
    routes = list(Route.objects.order_by("position", "id"))
    channels: dict[int, list[int]] = {}
    for link in Route.channels.through.objects.all():
        channels.setdefault(link.route_id, []).append(link.channel_id)
    names = dict(TimeInterval.objects.values_list("id", "name"))
    mute: dict[int, list[str]] = {}
    active: dict[int, list[str]] = {}
    for muting in Route.mute_time_intervals.through.objects.all():
        mute.setdefault(muting.route_id, []).append(names[muting.timeinterval_id])
    for activating in Route.active_time_intervals.through.objects.all():
        active.setdefault(activating.route_id, []).append(names[activating.timeinterval_id])
    for route in routes:
        route.channel_ids = sorted(channels.get(route.pk, []))
        route.mute_names = mute.get(route.pk, [])
        route.active_names = active.get(route.pk, [])
    tree = build_tree(routes, dict(TimeInterval.objects.values_list("name", "intervals")))
    rules = [
        InhibitSpec(
            id=rule.pk,
            name=str(rule),
            source=parse_matchers(rule.source_matchers),
            target=parse_matchers(rule.target_matchers),
            equal=tuple(rule.equal or ()),
        )
        for rule in InhibitRule.objects.order_by("id")
    ]
    suppressors = [
        SuppressorSpec(
            "silence",
            silence.pk,
            silence.comment[:80],
            parse_matchers(silence.matchers),
            silence.ends_at,
        )
        for silence in Silence.objects.filter(starts_at__lte=now, ends_at__gt=now)
    ]
    for window in MaintenanceWindow.objects.filter(starts_at__lte=now):
        end = maintenance_window_end(window, now)
        if end is not None:
            suppressors.append(
                SuppressorSpec(
                    "maintenance", window.pk, window.name, parse_matchers(window.matchers), end
                )
            )
    return AlertingConfig(now=now, tree=tree, inhibit_rules=rules, suppressors=suppressors)
