"""Queued ingest (``BATCHWATCH_INGEST_RUNS=queued``): the run reports a request queued
(``RunReportBatch``) converged by the worker in arrival order, through the same pipeline as
inline ingest (``ingest.pipeline``)."""

from __future__ import annotations

import logging
from datetime import datetime
from types import SimpleNamespace

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from batchwatch.core import queues
from batchwatch.ingest import quarantine as ingest_quarantine
from batchwatch.ingest.models import RunReportBatch
from batchwatch.ingest.pipeline import runs_ingest
from batchwatch.runs.observations import clean_text
from batchwatch.runs.services import jobs_for_observations
from batchwatch.runs.tenancy import outside_team

logger = logging.getLogger("batchwatch.ingest")

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
    drained = 0
    while drained < limit:
        chunk, unreadable = _drain_chunk(RunReportBatch, min(RUNS_DRAIN_CHUNK, limit - drained))
        if not chunk and not unreadable:
            return drained
        entries, aside, jobs = _drain_entries(chunk)

        def converge(group, jobs=jobs):
            seen_at = max(e.batch.received_at for e in group)
            runs_ingest(ingest_quarantine.fresh(group), seen_at=seen_at, jobs=jobs)

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
            _drain_done(still, aside, unreadable, now=now)
        drained += len(chunk) + len(unreadable)
    return drained


def _drain_entries(chunk) -> tuple[list, list, dict]:
    """The chunk's observations to record, those set aside (unreadable, a job the catalog
    refuses, another team's job for a team's key) and their jobs by key."""
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
    return entries, aside, jobs


def _drain_done(still: set[int], aside: list, unreadable: list, *, now: datetime) -> None:
    """Quarantine what was set aside and mark the batches still queued processed, each with
    its sentence (in the drain's transaction: never twice)."""
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
            pk: clean_text(f"{len(details)} observation(s) quarantined; first: {details[0]}")
            for pk, details in errors.items()
        },
        now,
    )


def _drain_chunk(model, size: int):
    """The next queued batches, oldest first, and the rows among them that cannot be read
    (their pk, arrival and raw text, and why): a row the JSON decoder refuses is never
    allowed to hold up the ones behind it."""
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
    return queues.prune_processed(RunReportBatch, now=now)
