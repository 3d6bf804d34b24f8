"""Reliability with real processes on PostgreSQL (run in .ci/run's PostgreSQL leg).

* a worker killed inside a step's transaction (shown to be there: its connection holds the
  step's timer and uncommitted pages) and restarted: the escalation continues, no step
  skipped, none repeated, each page delivered once;
* two schedulers at once: every step executed exactly once;
* the Celery path against a real Redis that stops: nothing lost, delivery resumes.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection, transaction

from batchwatch.alerts.models import Incident, Route, TimelineEntry, Timer
from batchwatch.alerts.services import alerts_receive
from batchwatch.notify.models import Channel, Notification
from batchwatch.notify.services import Recipient, notification_enqueue
from batchwatch.oncall.models import EscalationStep
from batchwatch.oncall.services import policy_save
from tests.alerts.conftest import firing
from tests.conftest import require
from tests.faults.scenario import escalation_to_webhook
from tests.processes import Hook, database_url, free_port, redis_server, spawn, stop, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def worker(**env) -> subprocess.Popen:
    # (the old name of `manage.py worker`: the alias keeps working)
    return spawn(
        sys.executable, "manage.py", "alerts", "worker", "--interval", "0.1", extra_env=env
    )


@pytest.fixture
def three_steps(team_a, make_user):
    users = [make_user(name, email=f"{name}@example.com") for name in ("s1", "s2", "s3")]
    policy = policy_save(
        slug="fast",
        name="Fast",
        team=team_a,
        steps=[
            {"target": EscalationStep.Target.USER, "user": u, "wait": timedelta(seconds=2)}
            for u in users
        ],
    )
    Route.objects.create(
        group_by=["alertname", "job"], group_wait=timedelta(seconds=1), escalation_policy=policy
    )
    return users


def escalations(incident_id=None):
    query = TimelineEntry.objects.filter(kind="escalated")
    if incident_id:
        query = query.filter(incident_id=incident_id)
    return list(query.order_by("at", "id").values_list("incident_id", "data"))


DOOMED = "batchwatch-doomed-worker"  # the application_name of the worker a test kills


def steps_taken(incident) -> list[int]:
    return [data["step"] for _, data in escalations(incident.pk)]


def page_steps(keys: list[str]) -> list[int]:
    """The escalation step of each page's Idempotency-Key (page:incident:token:loop:step:...)."""
    return sorted(int(key.split(":")[4]) for key in keys)


def backends() -> list[tuple]:
    """The doomed worker's connections: pid, state, whether its transaction wrote (has an
    xid), and seconds since its state last changed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, backend_xid IS NOT NULL,"
            " extract(epoch FROM clock_timestamp() - state_change)"
            " FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()",
            [DOOMED],
        )
        return cursor.fetchall()


def paused_backend() -> int | None:
    """The pid of the doomed worker's connection that is idle inside a transaction that has
    written, for longer than any statement of a step takes: the fault pause before commit."""
    for pid, state, wrote, idle_for in backends():
        if state == "idle in transaction" and wrote and idle_for > 0.5:
            return pid
    return None


def relations_written_by(pid: int) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.pid = %s AND l.mode = 'RowExclusiveLock' AND c.relkind = 'r'",
            [pid],
        )
        return {name for (name,) in cursor.fetchall()}


def row_locked(timer: Timer) -> bool:
    """Whether another transaction holds ``timer``'s row (a worker that claimed it)."""
    try:
        with transaction.atomic():
            Timer.objects.select_for_update(nowait=True).get(pk=timer.pk)
    except OperationalError:
        return True
    return False


def test_a_worker_killed_inside_a_steps_transaction_continues_without_skips_or_repeats():
    hook = Hook()
    # Three steps, 2 s apart, each paging a team's webhook channel (the hook).
    escalation_to_webhook(hook.url, steps=3, wait=2, group_wait=1)
    alerts_receive(
        events=[firing({"alertname": "Down", "job": "j", "severity": "critical"})],
        source="test",
        now=datetime.now(UTC),
    )
    incident = Incident.objects.get()
    # This worker pauses 3 s inside each timer's transaction, after its writes, before commit.
    doomed = worker(
        BATCHWATCH_FAULT_PAUSE_BEFORE_COMMIT="3",
        DATABASE_URL=f"{database_url()}?application_name={DOOMED}",
    )
    try:
        # Step 1 is taken with the group's first flush; its commit schedules step 2 (due at
        # once: the flush's pause outlasted the 2 s wait) and its page goes out.
        wait_for(lambda: steps_taken(incident) == [0], timeout=30, what="step 1 committed")
        wait_for(lambda: page_steps(hook.keys) == [0], timeout=10, what="step 1's page sent")
        step_2 = Timer.objects.get(incident=incident, kind=Timer.Kind.ESCALATE, step=1)
        wait_for(lambda: paused_backend() is not None, timeout=20, what="a paused transaction")
        # The proof that the kill lands inside step 2's transaction: the worker's connection
        # sits in a transaction that has written pages and timeline entries and holds step 2's
        # timer, and none of it is visible here.
        written = relations_written_by(paused_backend())
        assert {Notification._meta.db_table, TimelineEntry._meta.db_table} <= written
        assert row_locked(step_2)
        step_2.refresh_from_db()
        assert step_2.state == Timer.State.PENDING
        assert steps_taken(incident) == [0]
        assert Notification.objects.filter(purpose="page").count() == 1
    finally:
        stop(doomed, signal.SIGKILL)
    # PostgreSQL rolls the transaction back once the connection is gone: step 2 is pending
    # and free again, as if the worker had never claimed it, and its page was never written.
    wait_for(lambda: not backends(), timeout=10, what="the killed worker's connections closed")
    assert not row_locked(step_2)
    step_2.refresh_from_db()
    assert step_2.state == Timer.State.PENDING
    assert Notification.objects.filter(purpose="page").count() == 1
    survivor = worker()
    try:
        wait_for(lambda: len(steps_taken(incident)) == 3, what="three steps")
        wait_for(lambda: len(hook.keys) >= 3, what="three pages delivered")
        time.sleep(3)  # a repeated step, or a page sent twice, would show up by now
    finally:
        stop(survivor)
        hook.close()
    assert steps_taken(incident) == [0, 1, 2]
    assert Notification.objects.filter(purpose="page", state="delivered").count() == 3
    # Each step's page reached the receiver exactly once.
    assert len(hook.arrived) == 3 and len(set(hook.arrived)) == 3, hook.arrived
    assert page_steps(hook.arrived) == [0, 1, 2]
    assert not Timer.objects.filter(state=Timer.State.PENDING, kind=Timer.Kind.ESCALATE).exists()


