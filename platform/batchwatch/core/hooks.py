"""Hooks: where a lower app names a moment and a higher app says what happens then.

The layers only import downwards (core < catalog < runs < ingest < slo < ...), so a lower app
that must let a higher one act calls a hook instead of importing it; the higher app registers
its function in its ``AppConfig.ready()``::

    # slo/apps.py
    after_runs_recorded.register(slo_evaluate_after_runs)

    # ingest/pipeline.py
    after_runs_recorded.fire(runs, now=seen_at)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Hook:
    """Functions called, in registration order, when the moment comes; each at most once
    (``AppConfig.ready()`` may run again in tests)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._functions: list[Callable[..., Any]] = []

    def register(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Add ``function`` (usable as a decorator); registering it again changes nothing."""
        if function not in self._functions:
            self._functions.append(function)
        return function

    def unregister(self, function: Callable[..., Any]) -> None:
        if function in self._functions:
            self._functions.remove(function)

    @property
    def functions(self) -> tuple[Callable[..., Any], ...]:
        return tuple(self._functions)

    def fire(self, *args: Any, **kwargs: Any) -> None:
        """Call every registered function with these arguments; an error propagates (each
        function decides what of its own failure the caller should see)."""
        for function in self._functions:
            function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._functions)} function(s)>"


# Called by ingest with the runs it just recorded and the time they were seen, in the
# transaction that recorded them: ``function(runs: list[Run], *, now: datetime)``. The SLOs
# of the jobs whose runs finished are evaluated here (slo.services.slo_evaluate_after_runs).
after_runs_recorded = Hook("after_runs_recorded")
