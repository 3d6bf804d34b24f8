"""One registry of periodic work, run by the embedded scheduler or by Celery beat.

Apps register their periodic functions at import time (from their ``AppConfig.ready``)::

    @periodic(every=timedelta(seconds=30))
    def evaluate_ledger(now: datetime) -> None: ...

Each function receives ``now`` (timezone-aware UTC) and must be safe to run concurrently with
itself in another process: durable state lives in the database and claims are atomic, so a
second scheduler is harmless, never a double page.

Three runners call the same registry: the embedded scheduler (``manage.py serve`` without a
broker), Celery beat, and ``manage.py worker``. The worker gives the tasks named with a
``lane`` a loop of its own (``core/worker.py``: timers, drain, outbox), polled more often than
``every``; the rest it runs at ``every`` in its ticks lane.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

PeriodicFunc = Callable[[datetime], None]


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    every: timedelta
    func: PeriodicFunc
    # The worker lane that runs this task in a loop of its own ("timers", "drain", "outbox");
    # "" for the ticks lane, which runs it every ``every``.
    lane: str = ""


_registry: dict[str, PeriodicTask] = {}


LANES = ("timers", "drain", "outbox")


def periodic(
    *, every: timedelta, name: str | None = None, lane: str = ""
) -> Callable[[PeriodicFunc], PeriodicFunc]:
    if every <= timedelta(0):
        raise ValueError("a periodic task needs a positive interval")
    if lane and lane not in LANES:
        raise ValueError(f"no worker lane {lane!r}; lanes: {', '.join(LANES)}")

    def register(func: PeriodicFunc) -> PeriodicFunc:
        task_name = name or f"{func.__module__}.{func.__qualname__}"
        existing = _registry.get(task_name)
        if existing is not None and existing.func is not func:
            raise ValueError(f"periodic task {task_name!r} is registered twice")
        _registry[task_name] = PeriodicTask(name=task_name, every=every, func=func, lane=lane)
        return func

    return register


def registered_tasks() -> list[PeriodicTask]:
    return sorted(_registry.values(), key=lambda task: task.name)


def get_task(name: str) -> PeriodicTask:
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no periodic task named {name!r}") from None


def unregister(name: str) -> None:
    """For tests that register throwaway tasks."""
    _registry.pop(name, None)
