"""The catalog as plain objects for dashboard sources (read in three queries, any size)."""

from __future__ import annotations

from dataclasses import dataclass, field

from batchwatch.catalog.models import Job, Team
from batchwatch.slo.models import SLO
from batchwatch.slo.selectors import jobs_by_team, slo_jobs_among


@dataclass(frozen=True)
class TeamInfo:
    slug: str
    name: str


@dataclass(frozen=True)
class JobInfo:
    pk: int
    key: str
    name: str
    engine: str
    team: str  # slug, "" when unowned
    tier: int
    max_runtime_seconds: float | None
    min_runtime_seconds: float | None
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SLOInfo:
    slug: str
    name: str
    kind: str
    objective: float  # 0-1
    team: str
    jobs: tuple[str, ...]  # job keys it covers


@dataclass
class CatalogSnapshot:
    teams: list[TeamInfo] = field(default_factory=list)
    jobs: list[JobInfo] = field(default_factory=list)
    slos: list[SLOInfo] = field(default_factory=list)

    def jobs_of(self, team_slug: str) -> list[JobInfo]:
        return [j for j in self.jobs if j.team == team_slug]

    def slos_of_team(self, team_slug: str) -> list[SLOInfo]:
        return [s for s in self.slos if s.team == team_slug]

    def slos_of_job(self, job_key: str) -> list[SLOInfo]:
        return [s for s in self.slos if job_key in s.jobs]


def catalog_snapshot() -> CatalogSnapshot:
    teams = [TeamInfo(t.slug, t.name) for t in Team.objects.order_by("slug")]
    rows = list(Job.objects.filter(is_active=True).select_related("owner_team").order_by("key"))
    jobs = [
        JobInfo(
            pk=j.pk,
            key=j.key,
            name=j.name,
            engine=j.engine,
            team=j.owner_team.slug if j.owner_team_id else "",
            tier=j.tier,
            max_runtime_seconds=j.max_runtime.total_seconds() if j.max_runtime else None,
            min_runtime_seconds=j.min_runtime.total_seconds() if j.min_runtime else None,
            labels=tuple(sorted((str(k), str(v)) for k, v in (j.labels or {}).items())),
        )
        for j in rows
    ]
    by_pk = {j.pk: info for j, info in zip(rows, jobs, strict=True)}
    by_team = jobs_by_team(rows)
    slos = []
    for slo in SLO.objects.filter(is_active=True).select_related("team", "job__owner_team"):
        if slo.job_id:  # an inactive job gets no dashboard, so its SLO covers none here
            covered = [by_pk[slo.job_id]] if slo.job_id in by_pk else []
        else:
            covered = [by_pk[j.pk] for j in slo_jobs_among(slo, rows, by_team)]
        if slo.team_id:
            team = slo.team.slug
        elif slo.job_id and slo.job.owner_team_id:
            team = slo.job.owner_team.slug  # even while the job is inactive
        else:
            team = covered[0].team if covered else ""
        slos.append(
            SLOInfo(
                slug=slo.slug,
                name=slo.name,
                kind=slo.kind,
                objective=float(slo.objective) / 100,
                team=team,
                jobs=tuple(j.key for j in covered),
            )
        )
    slos.sort(key=lambda s: s.slug)
    return CatalogSnapshot(teams=teams, jobs=jobs, slos=slos)
