"""Convergence rules of the run ledger: any order, any repetition, one answer."""

from datetime import UTC, datetime, timedelta

import pytest

from batchwatch.runs.models import Run
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
