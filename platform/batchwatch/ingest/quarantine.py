"""What the queued run-report drain cannot converge goes to quarantine, one observation at a
time.

The edge refuses what it can tell is bad (``runs.observations.observation_problem``), so an
observation that fails in the drain is a row written by an older version, by hand, or one
that meets a bug; still, it must never hold up the batches behind it, nor cost the good
observations of its own batch their runs. :func:`runs_drain <batchwatch.ingest.services.
runs_drain>` asks this module to:

- read a batch's stored observations one by one (:func:`batch_observations`): a record that
  cannot be read back (``undecodable``) or that the run ledger cannot store (the reason code
  of :class:`~batchwatch.runs.observations.Invalid`) is set aside, the others go on;
- keep aside what registration or convergence refused (:func:`quarantine_observations`).

A quarantined observation keeps its stored record: ``manage.py quarantine retry`` records it
again (:func:`retry_observation`), as of when it was received.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import DatabaseError, InterfaceError, OperationalError, transaction

from batchwatch.core import jsontext
from batchwatch.core.quarantine import quarantine_add, register_retry
from batchwatch.ingest.pipeline import jobs_register, runs_ingest
from batchwatch.runs.observations import (
    Invalid,
    RunObservation,
    observation_check,
    observation_from_record,
)

logger = logging.getLogger("batchwatch.ingest")

KIND = "run_observation"
KIND_BATCH = "run_report"  # a queued batch whose row cannot be read at all


@dataclasses.dataclass(slots=True)
class Entry:
    """One observation of a queued batch, with where it came from."""

    batch: object  # a RunReportBatch
    record: object  # its stored form, what a retry needs
    observation: RunObservation | None = None


@dataclasses.dataclass(slots=True)
class SetAside:
    entry: Entry
    reason: str  # a bounded code: a metric label
    detail: str


def read_observation(record: object) -> RunObservation:
    """A stored record as an observation the ledger can store; :class:`Invalid` if not."""
    if not isinstance(record, dict):
        raise Invalid("undecodable", f"a stored observation must be an object, not {record!r:.80}")
    try:
        observation = observation_from_record(record)
    except (TypeError, ValueError, AttributeError) as exc:
        raise Invalid("undecodable", f"the stored observation cannot be read: {exc}") from None
    observation_check(observation)
    for name in ("scheduled_at", "started_at", "ended_at"):
        value = getattr(observation, name)
        if value is not None:  # (an offset beyond ±15:59 is valid here, not in PostgreSQL)
            setattr(observation, name, value.astimezone(UTC))
    return observation


def batch_observations(batch) -> tuple[list[Entry], list[SetAside]]:
    """The readable observations of ``batch``, and the records set aside with their reason."""
    records = batch.observations if isinstance(batch.observations, list) else [batch.observations]
    entries, aside = [], []
    for record in records:
        entry = Entry(batch, record)
        try:
            entry.observation = read_observation(record)
        except Invalid as exc:
            aside.append(SetAside(entry, exc.code, exc.message))
            continue
        except Exception as exc:  # any shape a hand-written row may have: never the drain's end
            aside.append(SetAside(entry, "undecodable", f"{type(exc).__name__}: {exc}"))
            continue
        entries.append(entry)
    return entries, aside


def fresh(entries: Iterable[Entry]) -> list[RunObservation]:
    """Copies of the entries' observations: ``runs_record`` folds observations of one run
    into the first (in place), and an attempt that failed must not leave a later attempt
    the facts of observations it does not process."""
    return [dataclasses.replace(e.observation) for e in entries]


def quarantine_observations(aside: Iterable[SetAside], *, now: datetime) -> None:
    """Write the set-aside observations to quarantine (in the caller's transaction, which
    marks their batches processed: never twice)."""
    for item in aside:
        batch = item.entry.batch
        kwargs = {
            "kind": KIND,
            "reason": item.reason,
            "detail": item.detail,
            "received_at": batch.received_at,
            "now": now,
            "origin": f"RunReportBatch {batch.pk}",
        }
        try:
            with transaction.atomic():
                quarantine_add(payload={"observation": item.entry.record}, **kwargs)
        except (OperationalError, InterfaceError):
            raise
        except DatabaseError as exc:  # a payload the database refuses: keep the sentence
            logger.warning("ingest.quarantine_payload_refused", extra={"error": str(exc)[:200]})
            quarantine_add(payload=None, **kwargs)


def quarantine_batch(batch_pk: int, received_at: datetime, raw: str, error: str, *, now) -> None:
    """A queued row that cannot be read at all: kept whole, as its text."""
    quarantine_add(
        kind=KIND_BATCH,
        reason="undecodable",
        detail=f"the queued batch cannot be read: {error}",
        payload={"text": raw},
        received_at=received_at,
        now=now,
        origin=f"RunReportBatch {batch_pk}",
    )


def retry_observation(payload: object, received_at: datetime, now: datetime) -> None:
    """Record a quarantined observation again, as of its arrival (the retry handler)."""
    if not isinstance(payload, dict) or "observation" not in payload:
        raise Invalid("undecodable", "the quarantined item holds no observation")
    observation = read_observation(payload["observation"])
    jobs, refused = jobs_register([observation], seen_at=received_at)
    if refused:
        raise Invalid("invalid_job", next(iter(refused.values())))
    runs_ingest([observation], seen_at=received_at, jobs=jobs)


def retry_batch(payload: object, received_at: datetime, now: datetime) -> None:
    """A quarantined unreadable batch: its text is read again and each observation recorded
    (one that fails fails the retry: the item stays quarantined with the new error)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        raise Invalid("undecodable", "the quarantined item holds no batch text")
    records = jsontext.loads(payload["text"])
    for record in records if isinstance(records, list) else [records]:
        retry_observation({"observation": record}, received_at, now)


register_retry(KIND, retry_observation)
register_retry(KIND_BATCH, retry_batch)
