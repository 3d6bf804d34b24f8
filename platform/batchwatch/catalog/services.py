"""Writes to the catalog. Every write validates like admin does and runs in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from batchwatch.catalog.models import (
    Job,
    JobDataset,
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
        "calendar",
        "start_grace",
        "miss_grace",
        "max_runtime",
        "min_runtime",
        "repo_url",
        "runbook",
        "docs_url",
        "is_active",
    }
)
TEAM_EDITABLE_FIELDS = frozenset(
    {"slug", "name", "description", "slack_channel", "slack_thread_updates"}
)


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


@dataclass(frozen=True)
class ObservedJob:
    """A job telemetry speaks of, for :func:`jobs_register_observed`."""

    engine: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    default_team_id: int | None = None


def jobs_register_observed(
    new: list[ObservedJob],
    *,
    seen_at: datetime,
    on_invalid: Callable[[ObservedJob, str], None] | None = None,
) -> dict[str, Job]:
    """:func:`job_register_observed` for many jobs at once (what a batch of telemetry from a
    fresh deployment meets): one read of the ownership rules, one INSERT that skips jobs
    registered meanwhile, one read back. Returns the jobs by key.

    The INSERT writes its rows in key order in its own short transaction, so concurrent
    registrations of the same new jobs wait for each other instead of deadlocking.

    A job that fails the catalog's validation raises ``ValidationError``; with
    ``on_invalid``, it is handed to it with the sentence instead and left out, so that one
    bad name never costs the other jobs of a batch their registration.
    """
    if not new:
        return {}
    rules = ownership_rules_active()
    jobs = {}
    for entry in sorted(new, key=lambda e: job_key(e.engine, e.namespace, e.name)):
        job = Job(
            engine=entry.engine,
            namespace=entry.namespace,
            name=entry.name,
            labels=dict(entry.labels or {}),
            registration=Registration.OBSERVED,
            owner_team=owner_team_for(
                engine=entry.engine,
                namespace=entry.namespace,
                name=entry.name,
                labels=entry.labels or {},
                rules=rules,
            ),
            last_seen_at=seen_at,
        )
        if job.owner_team is None and entry.default_team_id is not None:
            job.owner_team_id = entry.default_team_id
        job.key = job_key(job.engine, job.namespace, job.name)
        # (owners come from the rules read above or the ingest key: no query per job for them)
        try:
            job.full_clean(
                exclude=["owner_team"], validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            if on_invalid is None:
                raise
            on_invalid(entry, _sentence(job.key, exc))
            continue
        jobs[job.key] = job
    if not jobs:
        return {}
    with transaction.atomic():
        Job.objects.bulk_create(list(jobs.values()), ignore_conflicts=True)
    for key, job in jobs.items():  # (a job another process registered meanwhile is logged twice)
        logger.info("catalog.job_registered", extra={"job": key, "owner": job.owner_team_id})
    return {j.key: j for j in Job.objects.filter(key__in=list(jobs)).select_related("owner_team")}


def _sentence(key: str, exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        parts = [f"{field}: {' '.join(m)}" for field, m in exc.message_dict.items()]
    else:
        parts = exc.messages
    return f"job {key[:200]!r} cannot be registered: {'; '.join(parts)}"


@transaction.atomic
def job_register_observed(
    *,
    engine: str,
    namespace: str,
    name: str,
    seen_at: datetime,
    labels: Mapping[str, str] | None = None,
    default_team_id: int | None = None,
) -> Job:
    """Get the job telemetry speaks of, registering it (owner from the rules) if new.

    Used by ingest: a job that sends telemetry before anyone declared it still lands in the
    catalog, with the owner its ownership rules give, else ``default_team_id`` (the team an
    ingest key is bound to). A declared job's owner is never changed.
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
        if job.owner_team is None and default_team_id is not None:
            job.owner_team_id = default_team_id
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


def lineage_record(observations, *, seen_at: datetime) -> int:
    """Record datasets read and written, and the job → job edges they imply.

    ``observations`` are ``runs.observations.LineageObservation``s whose jobs exist (ingest
    registers them first). Edges are *observed*: a producer of a dataset is upstream of every
    job that reads it; a parent run's job is upstream of its child's. Returns new edges.
    """
    observations = [o for o in observations if o.inputs or o.outputs or o.parent_job_key]
    if not observations:
        return 0
    keys = {o.job_key for o in observations} | {
        o.parent_job_key for o in observations if o.parent_job_key
    }
    jobs = dict(Job.objects.filter(key__in=keys).values_list("key", "pk"))
    accesses = []
    for obs in observations:
        job_id = jobs.get(obs.job_key)
        if job_id is None:
            continue
        for direction, datasets in (
            (JobDataset.Direction.INPUT, obs.inputs),
            (JobDataset.Direction.OUTPUT, obs.outputs),
        ):
            accesses += [
                JobDataset(job_id=job_id, namespace=ns[:300], name=name[:500],
                           direction=direction, last_seen_at=seen_at)
                for ns, name in datasets
            ]  # fmt: skip
    JobDataset.objects.bulk_create(
        accesses,
        update_conflicts=True,
        unique_fields=["job", "namespace", "name", "direction"],
        update_fields=["last_seen_at"],
    )
    edges: set[tuple[int, int]] = set()
    for obs in observations:
        job_id = jobs.get(obs.job_key)
        if job_id is None:
            continue
        if obs.parent_job_key and jobs.get(obs.parent_job_key):
            edges.add((jobs[obs.parent_job_key], job_id))
        for ns, name in obs.inputs:
            for producer in JobDataset.objects.filter(
                namespace=ns, name=name, direction=JobDataset.Direction.OUTPUT
            ).values_list("job_id", flat=True):
                edges.add((producer, job_id))
        for ns, name in obs.outputs:
            for consumer in JobDataset.objects.filter(
                namespace=ns, name=name, direction=JobDataset.Direction.INPUT
            ).values_list("job_id", flat=True):
                edges.add((job_id, consumer))
    edges = {(up, down) for up, down in edges if up != down}
    if not edges:
        return 0
    existing = set(
        JobDependency.objects.filter(
            source=JobDependency.Source.OBSERVED, downstream_id__in={d for _, d in edges}
        ).values_list("upstream_id", "downstream_id")
    )
    JobDependency.objects.bulk_create(
        [
            JobDependency(
                upstream_id=up,
                downstream_id=down,
                source=JobDependency.Source.OBSERVED,
                last_observed_at=seen_at,
            )
            for up, down in edges - existing
        ],
        ignore_conflicts=True,
    )
    q = Q()
    for up, down in edges & existing:
        q |= Q(upstream_id=up, downstream_id=down)
    if edges & existing:
        JobDependency.objects.filter(q, source=JobDependency.Source.OBSERVED).update(
            last_observed_at=seen_at
        )
    return len(edges - existing)
