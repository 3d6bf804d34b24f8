"""Every page at scale: p50/p95 server time and queries of each page (issue 21, "Scale").

    python bench/web.py [--jobs 10000] [--runs 1000000] [--spans 50000] [--incidents 20000]

On a fresh PostgreSQL database (``batchwatch_bench_web``): 100 teams, --jobs jobs and --runs
runs (COPY, the loaders of bench/slo.py), one failed Spark run whose trace holds --spans spans
(bench/web_trace.py), --incidents incidents (2% open, the rest resolved, each with one or two
alerts; COPY), 100 rotations with a weekly layer of three people, 50 silences. Then every page
is fetched through Django's test client in this process, as a staff user and as a member of
the first team and of the large trace's team: two warm-up fetches, then --repeat measured ones
(server time: the client's call, no network), with the queries of one fetch
(counted by an execute wrapper). Goal: p95 <= 300 ms for every page, <= 150 ms for /now and the
incident page.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

import psycopg
from benchlib import ROOT, fresh_database
from slo import _load_jobs, _load_runs

sys.path.insert(0, str(ROOT / "platform"))

# The empty value of a column type, for required columns a load does not list.
EMPTY = {
    "character varying": "",
    "text": "",
    "jsonb": "{}",
    "boolean": False,
    "integer": 0,
    "smallint": 0,
    "bigint": 0,
    "interval": timedelta(0),
}
GOALS = {"/now": 150, "incident": 150}


def copy_rows(conn, table: str, columns: list[str], rows) -> None:
    """COPY ``rows`` (tuples in the order of ``columns``) into ``table``; required columns
    not listed get their type's empty value."""
    extra = {
        name: EMPTY[kind]
        for name, kind in conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
            "AND is_nullable = 'NO' AND column_default IS NULL AND column_name <> ALL(%s)",
            [table, [*columns, "id"]],
        )
    }
    names = ", ".join([*columns, *extra])
    with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row((*row, *extra.values()))


def load_incidents(conn, incidents: int, now: datetime) -> None:
    """``incidents`` incidents over the last 90 days, 2% open, each with one or two alerts."""
    rng = random.Random(21)
    teams = [r[0] for r in conn.execute("SELECT id FROM catalog_team ORDER BY id")]
    jobs = [r[0] for r in conn.execute("SELECT id FROM catalog_job ORDER BY id LIMIT 1000")]
    first = conn.execute("SELECT coalesce(max(id), 0) FROM alerts_incident").fetchone()[0] + 1
    incident_rows, alert_rows, links = [], [], []
    alert_id = conn.execute("SELECT coalesce(max(id), 0) FROM alerts_alert").fetchone()[0]
    for n in range(incidents):
        created = now - timedelta(minutes=rng.uniform(1, 90 * 24 * 60))
        is_open = n % 50 == 0
        state = ("triggered" if n % 100 == 0 else "acknowledged") if is_open else "resolved"
        job = jobs[n % len(jobs)]
        key = f'{{alertname="JobFailed",job="{job}",n="{n}"}}'
        labels = f'{{"alertname": "JobFailed", "job_id": "{job}"}}'
        incident_rows.append(
            (
                first + n,
                f"JobFailed: job {job} (#{n})",
                key,
                key if is_open else None,
                labels,
                teams[n % len(teams)],
                state,
                "high" if n % 3 else "low",
                "critical" if n % 3 else "warning",
                created,
                None if is_open else created + timedelta(minutes=rng.uniform(5, 240)),
            )
        )
        for a in range(1 + n % 2):
            alert_id += 1
            alert_rows.append(
                (
                    alert_id,
                    "signals",
                    f"bench-{n}-{a}",
                    f'{{"alertname": "JobFailed", "job_id": "{job}", "n": "{n}-{a}"}}',
                    f"Job {job} failed",
                    "critical",
                    "firing" if is_open else "resolved",
                    created,
                    None if is_open else created + timedelta(minutes=30),
                    job,
                    created,
                    created,
                )
            )
            links.append((first + n, alert_id, created))
    copy_rows(
        conn,
        "alerts_incident",
        [
            "id",
            "title",
            "group_key",
            "open_group_key",
            "group_labels",
            "team_id",
            "state",
            "urgency",
            "severity",
            "created_at",
            "resolved_at",
        ],
        incident_rows,
    )
    copy_rows(
        conn,
        "alerts_alert",
        [
            "id",
            "source",
            "fingerprint",
            "labels",
            "summary",
            "severity",
            "status",
            "starts_at",
            "ends_at",
            "job_id",
            "first_received_at",
            "last_received_at",
        ],
        alert_rows,
    )
    copy_rows(conn, "alerts_incidentalert", ["incident_id", "alert_id", "added_at"], links)
    copy_rows(
        conn,
        "alerts_timelineentry",
        ["incident_id", "at", "kind"],
        ((row[0], row[9], "opened") for row in incident_rows),
    )
    for table in ("alerts_incident", "alerts_alert"):
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )


