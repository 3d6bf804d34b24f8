"""Fault scenarios at scale, each counted exactly: what was sent, stored or delivered,
duplicated and lost, and the worst lateness of a page.

    python bench/faults.py                      # every scenario
    python bench/faults.py --only worker-kill   # one (or several, comma-separated)

Everything runs here, on real processes: a PostgreSQL cluster the benchmark starts (so that it
may stop it; never the shared one), ``manage.py serve`` and ``manage.py worker``, a Redis of
its own, a webhook receiver that records every delivery's Idempotency-Key, and the real
OpenTelemetry SDK exporter at its defaults.

Scenarios:

* ``worker-kill``: 200 incidents of 5 escalation steps (1,000 pages, 2 s apart) to a receiver
  that takes 50 ms an answer; the worker is killed with SIGKILL halfway through step 1's
  pages (the rest claimed, in flight) and another started at once.
* ``two-workers-two-schedulers``: the same 1,000 pages with two workers and two web processes
  running the embedded scheduler, all at once.
* ``postgres-restart-storm``: the worker idle, PostgreSQL restarted, then a storm: 200 groups,
  200 pages.
* ``postgres-restart-spans``: 60 s of 200 spans/s through the SDK exporter (BatchSpanProcessor
  defaults), PostgreSQL stopped for 10 s in the middle.
* ``redis-down``: Redis stopped, 100 alert groups posted to the web process, 100 pages.
* ``resolve-during-flush``: 20 groups fire; their resolve arrives while the flush is being
  committed (the worker pauses 3 s before each commit): every incident must end resolved.
* ``poison``: every kind of poison input of issue 16, then healthy spans and a healthy alert,
  which must be stored and page.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]

import psycopg  # noqa: E402

from tests.processes import (  # noqa: E402
    Hook,
    PrivatePostgres,
    Web,
    free_port,
    manage,
    redis_server,
    stop,
    wait_for,
)

INCIDENTS, STEPS, STEP_WAIT, GROUP_WAIT = 200, 5, 2.0, 1.0
ROWS: list[dict] = []


def row(scenario: str, **figures) -> None:
    figures = {"scenario": scenario, **figures}
    ROWS.append(figures)
    text = ", ".join(f"{k} {v}" for k, v in figures.items() if k != "scenario")
    print(f"{scenario}: {text}", flush=True)


# --- set-up -----------------------------------------------------------------------------


def fresh_database(postgres: PrivatePostgres) -> None:
    """The scenario's database, a copy of the migrated template (Django's connections to the
    old one are closed first)."""
    from django.db import connections

    connections.close_all()
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS faults WITH (FORCE)")
        conn.execute("CREATE DATABASE faults TEMPLATE bw_template")


def escalation_to_webhook(hook_url: str, *, steps: int = STEPS) -> None:
    from tests.faults import scenario  # (after django.setup())

    scenario.escalation_to_webhook(hook_url, steps=steps, wait=STEP_WAIT, group_wait=GROUP_WAIT)


def fire(count: int) -> None:
    from tests.faults import scenario  # (after django.setup())

    scenario.fire(count)


def page_figures(hook: Hook, expected: int) -> dict:
    from tests.faults import scenario  # (after django.setup())

    figures = scenario.escalation_figures(
        hook, expected=expected, wait=STEP_WAIT, group_wait=GROUP_WAIT
    )
    return {
        k: figures[k] for k in ("expected", "delivered", "duplicated", "resent_same_key", "lost")
    }


def escalation_lateness(hook: Hook) -> tuple[float, int]:
    from tests.faults import scenario  # (after django.setup())

    figures = scenario.escalation_figures(hook, expected=0, wait=STEP_WAIT, group_wait=GROUP_WAIT)
    return figures["worst_lateness_s"], figures["out_of_order"]


def settle(hook: Hook, expected: int, timeout: float) -> None:
    with contextlib.suppress(AssertionError):  # what did not arrive is counted as lost
        wait_for(lambda: len(set(hook.keys)) >= expected, timeout=timeout, what="the pages")
    time.sleep(3)  # a duplicate or a late page would show by now


# --- scenarios ----------------------------------------------------------------------------


def worker_kill(postgres: PrivatePostgres) -> None:
    hook = Hook(delay=0.05)  # a receiver taking 50 ms: pages are in flight when it dies
    escalation_to_webhook(hook.url)
    first = manage("worker", "--interval", "0.1")
    time.sleep(4)  # started and idle
    fire(INCIDENTS)
    wait_for(lambda: len(hook.keys) >= INCIDENTS // 2, timeout=60, what="step 1 under way")
    stop(first, signal.SIGKILL)  # halfway through step 1's pages
    killed_at = len(hook.keys)
    second = manage("worker", "--interval", "0.1")
    try:
        settle(hook, INCIDENTS * STEPS, timeout=180)
    finally:
        stop(second)
        hook.close()
    worst, out_of_order = escalation_lateness(hook)
    row(
        "worker-kill",
        **page_figures(hook, INCIDENTS * STEPS),
        sent_before_kill=killed_at,
        out_of_order=out_of_order,
        worst_lateness_s=round(worst, 2),
    )


def two_workers_two_schedulers(postgres: PrivatePostgres) -> None:
    hook = Hook()
    escalation_to_webhook(hook.url)
    processes = [manage("worker", "--interval", "0.1") for _ in range(2)]
    webs = [Web(scheduler=True) for _ in range(2)]
    fire(INCIDENTS)
    try:
        settle(hook, INCIDENTS * STEPS, timeout=180)
    finally:
        for process in processes:
            stop(process)
        for web in webs:
            web.stop()
        hook.close()
    worst, out_of_order = escalation_lateness(hook)
    row(
        "two-workers-two-schedulers",
        **page_figures(hook, INCIDENTS * STEPS),
        out_of_order=out_of_order,
        worst_lateness_s=round(worst, 2),
    )


def postgres_restart_storm(postgres: PrivatePostgres) -> None:
    hook = Hook()
    escalation_to_webhook(hook.url, steps=1)
    worker = manage("worker", "--interval", "0.1")
    time.sleep(4)  # idle, its threads holding connections
    postgres.stop()
    time.sleep(2)
    postgres.start()
    from django.db import connections

    connections.close_all()
    fire(INCIDENTS)
    try:
        settle(hook, INCIDENTS, timeout=120)
    finally:
        stop(worker)
        hook.close()
    worst, _ = escalation_lateness(hook)
    row("postgres-restart-storm", **page_figures(hook, INCIDENTS), worst_lateness_s=round(worst, 2))


def postgres_restart_spans(postgres: PrivatePostgres, seconds: float = 60, rate: int = 200) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

    web = Web(BATCHWATCH_INGEST_ALLOW_ANONYMOUS="true")
    results: list = []

    class Counting(OTLPSpanExporter):
        def export(self, spans):
            result = super().export(spans)
            results.append((result, len(spans)))
            return result

    provider = TracerProvider(resource=Resource.create({"service.name": "bench-faults"}))
    provider.add_span_processor(BatchSpanProcessor(Counting(endpoint=f"{web.base}/v1/traces")))
    tracer = provider.get_tracer("bench.faults")
    sent = 0
    outage = threading.Timer(seconds / 3, _outage, args=(postgres, 10.0))
    outage.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            tick = time.monotonic()
            for _ in range(rate // 10):
                with tracer.start_as_current_span("bench.step"):
                    sent += 1
            time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
        outage.join()
        provider.force_flush(60_000)
        provider.shutdown()
        with psycopg.connect(postgres.url_for("faults")) as conn:
            stored, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM runs_span"
            ).fetchone()
    finally:
        web.stop()
    failed = sum(n for result, n in results if result != SpanExportResult.SUCCESS)
    row(
        "postgres-restart-spans",
        sent=sent,
        stored=stored,
        duplicated=stored - distinct,
        lost=sent - distinct,
        exporter_failures=failed,
    )


def _outage(postgres: PrivatePostgres, seconds: float) -> None:
    postgres.stop()
    time.sleep(seconds)
    postgres.start()


def redis_down(postgres: PrivatePostgres, groups: int = 100) -> None:
    from tests.faults.scenario import alertmanager_payload, paging_webhook

    hook = Hook()
    token = paging_webhook(hook.url)
    workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    port = free_port()
    redis = redis_server(port, workdir)
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    web = Web(**env)
    worker = manage("worker", "--interval", "0.1", **env)
    auth = {"Authorization": f"Bearer {token}"}
    statuses = Counter()
    try:
        time.sleep(3)
        stop(redis, signal.SIGKILL)
        for i in range(groups):
            status, _ = web.post(
                "/api/v1/integrations/alertmanager/", alertmanager_payload([f"j{i}"]), auth
            )
            statuses[status] += 1
        metrics_status, _ = web.get("/metrics")
        settle(hook, groups, timeout=120)
    finally:
        stop(worker)
        web.stop()
        hook.close()
    row(
        "redis-down",
        posted=groups,
        answered_200=statuses[200],
        **page_figures(hook, groups),
        metrics_status=metrics_status,
    )


def resolve_during_flush(postgres: PrivatePostgres, groups: int = 20) -> None:
    from batchwatch.alerts.models import Incident, Route
    from tests.faults.scenario import alertmanager_payload, paging_webhook

    hook = Hook()
    token = paging_webhook(hook.url)
    Route.objects.update(group_wait=timedelta(seconds=1), group_interval=timedelta(seconds=2))
    web = Web()  # inline intake: the resolve is processed in the request
    worker = manage("worker", "--interval", "0.1", BATCHWATCH_FAULT_PAUSE_BEFORE_COMMIT="3")
    auth = {"Authorization": f"Bearer {token}"}
    jobs = [f"j{i}" for i in range(groups)]
    try:
        time.sleep(4)
        web.post("/api/v1/integrations/alertmanager/", alertmanager_payload(jobs), auth)
        time.sleep(1.6)  # the flush is running, paused before its commit
        web.post(
            "/api/v1/integrations/alertmanager/",
            alertmanager_payload(jobs, status="resolved"),
            auth,
        )
        with contextlib.suppress(AssertionError):  # what stays open is counted as lost
            wait_for(
                lambda: not Incident.objects.exclude(state="resolved").exists(),
                timeout=30,
                what="every incident resolved",
            )
    finally:
        stop(worker)
        web.stop()
        hook.close()
    still_open = Incident.objects.exclude(state="resolved").count()
    row(
        "resolve-during-flush",
        incidents=Incident.objects.count(),
        resolved=Incident.objects.filter(state="resolved").count(),
        lost=still_open,
    )


def poison(postgres: PrivatePostgres) -> None:
    from tests.faults.poison import healthy_checks, send_poison

    hook = Hook()
    env = {"BATCHWATCH_INGEST_RUNS": "queued", "BATCHWATCH_ALERT_INTAKE": "queued"}
    web = Web(BATCHWATCH_INGEST_ALLOW_ANONYMOUS="true", **env)
    worker = manage("worker", "--interval", "0.1", **env)
    try:
        answers = send_poison(web, hook)
        figures = healthy_checks(web, hook)
    finally:
        stop(worker)
        web.stop()
        hook.close()
    row(
        "poison",
        inputs=sum(answers.values()),
        answered_500=answers.get(500, 0),
        answered_4xx=sum(n for s, n in answers.items() if 400 <= s < 500),
        **figures,
    )


SCENARIOS = {
    "worker-kill": worker_kill,
    "two-workers-two-schedulers": two_workers_two_schedulers,
    "postgres-restart-storm": postgres_restart_storm,
    "postgres-restart-spans": postgres_restart_spans,
    "redis-down": redis_down,
    "resolve-during-flush": resolve_during_flush,
    "poison": poison,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated scenarios: " + ", ".join(SCENARIOS))
    parser.add_argument(
        "--incidents", type=int, default=INCIDENTS, help=f"incidents (default {INCIDENTS})"
    )
    args = parser.parse_args()
    globals()["INCIDENTS"] = args.incidents
    chosen = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        parser.error(f"no scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")

    postgres = PrivatePostgres()
    if not postgres.available:
        raise SystemExit("PostgreSQL's server binaries (initdb, pg_ctl) and runuser are needed.")
    postgres.init()
    try:
        import subprocess

        with psycopg.connect(postgres.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bw_template")
        env = {**os.environ, "DATABASE_URL": postgres.url_for("bw_template")}
        env.pop("REDIS_URL", None)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        os.environ["DATABASE_URL"] = postgres.url_for("faults")
        os.environ.pop("REDIS_URL", None)
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "batchwatch.settings")
        import django

        django.setup()
        for name in chosen:
            fresh_database(postgres)
            SCENARIOS[name](postgres)
    finally:
        from django.db import connections

        connections.close_all()
        postgres.remove()
    print()
    print("| scenario | figures |")
    print("|---|---|")
    for figures in ROWS:
        text = ", ".join(f"{k} {v}" for k, v in figures.items() if k != "scenario")
        print(f"| {figures['scenario']} | {text} |")


if __name__ == "__main__":
    main()
