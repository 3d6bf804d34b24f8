from datetime import UTC, datetime, timedelta

import pytest

from batchwatch.core import periodic
from batchwatch.core.scheduler import EmbeddedScheduler


class FakeClock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def registered():
    names = []

    def register(name, every, func):
        periodic.periodic(every=every, name=name)(func)
        names.append(name)

    yield register
    for name in names:
        periodic.unregister(name)


def test_tasks_run_when_due_and_receive_aware_utc_now(registered, db):
    seen = []
    registered("test.every_minute", timedelta(minutes=1), seen.append)
    clock = FakeClock(datetime(2026, 3, 8, 6, 0, tzinfo=UTC))
    scheduler = EmbeddedScheduler(clock=clock)

    scheduler.tick()  # first tick: due immediately
    clock.now += timedelta(seconds=30)
    scheduler.tick()  # not due yet
    clock.now += timedelta(seconds=31)
    scheduler.tick()  # due again

    assert seen == [
        datetime(2026, 3, 8, 6, 0, tzinfo=UTC),
        datetime(2026, 3, 8, 6, 1, 1, tzinfo=UTC),
    ]
    assert all(t.tzinfo is UTC for t in seen)
    assert scheduler.stats.runs["test.every_minute"] == 2


def test_a_failing_task_does_not_stop_the_others(registered, db):
    calls = []

    def explode(now):
        raise RuntimeError("boom")

    registered("test.a_explodes", timedelta(seconds=1), explode)
    registered("test.b_works", timedelta(seconds=1), calls.append)
    scheduler = EmbeddedScheduler(clock=FakeClock(datetime(2026, 1, 1, tzinfo=UTC)))
    scheduler.tick()
    assert scheduler.stats.failures == {"test.a_explodes": 1}
    assert len(calls) == 1


def test_thread_starts_and_stops(registered, db):
    calls = []
    registered("test.thread", timedelta(milliseconds=10), calls.append)
    scheduler = EmbeddedScheduler(tick_seconds=0.01)
    scheduler.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while not calls and datetime.now(UTC) < deadline:
            pass
    finally:
        scheduler.stop(timeout=5)
    assert calls
    assert not scheduler.is_alive()


def test_registry_refuses_a_second_function_under_one_name(registered):
    registered("test.dup", timedelta(seconds=1), lambda now: None)
    with pytest.raises(ValueError, match="registered twice"):
        periodic.periodic(every=timedelta(seconds=1), name="test.dup")(lambda now: None)


def test_registry_refuses_non_positive_intervals():
    with pytest.raises(ValueError):
        periodic.periodic(every=timedelta(0))


def test_celery_beat_runs_the_same_registry(registered):
    from batchwatch.celery import app, beat_schedule, run_periodic

    seen = []
    registered("test.beat", timedelta(minutes=5), seen.append)
    schedule = beat_schedule()
    assert schedule["test.beat"] == {
        "task": "batchwatch.run_periodic",
        "schedule": 300.0,
        "args": ("test.beat",),
        "options": {"expires": 300.0},
    }
    assert "batchwatch.run_periodic" in app.tasks
    run_periodic("test.beat")  # the task body, called as a worker would
    assert len(seen) == 1 and seen[0].tzinfo is UTC
