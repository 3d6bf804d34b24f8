"""Writes to the catalog. Every write validates like admin does and runs in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from batchwatch.catalog.models import (
    Job,
    JobDependency,
    Membership,
    OwnershipRule,
    Registration,
    Team,
    job_key,
)
from batchwatch.catalog.selectors import declared_edges, owner_team_for, ownership_rules_active

logger = logging.getLogger("batchwatch.catalog")

JOB_EDITABLE_FIELDS = frozenset(
    {
        "engine",
        "namespace",
        "name",
        "description",
        "owner_team",
        "tier",
        "schedule_cron",
        "schedule_timezone",
        "labels",
        "repo_url",
        "docs_url",
        "is_active",
    }
)
TEAM_EDITABLE_FIELDS = frozenset({"slug", "name", "description", "slack_channel"})


def _save_validated(instance, *, exclude_unique: bool = False) -> None:
    instance.full_clean(validate_unique=not exclude_unique)
    instance.save()


@transaction.atomic
def team_create(
    *,
    slug: str,
    name: str,
    description: str = "",
    slack_channel: str = "",
    owners: Iterable = (),
) -> Team:
    team = Team(slug=slug, name=name, description=description, slack_channel=slack_channel)
    _save_validated(team)
    for user in owners:
        membership_set(team=team, user=user, role=Membership.Role.OWNER)
    logger.info("catalog.team_created", extra={"team": team.slug})
    return team


@transaction.atomic
def team_update(*, team: Team, changes: Mapping[str, Any]) -> Team:
    unknown = set(changes) - TEAM_EDITABLE_FIELDS
    if unknown:
        raise ValidationError(f"Cannot change {', '.join(sorted(unknown))} of a team.")
    for field, value in changes.items():
        setattr(team, field, value)
    _save_validated(team)
    return team


@transaction.atomic
def membership_set(*, team: Team, user, role: str = Membership.Role.MEMBER) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use owner or member."})
    membership, _ = Membership.objects.update_or_create(
        team=team, user=user, defaults={"role": role}
    )
    return membership


@transaction.atomic
def job_create(
    *,
    engine: str,
    namespace: str,
    name: str,
    owner_team: Team | None = None,
    upstream: Iterable[Job] = (),
    **fields: Any,
) -> Job:
    unknown = set(fields) - JOB_EDITABLE_FIELDS
    if unknown:
        raise ValidationError(f"Unknown job fields: {', '.join(sorted(unknown))}.")
    job = Job(engine=engine, namespace=namespace, name=name, owner_team=owner_team, **fields)
    job.key = job_key(engine, namespace, name)
    _save_validated(job)
    job_set_upstream(job=job, upstream=upstream)
    logger.info("catalog.job_created", extra={"job": job.key})
    return job


@transaction.atomic
def job_update(
    *, job: Job, changes: Mapping[str, Any], upstream: Iterable[Job] | None = None
) -> Job:
    unknown = set(changes) - JOB_EDITABLE_FIELDS
    if unknown:
        raise ValidationError(f"Unknown job fields: {', '.join(sorted(unknown))}.")
    for field, value in changes.items():
        setattr(job, field, value)
    job.key = job_key(job.engine, job.namespace, job.name)
    _save_validated(job)
    if upstream is not None:
        job_set_upstream(job=job, upstream=upstream)
    return job


@transaction.atomic
def job_set_upstream(*, job: Job, upstream: Iterable[Job]) -> None:
    """Replace the job's declared upstream edges; observed edges are left as they are."""
    wanted = {u.pk: u for u in upstream}
    if job.pk in wanted:
        raise ValidationError({"upstream": "A job cannot be its own upstream."})
    edges = [e for e in declared_edges() if e[1] != job.pk]
    edges += [(up_id, job.pk) for up_id in wanted]
    cycle = _find_cycle(edges, start=job.pk)
    if cycle:
        names = dict(Job.objects.filter(pk__in=cycle).values_list("pk", "key"))
        path = " → ".join(names[pk] for pk in cycle)
        raise ValidationError({"upstream": f"These upstream jobs would make a cycle: {path}."})
    current = JobDependency.objects.filter(downstream=job, source=JobDependency.Source.DECLARED)
    current.exclude(upstream_id__in=wanted).delete()
    existing = set(current.values_list("upstream_id", flat=True))
    JobDependency.objects.bulk_create(
        JobDependency(upstream_id=up_id, downstream=job, source=JobDependency.Source.DECLARED)
        for up_id in wanted
        if up_id not in existing
    )


def _find_cycle(edges: list[tuple[int, int]], *, start: int) -> list[int]:
    """A path start → ... → start following upstream → downstream edges, or []."""
    children: dict[int, list[int]] = {}
    for up, down in edges:
        children.setdefault(up, []).append(down)
    stack: list[tuple[int, list[int]]] = [(start, [start])]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        for child in children.get(node, []):
            if child == start:
                return [*path, start]
            if child not in seen:
                seen.add(child)
                stack.append((child, [*path, child]))
    return []


@transaction.atomic
def job_register_observed(
    *,
    engine: str,
    namespace: str,
    name: str,
    seen_at: datetime,
    labels: Mapping[str, str] | None = None,
) -> Job:
    """Get the job telemetry speaks of, registering it (owner from the rules) if new.

    Used by ingest: a job that sends telemetry before anyone declared it still lands in the
    catalog, with the owner its ownership rules give. A declared job's owner is never changed.
    """
    key = job_key(engine, namespace, name)
    job = Job.objects.select_for_update().filter(key=key).first()
    if job is None:
        job = Job(
            engine=engine,
            namespace=namespace,
            name=name,
            labels=dict(labels or {}),
            registration=Registration.OBSERVED,
            owner_team=owner_team_for(
                engine=engine, namespace=namespace, name=name, labels=labels or {}
            ),
            last_seen_at=seen_at,
        )
        job.key = key
        job.full_clean(validate_unique=False, validate_constraints=False)
        try:
            # Two ingest requests may register the same new job at once: the loser of the
            # race reads the winner's row instead of failing.
            with transaction.atomic():
                job.save(force_insert=True)
        except IntegrityError:
            return Job.objects.get(key=key)
        logger.info(
            "catalog.job_registered",
            extra={"job": key, "owner": job.owner_team.slug if job.owner_team else None},
        )
        return job
    if job.last_seen_at is None or seen_at > job.last_seen_at:
        job.last_seen_at = seen_at
        job.save(update_fields=["last_seen_at", "updated_at"])
    return job


@transaction.atomic
def ownership_rules_apply(*, only_unowned: bool = True) -> int:
    """Re-resolve owners from the rules; returns how many jobs changed owner.

    By default only unowned jobs are touched, so a rule added later claims them without
    moving jobs whose owner a person chose.
    """
    rules = ownership_rules_active()
    jobs = Job.objects.select_for_update()
    if only_unowned:
        jobs = jobs.filter(owner_team__isnull=True)
    changed = []
    for job in jobs:
        team = owner_team_for(
            engine=job.engine,
            namespace=job.namespace,
            name=job.name,
            labels=job.labels,
            rules=rules,
        )
        if team is not None and team.pk != job.owner_team_id:
            job.owner_team = team
            changed.append(job)
    Job.objects.bulk_update(changed, ["owner_team"])
    return len(changed)


@transaction.atomic
def ownership_rule_create(*, team: Team, priority: int = 100, **conditions: Any) -> OwnershipRule:
    rule = OwnershipRule(team=team, priority=priority, **conditions)
    _save_validated(rule)
    return rule
