"""SLOs as code: a YAML file in the repository, validated exactly like admin and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event
from batchwatch.catalog.models import Job, Team
from batchwatch.core import yamlshape
from batchwatch.core.yamlshape import ListOf, Mapping, Scalar, Text
from batchwatch.slo.models import SLO

FIELDS = {
    "slug",
    "name",
    "description",
    "kind",
    "job",
    "team",
    "labels",
    "objective",
    "window",
    "deadline",
    "max_age",
    "duration",
    "warning_budget_ratio",
    "prediction_lead",
    "active",
}

# What each node must be, checked before ``_slo_from`` reads it (core/yamlshape.py).
SHAPE = Mapping(
    {
        "slos": ListOf(
            Mapping(
                {
                    "slug": Text(),
                    "name": Text(),
                    "description": Text(),
                    "kind": Text(),
                    "job": Text(),
                    "team": Text(),
                    "labels": Mapping(values=Scalar(), expected="a mapping of label: value"),
                    "objective": Scalar(),
                    "window": Mapping(
                        {"size": Scalar(), "unit": Text(), "type": Text()},
                        expected="a mapping (size:, unit:, type:)",
                    ),
                    "deadline": Mapping(
                        {"time": Scalar(), "timezone": Text(), "day_offset": Scalar()},
                        expected="a mapping (time:, timezone:, day_offset:)",
                    ),
                    "max_age": Scalar(),
                    "duration": Scalar(),
                    "warning_budget_ratio": Scalar(),
                    "prediction_lead": Scalar(),
                    "active": Scalar(),
                },
                expected="an SLO (a mapping of fields)",
            ),
            expected="a list of SLOs",
        )
    },
    expected="a mapping with a 'slos:' list",
)


class SLOFileError(Exception):
    """What is wrong with an SLO file, where, in a sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_duration(value: Any, where: str) -> timedelta:
    """'90s', '45m', '6h', '2d', or a number of seconds."""
    if isinstance(value, int | float) and value > 0:
        return timedelta(seconds=value)
    text = str(value).strip().lower()
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if len(text) > 1 and text[-1] in units:
        try:
            amount = float(text[:-1])
        except ValueError:
            amount = -1
        if amount > 0:
            return timedelta(**{units[text[-1]]: amount})
    raise ValueError(f"{where}: {value!r} is not a duration like 90s, 45m, 6h or 2d")


def _slo_from(entry: dict, where: str) -> SLO:
    unknown = set(entry) - FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    slo = SLO(
        slug=str(entry.get("slug", "")),
        name=str(entry.get("name") or entry.get("slug", "")),
        description=str(entry.get("description", "")),
        kind=str(entry.get("kind", "")),
        is_active=bool(entry.get("active", True)),
    )
    try:
        slo.objective = Decimal(str(entry.get("objective")))
    except InvalidOperation:
        raise ValueError(f"{where}: objective {entry.get('objective')!r} is not a number") from None
    if "job" in entry:
        slo.job = Job.objects.filter(key=entry["job"]).first()
        if slo.job is None:
            raise ValueError(f"{where}: no job with the key {entry['job']!r}")
    if "team" in entry:
        slo.team = Team.objects.filter(slug=entry["team"]).first()
        if slo.team is None:
            raise ValueError(f"{where}: no team {entry['team']!r}")
    slo.label_selector = entry.get("labels") or {}
    window = entry.get("window") or {}
    if window:
        slo.window_size = int(window.get("size", 28))
        slo.window_unit = str(window.get("unit", "runs"))
        slo.window_type = str(window.get("type", "rolling"))
    deadline = entry.get("deadline") or {}
    if deadline:
        try:
            slo.deadline_time = time.fromisoformat(str(deadline.get("time", "")))
        except ValueError:
            raise ValueError(
                f"{where}: deadline.time {deadline.get('time')!r} is not HH:MM"
            ) from None
        slo.deadline_timezone = str(deadline.get("timezone", ""))
        slo.deadline_day_offset = int(deadline.get("day_offset", 1))
    if "max_age" in entry:
        slo.max_age = parse_duration(entry["max_age"], f"{where}: max_age")
    if "duration" in entry:
        slo.duration_threshold = parse_duration(entry["duration"], f"{where}: duration")
    if "prediction_lead" in entry:
        slo.prediction_lead = parse_duration(entry["prediction_lead"], f"{where}: prediction_lead")
    if "warning_budget_ratio" in entry:
        slo.warning_budget_ratio = Decimal(str(entry["warning_budget_ratio"]))
    return slo


@dataclass
class LoadResult:
    created: int
    updated: int  # existing SLOs the file names, changed or not
    changed: int = 0  # those of them whose fields the file changed


# Compared to tell a changed SLO from one the file repeats as it is.
_BOOKKEEPING = {"id", "created_at", "updated_at"}


def _differs(slo: SLO, existing: SLO) -> bool:
    return any(
        getattr(slo, f.attname) != getattr(existing, f.attname)
        for f in SLO._meta.concrete_fields
        if f.attname not in _BOOKKEEPING
    )


def load_slo_file(path: Path, *, actor_name: str = "") -> LoadResult:
    """Create or update the file's SLOs (by slug); all or nothing. Raises SLOFileError.

    The load is recorded in the audit log (``config.loaded``: the file, what was created and
    changed) in the transaction that saves the SLOs; ``actor_name`` says who loaded it."""
    try:
        document = yamlshape.load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SLOFileError([f"{path}: cannot read it ({exc.strerror})"]) from None
    except UnicodeDecodeError:
        raise SLOFileError([f"{path}: not a UTF-8 text file"]) from None
    except RecursionError:
        raise SLOFileError([f"{path}: not valid YAML (nested too deeply)"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise SLOFileError(
            [f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})"]
        ) from None
    entries = (document or {}).get("slos") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SLOFileError([f"{path}: expected a top-level 'slos:' list"])
    shape_problems = yamlshape.problems(document, SHAPE, prefix=f"{path}: ")
    if shape_problems:
        raise SLOFileError(shape_problems)
    problems, slos, changed = [], [], 0
    for i, entry in enumerate(entries):
        where = f"{path}: slos[{i}]" + (
            f" ({entry.get('slug')})" if isinstance(entry, dict) else ""
        )
        if not isinstance(entry, dict):
            problems.append(f"{where}: each SLO is a mapping of fields")
            continue
        try:
            slo = _slo_from(entry, where)
            existing = SLO.objects.filter(slug=slo.slug).first()
            if existing:
                slo.pk, slo.created_at = existing.pk, existing.created_at
            slo.full_clean(validate_unique=existing is None)
            changed += bool(existing) and _differs(slo, existing)
            slos.append(slo)
        except ValueError as exc:
            problems.append(str(exc))
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                problems += [f"{where}: {field}: {m}" for m in messages]
    if problems:
        raise SLOFileError(problems)
    created = sum(1 for s in slos if s.pk is None)
    result = LoadResult(created=created, updated=len(slos) - created, changed=changed)
    with transaction.atomic():
        for slo in slos:
            slo.save()
        record_event(
            AuditEvent.Action.CONFIG_LOADED,
            actor_name=actor_name,
            target_repr=f"SLOs {path.resolve()}",
            detail={
                "kind": "slos",
                "file": str(path.resolve()),
                "counts": {
                    "created": result.created,
                    "changed": result.changed,
                    "unchanged": result.updated - result.changed,
                },
            },
        )
    return result
