"""Writes to the run ledger: observations converge into runs; spans are stored once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from batchwatch.catalog.models import Job
from batchwatch.catalog.models import job_key as make_job_key
from batchwatch.catalog.services import ObservedJob, jobs_register_observed
from batchwatch.runs import convergence
from batchwatch.runs.ledger import expected_window, judge_runs, match_expected
from batchwatch.runs.models import Run, RunState, Span
from batchwatch.runs.observations import RunObservation, SpanRecord, kept_resource, span_ref
from batchwatch.runs.pgcopy import copy_run_inserts, copy_run_updates, copy_spans
from batchwatch.runs.tenancy import registrable

logger = logging.getLogger("batchwatch.runs")

RUN_FIELDS = [
    "external_id",
    "source",
    "state",
    "scheduled_at",
    "started_at",
    "ended_at",
    "duration_seconds",
    "attempt",
    "failure_reason",
    "trace_id",
    "root_span_id",
    "parent_ref",
    "lineage_ref",
    "attributes",
    "convergence",
    "updated_at",
]


def _apply(run: Run, obs: RunObservation) -> None:
    """Converge ``run`` with what ``obs`` says: the rules live in runs/convergence.py."""
    convergence.apply(run, obs)


def _summary(observations: list[RunObservation]) -> RunObservation:
    """One observation standing for a run's observations in a batch, for what is decided
    before the run is read (its job, the expected occurrence it may fulfil, the references
    other runs may name it by): the earliest times, every root and trace."""
    first = observations[0]
    if len(observations) == 1:
        return first
    summary = RunObservation(
        engine=first.engine,
        namespace=first.namespace,
        job_name=first.job_name,
        external_id=first.external_id,
        source=first.source,
        labels={k: v for o in observations for k, v in o.labels.items()},
        owner_team_id=first.owner_team_id,
        engine_known=first.engine_known,
    )
    for field in ("scheduled_at", "started_at"):
        times = [getattr(o, field) for o in observations if getattr(o, field)]
        setattr(summary, field, min(times, default=None))
    return summary


def _adopt_known_engines(observations: Iterable[RunObservation]) -> None:
    """Give engine-less observations the engine of the catalog job with their namespace/name."""
    unsure = [o for o in observations if not o.engine_known]
    if not unsure:
        return
    q = Q()
    for o in unsure:
        q |= Q(namespace=o.namespace, name=o.job_name)
    engines: dict[tuple[str, str], set[str]] = {}
    for namespace, name, engine in Job.objects.filter(q).values_list("namespace", "name", "engine"):
        engines.setdefault((namespace, name), set()).add(engine)
    for o in unsure:
        found = engines.get((o.namespace, o.job_name), set())
        if len(found) == 1:  # several engines share the name: do not guess
            o.engine = found.pop()


# Writing last_seen_at on every report would make each request lock its jobs' rows; once a
# minute is enough for "last seen", and doing it after commit keeps it out of the ingest
# transaction (two requests touching the same jobs can then never deadlock on them).
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def jobs_for_observations(
    observations: list[RunObservation],
    *,
    seen_at: datetime,
    on_invalid: Callable[[str, str], None] | None = None,
) -> dict[str, Job]:
    """The catalog jobs these observations speak of, registering the new ones.

    Call it before the transaction that records the runs: new jobs are then registered in
    their own short transaction (in key order), so concurrent requests that meet the same new
    jobs wait briefly for each other instead of deadlocking inside long ingest transactions.

    With ``on_invalid(job key, sentence)``, a job the catalog refuses is reported there and
    missing from the result (its observations cannot be recorded) instead of raising.
    """
    _adopt_known_engines(observations)
    return _jobs_for(observations, seen_at=seen_at, on_invalid=on_invalid)


def _jobs_for(
    observations: Iterable[RunObservation],
    *,
    seen_at: datetime,
    on_invalid: Callable[[str, str], None] | None = None,
) -> dict[str, Job]:
    wanted = {o.job_key: o for o in observations}
    jobs = {j.key: j for j in Job.objects.filter(key__in=wanted).select_related("owner_team")}
    new = [
        ObservedJob(obs.engine, obs.namespace, obs.job_name, obs.labels, obs.owner_team_id)
        for key, obs in wanted.items()
        if key not in jobs
    ]
    # A key bound to a team registers no job the ownership rules give to another team.
    new = registrable(new)
    invalid = None
    if on_invalid is not None:

        def invalid(entry: ObservedJob, sentence: str) -> None:
            on_invalid(make_job_key(entry.engine, entry.namespace, entry.name), sentence)

    jobs.update(jobs_register_observed(new, seen_at=seen_at, on_invalid=invalid))
    stale = sorted(
        j.pk
        for j in jobs.values()
        if j.last_seen_at is None or j.last_seen_at < seen_at - LAST_SEEN_RESOLUTION
    )
    if stale:
        transaction.on_commit(lambda: _touch_jobs(stale, seen_at))
    return jobs


def _touch_jobs(job_ids: list[int], seen_at: datetime) -> None:
    try:
        Job.objects.filter(pk__in=job_ids).filter(
            Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=seen_at)
        ).update(last_seen_at=seen_at)
    except DatabaseError as exc:  # bookkeeping only: never fail an ingest that committed
        logger.warning("runs.last_seen_not_updated", extra={"error": str(exc)[:200]})


def runs_record(
    observations: list[RunObservation],
    *,
    seen_at: datetime,
    jobs: dict[str, Job] | None = None,
    then: Callable[[list[Run]], object] | None = None,
) -> list[Run]:
    """Create or update the runs these observations speak of; link parents both ways.

    ``jobs`` comes from :func:`jobs_for_observations` when the caller registered them first.
    ``then`` is called with the runs in the same transaction (what else the caller writes
    with them: spans, lineage, SLO states); it must be idempotent, as a retry after a racing
    insert calls it again.
    """
    if not observations:
        if then is not None:
            with transaction.atomic():
                then([])
        return []
    if jobs is None:
        _adopt_known_engines(observations)
    # Each run's observations, applied one by one (the rules are order-free, so a batch's
    # order does not matter either).
    folded: dict[tuple[str, str], list[RunObservation]] = {}
    for obs in observations:
        folded.setdefault((obs.job_key, obs.external_id), []).append(obs)
    if jobs is None:
        jobs = _jobs_for((_summary(group) for group in folded.values()), seen_at=seen_at)
    # Another request may create one of these runs between our read and our insert; a second
    # pass then sees its row and updates it instead. Inside a caller's transaction that needs
    # a savepoint (two more round trips); on our own, the retry is a new transaction.
    if not connection.in_atomic_block:
        try:
            with transaction.atomic():
                return _record(folded, jobs, seen_at=seen_at, then=then)
        except IntegrityError:
            with transaction.atomic():
                return _record(folded, jobs, seen_at=seen_at, then=then)
    try:
        with transaction.atomic():
            runs = _upsert(folded, jobs)
    except IntegrityError:
        runs = _upsert(folded, jobs)
    runs = _judged(runs, seen_at=seen_at)
    if then is not None:
        then(runs)
    return runs


def _record(
    folded: dict[tuple[str, str], list[RunObservation]],
    jobs: dict[str, Job],
    *,
    seen_at: datetime,
    then: Callable[[list[Run]], object] | None,
) -> list[Run]:
    runs = _judged(_upsert(folded, jobs), seen_at=seen_at)
    if then is not None:
        then(runs)
    return runs


def _judged(runs: list[Run], *, seen_at: datetime) -> list[Run]:
    judge_runs(runs, now=seen_at)
    return runs


def _snapshot(run: Run) -> tuple[Any, ...]:
    return tuple(getattr(run, field) for field in RUN_FIELDS if field != "updated_at")


def _upsert(folded: dict[tuple[str, str], list[RunObservation]], jobs: dict[str, Job]) -> list[Run]:
    jobs_by_id = {j.pk: j for j in jobs.values()}
    summaries = {key: _summary(group) for key, group in folded.items()}
    # One locked read for what the observations may update (their runs, by external id),
    # what new runs may fulfil (the ledger's expected occurrences near their times) and runs
    # stored earlier that wait for one of these as their parent.
    window = expected_window(
        [(key, jobs[key[0]].pk, o.scheduled_at, o.started_at) for key, o in summaries.items()],
        jobs_by_id=jobs_by_id,
    )
    wanted = Q(job_id__in={j.pk for j in jobs.values()}, external_id__in={e for _, e in folded})
    if window is not None:
        job_ids, earliest, latest = window
        wanted |= Q(job_id__in=job_ids, expected_at__gte=earliest, expected_at__lte=latest)
    refs = {
        ref
        for key, group in folded.items()
        for obs in group
        for ref in _refs_observed(jobs[key[0]], obs)
    }
    wanted |= Q(parent_ref__in=refs, parent_run__isnull=True)
    rows = list(Run.objects.select_for_update().filter(wanted).order_by())
    waiting = [r for r in rows if r.parent_run_id is None and r.parent_ref in refs]
    existing = {(r.job_id, r.external_id): r for r in rows}
    new_keys = [
        (key, jobs[key[0]].pk, obs.scheduled_at, obs.started_at)
        for key, obs in summaries.items()
        if (jobs[key[0]].pk, key[1]) not in existing
    ]
    known = (
        [r for r in rows if r.expected_at and window[1] <= r.expected_at <= window[2]]
        if window is not None
        else []
    )
    matched, claims = match_expected(new_keys, jobs_by_id=jobs_by_id, known=known)
    created, changed, runs = [], [], []
    for (job_key, external_id), group in folded.items():
        obs = group[0]
        job = jobs[job_key]
        run = existing.get((job.pk, external_id))
        expected = matched.get((job_key, external_id))
        if run is None and expected is not None:
            # The engine's report fulfils an occurrence the ledger expected: one row for it.
            run = expected
            run.job = job
            run.external_id, run.source = external_id, obs.source
            if run.state in (RunState.SCHEDULED, RunState.MISSED):
                run.state = obs.state or RunState.RUNNING
                run.convergence = convergence.fresh()
            for each in group:
                _apply(run, each)
            changed.append(run)
        elif run is None:
            run = Run(job=job, external_id=external_id, source=obs.source, attempt=obs.attempt or 1)
            run.state = obs.state or RunState.RUNNING
            run.expected_at = claims.get((job_key, external_id))
            run.convergence = convergence.fresh()
            for each in group:
                _apply(run, each)
            created.append(run)
        else:
            run.job = job  # (read without it: linking parents reads run.job for every run)
            before = _snapshot(run)
            for each in group:
                _apply(run, each)
            if _snapshot(run) != before:
                changed.append(run)
        runs.append(run)
    _link_parents(runs, created=created, changed=changed, waiting=waiting)
    return runs


def _refs_observed(job: Job, obs: RunObservation) -> list[str]:
    """The references by which other runs may name the run ``obs`` reports as their parent
    (a superset of :func:`_refs_of` for the run once written)."""
    return _refs(job, obs.external_id, obs.trace_id, obs.root_span_id, obs.lineage_ref)


def _refs_of(run: Run) -> list[str]:
    return _refs(run.job, run.external_id, run.trace_id, run.root_span_id, run.lineage_ref)


def _refs(
    job: Job, external_id: str, trace_id: str, root_span_id: str, lineage_ref: str
) -> list[str]:
    refs = [f"{job.key}#{external_id}", f"ol:{job.namespace}/{job.name}#{external_id}"]
    if lineage_ref:
        refs.append(lineage_ref)  # (an OpenLineage runId filed under the engine's identity)
    if trace_id and root_span_id:
        refs.append(span_ref(trace_id, root_span_id))
    return refs


def _link_parents(
    runs: list[Run], *, created: list[Run], changed: list[Run], waiting: list[Run]
) -> None:
    """Insert new runs and save changed ones, each linked to its parent if the parent is known,
    and link ``waiting``, runs stored earlier that name one of these as their parent.

    References come in three forms: '<job key>#<external id>', 'ol:<namespace>/<name>#<run
    id>' (OpenLineage parents name no engine) and 'span:<trace>/<span>' (a parent span). A
    parent in the same batch is linked in memory: parents are inserted a level before their
    children, so no run needs a second write.
    """
    by_ref: dict[str, Run] = {}
    for run in runs:
        for ref in _refs_of(run):
            by_ref[ref] = run
    outside = {
        r.parent_ref
        for r in runs
        if r.parent_ref and r.parent_ref not in by_ref and r.parent_run_id is None
    }
    found = _resolve_refs(outside)
    # Identity sets: Model.__eq__ compares primary keys, and new runs have none yet.
    new_or_changed = {id(r) for r in created} | {id(r) for r in changed}
    for run in runs:
        if run.parent_ref and run.parent_run_id is None:
            parent = by_ref.get(run.parent_ref) or found.get(run.parent_ref)
            if parent is not None and parent is not run:
                run.parent_run = parent
                if id(run) not in new_or_changed:
                    changed.append(run)
                    new_or_changed.add(id(run))
    # Insert level by level: a run goes in once its parent (if new) has a primary key.
    pending = list(created)
    while pending:
        ready = [r for r in pending if r.parent_run is None or r.parent_run.pk is not None]
        if not ready:  # a cycle of references: insert the rest unlinked
            for r in pending:
                r.parent_run = None
            ready = pending
        _insert_new(ready)
        pending = [r for r in pending if r.pk is None]
    _save_changed(changed)
    by_parent: dict[int, list[int]] = {}
    for child in waiting:
        parent = by_ref.get(child.parent_ref)
        if child.parent_run_id is None and parent is not None and parent.pk != child.pk:
            by_parent.setdefault(parent.pk, []).append(child.pk)
    for parent_pk, child_pks in by_parent.items():
        Run.objects.filter(pk__in=child_pks).update(
            parent_run_id=parent_pk, updated_at=timezone.now()
        )


# From how many changed runs the PostgreSQL path (COPY and one UPDATE, three round trips)
# beats one UPDATE per run.
BULK_UPDATE_FROM = 4


def _insert_new(runs: list[Run]) -> None:
    if connection.vendor == "postgresql" and len(runs) >= BULK_UPDATE_FROM:
        _prepare_for_copy(runs)
        copy_run_inserts(runs)
        return
    Run.objects.bulk_create(runs)


def _save_changed(runs: list[Run]) -> None:
    if connection.vendor == "postgresql" and len(runs) >= BULK_UPDATE_FROM:
        _prepare_for_copy(runs)
        copy_run_updates(runs)
        return
    for run in runs:
        run.save(update_fields=[*RUN_FIELDS, "parent_run", "updated_at"])


def _prepare_for_copy(runs: list[Run]) -> None:
    """What save() and bulk_create() would fill in before writing: the timestamps, and the id
    of a parent linked in memory before it was inserted (without loading parents that are not
    in memory)."""
    now, link = timezone.now(), Run._meta.get_field("parent_run")
    for run in runs:
        run.created_at = run.created_at or now
        run.updated_at = now
        if run.parent_run_id is None and link.is_cached(run):
            parent = link.get_cached_value(run)
            run.parent_run_id = parent.pk if parent is not None else None


def _resolve_refs(refs: set[str]) -> dict[str, Run]:
    """Runs for references outside the batch: at most one query per form of reference."""
    found: dict[str, Run] = {}
    span_q, ol_q, key_q = Q(), Q(), Q()
    for ref in refs:
        if ref.startswith("span:"):
            trace_id, _, span_id = ref.removeprefix("span:").partition("/")
            span_q |= Q(trace_id=trace_id, root_span_id=span_id)
        elif ref.startswith("ol:"):
            path, _, external_id = ref.removeprefix("ol:").rpartition("#")
            namespace, _, name = path.partition("/")
            ol_q |= Q(job__namespace=namespace, job__name=name, external_id=external_id)
            ol_q |= Q(lineage_ref=ref)
        else:
            job_key, _, external_id = ref.rpartition("#")
            key_q |= Q(job__key=job_key, external_id=external_id)
    for q in (span_q, ol_q, key_q):
        if q:
            for run in Run.objects.filter(q).select_related("job"):
                for ref in _refs_of(run):
                    if ref in refs:
                        found[ref] = run
    return found


def spans_store(records: list[SpanRecord], *, growing: bool = False) -> int:
    """Store spans, skipping any already stored (exporters retry). Returns how many were new
    on PostgreSQL (COPY fast path), how many were offered elsewhere.

    ``growing``: the spans are read again from a source that grows (a Spark event log read
    while the application ran, then when it ended): a version of a stored span that ends
    later replaces it (``convergence.span_newer``), whatever order the reads came in.
    """
    if not records:
        return 0
    if growing:
        _spans_refresh(records)
    if connection.vendor == "postgresql":
        return copy_spans(records)
    rows = [
        Span(
            trace_id=r.trace_id,
            span_id=r.span_id,
            parent_span_id=r.parent_span_id,
            name=r.name,
            kind=r.kind,
            start_time=r.start,
            end_time=r.end,
            status_code=r.status_code,
            status_message=r.status_message,
            service_name=r.service_name,
            attributes=r.attributes,
            events=r.events,
            resource=kept_resource(r.resource) if r.resource else {},
        )
        for r in records
    ]
    Span.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return len(rows)


_SPAN_CONTENT = (
    "parent_span_id", "name", "kind", "start_time", "end_time", "status_code",
    "status_message", "service_name", "attributes", "events", "resource",
)  # fmt: skip


def _span_row(r: SpanRecord) -> Span:
    return Span(
        trace_id=r.trace_id, span_id=r.span_id, parent_span_id=r.parent_span_id, name=r.name,
        kind=r.kind, start_time=r.start, end_time=r.end, status_code=r.status_code,
        status_message=r.status_message, service_name=r.service_name, attributes=r.attributes,
        events=r.events, resource=kept_resource(r.resource) if r.resource else {},
    )  # fmt: skip


def _spans_refresh(records: list[SpanRecord]) -> None:
    """Replace stored spans by the newer versions among ``records`` (one read, one bulk
    update); the spans not stored yet are left to the insert."""
    offered = {(r.trace_id, r.span_id): r for r in records}
    q = Q()
    for trace_id in {r.trace_id for r in records}:
        q |= Q(trace_id=trace_id, span_id__in=[s for t, s in offered if t == trace_id])
    changed = []
    for stored in Span.objects.filter(q):
        fresh = _span_row(offered[(stored.trace_id, stored.span_id)])
        if convergence.span_newer(fresh, stored):
            for name in _SPAN_CONTENT:
                setattr(stored, name, getattr(fresh, name))
            changed.append(stored)
    if changed:
        Span.objects.bulk_update(changed, _SPAN_CONTENT, batch_size=200)
