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
        self.requests = []  # (client address, path)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # connections kept alive, as real receivers do

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                receiver.calls.append(
                    (self.headers.get("Idempotency-Key"), self.rfile.read(length))
                )
                receiver.requests.append((self.client_address, self.path))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "30")
                if 300 <= status < 400:
                    self.send_header("Location", "https://hooks.example/new")
                self.send_header("Content-Length", "0")
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


def test_a_redirect_is_refused_with_where_it_points(db, receiver):
    hook = receiver(301)
    channel = Channel.objects.create(name="hook", kind="webhook", address=hook.url)
    notification = enqueue(channel)
    assert deliver(notification.pk, now=T0) == "failed"  # a POST is not replayed elsewhere
    notification.refresh_from_db()
    assert (
        "301" in notification.last_error and "https://hooks.example/new" in notification.last_error
    )


def test_deliveries_to_one_receiver_share_a_kept_alive_connection(db, receiver):
    hook = receiver()
    channel = Channel.objects.create(name="hook", kind="webhook", address=hook.url)
    for key in ("k1", "k2", "k3"):
        assert deliver(enqueue(channel, key=key).pk, now=T0) == "delivered"
    assert len(hook.requests) == 3
    assert len({client for client, _ in hook.requests}) == 1  # one TCP connection


def test_a_proxy_from_the_environment_is_used(db, receiver, monkeypatch):
    proxy = receiver()
    monkeypatch.setenv("http_proxy", proxy.url.removesuffix("/hook"))
    monkeypatch.setenv("no_proxy", "")
    channel = Channel.objects.create(name="hook", kind="webhook", address="http://hooks.test/x")
    assert deliver(enqueue(channel).pk, now=T0) == "delivered"
    assert [path for _, path in proxy.requests] == ["http://hooks.test/x"]


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


def _unsaved(channel, key, now):
    return Notification(
        purpose="group",
        transport=channel.kind,
        address=channel.address,
        channel=channel,
        subject="Ledger storm",
        idempotency_key=key,
        next_attempt_at=now,
        created_at=now,
    )


@pytest.fixture
def handed():
    """This process delivers its own burst notifications (as `alerts worker` does)."""
    from batchwatch.notify.services import local_delivery_set

    received: list[list[Notification]] = []
    local_delivery_set(handler=received.append)
    yield received
    local_delivery_set(handler=None)


def test_burst_notifications_are_handed_to_the_senders_at_commit(
    db, receiver, handed, django_capture_on_commit_callbacks
):
    from batchwatch.notify.services import deliver_claimed, notifications_enqueue_many

    hook = receiver()
    channel = Channel.objects.create(name="hook", kind="webhook", address=hook.url)
    now = datetime.now(UTC)
    enqueue(channel, key="storm-0", now=now)  # written before, by another path
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        notifications_enqueue_many([_unsaved(channel, f"storm-{i}", now) for i in range(3)])
        assert handed == []  # not before commit
    [rows] = handed
    assert sorted(n.idempotency_key for n in rows) == ["storm-1", "storm-2"]  # not storm-0
    assert {n.state for n in rows} == {"sending"} and all(n.lease_until > now for n in rows)
    # Claimed already: a sweep does not take them while the lease holds.
    assert [n.idempotency_key for n in notifications_claim(now=now, size=10)] == ["storm-0"]
    assert deliver_claimed(batch=rows, now=datetime.now(UTC)) == 2
    assert sorted(key for key, _ in hook.calls) == ["storm-1", "storm-2"]


def test_a_rolled_back_burst_is_handed_to_nobody(db, handed, django_capture_on_commit_callbacks):
    from batchwatch.notify.services import notifications_enqueue_many

    channel = Channel.objects.create(name="log", kind="log", address="x")
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        notifications_enqueue_many([_unsaved(channel, "k", datetime.now(UTC))])
        raise RuntimeError("the flush failed")
    assert handed == [] and not Notification.objects.exists()


def test_a_row_taken_over_while_it_waited_is_left_to_the_new_holder(db, receiver):
    from batchwatch.notify.services import deliver_claimed

    hook = receiver()
    channel = Channel.objects.create(name="hook", kind="webhook", address=hook.url)
    enqueue(channel, key="late", now=T0)
    [row] = notifications_claim(now=T0, size=10)
    later = row.lease_until + timedelta(seconds=1)
    [taken] = notifications_claim(now=later, size=10)  # another worker, after the lease
    assert deliver_claimed(batch=[row], now=later) == 0  # the first holder does not send it
    assert hook.calls == []
    assert deliver_claimed(batch=[taken], now=later) == 1
    assert [key for key, _ in hook.calls] == ["late"]


def test_a_row_whose_lease_lapsed_but_nobody_took_is_sent_once(db, receiver):
    from batchwatch.notify.services import deliver_claimed

    hook = receiver()
    channel = Channel.objects.create(name="hook", kind="webhook", address=hook.url)
    enqueue(channel, key="late", now=T0)
    [row] = notifications_claim(now=T0, size=10)
    # Still this claim's row: re-armed and sent, and nobody can claim it meanwhile.
    assert deliver_claimed(batch=[row], now=row.lease_until + timedelta(seconds=1)) == 1
    assert notifications_claim(now=row.lease_until + timedelta(hours=1), size=10) == []
    assert [key for key, _ in hook.calls] == ["late"]


def test_a_row_claimed_again_after_a_dead_workers_lease_is_sent(db, receiver):
    from batchwatch.notify.services import deliver_claimed

    hook = receiver()
    channel = Channel.objects.create(name="hook", kind="webhook", address=hook.url)
    enqueue(channel, key="orphan", now=T0)
    [first] = notifications_claim(now=T0, size=10)  # a worker that then died
    later = first.lease_until + timedelta(seconds=1)
    [again] = notifications_claim(now=later, size=10)
    assert again.lease_until > later  # the new lease, not the dead worker's
    assert deliver_claimed(batch=[again], now=later) == 1
    assert [key for key, _ in hook.calls] == ["orphan"]


@pytest.mark.django_db
def test_an_email_page_whose_title_has_line_breaks_is_sent_on_one_line(mailoutbox):
    """A header with a line break made Django refuse the message: the page was lost."""
    from batchwatch.notify.services import deliver_due

    notification_enqueue(
        purpose="page",
        recipient=Recipient("email", "oncall@example.com"),
        subject="[HIGH] #1 Disk full\r\nBcc: everyone@example.com",
        idempotency_key="email-newline",
        now=T0,
    )
    assert deliver_due(now=T0) == 1
    assert [m.subject for m in mailoutbox] == ["[HIGH] #1 Disk full Bcc: everyone@example.com"]
    assert mailoutbox[0].bcc == []
