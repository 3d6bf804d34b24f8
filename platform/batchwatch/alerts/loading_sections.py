"""The sections of an alerting configuration document, applied one function each.

``loading.config_apply`` calls them in dependency order (channels and rotations before the
policies and routes that name them) inside one transaction. Each records its problems with
the node's path and carries on, so one run reports every problem; rows of other apps are
written through their services (``notify.services``, ``oncall.services``), which validate as
the admin does: a value the admin refuses is refused here, at its path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Model

from batchwatch.alerts.matchers import parse_matchers
from batchwatch.alerts.models import InhibitRule, MaintenanceWindow, Route, TimeInterval
from batchwatch.alerts.services import silence_create
from batchwatch.alerts.timeintervals import parse_intervals
from batchwatch.catalog.models import Team
from batchwatch.notify.models import Channel
from batchwatch.notify.services import channel_upsert
from batchwatch.oncall.models import (
    EscalationPolicy,
    EscalationStep,
    Rotation,
    validate_urgency_mapping,
)
from batchwatch.oncall.services import (
    layer_save,
    override_ensure,
    policy_step_add,
    policy_steps_clear,
    policy_upsert,
    rotation_layers_clear,
    rotation_upsert,
)

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=Model)

_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
ROUTE_OPTIONS = frozenset(
    {
        "name",
        "matchers",
        "continue",
        "group_by",
        "group_wait",
        "group_interval",
        "repeat_interval",
        "escalation_policy",
        "receiver",
        "mute_time_intervals",
        "active_time_intervals",
        "routes",
    }
)
# The document's key for a model field a service may refuse, where the two names differ.
_LAYER_KEYS = {"start_date": "start", "handoff_time": "start", "turn_length": "turn"}
_OVERRIDE_KEYS = {"starts_at": "start", "ends_at": "end"}
_POLICY_KEYS = {"is_team_default": "default"}
_INTERVAL_KEYS = {"intervals": "time_intervals"}
_WINDOW_KEYS = {"starts_at": "start"}
_STEP_KEYS = {"target": "notify"}


def parse_duration(value: object) -> timedelta:
    """``30s``, ``5m``, ``1h30m``, ``7d``, ``2w`` (or a number of seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    match = _DURATION.match(str(value or "").strip())
    if not match or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration like 30s, 5m, 1h30m, 7d or 2w")
    w, d, h, m, s = (int(g or 0) for g in match.groups())
    return timedelta(weeks=w, days=d, hours=h, minutes=m, seconds=s)


def parse_instant(value: object, *, zone: str = "UTC") -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not a time like 2026-11-22T02:00:00Z") from None
    if parsed.tzinfo is None:
        try:
            parsed = parsed.replace(tzinfo=ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"{zone!r} is not an IANA time zone") from None
    return parsed.astimezone(ZoneInfo("UTC"))


@dataclass
class Checker:
    """The problems found so far, each ``<path>: <sentence>``."""

    errors: list[str] = field(default_factory=list)

    def run(self, where: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``func(...)``, or None with the problem recorded at ``where``."""
        try:
            return func(*args, **kwargs)
        except (ValueError, TypeError, ValidationError) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self.errors.append(f"{where}: {message}")
            return None

    def save(
        self, where: str, keys: dict[str, str], service: Callable[..., T], **kwargs: Any
    ) -> T | None:
        """A write service's result, or None with each refused field recorded at its node:
        ``<where>.<key>``, the key being the document's name for the model field."""
        try:
            return service(**kwargs)
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):
                self.errors.append(f"{where}: {'; '.join(exc.messages)}")
                return None
            for name, errors in exc.error_dict.items():
                at = where if name == NON_FIELD_ERRORS else f"{where}.{keys.get(name, name)}"
                self.errors.append(f"{at}: {'; '.join(ValidationError(errors).messages)}")
            return None

    def require(self, mapping: dict, key: str, where: str) -> Any:
        if not isinstance(mapping, dict) or key not in mapping or mapping[key] in (None, ""):
            self.errors.append(f"{where}: '{key}' is required")
            return None
        return mapping[key]


@dataclass
class Load:
    """What the sections share while one document is applied: rows by the names the document
    uses for them, and the problems found."""

    now: datetime
    create_users: bool = False
    actor_name: str = ""
    check: Checker = field(default_factory=Checker)
    teams: dict[str, Team] = field(default_factory=dict)
    users: dict[Any, Any] = field(default_factory=dict)
    channels: dict[Any, Channel] = field(default_factory=dict)
    intervals: dict[Any, TimeInterval] = field(default_factory=dict)
    rotations: dict[Any, Rotation] = field(default_factory=dict)
    policies: dict[Any, EscalationPolicy] = field(default_factory=dict)
    # ("channel" | "interval" | "rotation" | "policy", name) of nodes refused for a problem
    # of their own: a reference to one is not reported again as "no such ...".
    refused: set[tuple[str, Any]] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(cls, *, now: datetime, create_users: bool, actor_name: str) -> Load:
        """With the teams, users, channels, rotations and policies that exist, by name."""
        return cls(
            now=now,
            create_users=create_users,
            actor_name=actor_name,
            teams={t.slug: t for t in Team.objects.all()},
            users={u.get_username(): u for u in get_user_model().objects.all()},
            channels={c.name: c for c in Channel.objects.all()},
            rotations={r.slug: r for r in Rotation.objects.all()},
            policies={p.slug: p for p in EscalationPolicy.objects.all()},
        )

    def team(self, slug: Any, where: str) -> Team | None:
        if slug not in self.teams:
            self.check.errors.append(f"{where}: no team {slug!r}")
        return self.teams.get(slug)

    def user(self, name: Any, where: str) -> Any:
        if name not in self.users and self.create_users and isinstance(name, str) and name:
            self.users[name] = get_user_model().objects.create_user(
                username=name, email=f"{name}@example.com"
            )
        if name not in self.users:
            self.check.errors.append(f"{where}: no user {name!r}")
        return self.users.get(name)

    def items(self, node: Any, key: str) -> list:
        """A section's list (``[]`` when absent)."""
        value = node or []
        if not isinstance(value, list):
            self.check.errors.append(f"{key}: must be a list")
            return []
        return value


def _validated_create(*, row: ModelT) -> ModelT:
    """Save a new row of this app as the admin would: ``full_clean()`` first."""
    row.full_clean()
    row.save()
    return row


def replaced_rows_clear() -> None:
    """Routes, inhibit rules and time intervals are the file's: the old ones go first (the
    teams' own routes stay: their owners change them, ``alerts.services.team_routes``)."""
    Route.objects.filter(team=None).delete()
    InhibitRule.objects.all().delete()
    TimeInterval.objects.all().delete()


def channels_apply(load: Load, node: Any) -> None:
    """``channels:`` created or updated by name (``notify.services.channel_upsert``)."""
    check = load.check
    for i, raw in enumerate(load.items(node, "channels")):
        where = f"channels[{i}]"
        name = check.require(raw, "name", where)
        kind = check.require(raw, "kind", where)
        address = check.require(raw, "address", where)
        owner = load.team(raw["team"], f"{where}.team") if raw.get("team") else None
        if not (name and kind and address):
            continue
        if raw.get("team") and owner is None:
            load.refused.add(("channel", name))
            continue
        channel = check.save(
            where,
            {},
            channel_upsert,
            name=str(name),
            kind=str(kind),
            address=str(address),
            team=owner,
        )
        if channel is None:
            load.refused.add(("channel", name))
        else:
            load.channels[name] = channel
    load.counts["channels"] = len(node or [])


def time_intervals_apply(load: Load, node: Any) -> None:
    """``time_intervals:`` replace the old ones (``replaced_rows_clear`` ran first)."""
    for i, raw in enumerate(load.items(node, "time_intervals")):
        where = f"time_intervals[{i}]"
        name = load.check.require(raw, "name", where)
        specs = raw.get("time_intervals", []) if isinstance(raw, dict) else []
        valid = load.check.run(f"{where}.time_intervals", parse_intervals, specs) is not None
        if not (valid and name):
            continue
        row = TimeInterval(name=name, intervals=specs)
        interval = load.check.save(where, _INTERVAL_KEYS, _validated_create, row=row)
        if interval is None:
            load.refused.add(("interval", name))
        else:
            load.intervals[name] = interval


def rotations_apply(load: Load, node: Any) -> None:
    """``rotations:`` created or updated by slug; their layers replaced, overrides added."""
    check = load.check
    for i, raw in enumerate(load.items(node, "rotations")):
        where = f"rotations[{i}]"
        slug = check.require(raw, "slug", where)
        owner = load.team(check.require(raw, "team", where), f"{where}.team")
        if not slug or owner is None:
            continue
        rotation = check.save(
            where,
            {},
            rotation_upsert,
            slug=str(slug),
            name=str(raw.get("name", slug)),
            team=owner,
            timezone=str(raw.get("timezone", "UTC")),
            handoff_notices=bool(raw.get("handoff_notices", True)),
        )
        if rotation is None:  # the layers' times are read in its zone: nothing to check them by
            load.refused.add(("rotation", slug))
            continue
        load.rotations[slug] = rotation
        rotation_layers_clear(rotation=rotation)
        for j, layer in enumerate(raw.get("layers") or []):
            _layer_add(load, rotation, j, layer, f"{where}.layers[{j}]")
        for j, override in enumerate(raw.get("overrides") or []):
            _override_add(load, rotation, override, f"{where}.overrides[{j}]")
    load.counts["rotations"] = len(node or [])


def _layer_add(load: Load, rotation: Rotation, position: int, raw: dict, where: str) -> None:
    check = load.check
    start = check.run(f"{where}.start", datetime.fromisoformat, str(raw.get("start", "")))
    turn = check.run(f"{where}.turn", parse_duration, raw.get("turn", "7d"))
    participants = [
        load.user(name, f"{where}.participants[{k}]")
        for k, name in enumerate(raw.get("participants") or [])
    ]
    if start is None or turn is None or None in participants:
        return
    check.save(
        where,
        _LAYER_KEYS,
        layer_save,
        rotation=rotation,
        participants=participants,
        start_date=start.date(),
        handoff_time=start.time(),
        turn_length=turn,
        position=position,
        name=str(raw.get("name", "")),
        restrictions=raw.get("restrictions") or [],
    )


def _override_add(load: Load, rotation: Rotation, raw: dict, where: str) -> None:
    check = load.check
    who = load.user(raw.get("user"), f"{where}.user")
    zone = rotation.timezone
    starts = check.run(f"{where}.start", parse_instant, raw.get("start"), zone=zone)
    ends = check.run(f"{where}.end", parse_instant, raw.get("end"), zone=zone)
    if who and starts and ends:
        check.save(
            where,
            _OVERRIDE_KEYS,
            override_ensure,
            rotation=rotation,
            user=who,
            starts_at=starts,
            ends_at=ends,
            reason=str(raw.get("reason", "")),
        )


def escalation_policies_apply(load: Load, node: Any) -> None:
    """``escalation_policies:`` created or updated by slug, their steps replaced."""
    check = load.check
    for i, raw in enumerate(load.items(node, "escalation_policies")):
        where = f"escalation_policies[{i}]"
        slug = check.require(raw, "slug", where)
        owner = load.team(check.require(raw, "team", where), f"{where}.team")
        if not slug or owner is None:
            continue
        ack_timeout = None
        if raw.get("ack_timeout"):
            ack_timeout = check.run(f"{where}.ack_timeout", parse_duration, raw["ack_timeout"])
        repeat = check.run(f"{where}.repeat", int, raw.get("repeat", 0) or 0)
        urgency = _urgency_overrides(load, raw.get("urgency_by_severity"), where)
        policy = check.save(
            where,
            _POLICY_KEYS,
            policy_upsert,
            slug=str(slug),
            name=str(raw.get("name", slug)),
            team=owner,
            repeat=repeat if repeat is not None else 0,
            ack_timeout=ack_timeout,
            is_team_default=bool(raw.get("default", False)),
            urgency_by_severity=urgency,
        )
        steps = raw.get("steps") or []
        if not steps:
            check.errors.append(f"{where}.steps: at least one step")
        if policy is None:
            load.refused.add(("policy", slug))
            continue
        load.policies[slug] = policy
        policy_steps_clear(policy=policy)
        for j, step in enumerate(steps):
            _step_add(load, policy, owner, j, step, f"{where}.steps[{j}]")
    load.counts["escalation_policies"] = len(node or [])


def _urgency_overrides(load: Load, node: Any, where: str) -> dict[str, str]:
    """A policy's ``urgency_by_severity:``, each entry checked by the model's own rule so a
    refusal names its severity's node; only the valid entries are returned (a refused one
    is reported here, not again by the policy's save; the document fails anyway)."""
    valid: dict[str, str] = {}
    for severity, urgency in node.items() if isinstance(node, dict) else ():
        try:
            validate_urgency_mapping({severity: urgency})
        except ValidationError as exc:
            at = f"{where}.urgency_by_severity.{severity}"
            load.check.errors.append(f"{at}: {'; '.join(exc.messages)}")
        else:
            valid[severity] = urgency
    return valid


def _step_add(
    load: Load, policy: EscalationPolicy, owner: Team, position: int, raw: dict, where: str
) -> None:
    target = raw.get("notify")
    if target not in EscalationStep.Target.values:
        load.check.errors.append(
            f"{where}.notify: one of {', '.join(EscalationStep.Target.values)}"
        )
        return
    fields: dict[str, Any] = {}
    if target in (EscalationStep.Target.ROTATION, EscalationStep.Target.NEXT_IN_ROTATION):
        fields["rotation"] = load.rotations.get(raw.get("rotation"))
        if fields["rotation"] is None and ("rotation", raw.get("rotation")) not in load.refused:
            load.check.errors.append(f"{where}.rotation: no rotation {raw.get('rotation')!r}")
    elif target == EscalationStep.Target.USER:
        fields["user"] = load.user(raw.get("user"), f"{where}.user")
    else:
        fields["team"] = load.team(raw.get("team", owner.slug), f"{where}.team")
    wait = load.check.run(f"{where}.wait", parse_duration, raw.get("wait", "5m"))
    if None in fields.values() or wait is None:
        return
    load.check.save(
        where,
        _STEP_KEYS,
        policy_step_add,
        policy=policy,
        position=position,
        target=target,
        wait=wait,
        **fields,
    )


def route_apply(load: Load, node: Any) -> None:
    """``route:`` the routing tree, written only while the document has no problem so far
    (every subtree is still checked, to report all of its problems)."""
    if node is not None:
        _route_add(load, node, None, 0, "route", is_root=True)


def _route_add(
    load: Load, raw: Any, parent: Route | None, position: int, where: str, *, is_root=False
) -> None:
    check = load.check
    if not isinstance(raw, dict):
        check.errors.append(f"{where}: a route is a mapping")
        return
    fields = _route_fields(load, raw, where, is_root)
    children = raw.get("routes") or []
    if not isinstance(children, list):
        check.errors.append(f"{where}.routes: must be a list of routes")
        children = []
    route = None
    if not check.errors:
        route = Route.objects.create(parent=parent, position=position, **fields["row"])
        route.channels.set([load.channels[n] for n in fields["receivers"]])
        for key in ("mute_time_intervals", "active_time_intervals"):
            getattr(route, key).set([load.intervals[n] for n in raw.get(key) or []])
    for k, child in enumerate(children):
        _route_add(load, child, route, k, f"{where}.routes[{k}]")


def _route_fields(load: Load, raw: dict, where: str, is_root: bool) -> dict[str, Any]:
    """The route's row fields and receivers, each problem recorded at its key."""
    check = load.check
    for key in set(raw) - ROUTE_OPTIONS:
        check.errors.append(f"{where}.{key}: unknown route option")
    if is_root and raw.get("matchers"):
        check.errors.append(f"{where}.matchers: the root route matches every alert")
    check.run(f"{where}.matchers", parse_matchers, raw.get("matchers"))
    group_by = raw.get("group_by")
    if group_by is not None and (
        not isinstance(group_by, list) or not all(isinstance(g, str) for g in group_by)
    ):
        check.errors.append(f"{where}.group_by: a list of label names (or ['...'])")
    durations = {
        key: check.run(f"{where}.{key}", parse_duration, raw[key])
        for key in ("group_wait", "group_interval", "repeat_interval")
        if raw.get(key) is not None
    }
    policy = None
    if raw.get("escalation_policy"):
        policy = load.policies.get(raw["escalation_policy"])
        if policy is None and ("policy", raw["escalation_policy"]) not in load.refused:
            check.errors.append(
                f"{where}.escalation_policy: no policy {raw['escalation_policy']!r}"
            )
    receivers = raw.get("receiver") or []
    receivers = [receivers] if isinstance(receivers, str) else receivers
    for name in receivers:
        if name not in load.channels and ("channel", name) not in load.refused:
            check.errors.append(f"{where}.receiver: no channel {name!r}")
    for key in ("mute_time_intervals", "active_time_intervals"):
        for name in raw.get(key) or []:
            if name not in load.intervals and ("interval", name) not in load.refused:
                check.errors.append(f"{where}.{key}: no time interval {name!r}")
    matchers = raw.get("matchers") or []
    if isinstance(matchers, dict):
        matchers = [f'{k}="{v}"' for k, v in matchers.items()]
    row = {
        "name": raw.get("name", ""),
        "matchers": matchers,
        "continue_matching": bool(raw.get("continue", False)),
        "group_by": group_by,
        "escalation_policy": policy,
        **durations,
    }
    return {"row": row, "receivers": receivers}


def inhibit_rules_apply(load: Load, node: Any) -> None:
    """``inhibit_rules:`` replace the old ones (``replaced_rows_clear`` ran first)."""
    check = load.check
    for i, raw in enumerate(load.items(node, "inhibit_rules")):
        where = f"inhibit_rules[{i}]"
        source = check.run(f"{where}.source_matchers", parse_matchers, raw.get("source_matchers"))
        target = check.run(f"{where}.target_matchers", parse_matchers, raw.get("target_matchers"))
        if source and target:
            InhibitRule.objects.create(
                name=raw.get("name", ""),
                source_matchers=raw["source_matchers"],
                target_matchers=raw["target_matchers"],
                equal=list(raw.get("equal") or []),
            )
        elif source is not None and target is not None:
            check.errors.append(f"{where}: needs source_matchers and target_matchers")


def silences_apply(load: Load, node: Any) -> None:
    """``silences:`` added (``alerts.services.silence_create``, audited as its author)."""
    check = load.check
    for i, raw in enumerate(load.items(node, "silences")):
        where = f"silences[{i}]"
        starts = check.run(f"{where}.start", parse_instant, raw.get("start"))
        ends = check.run(f"{where}.end", parse_instant, raw.get("end"))
        if starts and ends:
            check.run(
                where,
                silence_create,
                matchers=raw.get("matchers") or [],
                starts_at=starts,
                ends_at=ends,
                comment=raw.get("comment", ""),
                now=min(load.now, starts),
                actor_name=load.actor_name,
            )


def maintenance_windows_apply(load: Load, node: Any) -> None:
    """``maintenance_windows:`` added, written only while the document has no problem."""
    check = load.check
    for i, raw in enumerate(load.items(node, "maintenance_windows")):
        where = f"maintenance_windows[{i}]"
        zone = raw.get("timezone", "UTC")
        starts = check.run(f"{where}.start", parse_instant, raw.get("start"), zone=zone)
        duration = check.run(f"{where}.duration", parse_duration, raw.get("duration", "1h"))
        check.run(f"{where}.matchers", parse_matchers, raw.get("matchers"))
        recurrence = raw.get("recurrence", "")
        if recurrence and not croniter.is_valid(recurrence):
            check.errors.append(f"{where}.recurrence: {recurrence!r} is not a cron expression")
        if starts and duration and not check.errors:
            row = MaintenanceWindow(
                name=raw.get("name", f"maintenance {i}"),
                matchers=raw.get("matchers") or [],
                starts_at=starts,
                duration=duration,
                recurrence=recurrence,
                timezone=zone,
                comment=raw.get("comment", ""),
            )
            check.save(where, _WINDOW_KEYS, _validated_create, row=row)