def test_two_schedulers_execute_every_step_exactly_once(three_steps):
    now = datetime.now(UTC)
    alerts_receive(
        events=[
            firing({"alertname": "Down", "job": f"j{i}", "severity": "critical"}) for i in range(20)
        ],
        source="test",
        now=now,
    )
    assert Incident.objects.count() == 20
    first, second = worker(), worker()
    try:
        wait_for(lambda: len(escalations()) >= 60, timeout=90, what="60 steps")
        time.sleep(3)
        assert first.poll() is None and second.poll() is None, "both schedulers kept running"
    finally:
        stop(first)
        stop(second)
    per_incident = {}
    for incident_id, data in escalations():
        per_incident.setdefault(incident_id, []).append(data["step"])
    assert len(per_incident) == 20
    assert all(steps == [0, 1, 2] for steps in per_incident.values()), per_incident
    assert Notification.objects.filter(purpose="page").count() == 60


def test_celery_delivery_survives_redis_stopping(db, settings, tmp_path):
    require(shutil.which("redis-server") is not None, "redis-server")
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    redis = redis_server(port, tmp_path)
    hook = Hook()
    channel = Channel.objects.create(name="hook", kind="webhook", address=hook.url)
    celery = [sys.executable, "-m", "celery", "-A", "batchwatch"]
    env = {"REDIS_URL": redis_url}
    workers = [
        spawn(*celery, "worker", "--pool", "solo", "--loglevel", "WARNING", extra_env=env),
        spawn(
            *celery,
            "beat",
            "--loglevel",
            "WARNING",
            "--schedule",
            str(tmp_path / "beat"),
            extra_env=env,
        ),
    ]
    settings.BATCHWATCH_EMBEDDED = False  # this process enqueues as the web process would
    settings.CELERY_BROKER_URL = redis_url
    from batchwatch.celery import app

    app.conf.broker_url = redis_url

    def enqueue(prefix: str, n: int):
        with transaction.atomic():
            for i in range(n):
                notification_enqueue(
                    purpose="page",
                    recipient=Recipient("webhook", hook.url, channel=channel),
                    subject=f"{prefix} {i}",
                    idempotency_key=f"{prefix}-{i}",
                    now=datetime.now(UTC),
                )

    try:
        enqueue("before", 5)
        wait_for(lambda: len(hook.keys) >= 5, timeout=60, what="delivery with Redis up")
        stop(redis, signal.SIGKILL)  # the broker dies
        enqueue("during", 5)  # the web side keeps working; rows wait in the outbox
        time.sleep(2)
        assert Notification.objects.filter(state="pending").count() == 5
        redis = redis_server(port, tmp_path)  # the broker returns
        wait_for(lambda: len(hook.keys) >= 10, timeout=90, what="delivery after Redis returns")
        time.sleep(2)
    finally:
        for process in workers:
            stop(process)
        stop(redis)
        hook.server.shutdown()
        app.conf.broker_url = "memory://"
    assert sorted(set(hook.keys)) == sorted(
        [f"before-{i}" for i in range(5)] + [f"during-{i}" for i in range(5)]
    )
    assert len(hook.keys) == 10, "delivered once each"
    assert Notification.objects.filter(state="delivered").count() == 10


def test_two_drainers_process_each_queued_batch_once_in_order(db):
    """Queued intake with two workers draining at once: every batch processed exactly once,
    and in arrival order (the last word on each alert, a resolve, wins)."""
    from batchwatch.alerts.models import Alert, AlertIntake
    from batchwatch.alerts.services import alerts_accept
    from batchwatch.alerts.wire import RESOLVE, AlertEvent

    now = datetime.now(UTC)
    labels = [{"alertname": "Down", "job": f"j{i}"} for i in range(10)]
    for k in range(40):
        events = [
            firing(lab)
            if k % 2 == 0
            else AlertEvent(action=RESOLVE, labels=lab, fingerprint=firing(lab).fingerprint)
            for lab in labels
        ]
        alerts_accept(events=events, source="test", now=now + timedelta(milliseconds=k),
                      integration=None)  # fmt: skip
    first, second = worker(), worker()
    try:
        wait_for(
            lambda: not AlertIntake.objects.filter(processed_at=None).exists(),
            timeout=60,
            what="the queue drained",
        )
    finally:
        stop(first)
        stop(second)
    assert not AlertIntake.objects.exclude(error="").exists()
    alerts = list(Alert.objects.all())
    assert len(alerts) == 10
    assert {a.received_count for a in alerts} == {40}
    assert {a.status for a in alerts} == {"resolved"}
