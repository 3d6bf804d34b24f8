"""Quarantine: what was accepted but cannot be processed is kept aside, visibly, with its
reason, instead of blocking the items behind it or being lost.

Writers call :func:`quarantine_add` (in their own transaction or a savepoint); an app that can
process a kind again registers a handler with :func:`register_retry`; people list, retry and
discard items in admin or with ``manage.py quarantine``; ``/metrics`` counts them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import Count

from batchwatch.core import jsontext
from batchwatch.core.models import QuarantinedItem

logger = logging.getLogger("batchwatch.quarantine")

# kind -> handler(payload: object, received_at: datetime, now: datetime) -> None
RetryHandler = Callable[[object, datetime, datetime], None]
_retry_handlers: dict[str, RetryHandler] = {}


def _text(value: str) -> str:
    """What a text column stores: no NUL, no lone surrogate (an error message may quote the
    very value that was refused)."""
    value = str(value).replace("\x00", "")
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def has_retry(kind: str) -> bool:
    return kind in _retry_handlers


def register_retry(kind: str, handler: RetryHandler) -> None:
    """Have ``manage.py quarantine retry`` process items of ``kind`` with ``handler``."""
    _retry_handlers[kind] = handler


def quarantine_add(
    *,
    kind: str,
    reason: str,
    detail: str,
    payload: object,
    received_at: datetime,
    now: datetime,
    origin: str = "",
) -> QuarantinedItem:
    """Keep one item aside with its reason; ``payload`` is JSON-serialisable."""
    item = QuarantinedItem.objects.create(
        kind=_text(kind)[:40],
        reason=_text(reason)[:60],
        detail=_text(detail)[:4000],
        origin=_text(origin)[:200],
        payload=jsontext.dumps(payload),
        received_at=received_at,
        quarantined_at=now,
    )
    logger.warning(
        "quarantine.added",
        extra={"kind": kind, "reason": reason, "origin": origin, "detail": detail[:200]},
    )
    return item


def quarantine_retry(items: Iterable[QuarantinedItem], *, now: datetime) -> tuple[int, int]:
    """Process items again with their kind's handler; returns (retried, still failing).

    Each item is one transaction: one that fails again stays quarantined with the new error.
    """
    retried = failed = 0
    for item in items:
        handler = _retry_handlers.get(item.kind)
        if handler is None or item.state != QuarantinedItem.State.QUARANTINED:
            failed += 1
            continue
        try:
            with transaction.atomic():
                handler(jsontext.loads(item.payload), item.received_at, now)
                QuarantinedItem.objects.filter(pk=item.pk).update(
                    state=QuarantinedItem.State.RETRIED, handled_at=now
                )
        except Exception as exc:
            failed += 1
            QuarantinedItem.objects.filter(pk=item.pk).update(
                detail=_text(f"{type(exc).__name__}: {exc}")[:4000]
            )
            continue
        retried += 1
    return retried, failed


def quarantine_discard(items: Iterable[QuarantinedItem], *, now: datetime) -> int:
    """Mark items as looked at and dropped (kept for the record until pruned)."""
    return QuarantinedItem.objects.filter(
        pk__in=[i.pk for i in items], state=QuarantinedItem.State.QUARANTINED
    ).update(state=QuarantinedItem.State.DISCARDED, handled_at=now)


def quarantine_counts() -> dict[tuple[str, str], int]:
    """How many items were quarantined, by (kind, reason), whatever became of them since."""
    counts: dict[tuple[str, str], int] = {}
    for (kind, reason, _), n in quarantine_counts_by_state().items():
        counts[kind, reason] = counts.get((kind, reason), 0) + n
    return counts


def quarantine_counts_by_state() -> dict[tuple[str, str, str], int]:
    """Items by (kind, reason, state): one grouped query (what ``/metrics`` shows)."""
    rows = (
        QuarantinedItem.objects.values_list("kind", "reason", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(kind, reason, state): n for kind, reason, state, n in rows}