def load(url: str, args, now: datetime) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        job_ids = _load_jobs(conn, args.jobs, 90, now)
        _load_runs(conn, job_ids, max(1, args.runs // args.jobs), 90, now)
        load_incidents(conn, args.incidents, now)
        conn.execute("ANALYZE")


def load_with_django(spans: int, now: datetime):
    """The large trace, people, rotations and silences; returns (staff, member, run)."""
    from django.contrib.auth import get_user_model
    from web_trace import make_trace

    from batchwatch.alerts.models import Silence
    from batchwatch.catalog import services as catalog
    from batchwatch.catalog.models import Membership, Team
    from batchwatch.oncall.models import LayerParticipant, Rotation, RotationLayer

    run, member = make_trace(spans)
    User = get_user_model()
    staff = User.objects.create_user("staff", is_staff=True, is_superuser=True)
    first_team = Team.objects.get(slug="team-1")
    catalog.membership_set(team=first_team, user=member, role=Membership.Role.MEMBER)
    people = [User.objects.create_user(f"oncall-{i}") for i in range(6)]
    teams = list(Team.objects.filter(slug__startswith="team-").order_by("pk"))
    rotations = Rotation.objects.bulk_create(
        Rotation(slug=f"rotation-{i}", name=f"Rotation {i}", team=teams[i % len(teams)])
        for i in range(100)
    )
    layers = RotationLayer.objects.bulk_create(
        RotationLayer(
            rotation=r, start_date=date(2026, 1, 5), handoff_time=dtime(9), name="Primary"
        )
        for r in rotations
    )
    LayerParticipant.objects.bulk_create(
        LayerParticipant(layer=layer, user=people[(i + k) % len(people)], position=k)
        for i, layer in enumerate(layers)
        for k in range(3)
    )
    Silence.objects.bulk_create(
        Silence(
            matchers=[f'job_id="{i}"'],
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=1 + i),
            comment="maintenance",
            created_at=now - timedelta(hours=1),
            created_by=staff,
        )
        for i in range(50)
    )
    return staff, member, run


def settle(now: datetime) -> None:
    """What a running deployment has done before anyone looks: the planner's statistics of the
    tables just loaded (PostgreSQL here runs without autovacuum) and the health grid's rows
    (the periodic ``slo.job_health`` tick, every 30 s)."""
    from django.db import connection

    from batchwatch.slo.services import job_health_refresh

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    started = time.perf_counter()
    computed = job_health_refresh(now)
    print(f"Health rows of {computed:,} jobs computed in {time.perf_counter() - started:.1f} s")


def database_loaded(name: str) -> bool:
    """Whether database ``name`` exists and holds a finished load (its staff user)."""
    try:
        with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{name}") as conn:
            return bool(conn.execute("SELECT 1 FROM auth_user WHERE username = 'staff'").fetchone())
    except psycopg.Error:
        return False


def migrated_database(name: str) -> str:
    """Apply the migrations to an existing database ``name``; returns its URL."""
    url = f"postgres://postgres@127.0.0.1:5432/{name}"
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=env)
    return url


