"""Writes of the outbox: enqueue in the caller's transaction, claim and deliver after commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from batchwatch.notify import transports
from batchwatch.notify.models import Channel, Notification

logger = logging.getLogger("batchwatch.notify")

MAX_BACKOFF = timedelta(minutes=15)


@dataclass(frozen=True)
class Recipient:
    """Where one notification goes: a channel, or a user's own address."""

    transport: str
    address: str
    channel: Channel | None = None
    user_id: int | None = None
    label: str = ""


def notification_enqueue(
    *,
    purpose: str,
    recipient: Recipient,
    subject: str,
    idempotency_key: str,
    now: datetime,
    body: str = "",
    payload: dict | None = None,
    incident=None,
    deliver_at: datetime | None = None,
) -> Notification | None:
    """Add a notification to the outbox in the caller's transaction; None if it exists.

    Delivery starts after the transaction commits (``_kick``), or from the next sweep;
    ``deliver_at`` holds it back (coalescing a burst of changes into one delivery).
    """
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                purpose=purpose,
                transport=recipient.transport,
                address=recipient.address,
                channel=recipient.channel,
                user_id=recipient.user_id,
                incident=incident,
                subject=subject[:500],
                body=body,
                payload=payload or {},
                idempotency_key=idempotency_key[:300],
                next_attempt_at=deliver_at or now,
                created_at=now,
            )
    except IntegrityError:
        return None  # the same notification was enqueued before: replayed cause
    if deliver_at is None or deliver_at <= now:
        transaction.on_commit(lambda: _kick(notification.pk))
    return notification


# A process that delivers notifications itself (the alerts worker) takes those it writes in
# bursts straight to its senders: they are stored already claimed (state sending, under a
# lease, as a claim would leave them) and handed over after commit, without a round of polling
# and claiming in between. If the process dies first, the lease runs out and any worker claims
# them again, as for any claimed row.
_local_delivery: Callable[[list[Notification]], None] | None = None


def local_delivery_set(handler: Callable[[list[Notification]], None] | None) -> None:
    """Have this process's burst notifications handed to ``handler`` after commit (None:
    back to claiming)."""
    global _local_delivery
    _local_delivery = handler


def notifications_enqueue_many(notifications: list[Notification]) -> int:
    """Add many unsaved notifications to the outbox in one INSERT (the caller's transaction);
    any whose idempotency key exists already are skipped. Returns how many were offered.

    For bursts (a storm's group notifications); delivery starts after commit as for
    :func:`notification_enqueue`.
    """
    if not notifications:
        return 0
    handler = _local_delivery
    if handler is not None:
        # Stored already claimed by this process (as notifications_claim would), handed to
        # its senders after commit.
        lease = timezone.now() + timedelta(seconds=settings.BATCHWATCH_OUTBOX_LEASE_SECONDS)
        for n in notifications:
            if n.next_attempt_at <= n.created_at:
                n.state, n.lease_until, n.attempts = Notification.State.SENDING, lease, 1
    Notification.objects.bulk_create(notifications, ignore_conflicts=True, batch_size=500)
    now_due = [n.idempotency_key for n in notifications if n.next_attempt_at <= n.created_at]
    if now_due and handler is not None:

        def hand_over():
            # (by key: rows skipped as enqueued before are not this process's to send)
            handler(
                list(
                    Notification.objects.filter(
                        idempotency_key__in=now_due,
                        state=Notification.State.SENDING,
                        lease_until=lease,
                    ).select_related("channel")
                )
            )

        transaction.on_commit(hand_over)
    elif now_due and not settings.BATCHWATCH_EMBEDDED:

        def kick_all():
            for pk in Notification.objects.filter(
                idempotency_key__in=now_due, state=Notification.State.PENDING
            ).values_list("pk", flat=True):
                _kick(pk)

        transaction.on_commit(kick_all)
    return len(notifications)


# After a failed kick, skip kicking for a while: the broker is down and each attempt would
# hold the caller for a connection timeout. The rows wait in the outbox for the sweep.
_KICK_PAUSE = 15.0
_broker_down_until = 0.0


def _kick(notification_id: int) -> None:
    """Start delivery right after commit: a Celery task in production; else the next sweep.

    A broker that is down loses nothing: the row stays pending and the sweep (beat, or the
    embedded scheduler) delivers it when the broker is back.
    """
    global _broker_down_until
    if settings.BATCHWATCH_EMBEDDED or time.monotonic() < _broker_down_until:
        return
    from batchwatch.notify.tasks import deliver_notification

    try:
        deliver_notification.apply_async((notification_id,), retry=False)
    except Exception as exc:  # broker unreachable: the sweep takes over when it returns
        _broker_down_until = time.monotonic() + _KICK_PAUSE
        logger.warning("notify.kick_failed", extra={"id": notification_id, "error": str(exc)})


def _claimable(now: datetime) -> Q:
    return Q(state=Notification.State.PENDING, next_attempt_at__lte=now) | Q(
        state=Notification.State.SENDING, lease_until__lte=now
    )


