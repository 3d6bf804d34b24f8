"""The routing tree, as plain objects: which routes an alert reaches and its group key.

Alertmanager's semantics: depth-first, left to right; a matching child with ``continue``
false ends the search among its siblings; with no matching child the node itself matches.
Children inherit ``group_by``, the three intervals, the escalation policy and the receiver
channels; they do not inherit matchers or time intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from batchwatch.alerts.matchers import Matcher, matches_all, parse_matchers
from batchwatch.alerts.timeintervals import IntervalSpec, any_contains, parse_intervals

DEFAULT_GROUP_BY: tuple[str, ...] = ("team", "job")
DEFAULT_GROUP_WAIT = timedelta(seconds=30)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)
ALL_LABELS = "..."


@dataclass
class RouteNode:
    id: int | None
    name: str
    key: str
    matchers: tuple[Matcher, ...]
    continue_matching: bool
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    policy_id: int | None
    channel_ids: tuple[int, ...]
    mute: tuple[tuple[str, tuple[IntervalSpec, ...]], ...] = ()
    active: tuple[tuple[str, tuple[IntervalSpec, ...]], ...] = ()
    children: list[RouteNode] = field(default_factory=list)

    def muted_by(self, now: datetime) -> str | None:
        """The time interval that mutes this route now, if any."""
        for name, specs in self.mute:
            if any_contains(specs, now):
                return name
        if self.active and not any(any_contains(specs, now) for _, specs in self.active):
            return "outside " + ", ".join(name for name, _ in self.active)
        return None

    def group_labels(self, labels: dict[str, str]) -> dict[str, str]:
        if self.group_by == (ALL_LABELS,):
            return dict(sorted(labels.items()))
        return {name: labels[name] for name in sorted(self.group_by) if name in labels}

    def group_key(self, labels: dict[str, str]) -> str:
        group = ", ".join(f'{k}="{v}"' for k, v in self.group_labels(labels).items())
        return f"{self.key}:{{{group}}}"


def default_root() -> RouteNode:
    """The tree when none is configured: group by team and job, page the team's default."""
    return RouteNode(
        id=None,
        name="default",
        key="{}",
        matchers=(),
        continue_matching=False,
        group_by=DEFAULT_GROUP_BY,
        group_wait=DEFAULT_GROUP_WAIT,
        group_interval=DEFAULT_GROUP_INTERVAL,
        repeat_interval=DEFAULT_REPEAT_INTERVAL,
        policy_id=None,
        channel_ids=(),
    )


def resolve(node: RouteNode, labels: dict[str, str]) -> list[RouteNode]:
    """The routes an alert with ``labels`` reaches (the root always matches)."""
    found: list[RouteNode] = []
    for child in node.children:
        if not matches_all(child.matchers, labels):
            continue
        found.extend(resolve(child, labels))
        if not child.continue_matching:
            break
    return found or [node]


def build_tree(routes: list, intervals: dict[str, list]) -> RouteNode:
    """A tree from Route rows (with ``channel_ids``, ``mute_names``, ``active_names`` set).

    Teams' own routes (``team`` set, no parent) become the first children of the root, in
    their position order: an alert of that team matching one is routed by it; one matching
    none goes on to the configuration's routes. Their matchers always hold ``team="<slug>"``
    (``alerts.services.team_routes``), so they never catch another team's alerts."""
    by_parent: dict[int | None, list] = {}
    team_routes = []
    for route in routes:
        if getattr(route, "team_id", None) is not None:
            team_routes.append(route)
        else:
            by_parent.setdefault(route.parent_id, []).append(route)
    specs = {name: parse_intervals(raw) for name, raw in intervals.items()}
    roots = by_parent.get(None, [])
    if roots:
        root = _node(sorted(roots, key=lambda r: (r.position, r.pk))[0], None, specs, by_parent)
    else:
        root = default_root()
    teams = sorted(team_routes, key=lambda r: (r.position, r.pk))
    root.children[:0] = [_node(route, root, specs, {}) for route in teams]
    return root


def _node(route, parent: RouteNode | None, specs: dict, by_parent: dict) -> RouteNode:
    inherited = parent or default_root()
    matchers = parse_matchers(route.matchers) if parent else ()
    text = ", ".join(str(m) for m in matchers)
    key = f"{parent.key}/{{{text}}}#{route.pk}" if parent else "{}"
    node = RouteNode(
        id=route.pk,
        name=route.name or (text or "root"),
        key=key,
        matchers=matchers,
        continue_matching=route.continue_matching,
        group_by=tuple(route.group_by) if route.group_by is not None else inherited.group_by,
        group_wait=route.group_wait if route.group_wait is not None else inherited.group_wait,
        group_interval=route.group_interval
        if route.group_interval is not None
        else inherited.group_interval,
        repeat_interval=route.repeat_interval
        if route.repeat_interval is not None
        else inherited.repeat_interval,
        policy_id=route.escalation_policy_id or (parent.policy_id if parent else None),
        channel_ids=tuple(route.channel_ids) or (parent.channel_ids if parent else ()),
        mute=tuple((name, specs[name]) for name in route.mute_names),
        active=tuple((name, specs[name]) for name in route.active_names),
    )
    node.children = [_node(child, node, specs, by_parent) for child in by_parent.get(route.pk, [])]
    return node
