"""Reads of the catalog. Views, the API and other apps read through here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

from croniter import croniter
from django.db.models import Model, Prefetch, Q, QuerySet

from batchwatch.catalog.models import Job, JobDependency, Membership, OwnershipRule, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


def ownership_rule_matches(
    rule: OwnershipRule, *, engine: str, namespace: str, name: str, labels: Mapping[str, str]
) -> bool:
    if rule.engine and rule.engine != engine:
        return False
    if rule.namespace_pattern and not fnmatchcase(namespace, rule.namespace_pattern):
        return False
    if rule.name_pattern and not fnmatchcase(name, rule.name_pattern):
        return False
    for key, pattern in (rule.label_selector or {}).items():
        value = labels.get(key)
        if value is None or not fnmatchcase(value, pattern):
            return False
    return True


def ownership_rules_active() -> list[OwnershipRule]:
    return list(OwnershipRule.objects.filter(is_active=True).select_related("team"))


def owner_team_for(
    *,
    engine: str,
    namespace: str,
    name: str,
    labels: Mapping[str, str] | None = None,
    rules: Iterable[OwnershipRule] | None = None,
) -> Team | None:
    """The team the first matching ownership rule names, or None.

    Pass ``rules`` (from :func:`ownership_rules_active`) when resolving many jobs at once.
    """
    for rule in ownership_rules_active() if rules is None else rules:
        if ownership_rule_matches(
            rule, engine=engine, namespace=namespace, name=name, labels=labels or {}
        ):
            return rule.team
    return None


_M = TypeVar("_M", bound=Model)


def by_owner_team(
    queryset: QuerySet[_M], team: str | None, *, path: str = "owner_team"
) -> QuerySet[_M]:
    """Filter by the owning team's slug; ``"-"`` means owned by nobody (yet)."""
    if team == "-":
        return queryset.filter(**{f"{path}__isnull": True})
    if team:
        return queryset.filter(**{f"{path}__slug": team})
    return queryset


def job_list(
    *,
    team: str | None = None,
    engine: str | None = None,
    labels: Mapping[str, str] | None = None,
    search: str | None = None,
    active: bool | None = None,
) -> QuerySet[Job]:
    """Jobs with their owner loaded; ``team`` is a slug, or ``"-"`` for unowned jobs."""
    jobs = by_owner_team(Job.objects.select_related("owner_team"), team)
    if engine:
        jobs = jobs.filter(engine=engine)
    for key, value in (labels or {}).items():
        jobs = jobs.filter(**{f"labels__{key}": value})
    if search:
        jobs = jobs.filter(Q(key__icontains=search) | Q(description__icontains=search))
    if active is not None:
        jobs = jobs.filter(is_active=active)
    return jobs


def job_detail(*, job_id: int) -> Job:
    """A job with its owner, edges (both ways, with provenance) loaded."""
    return (
        Job.objects.select_related("owner_team")
        .prefetch_related(
            Prefetch(
                "upstream_edges",
                queryset=JobDependency.objects.select_related("upstream").order_by("upstream__key"),
            ),
            Prefetch(
                "downstream_edges",
                queryset=JobDependency.objects.select_related("downstream").order_by(
                    "downstream__key"
                ),
            ),
        )
        .get(pk=job_id)
    )


MAX_OCCURRENCES = 2000  # per call: a '* * * * *' schedule over a day is 1,440


def schedule_occurrences(
    job: Job, start: datetime, end: datetime | None = None, *, limit: int = MAX_OCCURRENCES
) -> list[datetime]:
    """Scheduled instants after ``start`` (up to ``end``), aware UTC, computed in the job's zone.

    A wall-clock time that does not exist (spring forward) runs at the next one that does; an
    ambiguous one (fall back), which croniter yields once per offset, is one occurrence.
    Calendar skip days are left out, judged in the schedule's zone.
    """
    if not job.schedule_cron:
        return []
    zone = ZoneInfo(job.schedule_timezone)
    itr = croniter(job.schedule_cron, start.astimezone(zone))
    found: list[datetime] = []
    calendar = job.calendar
    previous_wall_clock = None
    while len(found) < limit:
        local = itr.get_next(datetime)
        if end is not None and local > end:
            break
        wall_clock = local.replace(tzinfo=None)
        if wall_clock == previous_wall_clock:
            continue
        previous_wall_clock = wall_clock
        if calendar is not None and calendar.skips(local.date()):
            continue
        found.append(local.astimezone(UTC))
    return found


def schedule_next_occurrences(job: Job, *, after: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` scheduled instants after ``after`` (aware UTC)."""
    return schedule_occurrences(job, after, limit=count)


def team_roles_of(user: User | AnonymousUser) -> dict[int, str]:
    """``{team_id: role}`` for the teams the user belongs to (one query)."""
    if not user.is_authenticated:
        return {}
    return dict(Membership.objects.filter(user=user).values_list("team_id", "role"))


def declared_edges() -> list[tuple[int, int]]:
    """All declared (upstream_id, downstream_id) edges; for cycle checks."""
    return list(
        JobDependency.objects.filter(source=JobDependency.Source.DECLARED).values_list(
            "upstream_id", "downstream_id"
        )
    )
