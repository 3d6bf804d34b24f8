"""Ingest benchmark: OTLP/HTTP into one Batchwatch server process on PostgreSQL.

    python bench/ingest.py [--spans 1000000] [--clients 4]

What it does, in one run:
1. Builds realistic traces with the OpenTelemetry SDK (Spark-shaped: application → jobs →
   stages → a few tasks; Airflow-shaped: dag_run → task_run → worker detail spans), encodes
   them with the SDK's own OTLP encoder into requests of 512 spans, each with fresh trace ids.
2. Ceiling: decodes the same payloads and COPYs the same rows straight into a PostgreSQL table
   shaped like ours (with the same unique index): what the hardware allows, without Django.
3. Batchwatch: starts `manage.py serve` (one process, waitress threads) on a fresh database and
   posts the payloads over HTTP from --clients keep-alive connections.
Prints spans/s, p50/p99 request latency, the server's memory along the way, the ratio to the
ceiling, and checks that every span was persisted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from benchlib import alerts_worker, free_port, fresh_database, serve, wait_port
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

SPANS_PER_REQUEST = 512
SERVER_LOG = Path(tempfile.gettempdir()) / "batchwatch-bench-ingest-server.log"


def templates(seed: int = 7) -> list[bytes]:
    """A few 512-span requests built by the SDK; the benchmark re-keys their trace ids."""
    rng = random.Random(seed)
    exporter = InMemorySpanExporter()
    out = []
    for service, shape in (("prod-emr", _spark), ("prod-airflow", _airflow)):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("bench")
        for batch in range(4):
            exporter.clear()
            while len(exporter.get_finished_spans()) < SPANS_PER_REQUEST:
                shape(tracer, rng, batch)
            spans = exporter.get_finished_spans()[:SPANS_PER_REQUEST]
            out.append(encode_spans(spans).SerializeToString())
    return out


def _spark(tracer, rng, batch):
    app = f"app-{rng.randrange(10**9)}"
    attrs = {"spark.app.id": app, "spark.app.name": f"etl_{rng.randrange(40)}"}
    with tracer.start_as_current_span("spark.application", attributes=attrs):
        for job in range(5):
            with tracer.start_as_current_span("spark.job", attributes={"spark.job.id": job}):
                for stage in range(4):
                    with tracer.start_as_current_span(
                        "spark.stage",
                        attributes={
                            "spark.stage.id": job * 4 + stage,
                            "tasks": 200,
                            "shuffle_read_bytes": rng.randrange(10**9),
                        },
                    ) as s:
                        for task in range(2):  # the slowest tasks only
                            with tracer.start_as_current_span(
                                "spark.task", attributes={"task.index": task, "host": "ip-10"}
                            ):
                                pass
                        if rng.random() < 0.02:
                            s.set_status(Status(StatusCode.ERROR, "FetchFailed"))


def _airflow(tracer, rng, batch):
    dag = f"dag_{rng.randrange(60)}"
    run_id = f"scheduled__2026-11-{rng.randrange(1, 28):02d}T02:00:00+00:00"
    with tracer.start_as_current_span(
        f"dag_run.{dag}",
        attributes={
            "airflow.dag_id": dag,
            "airflow.dag_run.run_id": run_id,
            "airflow.dag_run.run_type": "scheduled",
            "airflow.dag_run.logical_date": "2026-11-20 02:00:00+00:00",
        },
    ):
        for task in range(10):
            with tracer.start_as_current_span(
                f"task_run.t{task}",
                attributes={
                    "airflow.dag_id": dag,
                    "airflow.task_id": f"t{task}",
                    "airflow.dag_run.run_id": run_id,
                    "airflow.task_instance.try_number": 1,
                    "airflow.task_instance.map_index": -1,
                    "airflow.task_instance.state": "success",
                },
            ):
                for detail in ("startup", "run", "task.execute"):
                    with tracer.start_as_current_span(detail):
                        pass


def rekeyed(templates_: list[bytes], count: int) -> list[bytes]:
    """``count`` requests from the templates, every trace id made unique (no deduplication)."""
    parsed = [trace_service_pb2.ExportTraceServiceRequest.FromString(t) for t in templates_]
    requests = []
    for i in range(count):
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.CopyFrom(parsed[i % len(parsed)])
        prefix = i.to_bytes(6, "big")
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    span.trace_id = prefix + span.trace_id[6:]
                    for attr in span.attributes:  # keep run ids unique too
                        if attr.key in ("spark.app.id", "airflow.dag_run.run_id"):
                            attr.value.string_value = f"{attr.value.string_value}-{i}"
        requests.append(request.SerializeToString())
    return requests


# --- Ceiling: decode and COPY, no framework ---------------------------------------------------
def _attrs(kvs):
    out = {}
    for kv in kvs:
        v = kv.value
        kind = v.WhichOneof("value")
        out[kv.key] = (
            getattr(v, kind)
            if kind in ("string_value", "int_value", "bool_value", "double_value")
            else None
        )
    return out


def ceiling(payloads: list[bytes], url: str) -> tuple[float, int]:
    from datetime import UTC, datetime, timedelta

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS ceiling_span")
        conn.execute("CREATE TABLE ceiling_span (LIKE runs_span INCLUDING ALL)")
        started = time.perf_counter()
        total = 0
        cols = (
            "trace_id, span_id, parent_span_id, name, kind, start_time, end_time, "
            "status_code, status_message, service_name, attributes, events, resource"
        )
        for body in payloads:
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(f"COPY ceiling_span ({cols}) FROM STDIN") as copy:
                    for rs in request.resource_spans:
                        resource = _attrs(rs.resource.attributes)
                        service = resource.get("service.name", "")
                        kept = json.dumps(
                            {k: v for k, v in resource.items() if k != "service.name"}
                        )
                        for ss in rs.scope_spans:
                            for s in ss.spans:
                                copy.write_row(
                                    (
                                        s.trace_id.hex(),
                                        s.span_id.hex(),
                                        s.parent_span_id.hex(),
                                        s.name,
                                        s.kind,
                                        epoch
                                        + timedelta(microseconds=s.start_time_unix_nano // 1000),
                                        epoch
                                        + timedelta(microseconds=s.end_time_unix_nano // 1000),
                                        s.status.code,
                                        s.status.message,
                                        service,
                                        json.dumps(_attrs(s.attributes)),
                                        "[]",
                                        kept,
                                    )
                                )
                                total += 1
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE ceiling_span")
    return total / elapsed, total


# --- Batchwatch over HTTP ------------------------------------------------------------------
def rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident memory of a process, KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def batchwatch(payloads: list[bytes], url: str, clients: int, runs_mode: str) -> dict:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
        "BATCHWATCH_INGEST_ALLOW_ANONYMOUS": "true",
        "BATCHWATCH_INGEST_QUEUE_SECONDS": "60",
        "BATCHWATCH_INGEST_RUNS": runs_mode,
    }
    env.pop("REDIS_URL", None)
    log = SERVER_LOG.open("w")
    server = serve(env, port, threads=max(4, clients * 2), log=log)
    # Queued mode: a worker process converges the queued run reports, as in production.
    drainer = alerts_worker(env, log) if runs_mode == "queued" else None
    converged = None
    try:
        wait_port(port, timeout=20)
        latencies: list[float] = []
        errors: list[str] = []
        memory: list[tuple[int, int]] = []
        lock = threading.Lock()
        queue = list(enumerate(payloads))
        queue.reverse()

        def worker():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            while True:
                with lock:
                    if not queue:
                        return
                    _, body = queue.pop()
                t0 = time.perf_counter()
                conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
                response = conn.getresponse()
                response.read()
                took = time.perf_counter() - t0
                with lock:
                    latencies.append(took)
                    if response.status != 200:
                        errors.append(f"HTTP {response.status}: {response.reason}")

        sent_before = len(payloads)

        def sampler(stop):
            while not stop.is_set():
                with lock:
                    done = sent_before - len(queue)
                memory.append((done * SPANS_PER_REQUEST, rss_kib(server.pid)[0]))
                stop.wait(1.0)

        stop = threading.Event()
        threading.Thread(target=sampler, args=(stop,), daemon=True).start()
        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        stop.set()
        current, peak = rss_kib(server.pid)
        if drainer is not None:  # until every queued run report is converged
            with psycopg.connect(url, autocommit=True) as conn:
                while conn.execute(
                    "SELECT count(*) FROM ingest_runreportbatch WHERE processed_at IS NULL"
                ).fetchone()[0]:
                    time.sleep(0.05)
            converged = time.perf_counter() - started
    finally:
        for process in (server, drainer):
            if process is not None:
                process.terminate()
                process.wait(30)
    return {
        "converged": converged,
        "elapsed": elapsed,
        "latencies": latencies,
        "errors": errors,
        "memory": memory,
        "peak_kib": peak,
        "final_kib": current,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--database", default="batchwatch_bench")
    parser.add_argument(
        "--runs",
        choices=["queued", "inline"],
        default="queued",
        help="BATCHWATCH_INGEST_RUNS: runs converged by a worker (production) or in the request",
    )
    args = parser.parse_args()
    requests = max(1, args.spans // SPANS_PER_REQUEST)

    print(f"Preparing {requests} requests of {SPANS_PER_REQUEST} spans with the OTel SDK...")
    payloads = rekeyed(templates(), requests)
    mib = sum(map(len, payloads)) / 2**20
    print(f"  {len(payloads)} payloads, {mib:.0f} MiB of protobuf")

    url = fresh_database(args.database)

    print("Ceiling: decode + COPY straight into PostgreSQL...")
    ceiling_rate, _ = ceiling(payloads, url)
    print(f"  {ceiling_rate:,.0f} spans/s")

    print(
        f"Batchwatch: POST /v1/traces from {args.clients} clients to one server process "
        f"(runs {args.runs})..."
    )
    result = batchwatch(payloads, url, args.clients, args.runs)
    spans = len(payloads) * SPANS_PER_REQUEST
    rate = spans / result["elapsed"]
    lat = sorted(result["latencies"])
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT count(*) FROM runs_span").fetchone()[0]
        runs = conn.execute("SELECT count(*) FROM runs_run").fetchone()[0]
    memory = result["memory"]
    tenth = next((m for s, m in memory if s >= spans * 0.1), memory[0][1] if memory else 0)
    print(f"  {rate:,.0f} spans/s over {spans:,} spans in {result['elapsed']:.1f} s")
    print(f"  request latency p50 {p50:.0f} ms, p99 {p99:.0f} ms ({len(lat)} requests)")
    print(
        f"  server memory: {tenth / 1024:.0f} MiB after 10% of the spans, "
        f"{result['final_kib'] / 1024:.0f} MiB at the end, peak {result['peak_kib'] / 1024:.0f} MiB"
    )
    print(
        f"  persisted: {stored:,} of {spans:,} spans, {runs:,} runs; errors: "
        f"{len(result['errors'])}"
    )
    if result["converged"] is not None:
        print(
            f"  runs converged by the worker {result['converged']:.1f} s after the first "
            f"request ({result['converged'] - result['elapsed']:.1f} s after the last answer; "
            f"{spans / result['converged']:,.0f} spans/s end to end)"
        )
    print(
        f"Ratio to ceiling: {rate / ceiling_rate:.0%} "
        f"(goal >= 50%); goal >= 20,000 spans/s: {'met' if rate >= 20_000 else 'NOT met'}"
    )
    if stored != spans or result["errors"]:
        sys.exit(f"Not every span was persisted: the benchmark is invalid (see {SERVER_LOG}).")


if __name__ == "__main__":
    main()
