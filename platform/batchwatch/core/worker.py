"""``manage.py worker``: every periodic function of the registry, in lanes, polling the database.

The database is the source of truth (queued intake, timers, the outbox), so this worker needs
nothing else: with Redis down, or with no Celery at all, it carries the whole load. Any number
of workers may run; claims are atomic and timers fenced. It is the third way, beside the
embedded scheduler and Celery beat, to run exactly the same registry (``core/periodic.py``):

* **timers** (the main thread): due flushes, escalation steps, ack timeouts, snoozes;
* **drain** (a thread at a lower CPU priority): the queued alerts and run reports, once a
  storm has passed (``intake_drain_due``), so answering senders and due pages come first;
* **outbox**: a dispatcher thread claiming due deliveries a few at a time, and sender threads
  (``BATCHWATCH_OUTBOX_CONCURRENCY``) sending them; the group notifications this process's
  flushes write are handed to the senders at commit, without a claim;
* **ticks**: every other registered task (signals, reconsider, SLO evaluation, Slack sync,
  handoff notices, prunes, Flink polls) at its registry cadence.

A lane never dies: a database that went away is waited out (the thread's connection is
dropped and opened again), and any other failure is logged and the lane goes on.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    connections,
)

from batchwatch.core.periodic import registered_tasks
from batchwatch.core.scheduler import EmbeddedScheduler

logger = logging.getLogger("batchwatch.worker")

# How many rounds of due timers the timers lane runs back to back (a storm's flushes fall due
# one after another while a round writes the earlier ones) before it sleeps.
TIMER_ROUNDS = 20


class DatabaseUnavailable(Exception):
    """``--once`` could not reach the database."""


# --- what the lanes run: registered by the apps that own the work -----------------------------
# (core sits below every app: alerts, ingest and notify register their steps in their
# periodic modules, loaded by their AppConfig.ready(), rather than core importing them.)


@dataclass(frozen=True)
class Drain:
    """One queue of the drain lane: ``drain(now, wait_for_quiet)`` drains a chunk and returns
    how many items it took; ``order`` puts the queues in a fixed order (lowest first)."""

    name: str
    drain: Callable[[datetime, bool], int]
    order: int


@dataclass(frozen=True)
class Outbox:
    """The outbox lane's steps (notify's services)."""

    batch: int  # rows a claim takes, and a sender's hand-over chunk
    claim: Callable[..., list]  # claim(now=, size=)
    deliver_claimed: Callable[..., object]  # deliver_claimed(batch=, now=)
    deliver_due: Callable[..., object]  # deliver_due(now=): the one-round sweep
    local_handler: Callable[..., object]  # local_handler(handler=): rows written here, sent here


_TIMERS: list[Callable[..., int]] = []
_DRAINS: dict[str, Drain] = {}
_OUTBOX: list[Outbox] = []


def register_timers(run_due: Callable[..., int]) -> None:
    """``run_due(now=)`` runs the due timers and returns how many ran."""
    if run_due not in _TIMERS:
        _TIMERS.append(run_due)


def register_drain(name: str, drain: Callable[[datetime, bool], int], *, order: int) -> None:
    _DRAINS[name] = Drain(name, drain, order)


def register_outbox(outbox: Outbox) -> None:
    _OUTBOX[:] = [outbox]


def _drains() -> list[Drain]:
    return sorted(_DRAINS.values(), key=lambda d: (d.order, d.name))


def in_ticks_lane(task) -> bool:
    return not task.lane


def lanes_cover_registry() -> dict[str, list[str]]:
    """Which lane runs each registered task (every task is run by exactly one lane)."""
    lanes: dict[str, list[str]] = {}
    for task in registered_tasks():
        lanes.setdefault(task.lane or "ticks", []).append(task.name)
    return lanes


class Worker:
    def __init__(self, *, interval: float = 0.25, drain_nice: int = 10, out=None) -> None:
        self.interval = interval
        self.drain_nice = drain_nice
        self.out = out or sys.stdout
        self.stopping = threading.Event()
        self.ticks = EmbeddedScheduler(tick_seconds=1.0, include=in_ticks_lane, name="worker-ticks")

    # --- one step, survived ---------------------------------------------------------------

    def _survive(self, what: str, step: Callable, *args, once: bool = False):
        """Run one step with a usable connection; a database that went away is waited out,
        any other failure logged. Never raises (``once``: a database error does)."""
        try:
            # A connection a restart or a network cut left dead is dropped here, before a
            # claim or a send is made on it (CONN_HEALTH_CHECKS checks the next use); never
            # inside a transaction (a test's), which it would end.
            if not connection.in_atomic_block:
                close_old_connections()
            return step(*args)
        except (OperationalError, InterfaceError) as exc:
            if once:
                raise DatabaseUnavailable(str(exc)) from None
            logger.warning("worker.database_error", extra={"step": what, "error": str(exc)[:200]})
            connections.close_all()  # this thread's: the next step reconnects
            self.stopping.wait(1)
        except Exception:
            if once:
                raise
            logger.exception("worker.step_failed", extra={"step": what})
            self.stopping.wait(self.interval)
        return None

    # --- lanes ----------------------------------------------------------------------------

    def timers_round(self) -> int:
        ran = 0
        for run_due in _TIMERS:
            now = datetime.now(UTC)
            for _ in range(TIMER_ROUNDS):
                done = run_due(now=now)
                if not done:
                    break
                ran += done
                now = datetime.now(UTC)
        return ran

    def drain_round(self, wait_for_quiet: bool = False) -> int:
        # A chunk of each queue at a time: a long backlog must not hold up the other queues.
        return sum(queue.drain(datetime.now(UTC), wait_for_quiet) for queue in _drains())

    def _drain_lane(self) -> None:
        _lower_thread_priority(self.drain_nice)
        try:
            while not self.stopping.is_set():
                if not self._survive("drain", self.drain_round, True):
                    self.stopping.wait(self.interval)
        finally:
            connections.close_all()

    def _outbox_lanes(self) -> list[threading.Thread]:
        if not _OUTBOX:
            return []
        [outbox_steps] = _OUTBOX
        batch_size = outbox_steps.batch
        count = settings.BATCHWATCH_OUTBOX_CONCURRENCY
        outbox: queue.Queue = queue.Queue()

        def hand_over(rows):
            for i in range(0, len(rows), batch_size):
                outbox.put(rows[i : i + batch_size])

        outbox_steps.local_handler(handler=hand_over)

        def claim_due():
            return outbox_steps.claim(now=datetime.now(UTC), size=batch_size)

        def dispatch():
            try:
                while not self.stopping.is_set():
                    if outbox.qsize() >= 2 * count:  # the senders are busy: claim later
                        self.stopping.wait(self.interval)
                        continue
                    batch = self._survive("claim", claim_due)
                    if batch:
                        outbox.put(batch)
                    else:
                        self.stopping.wait(self.interval)
            finally:
                for _ in range(count):
                    outbox.put(None)  # after what is queued: claimed rows are still sent
                connections.close_all()

        def send_claimed(batch):
            outbox_steps.deliver_claimed(batch=batch, now=datetime.now(UTC))

        def send():
            try:
                while (batch := outbox.get()) is not None:
                    self._survive("send", send_claimed, batch)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=dispatch, name="outbox-claims", daemon=True)]
        threads += [
            threading.Thread(target=send, name=f"outbox-{k}", daemon=True) for k in range(count)
        ]
        return threads

    def _ticks_lane(self) -> None:
        try:
            while not self.stopping.is_set():
                started = time.monotonic()
                # (the scheduler logs and counts a failing task and goes on with the others)
                self._survive("ticks", self.ticks.tick)
                self.stopping.wait(max(0.0, self.ticks.tick_seconds - (time.monotonic() - started)))
        finally:
            connections.close_all()

    # --- running --------------------------------------------------------------------------

    def run_once(self) -> None:
        """One round of every lane, in this thread (tests, cron-style use)."""
        self._survive("drain", self.drain_round, once=True)
        self._survive("timers", self.timers_round, once=True)
        for outbox_steps in _OUTBOX:
            self._survive("outbox", _sweep, outbox_steps, once=True)
        self._survive("ticks", self.ticks.tick, once=True)

    def run(self) -> None:
        """Run every lane until SIGTERM or Ctrl-C; claimed deliveries are sent before exit."""
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        threads = [
            threading.Thread(target=self._drain_lane, name="drain", daemon=True),
            threading.Thread(target=self._ticks_lane, name="ticks", daemon=True),
            *self._outbox_lanes(),
        ]
        for thread in threads:
            thread.start()
        self.out.write(
            f"worker: lanes timers, drain (at nice +{self.drain_nice}), outbox "
            f"({settings.BATCHWATCH_OUTBOX_CONCURRENCY} senders) every {self.interval}s, "
            f"ticks ({len(self.ticks.tasks())} tasks at their cadence) (Ctrl-C stops)\n"
        )
        self.out.flush()
        try:
            while not self.stopping.is_set():
                self._survive("timers", self.timers_round)
                self.stopping.wait(self.interval)
        except KeyboardInterrupt:
            self.stopping.set()
        finally:
            for outbox_steps in _OUTBOX:  # what is written from now on waits for a claim
                outbox_steps.local_handler(handler=None)
        for thread in threads:
            thread.join(timeout=30)
        connections.close_all()


def _sweep(outbox_steps: Outbox) -> object:
    return outbox_steps.deliver_due(now=datetime.now(UTC))


def _lower_thread_priority(increment: int) -> None:
    """Raise the calling thread's nice value by ``increment`` (Linux schedules threads one by
    one; elsewhere a process-wide call would lower the pages too, so nothing is done)."""
    if increment <= 0 or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)
    except OSError as exc:  # (a sandbox that forbids it: run at the same priority)
        logger.warning("worker.drain_priority_unchanged", extra={"error": str(exc)})
