"""The outbox: idempotency, claims, retries with backoff, permanent errors, leases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction

from batchwatch.notify.models import Channel, Notification
from batchwatch.notify.services import (
    Recipient,
    deliver,
    deliver_due,
    notification_enqueue,
    notifications_claim,
)

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


class Receiver:
    """A local HTTP webhook receiver that answers with scripted status codes."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.calls = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                receiver.calls.append(
                    (self.headers.get("Idempotency-Key"), self.rfile.read(length))
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "30")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    made = []

    def make(*statuses):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for item in made:
        item.close()


def enqueue(channel, key="k1", now=T0):
    with transaction.atomic():
        return notification_enqueue(
            purpose="page",
            recipient=Recipient(channel.kind, channel.address, channel=channel),
            subject="Ledger close failed",
            idempotency_key=key,
            now=now,
        )


def test_same_idempotency_key_is_one_row(db):
    channel = Channel.objects.create(name="log", kind="log", address="x")
    assert enqueue(channel) is not None
    assert enqueue(channel) is None
    assert Notification.objects.count() == 1


def test_webhook_delivery_with_retries_then_success(db, receiver):
    hook = receiver(500, 429)
    channel = Channel.objects.create(name="hook", kind="webhook", address=hook.url)
    notification = enqueue(channel)
    assert deliver(notification.pk, now=T0) == "pending"
    notification.refresh_from_db()
    assert notification.next_attempt_at == T0 + timedelta(seconds=5)  # backoff
    assert deliver_due(now=T0 + timedelta(seconds=1)) == 0  # not due yet
    assert deliver(notification.pk, now=T0 + timedelta(seconds=5)) == "pending"
    notification.refresh_from_db()
    assert notification.next_attempt_at == T0 + timedelta(seconds=35)  # Retry-After honoured
    assert deliver_due(now=T0 + timedelta(seconds=35)) == 1
    notification.refresh_from_db()
    assert notification.state == "delivered" and notification.attempts == 3
    assert {key for key, _ in hook.calls} == {"k1"}  # the same idempotency key every time


def test_permanent_error_marks_the_channel_broken(db, receiver):
    hook = receiver(404)
    channel = Channel.objects.create(name="hook", kind="webhook", address=hook.url)
    notification = enqueue(channel)
    assert deliver(notification.pk, now=T0) == "failed"
    channel.refresh_from_db()
    assert channel.is_broken and "404" in channel.last_error


def test_a_claim_is_exclusive_and_a_dead_workers_lease_expires(db):
    channel = Channel.objects.create(name="log", kind="log", address="x")
    notification = enqueue(channel)
    # A worker claimed it and died (state sending, lease running).
    Notification.objects.filter(pk=notification.pk).update(
        state="sending", lease_until=T0 + timedelta(seconds=60)
    )
    assert deliver(notification.pk, now=T0 + timedelta(seconds=30)) is None
    assert deliver(notification.pk, now=T0 + timedelta(seconds=61)) == "delivered"
    assert deliver(notification.pk, now=T0 + timedelta(seconds=62)) is None  # never twice


def test_a_sweep_claims_in_batches_and_delivers_each_once(db, receiver):
    hook = receiver(*([503] * 3))  # three fail once: they stay pending, retried later
    channel = Channel.objects.create(name="hook", kind="webhook", address=hook.url)
    for i in range(30):
        enqueue(channel, key=f"storm-{i}")
    first = notifications_claim(now=T0, size=10)
    assert len(first) == 10 and notifications_claim(now=T0, size=40)[0].pk not in {
        n.pk for n in first
    }  # claimed rows are not claimed again while their lease holds
    Notification.objects.update(state="pending", attempts=0)  # (give them back)
    assert deliver_due(now=T0) == 27
    assert deliver_due(now=T0 + timedelta(seconds=5)) == 3
    keys = [key for key, _ in hook.calls]
    assert len(keys) == 33 and len(set(keys)) == 30
    assert Notification.objects.filter(state="delivered").count() == 30
