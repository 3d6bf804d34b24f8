"""Queued intake: webhook requests queue their events; the worker's drain processes them
in arrival order through :func:`alerts_receive`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction

from batchwatch.alerts import intake_quarantine
from batchwatch.alerts.config import AlertingConfig, load_config
from batchwatch.alerts.models import AlertIntake, Integration
from batchwatch.alerts.services.receive import alerts_receive
from batchwatch.alerts.wire import AlertEvent, event_record
from batchwatch.core import queues

# PostgreSQL advisory lock of the intake drain: one drainer at a time keeps arrival order.
# (SQLite transactions here are BEGIN IMMEDIATE: drainers queue on the write lock anyway.)
INTAKE_DRAIN_LOCK = 0x6277_0001


INTAKE_CHUNK = 20


def alerts_accept(
    *, events: list[AlertEvent], source: str, now: datetime, integration: Integration | None
) -> None:
    """Queue parsed events for :func:`intake_drain`: one INSERT, durable once committed.

    What a webhook request waits for in queued mode; dedup, grouping and routing happen in
    the drain, as of ``now`` (the arrival), so group_wait still counts from arrival.
    """
    queues.enqueue(
        AlertIntake,
        source=source,
        integration_id=integration.pk if integration else None,
        received_at=now,
        events=[event_record(event) for event in events],
    )


# The worker's drain lets a storm pass before processing it: while batches keep arriving
# (the last one less than INTAKE_QUIET ago) the CPU goes to answering the senders, and no
# batch waits longer than INTAKE_MAX_DEFER. Flushes are timed from arrival, so grouping and
# group_wait are unchanged; only a route whose group_wait is shorter than the wait notifies
# later (by at most INTAKE_MAX_DEFER, during a storm).
INTAKE_QUIET = timedelta(milliseconds=100)


INTAKE_MAX_DEFER = timedelta(seconds=1)


def intake_drain_due(*, now: datetime) -> bool:
    """Whether queued batches wait and the storm that brought them has passed (or they have
    waited INTAKE_MAX_DEFER): when ``alerts worker`` drains."""
    arrivals = queues.pending_arrivals(AlertIntake)
    if arrivals is None:
        return False
    oldest, newest = arrivals
    return now - newest >= INTAKE_QUIET or now - oldest >= INTAKE_MAX_DEFER


def intake_drain(*, now: datetime, limit: int = 1000) -> int:
    """Process queued intake batches oldest first (at most ``limit``); returns how many.

    Batches go through :func:`alerts_receive` in arrival order. Consecutive batches from one
    source that arrived within ``INTAKE_MERGE_WINDOW`` and share no alert are processed as one
    (what a storm sends: one call per thousand alerts instead of one per hundred), as of the
    last arrival among them; a repeated alert starts a new call, so every report still counts
    and the last word on an alert still wins. A batch that cannot be processed (a bug, not bad
    input: that was refused at the edge) keeps its error for admin and does not hold up the
    others. An unavailable database rolls the whole chunk back: nothing is marked, the next
    drain takes it again.
    """
    drained = 0
    config: AlertingConfig | None = None
    while drained < limit:
        with transaction.atomic():
            if not queues.drain_lock(INTAKE_DRAIN_LOCK):
                return drained  # another process is draining
            chunk = list(
                AlertIntake.objects.filter(processed_at=None)
                .select_related("integration__team")
                .order_by("id")[: min(INTAKE_CHUNK, limit - drained)]
            )
            if not chunk:
                return drained
            # (A name of its own: mypy keeps the default below typed as the Optional variable.)
            loaded = config = config or load_config(now)
            events = {item.pk: intake_quarantine.batch_events(item, now) for item in chunk}

            def receive(
                group: Sequence[AlertIntake],
                config: AlertingConfig = loaded,
                events: dict[int, list[AlertEvent]] = events,
                only: list[AlertEvent] | None = None,
            ) -> None:
                alerts_receive(
                    events=only or [event for item in group for event in events[item.pk]],
                    source=group[0].source,
                    integration=group[0].integration,
                    now=max(item.received_at for item in group),
                    config=config,
                )

            failed: dict[int, str] = {}
            for group in _intake_groups(chunk, events):
                failed.update(queues.process_group(group, receive, what="alerts.intake"))
            # A batch that failed alone: its alerts one by one, the failing ones quarantined.
            for item in (item for item in chunk if item.pk in failed):
                done, kept = intake_quarantine.batch_salvage(
                    item, events[item.pk], lambda i, e: receive([i], only=e), now
                )
                error = failed[item.pk]
                failed[item.pk] = f"{kept} alert(s) quarantined, {done} processed; {error}"
            queues.mark_processed(AlertIntake, chunk, failed, now)
            drained += len(chunk)
    return drained


INTAKE_MERGE_WINDOW = timedelta(milliseconds=500)


def _intake_groups(
    chunk: list[AlertIntake], events: dict[int, list[AlertEvent]]
) -> list[list[AlertIntake]]:
    """Split a chunk into groups of batches that can be processed as one (see intake_drain)."""
    groups: list[list[AlertIntake]] = []
    seen: set[str] = set()
    for item in chunk:
        fingerprints = {e.fingerprint for e in events[item.pk]}
        if groups:
            first = groups[-1][0]
            if (
                item.source == first.source
                and item.integration_id == first.integration_id
                and item.received_at - first.received_at <= INTAKE_MERGE_WINDOW
                and not fingerprints & seen
            ):
                groups[-1].append(item)
                seen |= fingerprints
                continue
        groups.append([item])
        seen = set(fingerprints)
    return groups


def intake_prune(*, now: datetime) -> int:
    """Forget processed intake batches after a day (failed ones too: their alerts' errors
    were logged; admin shows them until then)."""
    return queues.prune_processed(AlertIntake, now=now)
