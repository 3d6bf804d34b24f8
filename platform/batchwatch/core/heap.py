"""Long-running processes freeze their start-up heap out of the garbage collector's sight.

Django, the URLconf, the models and the libraries make a few hundred thousand objects that
live as long as the process. Python's cyclic collector walks all of them on every full
collection, and a request that decodes a 512-span OTLP batch allocates enough to trigger
collections all the time, so that much of its decoding time went to the collector (figures:
docs/benchmarks.md, "Ingest"). ``gc.freeze()`` moves what exists at start-up to a permanent
generation the collector skips (and, before a fork, keeps those pages shared).
"""

from __future__ import annotations

import gc

from django.urls import get_resolver


def freeze_startup_heap() -> None:
    """Import what the first request would (every view module, through the URLconf), then
    collect once and freeze what is left."""
    get_resolver().url_patterns  # noqa: B018 - imports every URLconf and view module
    gc.collect()
    gc.freeze()
