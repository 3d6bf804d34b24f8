"""The one way ingest records what it was told: register the jobs, record the runs, then, in
the transaction that recorded them, the spans and lineage that came with them and the
``after_runs_recorded`` hooks (the SLOs of jobs whose runs finished: ``slo`` registers its
evaluation there, so ingest never imports it).

Every path that records runs goes through here: OTLP traces in the request
(``ingest_spans``), the queued drain (``runs_drain``), run events (OpenLineage, Flink logs
and polls, OTLP metrics: ``ingest_run_events``), Spark event logs (``spark_eventlog_import``)
and the retry of a quarantined observation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from batchwatch.catalog.models import Job
from batchwatch.catalog.services import lineage_record
from batchwatch.core.hooks import after_runs_recorded
from batchwatch.runs.models import Run
from batchwatch.runs.observations import LineageObservation, RunObservation, SpanRecord
from batchwatch.runs.services import jobs_for_observations, runs_record, spans_store


def jobs_register(
    observations: Sequence[RunObservation], *, seen_at: datetime
) -> tuple[dict[str, Job], dict[str, str]]:
    """The observations' jobs by key, registering new ones (``jobs_for_observations``: each
    its own short transaction, harmless when the request then fails), and the keys the
    catalog refused with the first sentence of each."""
    refused: dict[str, str] = {}
    jobs = jobs_for_observations(
        list(observations),
        seen_at=seen_at,
        on_invalid=lambda key, why: refused.setdefault(key, why),
    )
    return jobs, refused


def runs_ingest(
    observations: list[RunObservation],
    *,
    seen_at: datetime,
    jobs: dict[str, Job] | None = None,
    spans: list[SpanRecord] | None = None,
    growing: bool = False,
    lineage: list[LineageObservation] | None = None,
) -> list[Run]:
    """Record the runs ``observations`` speak of (``runs_record``; ``jobs`` from
    :func:`jobs_register`, else registered there), then in the same transaction store
    ``spans`` (``growing``: read again from a source that grows), record ``lineage`` and call
    the ``after_runs_recorded`` hooks with the runs. Returns the runs."""

    def then(runs: list[Run]) -> None:
        # (idempotent, as runs_record asks: a retry after a racing insert calls it again)
        if spans is not None:
            spans_store(spans, growing=growing)
        if lineage is not None:
            lineage_record(lineage, seen_at=seen_at)
        after_runs_recorded.fire(runs, now=seen_at)

    return runs_record(observations, seen_at=seen_at, jobs=jobs, then=then)
