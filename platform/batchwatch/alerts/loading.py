"""Alerting configuration as code: one YAML document, validated whole, applied atomically.

Routes, inhibition rules and time intervals are replaced by the file's (the file is the
truth; the teams' own routes stay, linked again to the time intervals of the names they had);
channels, rotations and escalation policies are created or updated by name/slug,
through the services of the apps that own them, so they are validated as the admin does.
Every problem is reported with its path in the document, and nothing is written unless the
whole document is valid. The schema is in docs/alerting.md; the sections are applied by
``alerts.loading_sections``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import yaml
from django.db import transaction

from batchwatch.alerts.loading_sections import (
    Load,
    channels_apply,
    escalation_policies_apply,
    inhibit_rules_apply,
    maintenance_windows_apply,
    parse_duration,
    parse_instant,
    replaced_rows_clear,
    rotations_apply,
    route_apply,
    silences_apply,
    time_intervals_apply,
)
from batchwatch.alerts.models import InhibitRule, Route, Silence
from batchwatch.alerts.services.team_routes import team_route_intervals_keep
from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event
from batchwatch.core import yamlshape
from batchwatch.core.yamlshape import AnyValue, Lazy, ListOf, Mapping, Matchers, Scalar, Text, Time

__all__ = [
    "SECTIONS",
    "SHAPE",
    "TOP_LEVEL",
    "ConfigError",
    "config_apply",
    "load_document",
    "parse_duration",
    "parse_instant",
]

# Each section and what applies it, in dependency order: a node may name what an earlier
# section made (a route its channels, intervals and policy; a policy step its rotation).
SECTIONS: tuple[tuple[str, Callable[[Load, Any], None]], ...] = (
    ("channels", channels_apply),
    ("time_intervals", time_intervals_apply),
    ("rotations", rotations_apply),
    ("escalation_policies", escalation_policies_apply),
    ("route", route_apply),
    ("inhibit_rules", inhibit_rules_apply),
    ("silences", silences_apply),
    ("maintenance_windows", maintenance_windows_apply),
)
TOP_LEVEL = frozenset(name for name, _ in SECTIONS)

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
                    "urgency_by_severity": Mapping(
                        values=Text(), expected="a mapping of severity to urgency (high or low)"
                    ),
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
def config_apply(
    data: dict,
    *,
    now: datetime,
    create_users: bool = False,
    loaded_from: str = "",
    actor_name: str = "",
) -> dict[str, int]:
    """Validate and apply a configuration document; ``ConfigError`` lists every problem.

    With ``loaded_from`` (the file's path) the load is recorded in the audit log, in this
    transaction: a dry run that rolls it back records nothing. ``actor_name`` says who loaded
    it (``audit.services.cli_actor_name()`` from a command)."""
    shape_problems = yamlshape.problems(data, SHAPE)
    if shape_problems:  # the rest reads the document as if well-formed
        raise ConfigError(shape_problems)
    load = Load.start(now=now, create_users=create_users, actor_name=actor_name)
    unknown = set(data) - TOP_LEVEL
    if unknown:
        load.check.errors.append(
            f"unknown section(s): {', '.join(sorted(map(str, unknown)))} "
            f"(known: {', '.join(sorted(TOP_LEVEL))})"
        )
    relink_team_routes = team_route_intervals_keep()
    replaced_rows_clear()
    for name, apply in SECTIONS:
        apply(load, data.get(name))
    if load.check.errors:  # raised out of the transaction: every write above is undone
        raise ConfigError(load.check.errors)
    relink_team_routes(load.intervals)
    counts = load.counts
    counts["routes"] = Route.objects.filter(team=None).count()
    counts["inhibit_rules"] = InhibitRule.objects.count()
    counts["time_intervals"] = len(load.intervals)
    counts["silences"] = Silence.objects.count()
    if loaded_from:
        record_event(
            AuditEvent.Action.CONFIG_LOADED,
            actor_name=actor_name,
            target_repr=f"alerting configuration {loaded_from}",
            detail={"kind": "alerting", "file": loaded_from, "counts": counts},
        )
    return counts