def loaded_with_django():
    """(staff, member, run) of an earlier load."""
    from django.contrib.auth import get_user_model

    from batchwatch.runs.models import Run

    User = get_user_model()
    run = Run.objects.filter(job__key__endswith="ledger_compaction").order_by("-pk").first()
    return User.objects.get(username="staff"), User.objects.get(username="tom"), run


def pages(run) -> list[tuple[str, str]]:
    from batchwatch.alerts.models import Incident
    from batchwatch.catalog.models import Job

    job = Job.objects.get(key="airflow:bench/job_0")
    incident = Incident.objects.exclude(state="resolved").order_by("pk").first()
    return [
        ("overview", "/"),
        ("team", "/teams/team-1/"),
        ("job", f"/jobs/{job.pk}/"),
        ("run (large trace)", f"/runs/{run.pk}/"),
        ("incidents", "/incidents/"),
        ("incident", f"/incidents/{incident.pk}/"),
        ("/now", "/now/"),
        ("rotations", "/rotations/"),
        ("rotation", "/rotations/rotation-0/"),
        ("silences", "/silences/"),
        ("runbooks", "/runbooks/"),
        ("api jobs", "/api/v1/jobs/"),
        ("api runs", "/api/v1/runs/"),
        ("api incidents", "/api/v1/incidents/"),
    ]


def measure(client, url: str, repeat: int) -> tuple[float, float, int, int]:
    """(p50 ms, p95 ms, queries, status) of ``repeat`` fetches after two warm-up ones."""
    from django.db import connection

    for _ in range(2):
        client.get(url)
    executed = []

    def count(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        status = client.get(url).status_code
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return times[len(times) // 2], p95, len(executed), status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database", default="batchwatch_bench_web")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database of an earlier run (migrated again, not reloaded)",
    )
    parser.add_argument("--only", default="", help="comma-separated page labels to measure")
    args = parser.parse_args()
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    reused = args.reuse and database_loaded(args.database)
    if reused:
        url = migrated_database(args.database)
    else:
        url = fresh_database(args.database)
        load(url, args, now)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "batchwatch.settings")
    import django

    django.setup()
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # (the test client's host, no CSRF checks)
    from batchwatch.core.heap import freeze_startup_heap

    logging.getLogger("axes").setLevel(logging.WARNING)
    staff, member, run = loaded_with_django() if reused else load_with_django(args.spans, now)
    settle(now)
    # This process as serve starts its own: the URLconf loaded and the start-up heap frozen
    # out of the collector's sight (core.heap); otherwise every full collection walks Django's
    # 120,000 start-up objects (~100 ms here) inside some request, and that is the p95.
    freeze_startup_heap()
    print(
        f"{'Reused' if reused else 'Loaded'} {args.jobs:,} jobs, ~{args.runs:,} runs, "
        f"{args.spans:,} spans, "
        f"{args.incidents:,} incidents, 100 rotations in {time.perf_counter() - t0:.0f} s"
    )
    clients = {}
    for name, user in (("staff", staff), ("member", member)):
        clients[name] = Client()
        clients[name].force_login(user)
    print(
        f"{'page':<18} {'who':<7} {'status':>6} {'p50 ms':>7} {'p95 ms':>7} {'queries':>7} "
        f"{'goal':>6}  met"
    )
    only = {label.strip() for label in args.only.split(",") if label.strip()}
    for label, path in pages(run):
        if only and label not in only:
            continue
        goal = GOALS.get(label, 300)
        for who, client in clients.items():
            p50, p95, queries, status = measure(client, path, args.repeat)
            met = "met" if p95 <= goal and status == 200 else "NOT met"
            print(
                f"{label:<18} {who:<7} {status:>6} {p50:>7.0f} {p95:>7.0f} {queries:>7} "
                f"{'<=' + str(goal):>6}  {met}",
                flush=True,
            )


if __name__ == "__main__":
    main()
