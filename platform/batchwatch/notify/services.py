"""Writes of the outbox: enqueue in the caller's transaction, claim and deliver after commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, F, Model, OuterRef, Q
from django.utils import timezone

from batchwatch.catalog.models import Team
from batchwatch.notify import leases, presend, transports
from batchwatch.notify.models import Channel, Notification
from batchwatch.notify.tasks import deliver_notification

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
    payload: dict[str, Any] | None = None,
    incident: Model | None = None,
    deliver_at: datetime | None = None,
) -> Notification | None:
    """Add a notification to the outbox in the caller's transaction; None if it exists.
    ``incident``: the alerts incident it is about (typed as any model: notify sits below
    alerts and does not import it).

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
                incident_id=None if incident is None else incident.pk,
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
# them again, as for any claimed row (within seconds: leases are short and renewed while held).
_local_delivery: Callable[[list[Notification]], None] | None = None


def local_delivery_set(*, handler: Callable[[list[Notification]], None] | None) -> None:
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
        token = leases.new_token()
        lease = leases.lease_until(timezone.now())
        for n in notifications:
            if n.next_attempt_at <= n.created_at:
                n.state, n.lease_until, n.attempts, n.claim = (
                    Notification.State.SENDING,
                    lease,
                    1,
                    token,
                )
    Notification.objects.bulk_create(notifications, ignore_conflicts=True, batch_size=500)
    now_due = [n.idempotency_key for n in notifications if n.next_attempt_at <= n.created_at]
    if now_due and handler is not None:

        def hand_over() -> None:
            # (by key: rows skipped as enqueued before are not this process's to send)
            rows = list(
                Notification.objects.filter(
                    idempotency_key__in=now_due,
                    state=Notification.State.SENDING,
                    claim=token,
                ).select_related("channel")
            )
            leases.hold(token, len(rows))
            handler(rows)

        transaction.on_commit(hand_over)
    elif now_due and not settings.BATCHWATCH_EMBEDDED:

        def kick_all() -> None:
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
    try:
        deliver_notification.apply_async((notification_id,), retry=False)
    except Exception as exc:  # broker unreachable: the sweep takes over when it returns
        _broker_down_until = time.monotonic() + _KICK_PAUSE
        logger.warning("notify.kick_failed", extra={"id": notification_id, "error": str(exc)})


def _claimable(now: datetime) -> Q:
    return Q(state=Notification.State.PENDING, next_attempt_at__lte=now) | Q(
        state=Notification.State.SENDING, lease_until__lte=now
    )


def _due_pending(now: datetime) -> Q:
    return Q(state=Notification.State.PENDING, next_attempt_at__lte=now)


def _earlier_unsent(now: datetime) -> Exists:
    """An earlier notification of the same incident that is on its way: being sent (or held
    by a worker that died, until it is handed over) or due and not tried yet.

    A claim takes no notification while such a one exists, so an incident's notifications
    arrive in the order they were written: step 2 never overtakes step 1, a repeat never
    overtakes the step before it. Earlier ones that failed an attempt and wait for a retry do
    not hold the others back (an escalation must go on when the first responder's channel is
    down), nor do ones held back on purpose (``deliver_at`` in the future). Notifications
    written together (one flush, one step's recipients) go out in parallel."""
    return Exists(
        Notification.objects.filter(
            Q(state=Notification.State.SENDING)
            | Q(state=Notification.State.PENDING, attempts=0, next_attempt_at__lte=now),
            incident_id=OuterRef("incident_id"),
            created_at__lt=OuterRef("created_at"),
        )
    )


def _claimable_in_order(now: datetime) -> Q:
    """Due rows and rows whose lease ran out, after their incident's earlier ones. Right
    after a database restart, rows in flight are left to their owners (``leases``)."""
    due = _due_pending(now) if leases.server_just_started() else _claimable(now)
    return due & ~Q(_earlier_unsent(now))


