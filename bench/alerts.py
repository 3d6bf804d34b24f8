"""Alert storm benchmark: Batchwatch against Debian's prometheus-alertmanager, same run.

10,000 alerts (default) across 500 jobs (20 instances each), in Alertmanager's label shape,
are sent by the same clients to:

1. **Batchwatch**: ``manage.py serve`` (two processes) plus two ``manage.py alerts worker``
   (timers and outbox; one drains the queue at a time), on a fresh PostgreSQL database: one
   process per core, as Alertmanager uses every core. Alerts go to
   ``/api/v1/integrations/alertmanager/`` as webhook payloads (version 4) of 100 alerts; the
   route groups by ``[alertname, job]`` with ``group_wait`` 10 s and notifies a local webhook.
2. **Alertmanager 0.25** (``prometheus-alertmanager``), with the equivalent route, receiving
   the same alerts in batches of 100 on ``/api/v2/alerts`` and notifying its own local webhook.

Each client first sends one request without alerts to each system, and the clock starts when
all are answered: both are measured running, not starting up. The webhook receiver speaks
HTTP/1.1, so senders may keep connections open (both do).

Printed for each: intake alerts/s, the number of group notifications, and the delay from a
group's first alert sent to its notification received, beyond group_wait (p50, p99, max).
For Batchwatch also: alerts persisted. Run: ``python bench/alerts.py`` (needs PostgreSQL on
127.0.0.1:5432 and prometheus-alertmanager); ``--rounds N`` sends N storms to each, alternating,
and prints the medians (a storm lasts under a second: one storm's rate is noisy);
``--processes 1 --workers 1`` measures the smallest deployment.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
from benchlib import ROOT, alerts_worker, free_port, fresh_database, serve, wait_port

LOGS = Path(tempfile.gettempdir())
GROUP_WAIT = 10
BATCH = 100


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: concurrent deliveries (Alertmanager's and
    # ours alike) then had connections dropped and retried by TCP a second later, which the
    # delays measured. A real webhook receiver listens with a longer queue.
    request_queue_size = 128


class Receiver:
    """A webhook receiver: when each group's notification arrived."""

    def __init__(self, group_of):
        self.arrivals: list[tuple[float, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1: senders may keep their connections open (Alertmanager's Go client and
            # our outbox both do), as with any real webhook receiver; socketserver's default
            # HTTP/1.0 closed each one, a new connection and thread per notification.
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                receiver.arrivals.append((time.monotonic(), group_of(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


def storm(alerts: int, jobs: int) -> list[dict]:
    per_job = max(1, alerts // jobs)
    starts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return [
        {
            "labels": {
                "alertname": "BatchTaskFailing",
                "job": f"etl_{j:04d}",
                "instance": f"worker-{i:03d}",
                "severity": "critical",
                "team": "ledger",
            },
            "annotations": {"summary": f"etl_{j:04d} failing on worker-{i:03d}"},
            "startsAt": starts,
        }
        for j in range(jobs)
        for i in range(per_job)
    ][:alerts]


def started_now(alerts: list[dict]) -> list[dict]:
    """The storm as it starts, just before it is sent: both systems notify at once for alerts
    that started more than group_wait ago (Alertmanager's rule), so each gets alerts that
    start as they are sent, whatever ran before (the other system, a database set-up)."""
    starts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return [{**alert, "startsAt": starts} for alert in alerts]


def send(
    port: int,
    path: str,
    batches: list[tuple[str, bytes]],
    clients: int,
    headers: dict,
    warmup: bytes,
):
    """POST every batch from ``clients`` threads; returns (seconds, first send per job).

    Each client first sends ``warmup`` (no alerts) and the clock starts when all have been
    answered: both systems are measured running, connections open, not starting up (our
    server's threads open their database connections on their first request)."""
    queue = list(reversed(batches))
    lock = threading.Lock()
    first_sent: dict[str, float] = {}
    errors: list[str] = []
    ready = threading.Barrier(clients + 1)

    def post(conn, body):
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status >= 300:
            errors.append(f"{response.status} {payload[:200]!r}")

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        post(conn, warmup)
        ready.wait()
        while True:
            with lock:
                if not queue:
                    return
                jobs, body = queue.pop()
                now = time.monotonic()
                for job in jobs.split(","):
                    first_sent.setdefault(job, now)
            post(conn, body)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[0]}")
    return elapsed, first_sent


def batches_of(alerts: list[dict], wrap) -> list[tuple[str, bytes]]:
    out = []
    for i in range(0, len(alerts), BATCH):
        chunk = alerts[i : i + BATCH]
        jobs = ",".join(sorted({a["labels"]["job"] for a in chunk}))
        out.append((jobs, json.dumps(wrap(chunk)).encode()))
    return out


def delays(receiver: Receiver, first_sent: dict[str, float]) -> list[float]:
    first_arrival: dict[str, float] = {}
    for at, job in receiver.arrivals:
        first_arrival.setdefault(job, at)
    return sorted(first_arrival[j] - first_sent[j] - GROUP_WAIT for j in first_arrival)


def settle(receiver: Receiver, groups: int, quiet: float = 5.0, timeout: float = 120) -> None:
    """Wait for every group's first notification, then for a quiet spell."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = {job for _, job in receiver.arrivals}
        last = receiver.arrivals[-1][0] if receiver.arrivals else 0
        if len(seen) >= groups and time.monotonic() - last > quiet:
            return
        time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def run_batchwatch(
    alerts: list[dict],
    jobs: int,
    clients: int,
    database: str,
    intake: str,
    workers: int,
    processes: int,
) -> dict:
    url = fresh_database(database)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
        "BATCHWATCH_ALERT_INTAKE": intake,
    }
    env.pop("REDIS_URL", None)
    receiver = Receiver(lambda body: body["group_labels"].get("job", ""))
    setup = f"""
from batchwatch.alerts.loading import config_apply
from batchwatch.alerts.services import integration_create
from batchwatch.catalog.services import team_create
team_create(slug="ledger", name="Ledger")
config_apply({{
    "channels": [{{"name": "bench", "kind": "webhook", "address": "{receiver.url}"}}],
    "route": {{"group_by": ["alertname", "job"], "group_wait": "{GROUP_WAIT}s",
               "group_interval": "30s", "repeat_interval": "1h", "receiver": ["bench"]}},
}}, now=__import__("datetime").datetime.now(__import__("datetime").UTC))
print(integration_create(name="bench", kind="alertmanager")[1])
"""
    token = (
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", setup],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    log = (LOGS / "batchwatch-bench-alerts-server.log").open("w")
    server = serve(env, port, threads=max(4, clients * 2), log=log, processes=processes)
    # Python uses one core per process: like Alertmanager's goroutines on both cores, the
    # alerts workers share the timers (SKIP LOCKED) and the outbox (claims); one drains the
    # intake queue at a time.
    worker_processes = [alerts_worker(env, log) for _ in range(workers)]
    try:
        wait_port(port)
        payloads = batches_of(
            started_now(alerts),
            lambda chunk: {
                "version": "4",
                "status": "firing",
                "receiver": "batchwatch",
                "groupKey": "{}",
                "alerts": [
                    {**a, "status": "firing", "endsAt": "0001-01-01T00:00:00Z"} for a in chunk
                ],
            },
        )
        started = time.monotonic()
        elapsed, first_sent = send(
            port,
            "/api/v1/integrations/alertmanager/",
            payloads,
            clients,
            {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            warmup=json.dumps({"version": "4", "status": "firing", "alerts": []}).encode(),
        )
        with psycopg.connect(url, autocommit=True) as conn:
            # Durable when answered: processed into alerts (inline), or queued (queued).
            durable = conn.execute(
                "SELECT (SELECT count(*) FROM alerts_alert) + (SELECT coalesce(sum("
                "json_array_length(events::json)), 0) FROM alerts_alertintake WHERE processed_at "
                "IS NULL)"
            ).fetchone()[0]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                persisted = conn.execute("SELECT count(*) FROM alerts_alert").fetchone()[0]
                if persisted >= len(alerts):
                    break
                time.sleep(0.05)
            processed = time.monotonic() - started
        settle(receiver, jobs)
    finally:
        for process in (server, *worker_processes):
            process.terminate()
            process.wait(30)
        receiver.server.shutdown()
    return {
        "seconds": elapsed,
        "rate": len(alerts) / elapsed,
        "delays": delays(receiver, first_sent),
        "notifications": len(receiver.arrivals),
        "persisted": persisted,
        "durable": durable,
        "intake": intake,
        "processed": processed,
    }


def run_alertmanager(alerts: list[dict], jobs: int, clients: int) -> dict:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        raise SystemExit(
            "prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)"
        )
    receiver = Receiver(lambda body: body["groupLabels"].get("job", ""))
    workdir = Path(tempfile.mkdtemp(prefix="bench-am-"))
    config = workdir / "alertmanager.yml"
    config.write_text(
        f"""
route:
  receiver: bench
  group_by: ['alertname', 'job']
  group_wait: {GROUP_WAIT}s
  group_interval: 30s
  repeat_interval: 1h
receivers:
  - name: bench
    webhook_configs:
      - url: '{receiver.url}'
        send_resolved: true
"""
    )
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={workdir}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(LOGS / "batchwatch-bench-alertmanager.log").open("w"),
    )
    try:
        wait_port(port)
        payloads = batches_of(started_now(alerts), lambda chunk: chunk)
        elapsed, first_sent = send(
            port,
            "/api/v2/alerts",
            payloads,
            clients,
            {"Content-Type": "application/json"},
            warmup=b"[]",
        )
        settle(receiver, jobs)
    finally:
        process.terminate()
        process.wait(30)
        receiver.server.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "seconds": elapsed,
        "rate": len(alerts) / elapsed,
        "delays": delays(receiver, first_sent),
        "notifications": len(receiver.arrivals),
    }


def report(name: str, result: dict) -> None:
    d = result["delays"]
    print(
        f"  {name}: {result['rate']:,.0f} alerts/s intake ({result['seconds']:.2f} s); "
        f"{result['notifications']} group notifications; beyond group_wait "
        f"p50 {percentile(d, 0.5):.3f} s, p99 {percentile(d, 0.99):.3f} s, max {max(d):.3f} s"
        + (
            f"; {result['durable']} alerts durable when answered, {result['persisted']} "
            f"processed into alerts and incidents {result['processed']:.2f} s after the first "
            f"request ({result['persisted'] / result['processed']:,.0f} alerts/s)"
            if "persisted" in result
            else ""
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--database", default="batchwatch_bench_alerts")
    parser.add_argument(
        "--workers", type=int, default=2, help="alerts worker processes (default: 2)"
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="web server processes (default: 2)"
    )
    parser.add_argument(
        "--intake",
        choices=["queued", "inline", "both"],
        default="queued",
        help="Batchwatch's BATCHWATCH_ALERT_INTAKE mode(s) to measure (default: queued)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="storms to send to each system, alternating; with more than one, the medians "
        "are printed after every round's figures (the storm lasts under a second, and on a "
        "shared machine one storm's rate moves by a quarter from run to run)",
    )
    args = parser.parse_args()
    alerts = storm(args.alerts, args.jobs)
    print(
        f"Storm: {len(alerts)} alerts across {args.jobs} jobs, {BATCH} per request, "
        f"{args.clients} clients; group_by [alertname, job], group_wait {GROUP_WAIT}s"
    )
    modes = ["inline", "queued"] if args.intake == "both" else [args.intake]
    rounds = []
    for number in range(1, max(1, args.rounds) + 1):
        if args.rounds > 1:
            print(f"Round {number} of {args.rounds}")
        print("Alertmanager 0.25 (Debian prometheus-alertmanager), /api/v2/alerts ...")
        am = run_alertmanager(alerts, args.jobs, args.clients)
        report("Alertmanager", am)
        for mode in modes:
            print(
                f"Batchwatch (serve x{args.processes} + {args.workers} alerts worker(s), "
                f"PostgreSQL), Alertmanager webhook intake, {mode} ..."
            )
            bw = run_batchwatch(
                alerts,
                args.jobs,
                args.clients,
                args.database,
                mode,
                args.workers,
                args.processes,
            )
            report(f"Batchwatch {mode}", bw)
        print(
            f"Ratio: intake {bw['rate'] / am['rate']:.0%} of Alertmanager's rate (goal >= 50%); "
            f"p99 beyond group_wait {percentile(bw['delays'], 0.99):.3f} s (goal <= 1 s); "
            f"group notifications {bw['notifications']} vs {am['notifications']} (goal: equal); "
            f"persisted {bw['persisted']} of {len(alerts)} ({bw['intake']} intake)"
        )
        rounds.append((am, bw))
    if len(rounds) > 1:
        summarise(rounds, len(alerts))


def summarise(rounds: list[tuple[dict, dict]], alerts: int) -> None:
    """Medians over the rounds (the last mode measured in each), and the worst of each goal."""
    ratios = [bw["rate"] / am["rate"] for am, bw in rounds]
    p99s = [percentile(bw["delays"], 0.99) for _, bw in rounds]
    am_p99s = [percentile(am["delays"], 0.99) for am, _ in rounds]
    print(
        f"Over {len(rounds)} rounds: intake median "
        f"{statistics.median(bw['rate'] for _, bw in rounds):,.0f} alerts/s against "
        f"Alertmanager's {statistics.median(am['rate'] for am, _ in rounds):,.0f}; ratio median "
        f"{statistics.median(ratios):.0%} (each: {', '.join(f'{r:.0%}' for r in ratios)}; "
        f"goal >= 50%); p99 beyond group_wait median {statistics.median(p99s):.3f} s, worst "
        f"{max(p99s):.3f} s (Alertmanager's median {statistics.median(am_p99s):.3f} s; goal "
        f"<= 1 s); group notifications equal in "
        f"{sum(bw['notifications'] == am['notifications'] for am, bw in rounds)} of "
        f"{len(rounds)} rounds; every alert persisted in "
        f"{sum(bw['persisted'] == alerts for _, bw in rounds)} of {len(rounds)} rounds"
    )


if __name__ == "__main__":
    main()
