"""The run page of a large trace: one Spark run whose trace holds ``--spans`` spans (a stage
per span, one failing, an event on every hundredth), the page fetched through Django's test
client as a signed-in member, median of ``--repeat`` fetches, with the page's size; ``--profile``
prints cProfile's top functions of one more fetch.

    .venv/bin/python bench/web_trace.py                 # SQLite and PostgreSQL, 5,000 spans
    .venv/bin/python bench/web_trace.py --db sqlite --profile

PostgreSQL is the database ``test_trace`` at 127.0.0.1:5432 (dropped and created afresh);
SQLite a file in a temporary directory. Each runs in a process of its own."""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))
sys.path.insert(0, str(ROOT / "bench"))


def make_trace(spans: int):
    from django.contrib.auth import get_user_model

    from batchwatch.catalog import services as catalog
    from batchwatch.catalog.models import Membership
    from batchwatch.runs.models import Run, Span

    team = catalog.team_create(slug="ledger", name="Ledger")
    user = get_user_model().objects.create_user("tom")
    catalog.membership_set(team=team, user=user, role=Membership.Role.MEMBER)
    job = catalog.job_create(
        engine="spark", namespace="prod-emr", name="ledger_compaction", owner_team=team
    )
    trace, t0, root = "cd" * 16, datetime(2026, 11, 24, 2, 0, tzinfo=UTC), "a" * 16
    rows = [
        Span(trace_id=trace, span_id=root, name="spark.application", start_time=t0,
             end_time=t0 + timedelta(hours=5), status_code=2,
             attributes={"spark.app.id": "app-1", "spark.app.name": "ledger_compaction"},
             resource={"host.name": "emr-master-1"})
    ]  # fmt: skip
    for n in range(1, spans):
        start = t0 + timedelta(seconds=3 * n)
        rows.append(
            Span(
                trace_id=trace, span_id=f"{n:016x}", parent_span_id=root, name="spark.stage",
                start_time=start, end_time=start + timedelta(seconds=40),
                status_code=2 if n == spans // 2 else 0,
                status_message="FetchFailed" if n == spans // 2 else "",
                service_name="prod-emr",
                attributes={
                    "spark.stage.id": n, "spark.stage.attempt": 0,
                    "spark.stage.name": f"save at compaction.py:{n}", "tasks": 200,
                    "failed_tasks": 0, "skew_ratio": 1.4, "spilled_bytes": 10**9,
                    "jvm_gc_time_ms": 1200, "executor_run_time_ms": 60_000,
                },
                events=[{"name": "exception", "time": "2026-11-24T02:00:00Z",
                         "attributes": {"exception.message": "boom"}}] if n % 100 == 0 else [],
                resource={"host.name": f"emr-core-{n % 20}", "k8s.pod.name": f"exec-{n % 50}"},
            )
        )  # fmt: skip
    Span.objects.bulk_create(rows, batch_size=1000)
    run = Run.objects.create(
        job=job, external_id="app-1", state="failed", source="spark_eventlog", trace_id=trace,
        root_span_id=root, started_at=t0, ended_at=t0 + timedelta(hours=5),
        duration_seconds=18000, failure_reason="FetchFailed",
    )  # fmt: skip
    return run, user


def measure(args) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "batchwatch.settings")
    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    run, user = make_trace(args.spans)
    client = Client()
    client.force_login(user)
    url = f"/runs/{run.pk}/"
    assert client.get(url).status_code == 200  # warm up
    times, size = [], 0
    for _ in range(args.repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        size = len(response.content)
    vendor = django.db.connection.vendor
    print(
        f"{vendor}: {args.spans} spans, median {statistics.median(times):.0f} ms "
        f"(min {min(times):.0f}, max {max(times):.0f}), page {size / 1e6:.2f} MB"
    )
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        client.get(url)
        profile.disable()
        pstats.Stats(profile).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(
            int(os.environ.get("TOP", "30"))
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--spans", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_process:
        measure(args)
        return
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        with tempfile.TemporaryDirectory() as tmp:
            if db == "postgres":
                from benchlib import fresh_database

                url = fresh_database("test_trace")
            else:
                url = f"sqlite:///{tmp}/trace.sqlite3"
            argv = ["--spans", str(args.spans), "--repeat", str(args.repeat)]
            argv += ["--profile"] if args.profile else []
            subprocess.run(
                [sys.executable, __file__, "--in-process", *argv],
                check=True,
                env={**os.environ, "DATABASE_URL": url},
                cwd=ROOT,
            )


if __name__ == "__main__":
    main()
