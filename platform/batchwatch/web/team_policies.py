"""The escalation policy form of the team settings page: its rows (a step each: what, whom,
wait in minutes) and what a posted form means as ``oncall.services.policy_steps_set``
arguments. Whom is one choice among rotations, people and teams (``rotation:<slug>``,
``user:<username>``, ``team:<slug>``); the model refuses a step whose target needs another
kind (a rotation step naming a person), with its own sentence. Under the steps, the policy's
overrides of the severity -> urgency mapping: a row each (severity, high or low)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import QueryDict

from batchwatch.catalog.models import Team
from batchwatch.oncall.models import (
    URGENCIES,
    EscalationPolicy,
    EscalationStep,
    Rotation,
    validate_urgency_mapping,
)

EXTRA_ROWS = 2  # empty rows under the steps, to add some
MAX_ROWS = 30
MAX_WAIT_MINUTES = 24 * 60
MAX_REPEAT = 10
EXTRA_URGENCY_ROWS = 2  # empty rows under the overrides, to add some
MAX_URGENCY_ROWS = 50


def _whom(step: EscalationStep) -> str:
    if step.rotation is not None:
        return f"rotation:{step.rotation.slug}"
    if step.user is not None:
        return f"user:{step.user.get_username()}"
    if step.team is not None:
        return f"team:{step.team.slug}"
    return ""


def policy_rows(policy: EscalationPolicy, posted: QueryDict | None) -> list[dict[str, str]]:
    """The form's rows: as posted when this policy's form was refused, else its steps."""
    if posted is not None:
        return [
            {
                "target": posted.get(f"step-{i}-target", ""),
                "whom": posted.get(f"step-{i}-whom", ""),
                "wait": posted.get(f"step-{i}-wait", ""),
            }
            for i in range(_row_count(posted))
        ]
    rows = [
        {
            "target": step.target,
            "whom": _whom(step),
            "wait": str(int(step.wait.total_seconds() // 60)),
        }
        for step in policy.steps.all()
    ]
    return rows + [{"target": "", "whom": "", "wait": "5"} for _ in range(EXTRA_ROWS)]


def _row_count(posted: QueryDict) -> int:
    return min(MAX_ROWS, sum(1 for name in posted if name.endswith("-target")))


def whom_choices(team: Team) -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped choices: the team's rotations and people first, then everyone else's."""
    rotations = sorted(
        Rotation.objects.select_related("team"), key=lambda r: (r.team_id != team.pk, r.name)
    )
    members = set(team.memberships.values_list("user_id", flat=True))
    people = sorted(
        get_user_model().objects.filter(is_active=True),
        key=lambda u: (u.pk not in members, u.get_username()),
    )
    teams = sorted(Team.objects.all(), key=lambda t: (t.pk != team.pk, t.name))
    return [
        ("Rotations", [(f"rotation:{r.slug}", f"{r.name} ({r.team.name})") for r in rotations]),
        ("People", [(f"user:{u.get_username()}", u.get_username()) for u in people]),
        ("Teams' channels", [(f"team:{t.slug}", t.name) for t in teams]),
    ]


def _whom_fields(raw: str) -> dict[str, Any]:
    kind, _, name = raw.partition(":")
    found: Any = None
    if kind == "rotation":
        found = Rotation.objects.filter(slug=name).first()
    elif kind == "user":
        found = get_user_model().objects.filter(username=name, is_active=True).first()
    elif kind == "team":
        found = Team.objects.filter(slug=name).first()
    if raw and found is None:
        raise ValidationError(f"No such rotation, person or team: {raw[:80]!r}.")
    return {kind: found} if found is not None else {}


def _number(raw: str, *, field: str, top: int) -> int:
    text = (raw or "0").strip()
    if not (text.isascii() and text.isdigit()) or int(text) > top:
        raise ValidationError(f"{field} is a whole number from 0 to {top}.")
    return int(text)


def parse_steps(posted: QueryDict) -> tuple[list[dict[str, Any]], int]:
    """``(steps, repeat)`` from a posted form; rows without a target are left out."""
    steps = []
    for i in range(_row_count(posted)):
        target = posted.get(f"step-{i}-target", "")
        if not target:
            continue
        if target not in EscalationStep.Target.values:
            raise ValidationError(f"Step {i + 1}: unknown kind of step {target[:40]!r}.")
        wait = _number(posted.get(f"step-{i}-wait", ""), field="A wait", top=MAX_WAIT_MINUTES)
        steps.append(
            {
                "target": target,
                "wait": timedelta(minutes=wait),
                **_whom_fields(posted.get(f"step-{i}-whom", "")),
            }
        )
    repeat = _number(posted.get("policy_repeat", ""), field="Repeat", top=MAX_REPEAT)
    return steps, repeat


def urgency_rows(policy: EscalationPolicy, posted: QueryDict | None) -> list[dict[str, str]]:
    """The overrides' rows: as posted when this policy's form was refused, else its own."""
    if posted is not None:
        return [
            {
                "severity": posted.get(f"urgency-{i}-severity", ""),
                "urgency": posted.get(f"urgency-{i}-urgency", ""),
            }
            for i in range(_urgency_row_count(posted))
        ]
    rows = [
        {"severity": str(severity), "urgency": str(urgency)}
        for severity, urgency in sorted((policy.urgency_by_severity or {}).items())
    ]
    return rows + [{"severity": "", "urgency": "high"} for _ in range(EXTRA_URGENCY_ROWS)]


def _urgency_row_count(posted: QueryDict) -> int:
    found = sum(1 for name in posted if name.startswith("urgency-") and name.endswith("-severity"))
    return min(MAX_URGENCY_ROWS, found)


def parse_urgency(posted: QueryDict) -> dict[str, str] | None:
    """The overrides from a posted form (rows without a severity are left out), checked by
    the model's rule; None when the form had no such rows (a form of before: kept)."""
    if not any(name.startswith("urgency-") for name in posted):
        return None
    mapping: dict[str, str] = {}
    for i in range(_urgency_row_count(posted)):
        # Severities are matched lower-cased (EscalationPolicy.urgency_mapping): stored so.
        severity = posted.get(f"urgency-{i}-severity", "").strip().lower()
        if not severity:
            continue
        urgency = posted.get(f"urgency-{i}-urgency", "")
        if severity in mapping:
            raise ValidationError(f"Severity {severity[:40]!r} is in two rows.")
        if urgency not in URGENCIES:
            raise ValidationError(
                f"Severity {severity[:40]!r}: urgency is high or low, not {urgency[:20]!r}."
            )
        mapping[severity] = urgency
    validate_urgency_mapping(mapping)
    return mapping
