"""One registry of periodic work, run by the embedded scheduler or by Celery beat.

Apps register their periodic functions at import time (from their ``AppConfig.ready``)::

    @periodic(every=timedelta(seconds=30))
    def evaluate_ledger(now: datetime) -> None: ...

Each function receives ``now`` (timezone-aware UTC) and must be safe to run concurrently with
itself in another process: durable state lives in the database and claims are atomic, so a
second scheduler is harmless, never a double page.
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


_registry: dict[str, PeriodicTask] = {}


def periodic(
    *, every: timedelta, name: str | None = None
) -> Callable[[PeriodicFunc], PeriodicFunc]:
    if every <= timedelta(0):
        raise ValueError("a periodic task needs a positive interval")

    def register(func: PeriodicFunc) -> PeriodicFunc:
        task_name = name or f"{func.__module__}.{func.__qualname__}"
        existing = _registry.get(task_name)
        if existing is not None and existing.func is not func:
            raise ValueError(f"periodic task {task_name!r} is registered twice")
        _registry[task_name] = PeriodicTask(name=task_name, every=every, func=func)
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
