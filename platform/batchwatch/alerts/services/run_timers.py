"""Running due timers: claimed by a conditional UPDATE in the transaction of their effects."""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import datetime

from django.db import InterfaceError, OperationalError, connection, transaction

from batchwatch.alerts.config import AlertingConfig, load_config
from batchwatch.alerts.models import Incident, Timer
from batchwatch.alerts.services.escalation import _escalate, _retrigger
from batchwatch.alerts.services.flushes import _flush, _flush_many

logger = logging.getLogger("batchwatch.alerts")


WORKER = f"{socket.gethostname()}:{os.getpid()}"


# Fault injection for the reliability tests only: a pause after a timer's effects are written
# and before they commit, so that a test can kill the process inside that window.
_FAULT_PAUSE = float(os.environ.get("BATCHWATCH_FAULT_PAUSE_BEFORE_COMMIT", "0") or 0)


def timers_run_due(*, now: datetime, limit: int = 500, worker: str = WORKER) -> int:
    """Run the timers due at ``now``; returns how many ran. Safe in any number of processes.

    Each timer is claimed by a conditional ``UPDATE ... WHERE state = 'pending'`` in the same
    transaction as its effects (outbox rows, the next timer): if the process dies before
    commit, nothing happened and the timer is still pending; if two processes race, exactly
    one update hits the row. On PostgreSQL, ``SKIP LOCKED`` lets workers share a backlog
    instead of queueing on the same rows; SQLite serialises writers anyway.
    """
    # Nothing due, what a polling worker mostly finds: one indexed read, no transaction.
    if not Timer.objects.filter(state=Timer.State.PENDING, due_at__lte=now).exists():
        return 0
    executed = 0
    config: AlertingConfig | None = None  # loaded once for the whole run, when first needed
    while executed < limit:
        with transaction.atomic():
            query = Timer.objects.filter(state=Timer.State.PENDING, due_at__lte=now).order_by(
                "due_at", "id"
            )
            if connection.vendor == "postgresql":
                query = query.select_for_update(skip_locked=True)
            batch = list(query[:50])
            if not batch:
                break
            flushes = [t for t in batch if t.kind == Timer.Kind.FLUSH]
            if len(flushes) > 1:
                config = config or load_config(now)
                if _run_flushes(flushes, now, config, worker):
                    executed += len(flushes)
                    batch = [t for t in batch if t.kind != Timer.Kind.FLUSH]
            for timer in batch:
                claimed = Timer.objects.filter(pk=timer.pk, state=Timer.State.PENDING).update(
                    state=Timer.State.DONE, executed_at=now, executed_by=worker[:200]
                )
                if not claimed:
                    continue
                if config is None and timer.kind == Timer.Kind.FLUSH:
                    config = load_config(now)
                try:
                    with transaction.atomic():
                        ran = _execute(timer, now, config)
                        if _FAULT_PAUSE:
                            time.sleep(_FAULT_PAUSE)
                except (OperationalError, InterfaceError):
                    # The database's fault (away, or a deadlock broken), not the timer's: the
                    # whole round rolls back and the timer is pending for the next one.
                    raise
                except Exception:
                    logger.exception("alerts.timer_failed", extra={"timer": timer.pk})
                    Timer.objects.filter(pk=timer.pk).update(state=Timer.State.FAILED)
                    continue
                if not ran:
                    Timer.objects.filter(pk=timer.pk).update(state=Timer.State.STALE)
                executed += 1
    return executed


def _run_flushes(timers: list[Timer], now: datetime, config: AlertingConfig, worker: str) -> bool:
    """Group flushes due together (a storm's): claimed with one UPDATE and done with set-based
    writes (:func:`_flush_many`). False when that could not be done: the timers are pending
    again, and the caller runs them one by one like any timer (so only one at fault fails)."""
    ids = [t.pk for t in timers]
    claimed = Timer.objects.filter(pk__in=ids, state=Timer.State.PENDING).update(
        state=Timer.State.DONE, executed_at=now, executed_by=worker[:200]
    )
    if claimed == len(timers):
        try:
            with transaction.atomic():
                _flush_many(timers, now, config)
                if _FAULT_PAUSE:
                    time.sleep(_FAULT_PAUSE)
            return True
        except Exception:
            logger.warning("alerts.flush_batch_failed", exc_info=True)
    Timer.objects.filter(pk__in=ids, executed_by=worker[:200], executed_at=now).update(
        state=Timer.State.PENDING, executed_at=None, executed_by=""
    )
    return False


def _execute(timer: Timer, now: datetime, config: AlertingConfig | None = None) -> bool:
    incident = Incident.objects.select_for_update().get(pk=timer.incident_id)
    if timer.kind == Timer.Kind.FLUSH:
        _flush(incident, now, config)
        return True
    if timer.token != incident.escalation_token or incident.state == Incident.State.RESOLVED:
        return False  # fenced: an acknowledgement, resolution or restart came after it
    if timer.kind == Timer.Kind.ESCALATE:
        if incident.state != Incident.State.TRIGGERED:
            return False
        _escalate(incident, timer.step, timer.loop, now)
    elif timer.kind == Timer.Kind.ACK_TIMEOUT:
        if incident.state != Incident.State.ACKNOWLEDGED:
            return False
        _retrigger(incident, now, "Acknowledgement timed out: back to triggered")
    elif timer.kind == Timer.Kind.UNSNOOZE:
        _retrigger(incident, now, "Snooze ended: back to triggered")
    return True
