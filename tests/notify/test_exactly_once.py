"""Exactly once, on time, across crashes: each notification marked delivered as it is sent, a
failure to mark retried until the database answers, dead connections reopened before a claim
or a send, short leases renewed while held, and an incident's notifications in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection, transaction

from batchwatch.alerts.models import Incident
from batchwatch.notify import leases, services, transports
from batchwatch.notify.models import Channel, Notification
from batchwatch.notify.services import (
    Recipient,
    deliver,
    deliver_claimed,
    deliver_due,
    notification_enqueue,
    notifications_claim,
)

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


class Counting:
    """A transport that records each send by idempotency key; ``die_after`` sends, the
    process "dies" (SystemExit: nothing of ours catches it) inside the next one."""

    def __init__(self, die_after: int | None = None, on_send=None):
        self.keys: list[str] = []
        self.die_after = die_after
        self.on_send = on_send

    def __call__(self, notification):
        if self.die_after is not None and len(self.keys) == self.die_after:
            self.die_after = None
            raise SystemExit("worker killed mid-batch")
        self.keys.append(notification.idempotency_key)
        if self.on_send:
            self.on_send(notification)


@pytest.fixture
def counting(monkeypatch):
    def install(**options):
        transport = Counting(**options)
        monkeypatch.setitem(transports.TRANSPORTS, "test", transport)
        return transport

    return install


def enqueue(key, now=T0, incident=None, deliver_at=None):
    with transaction.atomic():
        return notification_enqueue(
            purpose="page",
            recipient=Recipient("test", f"{key}@example.com"),
            subject=key,
            idempotency_key=key,
            now=now,
            incident=incident,
            deliver_at=deliver_at,
        )


def states():
    return dict(Notification.objects.values_list("idempotency_key", "state"))


# --- 1. each marked delivered as soon as it is sent ----------------------------------------------


def test_a_process_dying_mid_batch_leaves_only_the_unsent_to_send_again(db, counting):
    transport = counting(die_after=3)
    for i in range(10):
        enqueue(f"k{i}")
    with pytest.raises(SystemExit):
        deliver_due(now=T0)  # one batch of 10: three sent, then the process dies
    assert transport.keys == ["k0", "k1", "k2"]
    assert sorted(k for k, s in states().items() if s == "delivered") == ["k0", "k1", "k2"]
    # Its claim lapses (nobody renews it any more); another worker takes the rest.
    later = T0 + timedelta(seconds=leases.lease_seconds() + 1)
    assert deliver_due(now=later) == 7
    assert sorted(transport.keys) == sorted(f"k{i}" for i in range(10))  # each exactly once
    assert set(states().values()) == {"delivered"}


@pytest.mark.django_db(transaction=True)
def test_a_failure_to_mark_is_retried_until_the_database_answers(counting, monkeypatch):
    transport = counting()
    for i in range(3):
        enqueue(f"k{i}")
    batch = notifications_claim(now=T0, size=10)
    checked = leases.connection_checked
    outage = {"left": 0}

    def flaky():
        if outage["left"]:
            outage["left"] -= 1
            raise OperationalError("server closed the connection unexpectedly")
        checked()

    def database_goes_away(_notification):
        outage["left"] = 3  # the next three attempts to reach the database fail

    transport.on_send = database_goes_away
    monkeypatch.setattr(leases, "connection_checked", flaky)
    monkeypatch.setattr(services, "MARK_RETRY_MAX_PAUSE", 0.05)
    assert deliver_claimed(batch=batch, now=T0) == 3
    assert set(states().values()) == {"delivered"}
    later = T0 + timedelta(minutes=5)
    assert deliver_due(now=later) == 0  # nothing left to the lease
    assert transport.keys == ["k0", "k1", "k2"]


# --- 2. dead connections (PostgreSQL) ------------------------------------------------------------


def _terminate(pid: int) -> None:
    """pg_terminate_backend from a connection of its own (as a server restart would)."""
    import psycopg

    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        dbname=s["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def _backend_pid() -> int:
    connection.ensure_connection()
    return connection.connection.info.backend_pid


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_killed_between_claim_and_mark_sends_and_marks_each_once(counting):
    killed = []

    def kill_my_connection(notification):
        if notification.idempotency_key == "k4":  # in the middle of the batch
            killed.append(_backend_pid())
            _terminate(killed[-1])

    transport = counting(on_send=kill_my_connection)
    for i in range(10):
        enqueue(f"k{i}")
    batch = notifications_claim(now=T0, size=10)
    assert deliver_claimed(batch=batch, now=T0) == 10
    assert killed and _backend_pid() != killed[0]  # the mark reconnected
    assert set(states().values()) == {"delivered"}
    assert deliver_due(now=T0 + timedelta(minutes=5)) == 0
    assert sorted(transport.keys) == sorted(f"k{i}" for i in range(10))  # 10 sends, 10 keys


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_connections_a_restart_killed_while_idle_are_reopened_before_claim_and_send(counting):
    """The issue's storm after a PostgreSQL restart: the sender's connection died while it
    was idle. It is reopened before the claim and before each send, never after a send."""
    transport = counting()
    for i in range(10):
        enqueue(f"k{i}")
    _terminate(_backend_pid())  # idle: the claim is the next use
    batch = notifications_claim(now=T0, size=10)
    assert len(batch) == 10
    _terminate(_backend_pid())  # idle between the claim and the sends
    assert deliver_claimed(batch=batch, now=T0) == 10
    assert deliver_due(now=T0 + timedelta(minutes=5)) == 0
    assert sorted(transport.keys) == sorted(f"k{i}" for i in range(10))
    assert set(states().values()) == {"delivered"}


# --- 3. short leases, renewed while held ----------------------------------------------------------


def test_a_claim_is_renewed_while_held_and_lapses_within_seconds_once_not(db, counting):
    counting()
    enqueue("k0")
    [row] = notifications_claim(now=T0, size=1)
    assert row.lease_until == T0 + timedelta(seconds=5)  # the default lease
    assert row.claim in leases.held_tokens()
    # A live holder renews (what its renewer thread does every second)...
    assert leases.leases_renew(now=T0 + timedelta(seconds=4)) == 1
    assert notifications_claim(now=T0 + timedelta(seconds=6), size=1) == []
    # ... a dead one does not: the row is handed over a lease after its last renewal.
    leases.release(row.claim)
    assert leases.leases_renew(now=T0 + timedelta(seconds=8)) == 0
    [again] = notifications_claim(now=T0 + timedelta(seconds=9), size=1)
    assert again.claim != row.claim and again.attempts == 2
    assert deliver_claimed(batch=[row], now=T0 + timedelta(seconds=9)) == 0  # not the old holder's
    assert deliver_claimed(batch=[again], now=T0 + timedelta(seconds=9)) == 1


def test_a_slow_batch_does_not_shorten_the_leases_its_holder_renewed(db, counting):
    """A batch taken at T0 whose sends take longer than a lease: the rows it sends late keep
    the lease the renewer gave them, and nobody claims them while they are being sent."""
    claimed_meanwhile = []
    transport = counting(
        on_send=lambda n: claimed_meanwhile.extend(
            notifications_claim(now=T0 + timedelta(seconds=9), size=10)
        )
    )
    enqueue("k0")
    enqueue("k1")
    batch = notifications_claim(now=T0, size=10)
    assert leases.leases_renew(now=T0 + timedelta(seconds=8)) == 2  # held: until T0 + 13 s
    assert deliver_claimed(batch=batch, now=T0) == 2
    assert claimed_meanwhile == []
    assert transport.keys == ["k0", "k1"]


def test_right_after_a_database_restart_rows_in_flight_are_left_to_their_owners(
    db, counting, monkeypatch
):
    counting()
    enqueue("in-flight")
    assert len(notifications_claim(now=T0, size=1)) == 1  # its owner then lost its connection
    enqueue("pending", now=T0 + timedelta(seconds=1))
    monkeypatch.setattr(leases, "server_just_started", lambda: True)
    later = T0 + timedelta(seconds=30)  # every lease looks expired
    assert [n.idempotency_key for n in notifications_claim(now=later, size=10)] == ["pending"]
    monkeypatch.setattr(leases, "server_just_started", lambda: False)  # two leases on
    assert [n.idempotency_key for n in notifications_claim(now=later, size=10)] == ["in-flight"]


def test_the_same_process_does_not_send_a_row_it_claimed_twice(db, counting):
    transport = counting()
    enqueue("k0")
    [first] = notifications_claim(now=T0, size=1)  # queued, waiting for a sender...
    leases.release(first.claim)
    [second] = notifications_claim(now=T0 + timedelta(seconds=6), size=1)  # ... claimed again
    assert deliver_claimed(batch=[second], now=T0 + timedelta(seconds=6)) == 1
    assert deliver_claimed(batch=[first], now=T0 + timedelta(seconds=6)) == 0
    assert transport.keys == ["k0"]


def test_a_webhook_resent_after_a_hand_over_carries_the_same_idempotency_key(db, monkeypatch):
    sent = []
    monkeypatch.setattr(transports, "_http", lambda url: _Recorder(sent))
    channel = Channel.objects.create(name="hook", kind="webhook", address="https://hooks.test/")
    with transaction.atomic():
        notification_enqueue(
            purpose="page",
            recipient=Recipient("webhook", channel.address, channel=channel),
            subject="s",
            idempotency_key="page:1:0:0:0",
            now=T0,
        )
    [row] = notifications_claim(now=T0, size=1)
    transports.send(row)  # sent by a worker that then died before marking it
    leases.release(row.claim)
    assert deliver_due(now=T0 + timedelta(seconds=6)) == 1
    assert sent == ["page:1:0:0:0", "page:1:0:0:0"]


class _Recorder:
    def __init__(self, sent):
        self.sent = sent

    def request(self, method, url, body, headers, **options):
        self.sent.append(headers["Idempotency-Key"])
        return type("Response", (), {"status": 200, "headers": {}})()


# --- 4. an incident's notifications in the order they were written -----------------------------


@pytest.fixture
def incident(team_a):
    return Incident.objects.create(
        title="Ledger close failed",
        team=team_a,
        group_key="{}:{}",
        created_at=T0,
        group_wait=timedelta(seconds=30),
        group_interval=timedelta(minutes=5),
        repeat_interval=timedelta(hours=4),
    )


def test_a_later_step_waits_for_the_step_before_it_held_by_a_dead_worker(db, counting, incident):
    transport = counting()
    enqueue("step1", now=T0, incident=incident)
    [held] = notifications_claim(now=T0, size=10)  # a worker claims step 1 and dies
    leases.release(held.claim)
    enqueue("step2", now=T0 + timedelta(seconds=2), incident=incident)
    enqueue("other", now=T0 + timedelta(seconds=2))  # another incident's: not held back
    at = T0 + timedelta(seconds=3)
    assert [n.idempotency_key for n in notifications_claim(now=at, size=10)] == ["other"]
    # Step 1 is handed over; step 2 still waits until it is delivered.
    at = T0 + timedelta(seconds=6)
    batch = notifications_claim(now=at, size=10)
    assert [n.idempotency_key for n in batch] == ["step1"]
    deliver_claimed(batch=batch, now=at)
    assert deliver_due(now=at) == 1
    assert [k for k in transport.keys if k != "other"] == ["step1", "step2"]


def test_steps_are_delivered_in_order_by_the_sweep_and_by_single_deliveries(db, counting, incident):
    transport = counting()
    for step in range(1, 4):
        enqueue(f"step{step}", now=T0 + timedelta(seconds=step), incident=incident)
    at = T0 + timedelta(seconds=10)
    # A single delivery of a later step (a Celery task) does not overtake: not claimed.
    assert deliver(Notification.objects.get(idempotency_key="step3").pk, now=at) is None
    assert deliver_due(now=at) == 3
    assert transport.keys == ["step1", "step2", "step3"]


def test_what_is_written_together_goes_together_and_retries_do_not_hold_others(
    db, counting, monkeypatch, incident
):
    transport = counting()
    enqueue("step1-alice", now=T0, incident=incident)
    enqueue("step1-bob", now=T0, incident=incident)
    enqueue("later-update", now=T0, incident=incident, deliver_at=T0 + timedelta(hours=1))
    batch = notifications_claim(now=T0, size=10)
    assert sorted(n.idempotency_key for n in batch) == ["step1-alice", "step1-bob"]

    def alice_unreachable(notification):
        if notification.idempotency_key == "step1-alice":
            transport.keys.remove("step1-alice")
            raise transports.TransportError("SMTP down")

    transport.on_send = alice_unreachable
    deliver_claimed(batch=batch, now=T0)
    # Step 2, a minute later: alice's page waits for its retry; the escalation goes on, and
    # a notification held back on purpose (deliver_at) holds nothing back either.
    enqueue("step2-carol", now=T0 + timedelta(minutes=1), incident=incident)
    assert deliver_due(now=T0 + timedelta(minutes=1)) == 1
    assert transport.keys == ["step1-bob", "step2-carol"]
