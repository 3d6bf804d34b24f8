"""Ingest's periodic work: the queued run reports' drain, and polling the Flink clusters
named in BATCHWATCH_FLINK_URLS."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings

from batchwatch.core import worker
from batchwatch.core.periodic import periodic
from batchwatch.ingest.auth import ANONYMOUS
from batchwatch.ingest.flinkrest import FlinkUnreachable, poll
from batchwatch.ingest.services import (
    RUNS_DRAIN_CHUNK,
    ingest_run_events,
    run_reports_prune,
    runs_drain,
)

logger = logging.getLogger("batchwatch.ingest")


@periodic(every=timedelta(seconds=60), name="ingest.poll_flink")
def poll_flink_clusters(now: datetime) -> None:
    for url in settings.BATCHWATCH_FLINK_URLS:
        try:
            observations = poll(url)
        except FlinkUnreachable as exc:
            logger.warning("ingest.flink_unreachable", extra={"url": url, "error": str(exc)})
            continue
        ingest_run_events(observations, lineage=[], principal=ANONYMOUS, now=now)


@periodic(every=timedelta(seconds=1), name="ingest.runs", lane="drain")
def drain_run_reports(now: datetime) -> None:
    runs_drain(now=now)


@periodic(every=timedelta(minutes=10), name="ingest.runs_prune")
def prune_run_reports(now: datetime) -> None:
    run_reports_prune(now=now)


def _drain_runs_chunk(now: datetime, wait_for_quiet: bool) -> int:
    return runs_drain(now=now, limit=RUNS_DRAIN_CHUNK)


worker.register_drain("ingest.runs", _drain_runs_chunk, order=1)  # (the worker's drain lane)
