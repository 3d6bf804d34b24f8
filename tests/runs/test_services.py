"""Convergence rules of the run ledger: any order, any repetition, one answer."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from batchwatch.runs.models import Run, Signal
from batchwatch.runs.observations import RunObservation
from batchwatch.runs.services import runs_record

T0 = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


def obs(**kw):
    base = {"engine": "spark", "namespace": "prod", "job_name": "compact", "external_id": "app-1",
            "source": "otlp"}  # fmt: skip
    return RunObservation(**{**base, **kw})


def record(*observations):
    runs_record(list(observations), seen_at=T0 + timedelta(days=1))
    return Run.objects.get()


@pytest.mark.django_db
class TestConvergence:
    def test_a_late_running_report_does_not_undo_a_finish(self):
        record(obs(state="succeeded", started_at=T0, ended_at=T0 + timedelta(minutes=5)))
        run = record(obs(state="running", started_at=T0))
        assert run.state == "succeeded"
        assert run.duration_seconds == 300

    def test_start_is_earliest_and_end_is_latest(self):
        record(obs(state="running", started_at=T0 + timedelta(minutes=1)))
        record(obs(state="running", started_at=T0))
        run = record(obs(state="succeeded", ended_at=T0 + timedelta(minutes=9)))
        assert (run.started_at, run.ended_at) == (T0, T0 + timedelta(minutes=9))

    def test_a_retry_takes_over_and_success_clears_the_failure(self):
        record(obs(state="failed", attempt=1, started_at=T0, ended_at=T0 + timedelta(minutes=1),
                   failure_reason="OOM"))  # fmt: skip
        run = record(obs(state="running", attempt=2, started_at=T0 + timedelta(minutes=2)))
        assert (run.state, run.attempt, run.ended_at) == ("running", 2, None)
        assert run.failure_reason == "OOM"
        run = record(obs(state="succeeded", attempt=2, ended_at=T0 + timedelta(minutes=7)))
        assert (run.state, run.failure_reason) == ("succeeded", "")
        # A stale report of the first try changes nothing.
        run = record(obs(state="failed", attempt=1, ended_at=T0 + timedelta(minutes=1)))
        assert (run.state, run.attempt) == ("succeeded", 2)

    def test_observations_in_one_batch_fold_in_order(self):
        run = record(
            obs(state="running", started_at=T0),
            obs(state="failed", ended_at=T0 + timedelta(seconds=30), failure_reason="boom"),
        )
        assert (run.state, run.failure_reason, run.duration_seconds) == ("failed", "boom", 30)

    def test_parent_found_whichever_arrives_first(self):
        child = obs(job_name="compact", external_id="app-9", state="running", started_at=T0,
                    parent_ref="airflow:prod/ledger#run-1")  # fmt: skip
        runs_record([child], seen_at=T0)
        parent = obs(engine="airflow", job_name="ledger", external_id="run-1", state="running",
                     started_at=T0)  # fmt: skip
        runs_record([parent], seen_at=T0)
        assert Run.objects.get(external_id="app-9").parent_run.external_id == "run-1"

    def test_a_parent_seen_again_leaves_its_linked_children_alone(self):
        parent = obs(engine="airflow", job_name="ledger", external_id="run-1", state="running",
                     started_at=T0)  # fmt: skip
        runs_record([parent], seen_at=T0)
        child = obs(external_id="app-9", state="running", started_at=T0,
                    parent_ref="airflow:prod/ledger#run-1")  # fmt: skip
        runs_record([child], seen_at=T0)
        runs_record([parent], seen_at=T0)
        assert Run.objects.get(external_id="app-9").parent_run.external_id == "run-1"


@pytest.mark.django_db(transaction=True)
class TestInsertRace:
    """Another request may insert the same run between our read and our insert: the unique
    constraint refuses ours and a second pass updates theirs, inside a caller's transaction
    (a savepoint) or on our own (a new transaction)."""

    @pytest.fixture
    def raced_once(self, monkeypatch):
        from batchwatch.runs import services

        real, calls = services._upsert, []

        def upsert(folded, jobs):
            calls.append(1)
            if len(calls) == 1:
                key = next(iter(folded))
                # As if another request had inserted the run: our insert fails. (On one
                # connection that row goes with the rolled-back attempt; what is tested is
                # that the retry records the run once and judges it once.)
                Run.objects.create(job=jobs[key[0]], external_id=key[1], state="running",
                                   started_at=T0)  # fmt: skip
                raise IntegrityError("duplicate key value violates unique constraint")
            return real(folded, jobs)

        monkeypatch.setattr(services, "_upsert", upsert)
        return calls

    def test_on_our_own(self, raced_once):
        run = record(obs(state="failed", started_at=T0, ended_at=T0 + timedelta(minutes=1)))
        assert (run.state, len(raced_once)) == ("failed", 2)
        assert Signal.objects.filter(kind="failed").count() == 1

    def test_inside_a_callers_transaction(self, raced_once):
        with transaction.atomic():
            run = record(obs(state="failed", started_at=T0, ended_at=T0 + timedelta(minutes=1)))
        assert (run.state, len(raced_once)) == ("failed", 2)
        assert Run.objects.count() == 1
        assert Signal.objects.filter(kind="failed").count() == 1


@pytest.mark.django_db
def test_many_changed_runs_are_written_together_with_their_parents():
    """Six runs change in one report (PostgreSQL writes them with one UPDATE ... FROM):
    states, times and the parent links made in memory are all stored."""
    runs_record([obs(external_id=f"app-{i}", state="running", started_at=T0) for i in range(6)],
                seen_at=T0)  # fmt: skip
    before = {r.external_id: r.updated_at for r in Run.objects.all()}
    parent = obs(engine="airflow", job_name="ledger", external_id="run-1", state="running",
                 started_at=T0)  # fmt: skip
    runs_record(
        [parent]
        + [
            obs(external_id=f"app-{i}", state="succeeded", ended_at=T0 + timedelta(minutes=i + 1),
                parent_ref="airflow:prod/ledger#run-1", attributes={"attempt.note": str(i)})
            for i in range(6)
        ],
        seen_at=T0,
    )  # fmt: skip
    for i in range(6):
        run = Run.objects.get(external_id=f"app-{i}")
        assert (run.state, run.duration_seconds) == ("succeeded", 60.0 * (i + 1))
        assert run.parent_run.external_id == "run-1"
        assert run.attributes == {"attempt.note": str(i)}
        assert run.updated_at > before[f"app-{i}"]


@pytest.mark.django_db
def test_new_runs_and_their_new_parent_in_one_report():
    """A parent and five children, all new (PostgreSQL inserts the children with one COPY and
    one INSERT ... RETURNING): each child is linked, timestamped and has its id."""
    parent = obs(engine="airflow", job_name="ledger", external_id="run-1", state="running",
                 started_at=T0)  # fmt: skip
    children = [
        obs(external_id=f"app-{i}", state="running", started_at=T0 + timedelta(minutes=i),
            parent_ref="airflow:prod/ledger#run-1")
        for i in range(5)
    ]  # fmt: skip
    runs = runs_record([*children, parent], seen_at=T0)
    assert all(run.pk for run in runs)
    stored = {r.external_id: r for r in Run.objects.select_related("parent_run")}
    assert len(stored) == 6
    for i in range(5):
        child = stored[f"app-{i}"]
        assert child.parent_run.external_id == "run-1"
        assert child.started_at == T0 + timedelta(minutes=i)
        assert child.created_at is not None and child.updated_at is not None
    assert {r.pk for r in runs} == {r.pk for r in stored.values()}
