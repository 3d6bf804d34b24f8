"""What the durable intake queues share (queued alerts, queued run reports): one drainer at a
time, a group of batches processed as one call with a fallback to one batch at a time, the
marking of processed and failed batches, and pruning."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Max, Min

from batchwatch.core.bulk import parameters_apart_cursor
from batchwatch.core.models import QueuedBatch

logger = logging.getLogger("batchwatch")

KEEP = timedelta(days=1)


def drain_lock(key: int) -> bool:
    """In the current transaction: whether this process may drain the queue ``key``.

    PostgreSQL: a transaction-scoped advisory lock, taken without waiting (another drainer
    holds it: this one stops). SQLite: always; its writers take turns anyway.
    """
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
        return bool(cursor.fetchone()[0])


def enqueue(model: type[QueuedBatch], **values) -> None:
    """Insert one batch with one INSERT: no model instance, signals or statement compiler,
    and on PostgreSQL its document sent as a parameter. ``values`` are by attribute name
    (``integration_id``); the other fields take their defaults.

    The ORM's save, with Django's client-side binding, escapes the document into the SQL for
    PostgreSQL to parse back out: slower per webhook (figures: docs/benchmarks.md, "Alert
    storm").
    """
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    unknown = set(values) - {f.attname for f in fields}
    if unknown:
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    params = [
        f.get_db_prep_save(
            values[f.attname] if f.attname in values else f.get_default(), connection
        )
        for f in fields
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    # (names from the model's metadata, quoted; the values are parameters)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    with parameters_apart_cursor() as cursor:
        cursor.execute(sql, params)


def pending_arrivals(model: type[QueuedBatch]) -> tuple[datetime, datetime] | None:
    """When the oldest and the newest batch not processed yet arrived; None if none is."""
    span = model._default_manager.filter(processed_at=None).aggregate(
        oldest=Min("received_at"), newest=Max("received_at")
    )
    return None if span["oldest"] is None else (span["oldest"], span["newest"])


def process_group(group: Sequence, process: Callable[[Sequence], None], *, what: str):
    """Run ``process`` on the whole group in a savepoint; if it fails, on each item alone, so
    that only the item at fault fails. Returns ``{item pk: error}``.

    Items are batches with a ``pk``. An unavailable database is not an item's fault: it
    propagates, and the caller's transaction leaves every batch queued.
    """
    attempts = [group] if len(group) == 1 else [group, *([item] for item in group)]
    failed: dict[int, str] = {}
    for attempt in attempts:
        try:
            with transaction.atomic():
                process(attempt)
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            if len(attempt) > 1:
                continue  # now each on its own
            logger.exception(f"{what}_failed", extra={"batch": attempt[0].pk})
            failed[attempt[0].pk] = f"{type(exc).__name__}: {exc}"[:2000]
            continue
        if attempt is group:
            break
    return failed


def isolate(items: Sequence, process: Callable[[Sequence], None], *, what: str) -> list:
    """Run ``process`` on all ``items`` in a savepoint; if it fails, on each half, and so on
    down to single items, so that only the items at fault fail (``k`` bad items among ``n``
    cost about ``k log n`` attempts, not ``n``). Order is kept: the first half before the
    second. Returns ``[(item, error sentence)]`` for the items that failed alone.

    An unavailable database is not an item's fault: it propagates, and the caller's
    transaction leaves everything queued.
    """
    failed: list = []

    def attempt(part: Sequence) -> None:
        try:
            with transaction.atomic():
                process(part)
            return
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            if len(part) == 1:
                logger.exception(f"{what}_failed")
                failed.append((part[0], f"{type(exc).__name__}: {exc}"[:2000]))
                return
        middle = len(part) // 2
        attempt(part[:middle])
        attempt(part[middle:])

    if items:
        attempt(list(items))
    return failed


def mark_processed(
    model: type[QueuedBatch], batches: Sequence, failed: dict[int, str], now: datetime
):
    model._default_manager.filter(pk__in=[b.pk for b in batches]).update(processed_at=now)
    for pk, error in failed.items():
        model._default_manager.filter(pk=pk).update(error=error)


def prune_processed(model: type[QueuedBatch], *, now: datetime, keep: timedelta = KEEP) -> int:
    """Delete batches processed more than ``keep`` ago (at most 5,000 a call)."""
    old = model._default_manager.filter(processed_at__lt=now - keep).values_list("pk", flat=True)
    deleted, _ = model._default_manager.filter(pk__in=list(old[:5000])).delete()
    return deleted
