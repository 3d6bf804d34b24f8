"""Ingest use cases: decoded telemetry in, runs, spans and lineage out, in one transaction.

Each records through ``ingest.pipeline`` (register jobs, record runs, then spans, lineage and
the ``after_runs_recorded`` hooks); the queued drain is in ``ingest.drain``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event
from batchwatch.catalog.models import Job, Team
from batchwatch.catalog.services import job_facts_record
from batchwatch.core import queues
from batchwatch.core.annotations import Actor
from batchwatch.ingest.adapters import SpanRejected, observe
from batchwatch.ingest.auth import IngestPrincipal
from batchwatch.ingest.drain import (  # noqa: F401 - the drain's names, where callers find them
    RUNS_DRAIN_CHUNK,
    RUNS_DRAIN_LOCK,
    run_reports_prune,
    runs_drain,
)
from batchwatch.ingest.models import (
    EventLogImport,
    IngestKey,
    RunReportBatch,
    generate_key,
    hash_key,
)
from batchwatch.ingest.pipeline import jobs_register, runs_ingest
from batchwatch.ingest.sparkfiles import EventLog
from batchwatch.ingest.sparklog import EventLogError, read_event_log
from batchwatch.runs.observations import (
    LineageObservation,
    RunObservation,
    SpanRecord,
    observation_problem,
    observation_record,
)
from batchwatch.runs.services import spans_store
from batchwatch.runs.tenancy import (
    NOT_OWNED,
    outside_team,
    outside_team_before_registration,
    spans_outside_team,
)

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
        jobs, refused = jobs_register(observations, seen_at=now)
        if refused:
            dropped = {id(span_of[id(o)]) for o in observations if o.job_key in refused}
            observations = [o for o in observations if o.job_key not in refused]
            kept = [s for s in kept if id(s) not in dropped]
            rejected += len(dropped)
            message = message or next(iter(refused.values()))
        foreign = outside_team(observations, jobs)
    else:
        jobs = {}
        foreign = outside_team_before_registration(observations)
    if principal.team_id is not None and kept:
        # A key bound to a team: runs of another team's jobs are refused per item, and so are
        # their spans and any span that would hang below another team's run.
        observations, kept, count, first = _confine_to_team(
            observations, kept, span_of=span_of, foreign=foreign, team_id=principal.team_id
        )
        rejected += count
        message = message or first
    stored = bound_spark_tasks(kept)
    if settings.BATCHWATCH_INGEST_RUNS == "queued":
        # The spans, and what they say about runs for the drain, in one transaction.
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

    runs = runs_ingest(observations, seen_at=now, jobs=jobs, spans=stored)
    return IngestResult(accepted=len(kept), rejected=rejected, message=message, runs=len(runs))


def _confine_to_team(observations, kept, *, span_of, foreign, team_id):
    """The observations and spans a key of ``team_id`` may record (``runs.tenancy``), how
    many spans were refused, and the first sentence (a refused run's, when there is one)."""
    refused_roots: dict[tuple[str, str], str] = {}
    owned: list[tuple[str, str]] = []
    for obs in observations:
        span = span_of[id(obs)]
        roots = [(span.trace_id, span.span_id)]
        if obs.trace_id and obs.root_span_id:
            roots.append((obs.trace_id, obs.root_span_id))
        if id(obs) in foreign:
            for root in roots:
                refused_roots.setdefault(root, foreign[id(obs)])
        else:
            owned += roots
    out = spans_outside_team(kept, team_id=team_id, refused=refused_roots, owned=owned)
    observations = [
        o for o in observations if id(o) not in foreign and id(span_of[id(o)]) not in out
    ]
    kept = [s for s in kept if id(s) not in out]
    first = next(iter(foreign.values()), "") or next(iter(out.values()), "")
    return observations, kept, len(out), first


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
    jobs, refused = jobs_register(valid, seen_at=now)
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

    return len(runs_ingest(observations, seen_at=now, jobs=jobs, lineage=lineage))


def ingest_job_facts(facts: dict[int, dict[str, Any]], *, principal: IngestPrincipal) -> list[str]:
    """Record facts of jobs themselves (``Job.facts``: a consumer group's lag); returns the
    sentences refusing those about jobs the key's team does not own (nothing of theirs is
    recorded)."""
    refused: list[str] = []
    if principal.team_id is not None and facts:
        owners = Job.objects.filter(pk__in=facts).values_list("pk", "key", "owner_team_id")
        foreign = {pk: key for pk, key, team in owners if team != principal.team_id}
        refused = [NOT_OWNED.format(key=key) for key in sorted(foreign.values())]
        facts = {pk: f for pk, f in facts.items() if pk not in foreign}
    job_facts_record(facts=facts)
    return refused


@dataclass
class EventLogResult:
    path: str
    status: str  # imported | unchanged | failed
    message: str
    run_id: int | None = None


def spark_eventlog_import(
    log: EventLog,
    *,
    namespace: str,
    now: datetime,
    force: bool = False,
    progress: Callable[[int], object] | None = None,
) -> EventLogResult:
    """Import one Spark event log (a file or a rolling directory), idempotently.

    Unchanged logs (same size and mtime as last time) are skipped unless ``force``; changed
    ones are read again and converge onto the same run and spans (stable ids).
    """
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
        [run] = runs_ingest([imported.observation], seen_at=now, spans=imported.spans, growing=True)
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


@transaction.atomic
def ingest_key_create(
    *,
    name: str,
    team: Team | None = None,
    created_by: Actor = None,
    request: HttpRequest | None = None,
) -> tuple[IngestKey, str]:
    """A new ingest key; returns ``(key, raw)``. Only the hash is stored: show ``raw`` once.
    The audit log gets its prefix, never the key."""
    raw = generate_key()
    key = IngestKey.objects.create(
        name=name, team=team, created_by=created_by, key_hash=hash_key(raw), key_prefix=raw[:8]
    )
    record_event(
        AuditEvent.Action.INGEST_KEY_CREATED,
        actor=created_by,
        team=team,
        target=key,
        detail={"name": name, "prefix": key.key_prefix},
        request=request,
    )
    return key, raw


@transaction.atomic
def ingest_keys_revoke(
    *,
    keys: QuerySet[IngestKey],
    now: datetime,
    actor: Actor = None,
    request: HttpRequest | None = None,
) -> int:
    """Revoke the keys of ``keys`` (a queryset) not revoked yet, one audit event each; returns
    how many."""
    revoked = list(keys.filter(revoked_at__isnull=True).select_for_update())
    for key in revoked:
        key.revoked_at = now
        key.save(update_fields=["revoked_at"])
        ingest_key_record_revoked(key=key, actor=actor, request=request)
    return len(revoked)


def ingest_key_record_revoked(
    *, key: IngestKey, actor: Actor = None, request: HttpRequest | None = None
) -> None:
    """The audit event of a revoked key (here, or in admin's form, which sets ``revoked_at``
    itself); call in the transaction that saved it."""
    record_event(
        AuditEvent.Action.INGEST_KEY_REVOKED,
        actor=actor,
        team=key.team,
        target=key,
        detail={"name": key.name, "prefix": key.key_prefix},
        request=request,
    )
