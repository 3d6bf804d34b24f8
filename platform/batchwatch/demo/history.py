"""The demo's run history: two weeks of each scheduled job, engine-appropriate failures each
followed by a successful re-run, and traces (spans) for the latest runs of one job per engine.

Deterministic (a seeded generator) and continuing: loading again records only the occurrences
since each job's latest run, so a demo loaded yesterday is not left with a day of misses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Max

from batchwatch.catalog.models import Job
from batchwatch.demo.engines import STEPS, failure_reason
from batchwatch.runs.ledger import occurrences as scheduled_between
from batchwatch.runs.models import Run, RunSource
from batchwatch.runs.observations import RunObservation, SpanRecord

DAYS = 14
# An occurrence this recent is left to come: its run has not had time to start.
SETTLE = timedelta(minutes=2)
# The failures of the history: job key → (how many occurrences before the latest, which of
# its engine's failures). Each is re-run by hand and succeeds, so its incident is history by
# the time the demo starts.
FAILURES = {
    "spark:prod-emr/credit_bureau_ingest": (3, 1),
    "airflow:prod-airflow/ledger_nightly_close": (4, 0),
    "dbt:warehouse/ledger_models": (2, 0),
    "flyte:ml-prod/pd_model_scoring": (5, 0),
    "prefect:risk-flows/collections_prioritisation": (6, 0),
    "airflow:prod-airflow/application_funnel_daily": (3, 2),
    "dbt:warehouse/marketing_attribution": (7, 1),
    "spark:prod-emr/loan_events_compaction": (6, 0),
    "temporal:payments/autopay_batch": (8, 1),
}
# Streaming jobs have no schedule: a few submissions, one restarted after checkpoint failures.
STREAMING_DAYS = (9, 4)


@dataclass
class History:
    """The runs to record, oldest first, and which of them failed and were re-run."""

    observations: list[RunObservation] = field(default_factory=list)
    # (failed run's observation, its successful re-run's), oldest first: replayed as incidents.
    failures: list[tuple[RunObservation, RunObservation]] = field(default_factory=list)
    spans: list[SpanRecord] = field(default_factory=list)


def _ids(rng: random.Random, traced: bool) -> tuple[str, str]:
    if not traced:
        return "", ""
    return f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(64):016x}"


def _observation(
    job: Job,
    *,
    external_id: str,
    scheduled: datetime | None,
    started: datetime,
    duration: float,
    failed: str,
    rng: random.Random,
    traced: bool,
) -> RunObservation:
    trace_id, root = _ids(rng, traced)
    return RunObservation(
        engine=job.engine,
        namespace=job.namespace,
        job_name=job.name,
        external_id=external_id,
        source=RunSource.OPENLINEAGE,
        state="failed" if failed else "succeeded",
        scheduled_at=scheduled,
        started_at=started,
        ended_at=started + timedelta(seconds=duration),
        failure_reason=failed,
        trace_id=trace_id,
        root_span_id=root,
    )


def spans_for(obs: RunObservation, rng: random.Random) -> list[SpanRecord]:
    """A root span for the run and one child per step, the last one failing with the run's
    reason when it failed: what the run page's waterfall shows."""
    if not obs.trace_id or obs.started_at is None or obs.ended_at is None:
        return []
    root_name, steps = STEPS.get(obs.engine, STEPS["other"])
    error = bool(obs.failure_reason)
    total = obs.ended_at - obs.started_at
    weights = [rng.uniform(0.5, 1.5) for _ in steps]
    at, records = obs.started_at, []
    for i, (name, weight) in enumerate(zip(steps, weights, strict=True)):
        last = i == len(steps) - 1
        end = obs.ended_at if last else at + total * weight / sum(weights)
        records.append(
            _span(obs, f"{rng.getrandbits(64):016x}", obs.root_span_id, name, at, end,
                  error=error and last)
        )  # fmt: skip
        at = end
    root = _span(obs, obs.root_span_id, "", f"{root_name} {obs.job_name}", obs.started_at,
                 obs.ended_at, error=error)  # fmt: skip
    return [root, *records]


def _span(
    obs: RunObservation,
    span_id: str,
    parent: str,
    name: str,
    start: datetime,
    end: datetime,
    *,
    error: bool,
) -> SpanRecord:
    return SpanRecord(
        trace_id=obs.trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=1,
        start=start,
        end=end,
        status_code=2 if error else 1,
        status_message=obs.failure_reason if error else "",
        service_name=f"{obs.engine}-{obs.namespace}",
        attributes={"batchwatch.engine": obs.engine, "batchwatch.job": obs.job_name},
        events=[{"name": "exception", "attributes": {"exception.message": obs.failure_reason}}]
        if error and not parent
        else [],
        resource={"service.name": f"{obs.engine}-{obs.namespace}"},
        scope="batchwatch.demo",
    )


