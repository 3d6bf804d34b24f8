"""The demo inbox: the demo's e-mails, webhooks and log-channel notices, kept in the database
and shown at ``/demo/inbox/`` instead of printed to the terminal or sent.

The app wraps the outbox's ``email``, ``webhook`` and ``log`` transports at start-up
(``apps.DemoConfig.ready``). A process that loaded or serves the demo switches the wrappers on
(:func:`activate`); even then a notification goes to the inbox only while the database holds
the demo (a ``DemoInstallation`` row), so anything else in that process delivers as usual.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import datetime

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import QuerySet

from batchwatch.core.links import absolute_url
from batchwatch.core.startup import Output
from batchwatch.demo import live
from batchwatch.demo.models import DemoInstallation, InboxMessage
from batchwatch.notify import transports
from batchwatch.notify.models import Notification

CAPTURED = ("email", "webhook", "log")

_active = threading.Event()


def activate() -> None:
    """Deliver this process's demo notifications into the inbox from now on."""
    _active.set()


def deactivate() -> None:
    _active.clear()


def is_active() -> bool:
    """Whether this process delivers the demo's notifications into the inbox (no query: the
    navigation asks on every page)."""
    return _active.is_set()


@contextlib.contextmanager
def capture() -> Iterator[None]:
    """The inbox on for a block (``load_demo`` delivers the demo's history into it), then
    as before."""
    was_active = _active.is_set()
    _active.set()
    try:
        yield
    finally:
        if not was_active:
            _active.clear()


def demo_loaded() -> bool:
    """Whether this database holds the demo (one query)."""
    return DemoInstallation.objects.exists()


def capturing() -> bool:
    """Whether a notification sent now lands in the inbox."""
    return _active.is_set() and demo_loaded()


def inbox_receive(notification: Notification, *, now: datetime) -> InboxMessage:
    """Keep ``notification`` in the inbox (once: delivering it again changes nothing)."""
    fields = {
        "transport": notification.transport,
        "purpose": notification.purpose,
        "address": notification.address,
        "subject": notification.subject,
        "body": notification.body,
        "payload": notification.payload or {},
        "incident_id": notification.incident_id,
        "received_at": now,
    }
    try:
        with transaction.atomic():
            message, _ = InboxMessage.objects.get_or_create(
                notification_id=notification.pk, defaults=fields
            )
    except IntegrityError:  # a retried delivery racing the first one
        message = InboxMessage.objects.get(notification_id=notification.pk)
    return message


def _wrap(transport: str, send: Callable[[Notification], None]) -> Callable[[Notification], None]:
    def send_or_keep(notification: Notification) -> None:
        if not capturing():
            send(notification)
            return
        # The outbox delivers at the row's due time: the inbox shows when it was due (the
        # demo's history is delivered at the instants it replays).
        inbox_receive(notification, now=notification.next_attempt_at)

    send_or_keep.__name__ = f"demo_inbox_{transport}"
    send_or_keep.wrapped = send  # type: ignore[attr-defined]
    return send_or_keep


def install() -> None:
    """Wrap the captured transports (idempotent: wrapping twice keeps one wrapper)."""
    for transport in CAPTURED:
        send = transports.TRANSPORTS.get(transport)
        if send is None or hasattr(send, "wrapped"):
            continue
        transports.register(transport, _wrap(transport, send))


def inbox_messages(*, to: str | None = None, limit: int = 200) -> QuerySet[InboxMessage]:
    """The newest messages first; ``to``: only those sent to that address."""
    messages = InboxMessage.objects.all()
    if to is not None:
        messages = messages.filter(address__iexact=to)
    return messages[:limit]


def on_startup(now: datetime, stdout: Output, stderr: Output) -> None:
    """Before ``serve`` listens: a demo database delivers into the inbox."""
    try:
        loaded = demo_loaded()
    except DatabaseError:  # not migrated yet: no demo either
        loaded = False
    if loaded:
        activate()
        live.start()
        stdout.write(
            "Demo: its jobs run on schedule; e-mails, webhooks and log-channel notices go to "
            f"the demo inbox, {absolute_url('demo-inbox')}, instead of being sent."
        )
