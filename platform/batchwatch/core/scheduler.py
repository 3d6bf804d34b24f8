"""The embedded scheduler: a thread in the web process that runs the periodic registry.

Used when there is no broker (``REDIS_URL`` unset). Production runs the same registry from
Celery beat instead (``batchwatch/celery.py``), so both call the same functions with the
current time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import close_old_connections

from batchwatch.core.periodic import PeriodicTask, registered_tasks

logger = logging.getLogger("batchwatch.scheduler")


@dataclass
class SchedulerStats:
    """What the scheduler has done; read by /metrics (scheduler lag) and tests."""

    ticks: int = 0
    runs: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    last_tick_at: datetime | None = None
    # How late the most recent run started after it was due.
    last_lag: timedelta = timedelta(0)


_current: EmbeddedScheduler | None = None


def current_scheduler() -> EmbeddedScheduler | None:
    """The embedded scheduler running in this process, if any (for /metrics)."""
    return _current


class EmbeddedScheduler(threading.Thread):
    def __init__(
        self,
        *,
        tick_seconds: float = 1.0,
        clock: Callable[[], datetime] | None = None,
        include: Callable[[PeriodicTask], bool] | None = None,
        name: str = "batchwatch-scheduler",
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.tick_seconds = tick_seconds
        # Which registered tasks this scheduler runs (the worker's ticks lane leaves out the
        # tasks its other lanes run); all of them by default.
        self._include = include or (lambda task: True)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._stop_event = threading.Event()
        self._next_due: dict[str, datetime] = {}
        self.stats = SchedulerStats()

    def stop(self, timeout: float | None = 10) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        global _current
        _current = self
        logger.info("scheduler.started", extra={"tasks": [t.name for t in self.tasks()]})
        while not self._stop_event.is_set():
            started = time.monotonic()
            self.tick()
            elapsed = time.monotonic() - started
            self._stop_event.wait(max(0.0, self.tick_seconds - elapsed))
        logger.info("scheduler.stopped")

    def tick(self) -> None:
        """Run every task that is due now. Public so tests can drive it without a thread."""
        now = self._clock()
        self.stats.ticks += 1
        self.stats.last_tick_at = now
        try:
            for task in self.tasks():
                due = self._next_due.setdefault(task.name, now)
                if due <= now:
                    self._run(task, now, due)
                    self._next_due[task.name] = now + task.every
        finally:
            # The thread keeps its own connection; drop it if it went stale or too old.
            close_old_connections()

    def tasks(self) -> list[PeriodicTask]:
        return [task for task in registered_tasks() if self._include(task)]

    def _run(self, task: PeriodicTask, now: datetime, due: datetime) -> None:
        self.stats.last_lag = now - due
        try:
            task.func(now)
        except Exception:
            # One failing task must not stop the others, nor the loop.
            self.stats.failures[task.name] = self.stats.failures.get(task.name, 0) + 1
            logger.exception("scheduler.task_failed", extra={"task": task.name})
        else:
            self.stats.runs[task.name] = self.stats.runs.get(task.name, 0) + 1
