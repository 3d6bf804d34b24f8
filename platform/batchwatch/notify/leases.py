"""Who holds an outbox row, and for how long.

Every claim (a sweep's batch, a single delivery, a burst handed to this process's senders) gets
a token of its own, ``<worker id>/<n>``, written into the rows it takes (``Notification.claim``).
A sender proves it still holds a row with that token, in the same statement that re-arms the
row's lease, right before it sends (``services._begin_send``): a row another worker has taken
since is never sent twice by two workers.

Leases are short (``BATCHWATCH_OUTBOX_LEASE_SECONDS``, 5 s by default) and renewed once a
second by a thread of the process that holds them (:func:`renewer`), for as long as it holds
them: a live worker keeps its rows however long its receivers take, a dead one stops renewing
and its rows are claimed again within the lease, not a minute later.

A PostgreSQL restart makes every lease look expired to the workers that reconnect first. For a
lease's length after the server started, rows in flight are left to their owners (who renew
them, or mark them sent, as soon as they reconnect) rather than claimed again
(:func:`server_just_started`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.utils import timezone

from batchwatch.notify.models import Notification

T = TypeVar("T")

logger = logging.getLogger("batchwatch.notify")

_lock = threading.Lock()
_identity: tuple[int, str] | None = None  # (pid, worker id): a forked child gets its own
_sequence = itertools.count(1)
_held: dict[str, int] = {}  # claim token -> rows of it this process has yet to finish
_renewer: threading.Thread | None = None


def worker_id() -> str:
    """This process's identity in claim tokens: host, pid and a random suffix (pids repeat
    across restarts and containers)."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:
        _identity = (pid, f"{socket.gethostname()[:60]}:{pid}:{secrets.token_hex(3)}")
    return _identity[1]


def new_token() -> str:
    return f"{worker_id()}/{next(_sequence)}"


def lease_seconds() -> float:
    return max(0.0, float(settings.BATCHWATCH_OUTBOX_LEASE_SECONDS))


def lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=lease_seconds())


def renew_every() -> float:
    """How often the renewer runs: a few times per lease, at most once a second."""
    return min(1.0, max(0.1, lease_seconds() / 4))


def hold(token: str, rows: int) -> None:
    """This process now holds ``rows`` rows under ``token``: renew them until released."""
    if rows <= 0:
        return
    with _lock:
        _held[token] = _held.get(token, 0) + rows
    _ensure_renewer()


def release(token: str, rows: int = 1) -> None:
    """``rows`` rows of ``token`` are finished with (sent, failed, or given up)."""
    with _lock:
        left = _held.get(token, 0) - rows
        if left > 0:
            _held[token] = left
        else:
            _held.pop(token, None)


def held_tokens() -> list[str]:
    with _lock:
        return list(_held)


def leases_renew(*, now: datetime) -> int:
    """Re-arm the lease of every row this process holds; returns how many rows it renewed.

    The worker's heartbeat: called by the renewer thread every :func:`renew_every` seconds;
    safe to call from any thread (it uses that thread's connection)."""
    tokens = held_tokens()
    if not tokens:
        return 0
    renewed = Notification.objects.filter(
        claim__in=tokens, state=Notification.State.SENDING
    ).update(lease_until=lease_until(now))
    if not renewed:
        # None of these claims holds a row any more (delivered, or taken over after this
        # process lost them): stop renewing them.
        with _lock:
            for token in tokens:
                _held.pop(token, None)
    return renewed


def _ensure_renewer() -> None:
    global _renewer
    with _lock:
        if _renewer is not None and _renewer.is_alive():
            return
        _renewer = threading.Thread(target=_renew_forever, name="outbox-leases", daemon=True)
        _renewer.start()


def _renew_forever() -> None:
    warned = 0.0
    while True:
        time.sleep(renew_every())
        if not _held:
            # Holding nothing: no connection kept open either (most of a process's life).
            if connection.connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
            continue
        try:
            close_old_connections()  # a dead connection is dropped; the next query reconnects
            leases_renew(now=timezone.now())
        except Exception as exc:  # the database is away: renew when it is back
            if time.monotonic() - warned > 60:  # (once a minute, not every second)
                warned = time.monotonic()
                logger.warning("notify.lease_renewal_failed", extra={"error": str(exc)[:200]})
            with contextlib.suppress(Exception):  # (closing a broken one may fail too)
                connection.close()


def _after_fork() -> None:
    """A forked child (Celery's prefork pool) holds nothing and has no renewer thread."""
    global _renewer, _identity
    _held.clear()
    _renewer = None
    _identity = None


os.register_at_fork(after_in_child=_after_fork)


# --- PostgreSQL restarts ------------------------------------------------------------------------

_started = threading.local()


def server_just_started() -> bool:
    """Whether the database server started less than two leases ago (PostgreSQL only).

    Its start time is read once per connection: a restart drops every connection."""
    if connection.vendor != "postgresql":
        return False
    connection.ensure_connection()
    raw = connection.connection
    cached = getattr(_started, "value", None)
    if cached is None or cached[0] is not raw:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_postmaster_start_time()")
            cached = (raw, cursor.fetchone()[0])
        _started.value = cached
    started: datetime = cached[1]
    return timezone.now() - started < timedelta(seconds=2 * lease_seconds())


def connection_checked() -> None:
    """Drop this thread's connection if a statement on it failed and it is no longer usable
    (outside a transaction; inside one, the transaction's connection is the one to use).

    A connection that died silently (a server restart while idle) is found by the next
    statement: callers run the statements that precede a send with :func:`on_live_connection`,
    so nothing is sent before the database has answered. (A health check before every
    statement cost a round trip per notification: the alert storm's p99 doubled.)"""
    if connection.vendor == "sqlite" or connection.in_atomic_block:
        return
    failed = connection.connection is not None and connection.errors_occurred
    if failed and not connection.is_usable():
        connection.close()


def on_live_connection(work: Callable[[], T]) -> T:
    """Run ``work`` (statements safe to repeat); if this thread's connection turns out dead (a
    restart, a network cut) and no transaction holds it, open a new one and run it again."""
    connection_checked()
    try:
        return work()
    except (OperationalError, InterfaceError):
        if connection.vendor == "sqlite" or connection.in_atomic_block:
            raise
        connection.close()
        return work()
