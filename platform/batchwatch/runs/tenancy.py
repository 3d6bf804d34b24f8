"""Ingest keys are scoped to their team: a key bound to a team records runs of that team's
jobs only.

An observation carries ``owner_team_id`` = the team of the ingest key that sent it (None for
a key without a team, anonymous development ingest and pollers: those keep recording runs of
any job). Such an observation is recorded only when its job is owned by that team, or is new
and the ownership rules give it to that team (or to nobody, when the key's team becomes its
default owner). Anything else is refused, and its job is not registered either: a key of
*ledger* must not be able to put a failed run on *risk*'s job, which would page *risk*.
"""

from __future__ import annotations

from collections.abc import Iterable

from batchwatch.catalog.models import Job
from batchwatch.catalog.selectors import owner_team_for, ownership_rules_active
from batchwatch.catalog.services import ObservedJob
from batchwatch.runs.observations import RunObservation

# The sentence does not name the other team: the sender learns nothing about who owns what.
NOT_OWNED = (
    "job {key} is not owned by this ingest key's team: its runs are recorded only through a "
    "key of the owning team (or a key without a team)"
)


def registrable(new: list[ObservedJob]) -> list[ObservedJob]:
    """The new jobs a scoped key may register: those the ownership rules give to its team or
    to nobody. One read of the rules, only when a scoped key meets new jobs."""
    if all(entry.default_team_id is None for entry in new):
        return new
    rules = ownership_rules_active()
    kept = []
    for entry in new:
        if entry.default_team_id is not None:
            owner = owner_team_for(
                engine=entry.engine,
                namespace=entry.namespace,
                name=entry.name,
                labels=entry.labels or {},
                rules=rules,
            )
            if owner is not None and owner.pk != entry.default_team_id:
                continue
        kept.append(entry)
    return kept


def outside_team(observations: Iterable[RunObservation], jobs: dict[str, Job]) -> dict[int, str]:
    """The observations (by ``id()``) whose key's team does not own their job, with the
    sentence that refuses each. A job missing from ``jobs`` was not registered for them."""
    refused: dict[int, str] = {}
    for obs in observations:
        if obs.owner_team_id is None:
            continue
        job = jobs.get(obs.job_key)
        if job is None or job.owner_team_id != obs.owner_team_id:
            refused[id(obs)] = NOT_OWNED.format(key=obs.job_key)
    return refused
