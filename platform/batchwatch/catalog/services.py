"""Writes to the catalog. Every write validates like admin does and runs in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model, Q

from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event
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

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest
    from rest_framework.request import Request

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


def _save_validated(instance: Model, *, exclude_unique: bool = False) -> None:
    instance.full_clean(validate_unique=not exclude_unique)
    instance.save()


@transaction.atomic
def team_create(
    *,
    slug: str,
    name: str,
    description: str = "",
    slack_channel: str = "",
    owners: Iterable[User] = (),
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
def membership_set(
    *,
    team: Team,
    user: User,
    role: str = Membership.Role.MEMBER,
    actor: User | None = None,
    actor_name: str = "",
    request: HttpRequest | Request | None = None,
) -> Membership:
    """Make ``user`` a member (or owner) of ``team``; a change of role is in the audit log
    (``actor`` made it; none for the demo data or a fixture)."""
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use owner or member."})
    membership = Membership.objects.select_for_update().filter(team=team, user=user).first()
    old = membership.role if membership else None
    if membership is None:
        membership = Membership.objects.create(team=team, user=user, role=role)
    elif membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    if old != role:
        _role_changed(membership, old, role, actor, actor_name, request)
    return membership


@transaction.atomic
def membership_remove(
    *,
    team: Team,
    user: User,
    actor: User | None = None,
    actor_name: str = "",
    request: HttpRequest | Request | None = None,
) -> bool:
    """Take ``user`` out of ``team`` (recorded as a role change to none); False when they
    were not a member."""
    membership = Membership.objects.select_for_update().filter(team=team, user=user).first()
    if membership is None:
        return False
    _role_changed(membership, membership.role, None, actor, actor_name, request)
    membership.delete()
    return True


@transaction.atomic
def membership_save(
    *,
    membership: Membership,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
) -> Membership:
    """Save a membership as admin's form left it (new, or its role, user or team changed) and
    record each role that changed: moving a row to another user or team is one person's
    removal and another's arrival."""
    stored = (
        Membership.objects.select_for_update().select_related("team", "user")
        .filter(pk=membership.pk).first()
        if membership.pk else None
    )  # fmt: skip
    _save_validated(membership)
    moved = stored is not None and (stored.team_id, stored.user_id) != (
        membership.team_id,
        membership.user_id,
    )
    if stored is not None and moved:
        _role_changed(stored, stored.role, None, actor, "", request)
    old = None if stored is None or moved else stored.role
    if old != membership.role:
        _role_changed(membership, old, membership.role, actor, "", request)
    return membership


def membership_delete(
    *,
    membership: Membership,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
) -> None:
    """Delete a membership row (admin), recorded as a role change to none."""
    membership_remove(team=membership.team, user=membership.user, actor=actor, request=request)


def _role_changed(
    membership: Membership,
    old: str | None,
    new: str | None,
    actor: User | None,
    actor_name: str,
    request: HttpRequest | Request | None,
) -> None:
    # The user's name is kept in the detail: the event outlives the membership row.
    record_event(
        AuditEvent.Action.ROLE_CHANGED,
        actor=actor,
        actor_name=actor_name,
        team=membership.team,
        target=membership,
        target_repr=f"{membership.user.get_username()} in {membership.team.slug}",
        detail={
            "user": membership.user.get_username(),
            "team": membership.team.slug,
            "old_role": old,
            "new_role": new,
        },
        request=request,
    )


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


class LineageFacts(Protocol):
    """What :func:`lineage_record` reads of a ``runs.observations.LineageObservation`` (the
    catalog sits below runs, so it names the fields rather than the class)."""

    @property
    def job_key(self) -> str: ...
    @property
    def inputs(self) -> Sequence[tuple[str, str]]: ...
    @property
    def outputs(self) -> Sequence[tuple[str, str]]: ...
    @property
    def parent_job_key(self) -> str | None: ...


def lineage_record(observations: Iterable[LineageFacts], *, seen_at: datetime) -> int:
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


def job_facts_record(*, facts: Mapping[int, Mapping[str, dict[str, Any]]]) -> int:
    """Record gauges of jobs themselves (``Job.facts``; ``facts`` maps a job's pk to its
    facts, each with an ISO ``at``): per job and fact, the report with the later ``at`` wins,
    so a stale export replayed late never replaces a newer one. Returns how many jobs changed.
    """
    if not facts:
        return 0
    changed = []
    with transaction.atomic():
        for job in Job.objects.select_for_update().filter(pk__in=facts).only("id", "facts"):
            held = dict(job.facts or {})
            for name, fact in facts[job.pk].items():
                old = held.get(name)
                if old is None or (fact.get("at") or "") > (old.get("at") or ""):
                    held[name] = fact
            if held != job.facts:
                job.facts = held
                changed.append(job)
        Job.objects.bulk_update(changed, ["facts"])
    return len(changed)
