"""Dashboards-as-code benchmark: build time and write requests of deploys at catalog scale.

2,000 jobs (default) in 100 teams, with an SLO per team, on a fresh PostgreSQL database:

1. **build**: the catalog snapshot and every ``dashboards/*.dashboard.py`` source built into
   dashboard JSON (and written to files, twice: the rebuild must be byte-identical);
2. against the local Grafana HTTP API test server (tests/dashboards/grafana_server.py — not a
   real Grafana), **baseline**: what a script without state does (save every dashboard with
   ``overwrite: true``, as a loop over ``generate-dashboards`` output would), twice;
3. **Batchwatch**: ``dashboards deploy`` onto an empty server, then again with no change
   (goal: 0 write requests), then after adding one job.

Run: ``python bench/dashboards.py [--jobs 2000 --teams 100]`` (needs PostgreSQL on
127.0.0.1:5432 and Django's settings; prints figures and ratios against the baseline).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchlib import ROOT, fresh_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--teams", type=int, default=100)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = fresh_database("bench_dashboards")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "batchwatch.settings")
    sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
    import django

    django.setup()
    from batchwatch.catalog.models import Job, Team, job_key
    from batchwatch.dashboards.grafana import Grafana
    from batchwatch.dashboards.selectors import catalog_snapshot
    from batchwatch.dashboards.services import dashboards_deploy, dashboards_write, normalise
    from batchwatch.dashboards.sources import build_all
    from batchwatch.slo.models import SLO
    from tests.dashboards.grafana_server import TOKEN, FakeGrafana

    sources = ROOT / "dashboards"
    teams = Team.objects.bulk_create(
        Team(slug=f"team-{i:03d}", name=f"Team {i:03d}") for i in range(args.teams)
    )
    engines = ["airflow", "spark", "flink", "dbt"]
    jobs = []
    for i in range(args.jobs):
        engine, namespace, name = engines[i % 4], f"prod-{i % 7}", f"job_{i:05d}"
        jobs.append(
            Job(
                key=job_key(engine, namespace, name),
                engine=engine,
                namespace=namespace,
                name=name,
                owner_team=teams[i % args.teams],
                labels={},
            )
        )
    jobs = Job.objects.bulk_create(jobs)
    SLO.objects.bulk_create(
        SLO(
            slug=f"slo-{t.slug}",
            name=f"{t.name} succeeds",
            kind="success_ratio",
            team=t,
            objective=99,
            window_size=28,
        )
        for t in teams
    )
    print(f"catalog: {len(jobs)} jobs, {len(teams)} teams, {len(teams)} SLOs")

    started = time.perf_counter()
    built = build_all(sources, catalog_snapshot())
    build_seconds = time.perf_counter() - started
    out = Path(tempfile.mkdtemp(prefix="bw-dashboards-"))
    started = time.perf_counter()
    dashboards_write(built, out=out / "a", provisioning_path="/var/lib/grafana/dashboards")
    write_seconds = time.perf_counter() - started
    dashboards_write(
        built_again := build_all(sources, catalog_snapshot()), out=out / "b", provisioning_path="/x"
    )
    identical = all(
        (out / "a" / p.relative_to(out / "b")).read_bytes() == p.read_bytes()
        for p in (out / "b").rglob("*.json")
        if p.name != ".batchwatch-dashboards.json"
    )
    panels = sum(len(d.json["panels"]) for d in built)
    print(
        f"build: {len(built)} dashboards, {panels} panels in {build_seconds:.2f} s "
        f"({len(built) / build_seconds:.0f} dashboards/s); files written in {write_seconds:.2f} s;"
        f" rebuild byte-identical: {identical and len(built_again) == len(built)}"
    )

    baseline = FakeGrafana()
    client = Grafana(baseline.url, TOKEN)
    for dashboard in built:
        if dashboard.folder_uid not in baseline.folders:
            client.folder_create(dashboard.folder_uid, dashboard.folder_title)
    rounds = []
    for _ in range(2):
        before, started = len(baseline.writes), time.perf_counter()
        for dashboard in built:
            client.save(
                normalise(dashboard.json),
                folder_uid=dashboard.folder_uid,
                message="baseline",
                overwrite=True,
            )
        rounds.append((len(baseline.writes) - before, time.perf_counter() - started))
    baseline.close()

    server = FakeGrafana()
    now = datetime.now(UTC)
    runs = []
    for label in ("first deploy", "no-change redeploy"):
        client = Grafana(server.url, TOKEN)
        started = time.perf_counter()
        report = dashboards_deploy(built, client=client, now=now, revision="bench")
        runs.append((label, report.writes, report.reads, time.perf_counter() - started, report.ok))
    Job.objects.create(engine="spark", namespace="prod-new", name="added_job", owner_team=teams[0])
    client = Grafana(server.url, TOKEN)
    started = time.perf_counter()
    report = dashboards_deploy(
        build_all(sources, catalog_snapshot()), client=client, now=now, revision="bench"
    )
    runs.append(
        ("one job added", report.writes, report.reads, time.perf_counter() - started, report.ok)
    )
    server.close()

    print("\nGrafana write requests (local Grafana HTTP API test server):")
    print(f"  {'':28} {'writes':>7} {'reads':>7} {'seconds':>8}")
    for index, (writes, seconds) in enumerate(rounds):
        name = "baseline: save all" + (" (again)" if index else "")
        print(f"  {name:28} {writes:7d} {'-':>7} {seconds:8.2f}")
    for label, writes, reads, seconds, ok in runs:
        flag = "" if ok else "  NOT OK"
        print(f"  {'batchwatch: ' + label:28} {writes:7d} {reads:7d} {seconds:8.2f}{flag}")
    no_change = runs[1][1]
    print(
        f"\nno-change redeploy: {no_change} write requests (goal 0) vs the baseline's "
        f"{rounds[1][0]} (ratio {no_change / rounds[1][0]:.3f}); "
        f"one job added: {runs[2][1]} writes (its dashboard, its team's overview and SLO)"
    )


if __name__ == "__main__":
    main()
