"""In-process ingest counters, read by /metrics (the SLO issue) and the benchmark."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class IngestStats:
    spans: int = 0
    events: int = 0
    errors: Counter = field(default_factory=Counter)
    latency_sum: float = 0.0
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_spans(self, n: int) -> None:
        with self._lock:
            self.spans += n

    def count_events(self, n: int) -> None:
        with self._lock:
            self.events += n

    def count_error(self, status: int) -> None:
        with self._lock:
            self.errors[status] += 1

    def observe_latency(self, seconds: float) -> None:
        with self._lock:
            self.requests += 1
            self.latency_sum += seconds


INGEST_STATS = IngestStats()
