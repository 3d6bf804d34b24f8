"""Which runbook an alert gets: the most specific one whose ``applies_to`` matches.

Pure: works on anything with ``id`` (or ``slug``) and an ``applies_to`` mapping. A runbook
matches when every criterion it states matches (kinds or alertnames, engines, failure-reason
regexes, label equality); among matches the one stating the most wins (a failure-reason
pattern counts double: it says the most about the problem), then the lowest id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class AlertFacts:
    kind: str = ""
    alertname: str = ""
    engine: str = ""
    failure_reason: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, labels: dict, *, failure_reason: str = "", kind: str = "") -> AlertFacts:
        return cls(
            kind=kind or labels.get("kind", ""),
            alertname=labels.get("alertname", ""),
            engine=labels.get("engine", ""),
            failure_reason=failure_reason or "",
            labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        )


def score(applies_to: dict, facts: AlertFacts) -> int | None:
    """How specifically a runbook matches (None: it does not)."""
    kinds = applies_to.get("kinds") or []
    alertnames = applies_to.get("alertnames") or []
    if not kinds and not alertnames:
        return None
    by_kind = facts.kind in kinds
    by_name = facts.alertname in alertnames
    if not (by_kind or by_name):
        return None
    points = 1 + (1 if by_name else 0)
    engines = applies_to.get("engines") or []
    if engines:
        if facts.engine not in engines:
            return None
        points += 1
    reasons = applies_to.get("failure_reasons") or []
    if reasons:
        if not facts.failure_reason or not any(
            re.search(p, facts.failure_reason, re.IGNORECASE) for p in reasons
        ):
            return None
        points += 2
    labels = applies_to.get("labels") or {}
    have = dict(facts.labels)
    for name, value in labels.items():
        if have.get(name) != value:
            return None
        points += 1
    return points


def best(runbooks, facts: AlertFacts):
    """The most specific matching runbook, or None."""
    ranked = []
    for runbook in runbooks:
        points = score(
            runbook.applies_to
            if isinstance(runbook.applies_to, dict)
            else runbook.applies_to.as_dict(),
            facts,
        )
        if points is not None:
            ranked.append((-points, getattr(runbook, "slug", None) or runbook.id, runbook))
    return min(ranked, key=lambda r: r[:2])[2] if ranked else None
