"""In-process ingest counters, read by /metrics (the SLO issue) and the benchmark."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

# Request latency buckets for /metrics (seconds): OTLP exporters time out at 10 s by default.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class IngestStats:
    spans: int = 0
    events: int = 0
    errors: Counter = field(default_factory=Counter)
    latency_sum: float = 0.0
    requests: int = 0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
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
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    self.latency_buckets[i] += 1


INGEST_STATS = IngestStats()