def _claim(notification_id: int, now: datetime) -> bool:
    """Take a row for delivery; exactly one process's conditional UPDATE hits it."""
    lease = now + timedelta(seconds=settings.BATCHWATCH_OUTBOX_LEASE_SECONDS)
    from django.db.models import F

    return bool(
        Notification.objects.filter(_claimable(now), pk=notification_id).update(
            state=Notification.State.SENDING, lease_until=lease, attempts=F("attempts") + 1
        )
    )


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after is not None:
        return min(timedelta(seconds=retry_after), MAX_BACKOFF)
    return min(timedelta(seconds=5 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def deliver(notification_id: int, *, now: datetime) -> str | None:
    """Claim and deliver one notification; returns its new state, None if not claimed."""
    if not _claim(notification_id, now):
        return None
    notification = Notification.objects.select_related("channel").get(pk=notification_id)
    state = _send(notification, now)
    if state == Notification.State.DELIVERED:
        _mark_delivered([notification_id], now)
    return state


def _send(notification: Notification, now: datetime) -> str:
    """Send one claimed notification; returns its new state. A failure is written here; a
    delivery is the caller's to mark (one UPDATE for a batch)."""
    try:
        transports.send(notification)
    except transports.TransportError as exc:
        return _failed(notification, exc, now)
    except Exception as exc:  # a bug in a transport: keep the row, retry, log loudly
        logger.exception("notify.transport_crashed", extra={"id": notification.pk})
        return _failed(notification, transports.TransportError(repr(exc)), now)
    logger.info(
        "notify.delivered",
        extra={"id": notification.pk, "to": notification.address, "purpose": notification.purpose},
    )
    return Notification.State.DELIVERED


def _mark_delivered(ids: list[int], now: datetime) -> int:
    return Notification.objects.filter(pk__in=ids, state=Notification.State.SENDING).update(
        state=Notification.State.DELIVERED, delivered_at=now, lease_until=None, last_error=""
    )


def _failed(notification: Notification, exc: transports.TransportError, now: datetime) -> str:
    out_of_attempts = notification.attempts >= settings.BATCHWATCH_OUTBOX_MAX_ATTEMPTS
    if exc.permanent or out_of_attempts:
        state = Notification.State.FAILED
        Notification.objects.filter(pk=notification.pk).update(
            state=state, lease_until=None, last_error=exc.message
        )
        if exc.breaks_channel and notification.channel_id:
            Channel.objects.filter(pk=notification.channel_id).update(
                is_broken=True, last_error=exc.message, broken_at=now
            )
    else:
        state = Notification.State.PENDING
        Notification.objects.filter(pk=notification.pk).update(
            state=state,
            lease_until=None,
            last_error=exc.message,
            next_attempt_at=now + _backoff(notification.attempts, exc.retry_after),
        )
    logger.warning(
        "notify.failed",
        extra={
            "id": notification.pk,
            "error": exc.message,
            "permanent": exc.permanent,
            "state": state,
        },
    )
    return state


# Rows claimed at once by one sweep: few enough that sending them all (each within the HTTP
# timeout) stays well inside the lease, so no other worker takes one over meanwhile.
DELIVERY_BATCH = 10


def deliver_due(*, now: datetime, limit: int = 200) -> int:
    """Deliver what is due (and what a dead worker left); returns how many were delivered.

    Rows are claimed a few at a time with one UPDATE (:func:`notifications_claim`) and, once
    sent, marked delivered with one more (:func:`deliver_claimed`): a storm's hundreds of
    notifications cost two statements per batch, not three per notification.
    """
    delivered = 0
    while limit > 0:
        batch = notifications_claim(now=now, size=min(DELIVERY_BATCH, limit))
        if not batch:
            break
        limit -= len(batch)
        delivered += deliver_claimed(batch, now=now)
    return delivered


def deliver_claimed(batch: list[Notification], *, now: datetime) -> int:
    """Send notifications claimed by :func:`notifications_claim`; returns how many were
    delivered. Safe in any thread (it uses that thread's connection). A row whose lease ran
    out while it waited is left alone: another worker may have claimed it since."""
    batch = [n for n in batch if n.lease_until is None or n.lease_until >= now]
    sent = [n.pk for n in batch if _send(n, now) == Notification.State.DELIVERED]
    return _mark_delivered(sent, now)


def notifications_claim(*, now: datetime, size: int = 10) -> list[Notification]:
    """Claim up to ``size`` due rows for delivery, atomically: on PostgreSQL the rows are
    locked (SKIP LOCKED) before the UPDATE; SQLite's writers take turns anyway. Claimed rows
    are held for the lease; a worker that dies with them leaves them to be claimed again."""
    from django.db.models import F

    # Nothing to send, what a polling worker mostly finds: one indexed read, no transaction.
    if not Notification.objects.filter(_claimable(now)).exists():
        return []
    lease = now + timedelta(seconds=settings.BATCHWATCH_OUTBOX_LEASE_SECONDS)
    with transaction.atomic():
        query = Notification.objects.filter(_claimable(now))
        if connection.vendor == "postgresql":
            query = query.select_for_update(skip_locked=True, of=("self",))
        batch = list(query.select_related("channel").order_by("next_attempt_at", "id")[:size])
        if batch:
            Notification.objects.filter(pk__in=[n.pk for n in batch]).update(
                state=Notification.State.SENDING, lease_until=lease, attempts=F("attempts") + 1
            )
    for notification in batch:
        notification.attempts += 1
        notification.state = Notification.State.SENDING
        notification.lease_until = lease
    return batch


def channel_repair(*, channel: Channel) -> None:
    """Clear a channel's broken mark (after fixing its address or credentials)."""
    Channel.objects.filter(pk=channel.pk).update(is_broken=False, last_error="", broken_at=None)
