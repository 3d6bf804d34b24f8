"""Loads the demo (``fixtures/demo_catalog.yaml``, then the SLOs' and alerting's demo files)
through the owning apps' services, with two weeks of run history (``history.py``), its latest
failures as resolved incidents and one current incident (``incidents.py``).

Idempotent: teams and jobs are updated in place; existing users keep their passwords; runs
continue from each job's latest; one incident is open after a load, never more.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F

from batchwatch.alerts.loading import config_apply, load_document
from batchwatch.alerts.models import Incident, Route
from batchwatch.catalog import services
from batchwatch.catalog.models import Job, Membership, OwnershipRule, Team, job_key
from batchwatch.demo import inbox
from batchwatch.demo import incidents as demo_incidents
from batchwatch.demo.history import plan_history
from batchwatch.demo.models import DemoInstallation
from batchwatch.slo.loading import load_slo_file
from batchwatch.slo.services import evaluate_all

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
    incident: Incident | None = None


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
    load_slo_file(DEMO_SLOS)
    if not Route.objects.filter(team=None).exists():  # never overwrite an edited configuration
        config_apply(load_document(DEMO_ALERTING.read_text()), now=now)
    _mark_loaded(now)
    with inbox.capture():
        runs, incident = _demo_history(list(jobs.values()), now=now)
    return DemoSummary(
        teams=len(teams),
        jobs=Job.objects.count(),
        users_created=created,
        runs=runs,
        incident=incident,
    )


def _mark_loaded(now: datetime) -> None:
    marker = DemoInstallation.objects.first()
    if marker is None:
        DemoInstallation.objects.create(loaded_at=now)
    else:
        DemoInstallation.objects.filter(pk=marker.pk).update(loaded_at=now, loads=F("loads") + 1)


def _demo_history(jobs: list[Job], *, now: datetime) -> tuple[int, Incident | None]:
    """Runs since the last load, the ledger's and SLOs' judgements of them taken in as old
    news, the latest failures replayed as resolved incidents, and one current incident."""
    rng = random.Random(20261122)  # noqa: S311 - demo data, not secrets
    open_incident = Incident.objects.exclude(state=Incident.State.RESOLVED).exists()
    current_job = next((j for j in jobs if j.key == demo_incidents.CURRENT_JOB), None)
    hold = {}
    if not open_incident and current_job is not None:
        occurrence = demo_incidents.current_occurrence(current_job, now=now)
        if occurrence is not None:
            hold[current_job.key] = occurrence
    history = plan_history(jobs, now=now, rng=rng, hold=hold)
    runs = demo_incidents.record_and_replay(history, now=now)
    current = demo_incidents.record_current_failure(now=now)
    # The ledger's and the SLOs' judgements as of now, of a past nobody is paged about.
    evaluate_all(now)
    demo_incidents.signals_settle(now=now, keep=current)
    return runs, demo_incidents.open_current_incident(current, now=now)
