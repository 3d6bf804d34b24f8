"""PostgreSQL stopped for 8 s under load, with the real OpenTelemetry SDK exporter at its
defaults (10 s timeout, Retry-After honoured): every span sent is stored, none twice.

A cluster the test starts itself (never the shared one); ``manage.py serve`` on it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import psycopg
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from batchwatch.runs.models import Span
from tests.conftest import require
from tests.processes import ROOT, PrivatePostgres, Web

pytestmark = [pytest.mark.postgres]

BATCHES, SPANS_PER_BATCH, EVERY = 60, 20, 0.25
OUTAGE_AFTER, OUTAGE = 3.0, 8.0


def span_batches():
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "fault-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("batchwatch.tests.faults")
    for i in range(BATCHES):
        with tracer.start_as_current_span(f"batch-{i}"):
            for k in range(SPANS_PER_BATCH - 1):
                with tracer.start_as_current_span(f"step-{k}"):
                    pass
    spans = memory.get_finished_spans()
    return [spans[i : i + SPANS_PER_BATCH] for i in range(0, len(spans), SPANS_PER_BATCH)]


def test_spans_survive_a_database_restart_with_the_sdk_exporter_defaults():
    postgres = PrivatePostgres()
    require(postgres.available, "PostgreSQL's server binaries")
    postgres.init()
    env = {"DATABASE_URL": postgres.url, "BATCHWATCH_INGEST_ALLOW_ANONYMOUS": "true"}
    web = None
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            cwd=ROOT,
            env={**_environ(), **env},
            check=True,
            timeout=300,
        )
        web = Web(**env)
        exporter = OTLPSpanExporter(endpoint=f"{web.base}/v1/traces")  # the SDK's defaults
        results: list[SpanExportResult] = []

        def send():
            for batch in span_batches():
                results.append(exporter.export(batch))
                time.sleep(EVERY)

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(OUTAGE_AFTER)
        postgres.stop()
        time.sleep(OUTAGE)
        postgres.start()
        sender.join(timeout=120)
        with psycopg.connect(postgres.url) as db:
            stored, distinct = db.execute(
                f"SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM {Span._meta.db_table}"  # noqa: S608
            ).fetchone()
    finally:
        if web is not None:
            web.stop()
        postgres.remove()
    assert results.count(SpanExportResult.SUCCESS) == BATCHES, results
    assert (stored, distinct) == (BATCHES * SPANS_PER_BATCH, BATCHES * SPANS_PER_BATCH)


def _environ() -> dict:
    import os

    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    return env
