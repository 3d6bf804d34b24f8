"""Ingest use cases: decoded telemetry in, runs, spans and lineage out, in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction

from batchwatch.catalog.services import lineage_record
from batchwatch.core import queues
from batchwatch.ingest import quarantine as ingest_quarantine
from batchwatch.ingest.adapters import SpanRejected, observe
from batchwatch.ingest.auth import IngestPrincipal
from batchwatch.runs.observations import (
    LineageObservation,
    RunObservation,
    SpanRecord,
    clean_text,
    observation_problem,
    observation_record,
)
from batchwatch.runs.services import jobs_for_observations, runs_record, spans_store
from batchwatch.runs.tenancy import outside_team
from batchwatch.slo.services import slo_evaluate_after_runs

logger = logging.getLogger("batchwatch.ingest")


SPARK_TASKS_KEPT_SLOWEST = 5
SPARK_TASKS_KEPT_FAILED = 20


def bound_spark_tasks(spans: list[SpanRecord]) -> list[SpanRecord]:
    """Keep a stage's failed tasks and its slowest few; count the rest on the stage span.

    A Spark job can run 100,000 tasks: a trace view needs the stragglers and the failures,
    and the stage's own span says how many there were. Same rule as the event-log importer.
    """
    by_stage: dict[tuple[str, str], list[SpanRecord]] = {}
    for span in spans:
        if span.name == "spark.task":
            by_stage.setdefault((span.trace_id, span.parent_span_id), []).append(span)
    if not by_stage:
        return spans
    dropped: set[int] = set()
    stages = {(s.trace_id, s.span_id): s for s in spans if s.name == "spark.stage"}
    for key, tasks in by_stage.items():
        failed = [t for t in tasks if t.status_code == 2][:SPARK_TASKS_KEPT_FAILED]
        ok = sorted((t for t in tasks if t.status_code != 2), key=lambda t: t.start - t.end)
        keep = {id(t) for t in failed + ok[:SPARK_TASKS_KEPT_SLOWEST]}
        not_kept = [t for t in tasks if id(t) not in keep]
        dropped.update(id(t) for t in not_kept)
        stage = stages.get(key)
        if stage is not None and not_kept:
            stage.attributes = {
                **stage.attributes,
                "batchwatch.tasks_received": len(tasks),
                "batchwatch.tasks_not_kept": len(not_kept),
            }
    return [s for s in spans if id(s) not in dropped]


@dataclass
class IngestResult:
    accepted: int
    rejected: int
    message: str
    runs: int


def ingest_spans(
    spans: list[SpanRecord], *, principal: IngestPrincipal, now: datetime
) -> IngestResult:
    """Store the spans and converge the runs they describe; runs and spans all or nothing.

    New jobs are registered first, each in its own transaction: a job that registered itself
    is harmless even when the request then fails and the exporter retries.

    A span an adapter refuses (say, an unknown engine) is left out and reported; the others
    are kept, as OTLP's partial success expects.
    """
    observations: list[RunObservation] = []
    kept: list[SpanRecord] = []
    span_of: dict[int, SpanRecord] = {}
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
            span_of[id(observation)] = span
    if settings.BATCHWATCH_INGEST_RUNS != "queued" and observations:
        # (the edge checked what the catalog checks: this refuses only what it missed)
        refused: dict[str, str] = {}
        jobs = jobs_for_observations(
            observations, seen_at=now, on_invalid=lambda key, why: refused.setdefault(key, why)
        )
        if refused:
            dropped = {id(span_of[id(o)]) for o in observations if o.job_key in refused}
            observations = [o for o in observations if o.job_key not in refused]
            kept = [s for s in kept if id(s) not in dropped]
            rejected += len(dropped)
            message = message or next(iter(refused.values()))
        # A key bound to a team: its spans about another team's jobs are refused per item.
        foreign = outside_team(observations, jobs)
        if foreign:
            dropped = {id(span_of[key]) for key in foreign}
            observations = [o for o in observations if id(o) not in foreign]
            kept = [s for s in kept if id(s) not in dropped]
            rejected += len(dropped)
            message = message or next(iter(foreign.values()))
    else:
        jobs = {}
    stored = bound_spark_tasks(kept)
    if settings.BATCHWATCH_INGEST_RUNS == "queued":
        # The spans, and what they say about runs for the drain, in one transaction.
        from batchwatch.ingest.models import RunReportBatch

        with transaction.atomic():
            spans_store(stored)
            if observations:
                queues.enqueue(
                    RunReportBatch,
                    received_at=now,
                    observations=[observation_record(o) for o in observations],
                )
        runs = len({(o.job_key, o.external_id) for o in observations})
        return IngestResult(accepted=len(kept), rejected=rejected, message=message, runs=runs)

    def with_runs(runs):
        spans_store(stored)
        slo_evaluate_after_runs(runs, now=now)

    runs = runs_record(observations, seen_at=now, jobs=jobs, then=with_runs)
    return IngestResult(accepted=len(kept), rejected=rejected, message=message, runs=len(runs))


# PostgreSQL advisory lock of the ingest drain: one drainer at a time keeps arrival order.
RUNS_DRAIN_LOCK = 0x6277_0002
RUNS_DRAIN_CHUNK = 20


def runs_drain(*, now: datetime, limit: int = 200) -> int:
    """Converge queued run reports (queued mode) in arrival order; returns how many batches.

    A chunk of batches is one ``runs_record`` call (its observations in order: the same
    convergence as inline, as of the latest arrival among them); new jobs are registered
    before, in their own short transaction, as inline. Every step is isolated: a stored
    observation that cannot be read or stored, a job the catalog refuses, and an observation
    whose convergence fails (found by halving the chunk until only the one at fault fails)
    are quarantined (``core.quarantine``, kind ``run_observation``) and their batches marked
    processed; the others are recorded. Nothing a batch holds makes this raise: only an
    unavailable database does (OperationalError, InterfaceError), which leaves the chunk
    queued.
    """
    from batchwatch.ingest.models import RunReportBatch

    drained = 0
    while drained < limit:
        chunk, unreadable = _drain_chunk(RunReportBatch, min(RUNS_DRAIN_CHUNK, limit - drained))
        if not chunk and not unreadable:
            return drained
        entries, aside = [], []
        for batch in chunk:
            ok, bad = ingest_quarantine.batch_observations(batch)
            entries += ok
            aside += bad
        jobs, refused = _drain_jobs(entries)
        aside += [
            ingest_quarantine.SetAside(e, *refused[e.observation.job_key])
            for e in entries
            if e.observation.job_key in refused
        ]
        entries = [e for e in entries if e.observation.job_key not in refused]
        # What a key bound to a team said about another team's job is set aside, not recorded.
        foreign = outside_team([e.observation for e in entries], jobs)
        aside += [
            ingest_quarantine.SetAside(e, "not_owned", foreign[id(e.observation)])
            for e in entries
            if id(e.observation) in foreign
        ]
        entries = [e for e in entries if id(e.observation) not in foreign]

        def converge(group, jobs=jobs):
            seen_at = max(e.batch.received_at for e in group)
            runs = runs_record(ingest_quarantine.fresh(group), seen_at=seen_at, jobs=jobs)
            slo_evaluate_after_runs(runs, now=seen_at)

        with transaction.atomic():
            if not queues.drain_lock(RUNS_DRAIN_LOCK):
                return drained  # another process is draining
            # What another drainer converged since this one read the chunk is not done twice.
            pks = [b.pk for b in chunk] + [pk for pk, *_ in unreadable]
            still = set(
                RunReportBatch.objects.filter(pk__in=pks, processed_at=None).values_list(
                    "pk", flat=True
                )
            )
            entries = [e for e in entries if e.batch.pk in still]
            failed = queues.isolate(entries, converge, what="ingest.run_reports")
            aside = [a for a in aside if a.entry.batch.pk in still] + [
                ingest_quarantine.SetAside(e, "processing_error", error) for e, error in failed
            ]
            ingest_quarantine.quarantine_observations(aside, now=now)
            errors: dict[int, list[str]] = {}
            for item in aside:
                errors.setdefault(item.entry.batch.pk, []).append(item.detail)
            for pk, received_at, raw, error in unreadable:
                if pk in still:
                    ingest_quarantine.quarantine_batch(pk, received_at, raw, error, now=now)
                    errors[pk] = [error]
            queues.mark_processed(
                RunReportBatch,
                [SimpleNamespace(pk=pk) for pk in still],
                {
                    pk: clean_text(
                        f"{len(details)} observation(s) quarantined; first: {details[0]}"
                    )
                    for pk, details in errors.items()
                },
                now,
            )
        drained += len(chunk) + len(unreadable)
    return drained


def _drain_chunk(model, size: int):
    """The next queued batches, oldest first, and the rows among them that cannot be read
    (their pk, arrival and raw text, and why): a row the JSON decoder refuses is never
    allowed to hold up the ones behind it."""
    from django.db.models import TextField
    from django.db.models.functions import Cast

    pending = model.objects.filter(processed_at=None).order_by("id")
    try:
        return list(pending[:size]), []
    except (OperationalError, InterfaceError):
        raise
    except Exception:  # a row that cannot be decoded: read them one at a time
        logger.exception("ingest.run_reports_unreadable")
    chunk, unreadable = [], []
    for pk, received_at, raw in pending.values_list(
        "pk", "received_at", Cast("observations", TextField())
    )[:size]:
        try:
            chunk.append(model.objects.get(pk=pk))
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            unreadable.append((pk, received_at, raw or "", f"{type(exc).__name__}: {exc}"))
    return chunk, unreadable


def _drain_jobs(entries) -> tuple[dict, dict[str, tuple[str, str]]]:
    """The jobs of the entries, registering new ones (each attempt its own short
    transaction); returns the jobs by key and the refused keys with a reason code and a
    sentence. A registration that fails for another reason is retried per observation."""
    refused: dict[str, tuple[str, str]] = {}

    def note(key: str, why: str, code: str = "invalid_job") -> None:
        refused.setdefault(key, (code, why))

    def register(group) -> dict:
        observations = [e.observation for e in group]
        seen_at = max(e.batch.received_at for e in group)
        with transaction.atomic():
            return jobs_for_observations(observations, seen_at=seen_at, on_invalid=note)

    if not entries:
        return {}, refused
    try:
        return register(entries), refused
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        logger.exception("ingest.run_reports_registration_failed")
    jobs: dict = {}
    for entry in entries:
        try:
            jobs.update(register([entry]))
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
            note(entry.observation.job_key, error, "registration_error")
    return jobs, refused


def run_reports_prune(*, now: datetime) -> int:
    """Forget processed run reports after a day."""
    from batchwatch.ingest.models import RunReportBatch

    return queues.prune_processed(RunReportBatch, now=now)


def ingest_run_events(
    observations: list[RunObservation],
    *,
    lineage: list[LineageObservation],
    principal: IngestPrincipal,
    now: datetime,
    refused_out: list[str] | None = None,
) -> int:
    """Record what run events say (OpenLineage, Flink logs and polls); returns how many runs.

    An observation the ledger could not store is left out and logged: the edge parsers
    refuse those with a sentence, so this only guards pollers and future callers.

    An observation about a job the key's team does not own is left out with its lineage, and
    its sentence appended to ``refused_out`` (the endpoint refuses it to the sender).
    """
    valid = []
    for observation in observations:
        problem = observation_problem(observation)
        if problem is not None:
            logger.warning(
                "ingest.observation_refused",
                extra={"job": observation.job_key[:200], "error": problem.message[:200]},
            )
            continue
        observation.owner_team_id = principal.team_id
        valid.append(observation)
    refused: dict[str, str] = {}
    jobs = jobs_for_observations(
        valid, seen_at=now, on_invalid=lambda key, why: refused.setdefault(key, why)
    )
    observations = [o for o in valid if o.job_key not in refused]
    foreign = outside_team(observations, jobs)
    if foreign:
        if refused_out is not None:
            refused_out.extend(foreign.values())
        logger.warning(
            "ingest.observation_not_owned",
            extra={"team": principal.team_id, "count": len(foreign)},
        )
        foreign_keys = {o.job_key for o in observations if id(o) in foreign}
        observations = [o for o in observations if id(o) not in foreign]
        lineage = [item for item in lineage if item.job_key not in foreign_keys]

    def with_runs(runs):
        lineage_record(lineage, seen_at=now)
        slo_evaluate_after_runs(runs, now=now)

    return len(runs_record(observations, seen_at=now, jobs=jobs, then=with_runs))


@dataclass
class EventLogResult:
    path: str
    status: str  # imported | unchanged | failed
    message: str
    run_id: int | None = None


def spark_eventlog_import(
    log, *, namespace: str, now: datetime, force: bool = False, progress=None
) -> EventLogResult:
    """Import one Spark event log (a file or a rolling directory), idempotently.

    Unchanged logs (same size and mtime as last time) are skipped unless ``force``; changed
    ones are read again and converge onto the same run and spans (stable ids).
    """
    from batchwatch.ingest.models import EventLogImport
    from batchwatch.ingest.sparklog import EventLogError, read_event_log

    key = str(log.path.resolve())
    size, mtime = log.size, log.mtime
    previous = EventLogImport.objects.filter(path=key).first()
    if (
        previous
        and not force
        and previous.size == size
        and previous.mtime == mtime
        and not (previous.error)
    ):
        if progress:
            progress(size)
        return EventLogResult(key, "unchanged", "already imported", previous.run_id)
    try:
        imported = read_event_log(log, namespace=namespace, progress=progress)
    except (EventLogError, OSError) as exc:
        EventLogImport.objects.update_or_create(
            path=key,
            defaults={"size": size, "mtime": mtime, "error": str(exc), "imported_at": now},
        )
        return EventLogResult(key, "failed", str(exc))
    with transaction.atomic():
        [run] = runs_record([imported.observation], seen_at=now)
        spans_store(imported.spans)
        slo_evaluate_after_runs([run], now=now)
        EventLogImport.objects.update_or_create(
            path=key,
            defaults={
                "size": size,
                "mtime": mtime,
                "app_id": imported.observation.external_id,
                "run": run,
                "in_progress": log.in_progress,
                "events": imported.events,
                "error": "",
                "imported_at": now,
            },
        )
    return EventLogResult(
        key, "imported", f"{run.job.key} run {run.external_id}: {run.state}", run.pk
    )


def ingest_key_create(*, name: str, team=None, created_by=None):
    """A new ingest key; returns ``(key, raw)``. Only the hash is stored: show ``raw`` once."""
    from batchwatch.ingest.models import IngestKey, generate_key, hash_key

    raw = generate_key()
    key = IngestKey.objects.create(
        name=name, team=team, created_by=created_by, key_hash=hash_key(raw), key_prefix=raw[:8]
    )
    return key, raw
