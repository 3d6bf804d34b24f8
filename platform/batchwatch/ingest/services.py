"""Ingest use cases: decoded telemetry in, runs, spans and lineage out, in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from batchwatch.catalog.services import lineage_record
from batchwatch.ingest.adapters import SpanRejected, observe
from batchwatch.ingest.auth import IngestPrincipal
from batchwatch.runs.observations import LineageObservation, RunObservation, SpanRecord
from batchwatch.runs.services import runs_record, spans_store

logger = logging.getLogger("batchwatch.ingest")


@dataclass
class IngestResult:
    accepted: int
    rejected: int
    message: str
    runs: int


@transaction.atomic
def ingest_spans(
    spans: list[SpanRecord], *, principal: IngestPrincipal, now: datetime
) -> IngestResult:
    """Store the spans and converge the runs they describe; all or nothing.

    A span an adapter refuses (say, an unknown engine) is left out and reported; the others
    are kept, as OTLP's partial success expects.
    """
    observations: list[RunObservation] = []
    kept: list[SpanRecord] = []
    rejected, message = 0, ""
    for span in spans:
        try:
            observation = observe(span)
        except SpanRejected as exc:
            rejected += 1
            message = message or str(exc)
            continue
        kept.append(span)
        if observation is not None:
            observation.owner_team_id = principal.team_id
            observations.append(observation)
    runs = runs_record(observations, seen_at=now)
    spans_store(kept)
    return IngestResult(accepted=len(kept), rejected=rejected, message=message, runs=len(runs))


@transaction.atomic
def ingest_run_events(
    observations: list[RunObservation],
    *,
    lineage: list[LineageObservation],
    principal: IngestPrincipal,
    now: datetime,
) -> int:
    for observation in observations:
        observation.owner_team_id = principal.team_id
    runs = runs_record(observations, seen_at=now)
    lineage_record(lineage, seen_at=now)
    return len(runs)
