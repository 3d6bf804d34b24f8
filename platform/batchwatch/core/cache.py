"""The cache, as a convenience that may fail: Redis down must not take a page or ``/metrics``
down with it. Reads and writes that fail fall back to a cache in this process's memory."""

from __future__ import annotations

import logging
import time

from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache

logger = logging.getLogger("batchwatch.cache")

_fallback = LocMemCache("batchwatch-fallback", {})
_WARN_EVERY = 60.0
_warned_at = 0.0


def _unavailable(what: str, exc: Exception) -> None:
    global _warned_at
    if time.monotonic() - _warned_at >= _WARN_EVERY:  # once a minute, not once a scrape
        _warned_at = time.monotonic()
        logger.warning("cache.unavailable", extra={"op": what, "error": str(exc)[:200]})


def cache_get(key: str, default=None):
    try:
        return cache.get(key, default)
    except Exception as exc:  # any backend's connection error: serve from this process
        _unavailable("get", exc)
        return _fallback.get(key, default)


def cache_set(key: str, value, timeout: int | None) -> None:
    _fallback.set(key, value, timeout)  # (kept here too, for when the shared cache fails)
    try:
        cache.set(key, value, timeout)
    except Exception as exc:
        _unavailable("set", exc)


def cache_incr(key: str, timeout: int) -> int:
    """Add one to a counter that expires ``timeout`` seconds after it was first counted; the
    new value. Falls back to this process's memory when the shared cache fails."""
    try:
        cache.add(key, 0, timeout)
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        return 1
    except Exception as exc:
        _unavailable("incr", exc)
        _fallback.add(key, 0, timeout)
        return _fallback.incr(key)
