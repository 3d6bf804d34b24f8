"""Loads the demo (``fixtures/demo_catalog.yaml``, then the SLOs' and alerting's demo files)
through the owning apps' services, with two weeks of run history.

Idempotent: teams and jobs are updated in place; existing users keep their passwords.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from django.contrib.auth import get_user_model
from django.db import transaction

from batchwatch.alerts.loading import config_apply, load_document
from batchwatch.alerts.models import Route
from batchwatch.catalog import services
from batchwatch.catalog.models import Job, Membership, OwnershipRule, Team, job_key
from batchwatch.runs.ledger import occurrences as scheduled_between
from batchwatch.runs.models import Run, RunSource, Signal
from batchwatch.runs.observations import RunObservation
from batchwatch.runs.services import runs_record
from batchwatch.slo.loading import load_slo_file

APPS = Path(__file__).resolve().parents[1]
DEMO_FILE = Path(__file__).parent / "fixtures" / "demo_catalog.yaml"
DEMO_SLOS = APPS / "slo" / "fixtures" / "demo_slos.yaml"
DEMO_ALERTING = APPS / "alerts" / "fixtures" / "demo_alerting.yaml"
DEMO_PASSWORD = "batchwatch-demo"  # noqa: S105 - a demo, on 127.0.0.1, printed to the user
DEMO_ADMIN = "admin"


@dataclass
class DemoSummary:
    teams: int
    jobs: int
    users_created: list[str]
    runs: int = 0


@transaction.atomic
def load_demo_catalog(path: Path = DEMO_FILE) -> DemoSummary:
    spec = yaml.safe_load(path.read_text())
    User = get_user_model()
    created: list[str] = []

    admin_user = User.objects.filter(username=DEMO_ADMIN).first()
    if admin_user is None:
        User.objects.create_superuser(DEMO_ADMIN, "admin@example.com", DEMO_PASSWORD)
        created.append(DEMO_ADMIN)
    users = {}
    for entry in spec["users"]:
        user, was_created = User.objects.get_or_create(
            username=entry["username"],
            defaults={k: v for k, v in entry.items() if k != "username"},
        )
        if was_created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            created.append(user.username)
        users[user.username] = user

    teams = {}
    for entry in spec["teams"]:
        fields = {k: entry.get(k, "") for k in ("name", "description", "slack_channel")}
        team = Team.objects.filter(slug=entry["slug"]).first()
        if team is None:
            team = services.team_create(slug=entry["slug"], **fields)
        else:
            team = services.team_update(team=team, changes=fields)
        for username in entry.get("owners", []):
            services.membership_set(team=team, user=users[username], role=Membership.Role.OWNER)
        for username in entry.get("members", []):
            services.membership_set(team=team, user=users[username], role=Membership.Role.MEMBER)
        teams[team.slug] = team

    OwnershipRule.objects.filter(
        description__in=[r["description"] for r in spec["ownership_rules"]]
    ).delete()
    for entry in spec["ownership_rules"]:
        entry = dict(entry)
        services.ownership_rule_create(team=teams[entry.pop("team")], **entry)

    # Jobs first, edges second: an edge may point at a job further down the file.
    jobs: dict[str, Job] = {}
    for entry in spec["jobs"]:
        fields = {k: v for k, v in entry.items() if k not in {"upstream", "owner_team"}}
        fields["owner_team"] = teams[entry["owner_team"]]
        key = job_key(entry["engine"], entry["namespace"], entry["name"])
        job = Job.objects.filter(key=key).first()
        if job is None:
            job = services.job_create(**fields)
        else:
            job = services.job_update(job=job, changes=fields)
        jobs[key] = job
    for entry in spec["jobs"]:
        key = job_key(entry["engine"], entry["namespace"], entry["name"])
        services.job_set_upstream(
            job=jobs[key], upstream=[jobs[k] for k in entry.get("upstream", [])]
        )

    now = datetime.now(UTC)
    for entry in spec["observed_jobs"]:
        services.job_register_observed(seen_at=now, **entry)

    runs = _demo_runs(list(jobs.values()), now=now)
    load_slo_file(DEMO_SLOS)
    _demo_alerting(now)
    return DemoSummary(teams=len(teams), jobs=Job.objects.count(), users_created=created, runs=runs)


def _demo_alerting(now: datetime) -> None:
    """Rotations, policies and routes; and the ledger's recent judgements as live alerts."""
    if not Route.objects.exists():  # never overwrite a configuration someone edited
        config_apply(load_document(DEMO_ALERTING.read_text()), now=now)
    # The demo's history is old news, except the last hours: those page (in the log).
    Signal.objects.filter(routed_at__isnull=True, created_at__lt=now - timedelta(hours=6)).update(
        routed_at=now
    )


def _demo_runs(jobs: list[Job], *, now: datetime, days: int = 14) -> int:
    """Two weeks of history for the daily demo jobs that have none yet (deterministic)."""
    rng = random.Random(20261122)  # noqa: S311 - demo data, not secrets
    with_runs = set(Run.objects.filter(job__in=jobs).values_list("job_id", flat=True))
    observations = []
    for job in jobs:
        if not job.is_active or not job.schedule_cron or job.pk in with_runs:
            continue
        # The latest occurrences up to two hours ago: recent history, and a short gap the
        # ledger's first evaluation judges (so the demo shows late and missed runs too).
        occurrences = scheduled_between(job, now - timedelta(days=days), now - timedelta(hours=2))
        occurrences = occurrences[-days:]
        typical = rng.randint(300, 3600)
        for i, scheduled in enumerate(occurrences):
            started = scheduled + timedelta(seconds=rng.randint(5, 240))
            failed = job.tier == 1 and i == len(occurrences) - 4
            duration = typical * rng.uniform(0.85, 1.2) * (0.4 if failed else 1)
            observations.append(
                RunObservation(
                    engine=job.engine,
                    namespace=job.namespace,
                    job_name=job.name,
                    external_id=f"scheduled__{scheduled.isoformat()}",
                    source=RunSource.OPENLINEAGE,
                    state="failed" if failed else "succeeded",
                    scheduled_at=scheduled,
                    started_at=started,
                    ended_at=started + timedelta(seconds=duration),
                    failure_reason="ExecutorLostFailure: container killed for exceeding "
                    "memory limits"
                    if failed
                    else "",
                )
            )
    runs_record(observations, seen_at=now)
    return len(observations)
