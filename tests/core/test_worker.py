"""``manage.py worker``: the registry's every task, in lanes; lanes that never die; the
Celery app loaded wherever Django starts."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command

from batchwatch.core import periodic
from batchwatch.core.periodic import registered_tasks
from batchwatch.core.worker import Worker, lanes_cover_registry
from tests.processes import ROOT


@pytest.fixture
def registered():
    names = []

    def register(name, func, **options):
        periodic.periodic(every=timedelta(minutes=5), name=name, **options)(func)
        names.append(name)

    yield register
    for name in names:
        periodic.unregister(name)


def test_every_registered_task_has_exactly_one_lane():
    lanes = lanes_cover_registry()
    assert set(lanes) <= {"timers", "drain", "outbox", "ticks"}
    assert sorted(n for names in lanes.values() for n in names) == sorted(
        t.name for t in registered_tasks()
    )
    # What the worker's own loops run, and what its ticks lane runs at the registry's cadence.
    assert lanes["timers"] == ["alerts.timers"]
    assert sorted(lanes["drain"]) == ["alerts.intake", "ingest.runs"]
    assert lanes["outbox"] == ["notify.deliver"]
    ticked = {"alerts.signals", "alerts.reconsider", "slo.evaluate", "slack.sync"}
    ticked |= {"oncall.handoffs", "alerts.intake_prune", "ingest.runs_prune"}
    assert ticked <= set(lanes["ticks"])


def test_a_lane_name_is_checked():
    with pytest.raises(ValueError, match="no worker lane 'beat'"):
        periodic.periodic(every=timedelta(seconds=1), name="test.bad", lane="beat")


@pytest.mark.parametrize("command", [["worker"], ["alerts", "worker"]])
def test_one_round_runs_the_tasks_of_the_ticks_lane(command, registered, db):
    seen = []
    registered("test.ticked", seen.append)
    call_command(*command, "--once")
    assert len(seen) == 1 and seen[0].tzinfo is not None


def test_a_failing_step_is_logged_and_the_lane_goes_on(db, monkeypatch, caplog):
    from batchwatch.alerts import periodic

    def broken(**kwargs):
        raise RuntimeError("a bug in the drain")

    monkeypatch.setattr(periodic, "intake_drain", broken)  # as the worker calls it
    worker = Worker(interval=0.01)
    assert worker._survive("drain", worker.drain_round) is None  # logged, not raised
    assert "worker.step_failed" in caplog.text
    with pytest.raises(RuntimeError):  # one round asked for: it says so
        worker._survive("drain", worker.drain_round, once=True)


def test_the_celery_app_is_loaded_where_django_starts():
    """Tasks sent from a manage.py process go to REDIS_URL, not to Celery's default broker
    (amqp://guest@localhost:5672//)."""
    code = (
        "from batchwatch.notify.tasks import deliver_notification as t;"
        "print(t.app.main, t.app.conf.broker_url)"
    )
    env = {"REDIS_URL": "redis://127.0.0.1:6399/3", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.split() == ["batchwatch", "redis://127.0.0.1:6399/3"]