def plan_history(
    jobs: list[Job], *, now: datetime, rng: random.Random, hold: dict[str, datetime]
) -> History:
    """What each job ran since its latest run (two weeks on a first load), to be recorded in
    the order it happened; ``hold``: per job key, the occurrence from which its runs are left
    to the caller."""
    latest = dict(
        Run.objects.filter(job__in=jobs)
        .values("job_id")
        .annotate(at=Max("scheduled_at"))
        .values_list("job_id", "at")
    )
    has_runs = set(Run.objects.filter(job__in=jobs).values_list("job_id", flat=True))
    traced_engines: set[str] = set()
    history = History()
    observations: list[RunObservation] = []
    for job in sorted(jobs, key=lambda j: j.key):
        if not job.is_active:
            continue
        # One job per engine traces its latest runs (and its failure, if it has one).
        traced = job.engine not in traced_engines
        traced_engines.add(job.engine)
        if not job.schedule_cron:
            if job.pk in has_runs:
                continue
            if job.engine == "flink":
                observations += _streaming(job, now=now, rng=rng)
            else:
                observations += _adhoc(job, now=now, rng=rng, traced=traced)
            continue
        since = latest.get(job.pk) or now - timedelta(days=DAYS)
        due = scheduled_between(job, since, now - SETTLE)
        if job.key in hold:
            due = [at for at in due if at < hold[job.key]]
        if job.pk not in has_runs:
            due = due[-DAYS:]
        observations += _scheduled(job, due, now=now, rng=rng, traced=traced, history=history)
    history.observations = sorted(observations, key=lambda obs: finished(obs, now))
    history.spans = [span for obs in observations for span in spans_for(obs, rng)]
    history.failures.sort(key=lambda pair: finished(pair[0], now))
    return history


def finished(obs: RunObservation, now: datetime) -> datetime:
    """When a run's story was told: its end, or now for one still running."""
    return obs.ended_at or now


def _scheduled(
    job: Job,
    due: list[datetime],
    *,
    now: datetime,
    rng: random.Random,
    traced: bool,
    history: History,
) -> list[RunObservation]:
    typical = rng.randint(300, 3600)
    before_latest, which = FAILURES.get(job.key, (-1, 0))
    observations = []
    for i, scheduled in enumerate(due):
        started = scheduled + timedelta(seconds=rng.randint(5, 240))
        # What is still running now ends just before the load: the demo starts settled.
        duration = min(typical * rng.uniform(0.85, 1.2), (now - started).total_seconds() - 30)
        duration = max(duration, 20.0)
        failed = i == len(due) - 1 - before_latest
        reason = failure_reason(job.engine, which) if failed else ""
        obs = _observation(
            job,
            external_id=f"scheduled__{scheduled.isoformat()}",
            scheduled=scheduled,
            started=started,
            duration=duration * (0.4 if failed else 1),
            failed=reason,
            rng=rng,
            traced=traced and (failed or i >= len(due) - 2),
        )
        observations.append(obs)
        if failed and obs.ended_at is not None:
            # The on-call engineer fixes it and re-runs it by hand about half an hour later.
            rerun = _observation(
                job,
                external_id=f"manual__{scheduled.isoformat()}",
                scheduled=None,
                started=obs.ended_at + timedelta(minutes=rng.randint(20, 35)),
                duration=typical * rng.uniform(0.9, 1.1),
                failed="",
                rng=rng,
                traced=traced,
            )
            observations.append(rerun)
            history.failures.append((obs, rerun))
    return observations


def _adhoc(job: Job, *, now: datetime, rng: random.Random, traced: bool) -> list[RunObservation]:
    """An unscheduled job (a CI pipeline): a few runs over the fortnight, one failed."""
    starts = sorted(now - timedelta(hours=rng.randint(3, 24 * DAYS)) for _ in range(6))
    return [
        _observation(
            job,
            external_id=f"adhoc-{started:%Y%m%d%H%M}",
            scheduled=None,
            started=started,
            duration=rng.randint(120, 900),
            failed=failure_reason(job.engine) if i == len(starts) - 3 else "",
            rng=rng,
            traced=traced and i >= len(starts) - 3,
        )
        for i, started in enumerate(starts)
    ]


def _streaming(job: Job, *, now: datetime, rng: random.Random) -> list[RunObservation]:
    """A streaming job's submissions: each runs until the next; the older one failed its
    checkpoints and was resubmitted (the latest still running)."""
    observations = []
    starts = [now - timedelta(days=d, minutes=rng.randint(0, 600)) for d in STREAMING_DAYS]
    for i, started in enumerate(starts):
        last = i == len(starts) - 1
        ends = now if last else starts[i + 1] - timedelta(minutes=3)
        obs = _observation(
            job,
            external_id=f"submission-{started:%Y%m%d%H%M}",
            scheduled=None,
            started=started,
            duration=(ends - started).total_seconds(),
            failed="" if last else failure_reason(job.engine),
            rng=rng,
            traced=True,
        )
        if last:  # still running: no end yet
            obs.state, obs.ended_at = "running", None
        observations.append(obs)
    return observations
