"""Reliability with real processes on PostgreSQL (run in .ci/run's PostgreSQL leg).

* a worker killed mid-escalation (inside a step's transaction) and restarted: the
  escalation continues, no step skipped, none repeated;
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
from django.db import transaction

from batchwatch.alerts.models import Incident, Route, TimelineEntry, Timer
from batchwatch.alerts.services import alerts_receive
from batchwatch.notify.models import Channel, Notification
from batchwatch.notify.services import Recipient, notification_enqueue
from batchwatch.oncall.models import EscalationStep
from batchwatch.oncall.services import policy_save
from tests.alerts.conftest import firing
from tests.conftest import require
from tests.processes import Hook, free_port, redis_server, spawn, stop, wait_for

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


def test_a_worker_killed_mid_escalation_continues_without_skips_or_repeats(three_steps):
    alerts_receive(
        events=[firing({"alertname": "Down", "job": "j", "severity": "critical"})],
        source="test",
        now=datetime.now(UTC),
    )
    incident = Incident.objects.get()
    # This worker pauses 3 s inside each step's transaction, before commit: kill it there.
    doomed = worker(BATCHWATCH_FAULT_PAUSE_BEFORE_COMMIT="3")
    try:
        time.sleep(2.5)  # group_wait passed: it is inside step 1's transaction now
        assert escalations() == []  # nothing committed yet
    finally:
        stop(doomed, signal.SIGKILL)
    survivor = worker()
    try:
        wait_for(lambda: len(escalations()) == 3, what="three steps")
        time.sleep(3)  # a repeated step would show up by now
    finally:
        stop(survivor)
    steps = [data["step"] for _, data in escalations(incident.pk)]
    assert steps == [0, 1, 2]
    pages = list(Notification.objects.filter(purpose="page").values_list("address", flat=True))
    assert sorted(pages) == ["s1@example.com", "s2@example.com", "s3@example.com"]
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
    from batchwatch.alerts.intake import RESOLVE, AlertEvent
    from batchwatch.alerts.models import Alert, AlertIntake
    from batchwatch.alerts.services import alerts_accept

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
