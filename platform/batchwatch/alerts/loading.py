"""Alerting configuration as code: one YAML document, validated whole, applied atomically.

Routes, inhibition rules and time intervals are replaced by the file's (the file is the
truth); channels, rotations and escalation policies are created or updated by name/slug.
Every problem is reported with its path in the document, and nothing is written unless the
whole document is valid. The schema is in docs/alerting.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from batchwatch.alerts.matchers import parse_matchers
from batchwatch.alerts.models import InhibitRule, MaintenanceWindow, Route, Silence, TimeInterval
from batchwatch.alerts.services import silence_create
from batchwatch.alerts.timeintervals import parse_intervals
from batchwatch.catalog.models import Team
from batchwatch.core import outbound, yamlshape
from batchwatch.core.yamlshape import AnyValue, Lazy, ListOf, Mapping, Matchers, Scalar, Text, Time
from batchwatch.notify.models import Channel
from batchwatch.oncall.models import (
    EscalationPolicy,
    EscalationStep,
    LayerParticipant,
    Rotation,
    RotationLayer,
    RotationOverride,
)
from batchwatch.oncall.schedule import parse_restrictions

_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
TOP_LEVEL = {
    "channels",
    "time_intervals",
    "rotations",
    "escalation_policies",
    "route",
    "inhibit_rules",
    "silences",
    "maintenance_windows",
}

# What each node must be, checked before anything reads the document (core/yamlshape.py):
# a malformed node is reported by its path and line instead of failing on ``.get``.
_TEXTS = ListOf(Text(), expected="a list of names")
_ROUTE: Mapping = Mapping(
    {
        "name": Text(),
        "matchers": Matchers(),
        "continue": Scalar(),
        "group_by": ListOf(Text(), expected="a list of label names"),
        "group_wait": Scalar(),
        "group_interval": Scalar(),
        "repeat_interval": Scalar(),
        "escalation_policy": Text(),
        "receiver": ListOf(Text(), expected="a channel name or a list of them", text_ok=True),
        "mute_time_intervals": _TEXTS,
        "active_time_intervals": _TEXTS,
        "routes": ListOf(Lazy(lambda: _ROUTE), expected="a list of routes"),
    },
    expected="a route (a mapping)",
)
SHAPE = Mapping(
    {
        "channels": ListOf(
            Mapping(
                {"name": Text(), "kind": Text(), "address": Text(), "team": Text()},
                expected="a channel (a mapping)",
            ),
            expected="a list of channels",
        ),
        "time_intervals": ListOf(
            Mapping({"name": Text(), "time_intervals": AnyValue()}, expected="a mapping"),
            expected="a list of time intervals",
        ),
        "rotations": ListOf(
            Mapping(
                {
                    "slug": Text(),
                    "name": Text(),
                    "team": Text(),
                    "timezone": Text(),
                    "handoff_notices": Scalar(),
                    "layers": ListOf(
                        Mapping(
                            {
                                "name": Text(),
                                "start": Time(),
                                "turn": Scalar(),
                                "restrictions": AnyValue(),
                                "participants": ListOf(Text(), expected="a list of user names"),
                            },
                            expected="a layer (a mapping)",
                        ),
                        expected="a list of layers",
                    ),
                    "overrides": ListOf(
                        Mapping(
                            {"user": Text(), "start": Time(), "end": Time(), "reason": Text()},
                            expected="an override (a mapping)",
                        ),
                        expected="a list of overrides",
                    ),
                },
                expected="a rotation (a mapping)",
            ),
            expected="a list of rotations",
        ),
        "escalation_policies": ListOf(
            Mapping(
                {
                    "slug": Text(),
                    "name": Text(),
                    "team": Text(),
                    "repeat": Scalar(),
                    "ack_timeout": Scalar(),
                    "default": Scalar(),
                    "steps": ListOf(
                        Mapping(
                            {
                                "notify": Text(),
                                "rotation": Text(),
                                "user": Text(),
                                "team": Text(),
                                "wait": Scalar(),
                            },
                            expected="a step (a mapping)",
                        ),
                        expected="a list of steps",
                    ),
                },
                expected="an escalation policy (a mapping)",
            ),
            expected="a list of escalation policies",
        ),
        "route": _ROUTE,
        "inhibit_rules": ListOf(
            Mapping(
                {
                    "name": Text(),
                    "source_matchers": Matchers(),
                    "target_matchers": Matchers(),
                    "equal": ListOf(Text(), expected="a list of label names"),
                },
                expected="an inhibit rule (a mapping)",
            ),
            expected="a list of inhibit rules",
        ),
        "silences": ListOf(
            Mapping(
                {"start": Time(), "end": Time(), "matchers": Matchers(), "comment": Text()},
                expected="a silence (a mapping)",
            ),
            expected="a list of silences",
        ),
        "maintenance_windows": ListOf(
            Mapping(
                {
                    "name": Text(),
                    "timezone": Text(),
                    "start": Time(),
                    "duration": Scalar(),
                    "matchers": Matchers(),
                    "recurrence": Text(),
                    "comment": Text(),
                },
                expected="a maintenance window (a mapping)",
            ),
            expected="a list of maintenance windows",
        ),
    }
)


class ConfigError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


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
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(ZoneInfo("UTC"))


@dataclass
class _Checker:
    errors: list[str] = field(default_factory=list)

    def run(self, where: str, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (ValueError, TypeError, ValidationError) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self.errors.append(f"{where}: {message}")
            return None

    def require(self, mapping: dict, key: str, where: str):
        if not isinstance(mapping, dict) or key not in mapping or mapping[key] in (None, ""):
            self.errors.append(f"{where}: '{key}' is required")
            return None
        return mapping[key]


def _list(data: dict, key: str, check: _Checker) -> list:
    value = data.get(key) or []
    if not isinstance(value, list):
        check.errors.append(f"{key}: must be a list")
        return []
    return value


def load_document(text: str) -> dict:
    try:
        data = yamlshape.load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"]) from None
    except RecursionError:
        raise ConfigError(["not valid YAML: nested too deeply"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["the document must be a mapping (channels:, rotations:, route: ...)"])
    return data


@transaction.atomic
def config_apply(data: dict, *, now: datetime, create_users: bool = False) -> dict[str, int]:
    """Validate and apply a configuration document; ``ConfigError`` lists every problem."""
    shape_problems = yamlshape.problems(data, SHAPE)
    if shape_problems:  # the rest reads the document as if well-formed
        raise ConfigError(shape_problems)
    check = _Checker()
    unknown = set(data) - TOP_LEVEL
    if unknown:
        check.errors.append(
            f"unknown section(s): {', '.join(sorted(map(str, unknown)))} "
            f"(known: {', '.join(sorted(TOP_LEVEL))})"
        )
    User = get_user_model()
    teams = {t.slug: t for t in Team.objects.all()}
    users: dict[str, object] = {u.get_username(): u for u in User.objects.all()}

    def team(slug, where):
        if slug not in teams:
            check.errors.append(f"{where}: no team {slug!r}")
        return teams.get(slug)

    def user(name, where):
        if name not in users and create_users and isinstance(name, str) and name:
            users[name] = User.objects.create_user(username=name, email=f"{name}@example.com")
        if name not in users:
            check.errors.append(f"{where}: no user {name!r}")
        return users.get(name)

    counts: dict[str, int] = {}
    # Channels.
    channels: dict[str, Channel] = {c.name: c for c in Channel.objects.all()}
    for i, raw in enumerate(_list(data, "channels", check)):
        where = f"channels[{i}]"
        name = check.require(raw, "name", where)
        kind = check.require(raw, "kind", where)
        address = check.require(raw, "address", where)
        if kind and kind not in Channel.Kind.values:
            check.errors.append(f"{where}.kind: one of {', '.join(Channel.Kind.values)}")
        if kind == "webhook" and address and not str(address).startswith(("http://", "https://")):
            check.errors.append(f"{where}.address: a webhook address is an http(s) URL")
        elif kind == "webhook" and address:
            try:  # as the admin does (Channel.clean): no private, loopback or metadata hosts
                outbound.check_url(str(address))
            except outbound.OutboundRefused as exc:
                check.errors.append(f"{where}.address: {exc.message}")
        owner = team(raw["team"], f"{where}.team") if raw.get("team") else None
        if name and kind and address:
            channel, _ = Channel.objects.update_or_create(
                name=name, defaults={"kind": kind, "address": address, "team": owner}
            )
            channels[name] = channel
    counts["channels"] = len(data.get("channels") or [])
    # Time intervals (replaced).
    intervals = {}
    for i, raw in enumerate(_list(data, "time_intervals", check)):
        where = f"time_intervals[{i}]"
        name = check.require(raw, "name", where)
        specs = raw.get("time_intervals", []) if isinstance(raw, dict) else []
        if check.run(f"{where}.time_intervals", parse_intervals, specs) is not None and name:
            intervals[name] = specs
    # Rotations.
    rotations: dict[str, Rotation] = {r.slug: r for r in Rotation.objects.all()}
    for i, raw in enumerate(_list(data, "rotations", check)):
        where = f"rotations[{i}]"
        slug = check.require(raw, "slug", where)
        owner = team(check.require(raw, "team", where), f"{where}.team")
        zone = raw.get("timezone", "UTC") if isinstance(raw, dict) else "UTC"
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            check.errors.append(f"{where}.timezone: {zone!r} is not an IANA time zone")
            continue
        if not slug or owner is None:
            continue
        rotation, _ = Rotation.objects.update_or_create(
            slug=slug,
            defaults={
                "name": raw.get("name", slug),
                "team": owner,
                "timezone": zone,
                "handoff_notices": bool(raw.get("handoff_notices", True)),
            },
        )
        rotations[slug] = rotation
        rotation.layers.all().delete()
        for j, layer_raw in enumerate(raw.get("layers") or []):
            lw = f"{where}.layers[{j}]"
            start = check.run(
                f"{lw}.start", datetime.fromisoformat, str(layer_raw.get("start", ""))
            )
            turn = check.run(f"{lw}.turn", parse_duration, layer_raw.get("turn", "7d"))
            restrictions = layer_raw.get("restrictions") or []
            check.run(f"{lw}.restrictions", parse_restrictions, restrictions)
            participants = [
                user(name, f"{lw}.participants[{k}]")
                for k, name in enumerate(layer_raw.get("participants") or [])
            ]
            if not participants:
                check.errors.append(f"{lw}.participants: at least one person")
            if turn is not None and turn < timedelta(minutes=15):
                check.errors.append(f"{lw}.turn: at least 15 minutes")
            if start is None or turn is None or None in participants:
                continue
            layer = RotationLayer.objects.create(
                rotation=rotation,
                position=j,
                name=layer_raw.get("name", ""),
                start_date=start.date(),
                handoff_time=start.time(),
                turn_length=turn,
                restrictions=restrictions,
            )
            LayerParticipant.objects.bulk_create(
                [
                    LayerParticipant(layer=layer, user=u, position=k)
                    for k, u in enumerate(participants)
                ]
            )
        for j, override in enumerate(raw.get("overrides") or []):
            ow = f"{where}.overrides[{j}]"
            who = user(override.get("user"), f"{ow}.user")
            starts = check.run(f"{ow}.start", parse_instant, override.get("start"), zone=zone)
            ends = check.run(f"{ow}.end", parse_instant, override.get("end"), zone=zone)
            if who and starts and ends:
                if ends <= starts:
                    check.errors.append(f"{ow}: ends before it starts")
                    continue
                RotationOverride.objects.get_or_create(
                    rotation=rotation,
                    user=who,
                    starts_at=starts,
                    ends_at=ends,
                    defaults={"reason": override.get("reason", "")},
                )
    counts["rotations"] = len(data.get("rotations") or [])
    # Routes go first (they PROTECT the policies they point at).
    Route.objects.all().delete()
    InhibitRule.objects.all().delete()
    TimeInterval.objects.all().delete()
    interval_rows = {
        name: TimeInterval.objects.create(name=name, intervals=specs)
        for name, specs in intervals.items()
    }
    # Escalation policies.
    policies: dict[str, EscalationPolicy] = {p.slug: p for p in EscalationPolicy.objects.all()}
    for i, raw in enumerate(_list(data, "escalation_policies", check)):
        where = f"escalation_policies[{i}]"
        slug = check.require(raw, "slug", where)
        owner = team(check.require(raw, "team", where), f"{where}.team")
        if not slug or owner is None:
            continue
        ack_timeout = None
        if raw.get("ack_timeout"):
            ack_timeout = check.run(f"{where}.ack_timeout", parse_duration, raw["ack_timeout"])
        policy, _ = EscalationPolicy.objects.update_or_create(
            slug=slug,
            defaults={
                "name": raw.get("name", slug),
                "team": owner,
                "repeat": int(raw.get("repeat", 0) or 0),
                "ack_timeout": ack_timeout,
                "is_team_default": bool(raw.get("default", False)),
            },
        )
        policies[slug] = policy
        policy.steps.all().delete()
        steps = raw.get("steps") or []
        if not steps:
            check.errors.append(f"{where}.steps: at least one step")
        for j, step in enumerate(steps):
            sw = f"{where}.steps[{j}]"
            target = step.get("notify") if isinstance(step, dict) else None
            if target not in EscalationStep.Target.values:
                check.errors.append(
                    f"{sw}.notify: one of {', '.join(EscalationStep.Target.values)}"
                )
                continue
            fields = {"target": target}
            if target in ("rotation", "next_in_rotation"):
                fields["rotation"] = rotations.get(step.get("rotation"))
                if fields["rotation"] is None:
                    check.errors.append(f"{sw}.rotation: no rotation {step.get('rotation')!r}")
            elif target == "user":
                fields["user"] = user(step.get("user"), f"{sw}.user")
            else:
                fields["team"] = team(step.get("team", owner.slug), f"{sw}.team")
            wait = check.run(f"{sw}.wait", parse_duration, step.get("wait", "5m"))
            if None in fields.values() or wait is None:
                continue
            EscalationStep.objects.create(policy=policy, position=j, wait=wait, **fields)
    counts["escalation_policies"] = len(data.get("escalation_policies") or [])

    def add_route(raw, parent, position, where, is_root=False):
        if not isinstance(raw, dict):
            check.errors.append(f"{where}: a route is a mapping")
            return
        allowed = {
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
        for key in set(raw) - allowed:
            check.errors.append(f"{where}.{key}: unknown route option")
        if is_root and raw.get("matchers"):
            check.errors.append(f"{where}.matchers: the root route matches every alert")
        check.run(f"{where}.matchers", parse_matchers, raw.get("matchers"))
        group_by = raw.get("group_by")
        if group_by is not None and (
            not isinstance(group_by, list) or not all(isinstance(g, str) for g in group_by)
        ):
            check.errors.append(f"{where}.group_by: a list of label names (or ['...'])")
        durations = {}
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if raw.get(key) is not None:
                durations[key] = check.run(f"{where}.{key}", parse_duration, raw[key])
        policy = None
        if raw.get("escalation_policy"):
            policy = policies.get(raw["escalation_policy"])
            if policy is None:
                check.errors.append(
                    f"{where}.escalation_policy: no policy {raw['escalation_policy']!r}"
                )
        receivers = raw.get("receiver") or []
        receivers = [receivers] if isinstance(receivers, str) else receivers
        for name in receivers:
            if name not in channels:
                check.errors.append(f"{where}.receiver: no channel {name!r}")
        for key in ("mute_time_intervals", "active_time_intervals"):
            for name in raw.get(key) or []:
                if name not in interval_rows:
                    check.errors.append(f"{where}.{key}: no time interval {name!r}")
        route = None
        children = raw.get("routes") or []
        if not isinstance(children, list):
            check.errors.append(f"{where}.routes: must be a list of routes")
            children = []
        if check.errors:  # keep validating the subtree; write nothing
            for k, child in enumerate(children):
                add_route(child, None, k, f"{where}.routes[{k}]")
            return
        matchers = raw.get("matchers") or []
        if isinstance(matchers, dict):
            matchers = [f'{k}="{v}"' for k, v in matchers.items()]
        route = Route.objects.create(
            parent=parent,
            position=position,
            name=raw.get("name", ""),
            matchers=matchers,
            continue_matching=bool(raw.get("continue", False)),
            group_by=group_by,
            escalation_policy=policy,
            **durations,
        )
        route.channels.set([channels[n] for n in receivers])
        route.mute_time_intervals.set(
            [interval_rows[n] for n in raw.get("mute_time_intervals") or []]
        )
        route.active_time_intervals.set(
            [interval_rows[n] for n in raw.get("active_time_intervals") or []]
        )
        for k, child in enumerate(children):
            add_route(child, route, k, f"{where}.routes[{k}]")

    if data.get("route") is not None:
        add_route(data["route"], None, 0, "route", is_root=True)
    for i, raw in enumerate(_list(data, "inhibit_rules", check)):
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
    for i, raw in enumerate(_list(data, "silences", check)):
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
                now=min(now, starts),
            )
    for i, raw in enumerate(_list(data, "maintenance_windows", check)):
        where = f"maintenance_windows[{i}]"
        zone = raw.get("timezone", "UTC")
        starts = check.run(f"{where}.start", parse_instant, raw.get("start"), zone=zone)
        duration = check.run(f"{where}.duration", parse_duration, raw.get("duration", "1h"))
        check.run(f"{where}.matchers", parse_matchers, raw.get("matchers"))
        recurrence = raw.get("recurrence", "")
        if recurrence and not croniter.is_valid(recurrence):
            check.errors.append(f"{where}.recurrence: {recurrence!r} is not a cron expression")
        if starts and duration and not check.errors:
            MaintenanceWindow.objects.create(
                name=raw.get("name", f"maintenance {i}"),
                matchers=raw.get("matchers") or [],
                starts_at=starts,
                duration=duration,
                recurrence=recurrence,
                timezone=zone,
                comment=raw.get("comment", ""),
            )
    if check.errors:
        raise ConfigError(check.errors)
    counts["routes"] = Route.objects.count()
    counts["inhibit_rules"] = InhibitRule.objects.count()
    counts["time_intervals"] = len(interval_rows)
    counts["silences"] = Silence.objects.count()
    return counts