def _claimed_fields(token: str, now: datetime) -> dict[str, Any]:
    return {
        "state": Notification.State.SENDING,
        "lease_until": leases.lease_until(now),
        "attempts": F("attempts") + 1,
        "claim": token,
    }


def _claim(notification_id: int, now: datetime) -> str | None:
    """Take one row for delivery; exactly one process's conditional UPDATE hits it. Returns
    the claim's token, None if the row was not claimable."""
    leases.connection_checked()
    token = leases.new_token()
    claimed = Notification.objects.filter(_claimable_in_order(now), pk=notification_id).update(
        **_claimed_fields(token, now)
    )
    return token if claimed else None


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after is not None:
        return min(timedelta(seconds=retry_after), MAX_BACKOFF)
    return min(timedelta(seconds=5 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def deliver(notification_id: int, *, now: datetime) -> str | None:
    """Claim and deliver one notification; returns its new state, None if not claimed."""
    token = _claim(notification_id, now)
    if token is None:
        return None
    leases.hold(token, 1)
    try:
        notification = Notification.objects.select_related("channel").get(pk=notification_id)
        return _deliver_one(notification, now)
    finally:
        leases.release(token)


def _deliver_one(notification: Notification, now: datetime) -> str | None:
    """Send one claimed notification and record the outcome at once; None when it is no
    longer this claim's to send (another worker took it over)."""
    if not _begin_send(notification, now):
        logger.info("notify.taken_over", extra={"id": notification.pk})
        return None
    # (An acknowledgement landing between this check and the send still lets this one page
    # out: the window is one request, and every later page is stopped.)
    reason = presend.reason_not_to_send(notification)
    if reason:
        return _cancelled(notification, reason)
    state, provider_id = _send(notification, now)
    if state == Notification.State.DELIVERED:
        _mark_sent(notification, now, provider_id=provider_id)
    return state


# The two statements every delivery makes, as SQL written once: through the ORM, compiling
# them cost more CPU than running them, and a storm's 500 notifications make 1,000.
_statements: dict[str, str] = {}


def _sql() -> dict[str, str]:
    if not _statements:
        quote = connection.ops.quote_name
        table = quote(Notification._meta.db_table)
        greatest = "MAX" if connection.vendor == "sqlite" else "GREATEST"
        S = Notification.State
        # (names from the model's metadata, quoted; values are parameters or our constants)
        _statements["begin_send"] = (
            f"UPDATE {table} SET lease_until = {greatest}(COALESCE(lease_until, %s), %s) "  # noqa: S608
            "WHERE id = %s AND claim = %s AND state = %s"
        )
        _statements["mark_sent"] = (
            f"UPDATE {table} SET state = '{S.DELIVERED}', delivered_at = %s, "  # noqa: S608
            "lease_until = NULL, last_error = '', claim = '', provider_id = %s "
            f"WHERE id = %s AND state IN ('{S.SENDING}', '{S.PENDING}')"
        )
    return _statements


def _execute(sql: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rowcount: int = cursor.rowcount
        return rowcount


def _begin_send(notification: Notification, now: datetime) -> bool:
    """Right before a send: on a live connection, check that this claim still holds the row
    and re-arm its lease, in one UPDATE. A send is made only when this succeeded, so the
    database answered a moment ago and the row is ours to mark; a connection that died since
    the claim is opened again here, before anything is sent."""
    # Never shortened: ``now`` is when the batch was taken, and the renewer may have pushed
    # the lease further since (a late row of a slow batch would otherwise get a lease that
    # ran out already, and be claimed again while it is being sent).
    floor = connection.ops.adapt_datetimefield_value(leases.lease_until(now))
    params = [floor, floor, notification.pk, notification.claim, Notification.State.SENDING]
    return bool(leases.on_live_connection(lambda: _execute(_sql()["begin_send"], params)))


def _send(notification: Notification, now: datetime) -> tuple[str, str]:
    """Send one claimed notification; returns its new state and the provider's id of what
    was sent ('' if none). A failure is written here; a delivery is the caller's to mark
    (:func:`_mark_sent`)."""
    try:
        provider_id = transports.send(notification) or ""
    except transports.TransportError as exc:
        return _failed(notification, exc, now), ""
    except Exception as exc:  # a bug in a transport: keep the row, retry, log loudly
        logger.exception("notify.transport_crashed", extra={"id": notification.pk})
        return _failed(notification, transports.TransportError(repr(exc)), now), ""
    logger.info(
        "notify.delivered",
        extra={"id": notification.pk, "to": notification.address, "purpose": notification.purpose},
    )
    return Notification.State.DELIVERED, provider_id[:100]


# How long a sender waits between attempts to record a delivery while the database is away.
MARK_RETRY_MAX_PAUSE = 2.0


def _mark_sent(notification: Notification, now: datetime, *, provider_id: str = "") -> None:
    """Record a delivery the moment it is made, retried until the database answers.

    Given up on, the row would go back to the outbox when its lease ran out and be sent
    again. Whoever holds the row now, it was sent: a worker that took it over meanwhile finds
    it delivered before its own send (:func:`_begin_send`) and leaves it."""
    pause, failures = 0.1, 0
    while True:
        try:
            leases.connection_checked()
            delivered_at = connection.ops.adapt_datetimefield_value(now)
            _execute(_sql()["mark_sent"], [delivered_at, provider_id, notification.pk])
            return
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block:
                raise  # the caller's transaction is lost anyway: its rollback decides
            failures += 1
            if failures == 1 or failures % 30 == 0:
                logger.warning(
                    "notify.mark_delivered_retrying",
                    extra={"id": notification.pk, "attempt": failures, "error": str(exc)[:200]},
                )
            connection.close()  # this thread's: the next attempt reconnects
            time.sleep(pause)
            pause = min(pause * 2, MARK_RETRY_MAX_PAUSE)


def _cancelled(notification: Notification, reason: str) -> str:
    """End a claimed row unsent: it was no longer wanted (``presend``)."""
    Notification.objects.filter(
        pk=notification.pk, claim=notification.claim, state=Notification.State.SENDING
    ).update(state=Notification.State.CANCELLED, lease_until=None, last_error=reason, claim="")
    logger.info("notify.cancelled", extra={"id": notification.pk, "reason": reason})
    return Notification.State.CANCELLED


def _bring_forward_next_page(notification: Notification, now: datetime) -> None:
    """A person's page failed for good: their next page about the same incident and
    escalation (the same ``payload["token"]``) goes out now instead of at its rule's delay,
    so that a dead phone number does not cost the minutes until the next method."""
    token = (notification.payload or {}).get("token")
    if token is None or not notification.user_id or not notification.incident_id:
        return
    waiting = (
        Notification.objects.filter(
            incident_id=notification.incident_id,
            user_id=notification.user_id,
            state=Notification.State.PENDING,
            next_attempt_at__gt=now,
        )
        .only("pk", "payload")
        .order_by("next_attempt_at", "id")
    )
    following = next((n for n in waiting if (n.payload or {}).get("token") == token), None)
    if following is not None:
        Notification.objects.filter(pk=following.pk, state=Notification.State.PENDING).update(
            next_attempt_at=now
        )


def _failed(notification: Notification, exc: transports.TransportError, now: datetime) -> str:
    out_of_attempts = notification.attempts >= settings.BATCHWATCH_OUTBOX_MAX_ATTEMPTS
    mine = Notification.objects.filter(pk=notification.pk, claim=notification.claim)
    if exc.permanent or out_of_attempts:
        state = Notification.State.FAILED
        mine.update(state=state, lease_until=None, last_error=exc.message, claim="")
        if exc.breaks_channel and notification.channel_id:
            Channel.objects.filter(pk=notification.channel_id).update(
                is_broken=True, last_error=exc.message, broken_at=now
            )
        _bring_forward_next_page(notification, now)
    else:
        state = Notification.State.PENDING
        mine.update(
            state=state,
            lease_until=None,
            last_error=exc.message,
            next_attempt_at=now + _backoff(notification.attempts, exc.retry_after),
            claim="",
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


# Rows claimed at once by one sweep: a few, so that the senders share a backlog.
DELIVERY_BATCH = 10


def deliver_due(*, now: datetime, limit: int = 200) -> int:
    """Deliver what is due (and what a dead worker left); returns how many were delivered.

    Rows are claimed a few at a time with one UPDATE (:func:`notifications_claim`), then
    sent and marked delivered one by one (:func:`deliver_claimed`)."""
    delivered = 0
    while limit > 0:
        batch = notifications_claim(now=now, size=min(DELIVERY_BATCH, limit))
        if not batch:
            break
        limit -= len(batch)
        delivered += deliver_claimed(batch=batch, now=now)
    return delivered


def deliver_claimed(*, batch: list[Notification], now: datetime) -> int:
    """Send notifications claimed by :func:`notifications_claim` (or handed over at commit),
    in order; returns how many were delivered. Safe in any thread (it uses that thread's
    connection).

    Each is marked delivered as soon as it is sent: a process that dies mid-batch leaves only
    the unsent ones to be claimed again. A row another worker has taken over since (after
    this process stopped renewing its lease) is left to it."""
    delivered = 0
    waiting = list(batch)
    try:
        while waiting:
            notification = waiting.pop(0)
            try:
                if _deliver_one(notification, now) == Notification.State.DELIVERED:
                    delivered += 1
            finally:
                leases.release(notification.claim)
    finally:
        for notification in waiting:  # (given up: their leases run out, others take them)
            leases.release(notification.claim)
    return delivered


def notifications_claim(*, now: datetime, size: int = 10) -> list[Notification]:
    """Claim up to ``size`` due rows for delivery, atomically: on PostgreSQL the rows are
    locked (SKIP LOCKED) before the UPDATE; SQLite's writers take turns anyway.

    The connection is checked first (one that a database restart left dead is opened again).
    Claimed rows are renewed by this process while it holds them (``leases``); a worker that
    dies with them leaves them to be claimed again within the lease. An incident's
    notifications are claimed in the order they were written (:func:`_earlier_unsent`)."""
    # Nothing to send, what a polling worker mostly finds: one indexed read, no transaction
    # (on a live connection: one a database restart left dead is opened again here).
    due = Notification.objects.filter(_claimable(now))
    if not leases.on_live_connection(due.exists):
        return []
    token = leases.new_token()
    with transaction.atomic():
        query = Notification.objects.filter(_claimable_in_order(now))
        if connection.vendor == "postgresql":
            query = query.select_for_update(skip_locked=True, of=("self",))
        batch = list(query.select_related("channel").order_by("next_attempt_at", "id")[:size])
        if batch:
            Notification.objects.filter(pk__in=[n.pk for n in batch]).update(
                **_claimed_fields(token, now)
            )
    lease = leases.lease_until(now)
    for notification in batch:
        notification.attempts += 1
        notification.state = Notification.State.SENDING
        notification.lease_until = lease
        notification.claim = token
    leases.hold(token, len(batch))
    return batch


def channel_repair(*, channel: Channel) -> None:
    """Clear a channel's broken mark (after fixing its address or credentials)."""
    Channel.objects.filter(pk=channel.pk).update(is_broken=False, last_error="", broken_at=None)


@transaction.atomic
def channel_upsert(*, name: str, kind: str, address: str, team: Team | None = None) -> Channel:
    """Create the channel called ``name`` or update it, validated as the admin does (a known
    kind; a webhook to a public http(s) host): ``ValidationError`` keyed by field.

    Names are not unique in the table; with several channels of this name, the oldest is the
    one updated. A broken mark stays until ``channel_repair``."""
    channel = Channel.objects.select_for_update().filter(name=name).order_by("pk").first()
    channel = channel or Channel(name=name)
    channel.kind = kind
    channel.address = address
    channel.team = team
    channel.full_clean()
    channel.save()
    return channel
