"""A finished run reported by an engine evaluates its job's SLOs in the same transaction as
the run, so a breach is signalled with the run that caused it, not at the next tick."""

from datetime import timedelta

import pytest

from batchwatch.ingest.auth import ANONYMOUS
from batchwatch.ingest.services import ingest_run_events
from batchwatch.runs.models import Run, Signal
from batchwatch.runs.observations import RunObservation
from batchwatch.slo.models import SLO, SLOState
from batchwatch.slo.services import slo_evaluate_after_runs
from tests.slo.conftest import FIRST, daily_job, deadline_slo, make_slo, run_day

pytestmark = pytest.mark.django_db


def report(job, day: int, *, minutes: float | None, state: str = "succeeded"):
    """What an OpenLineage COMPLETE/FAIL (or START, without ``minutes``) event reports."""
    scheduled = FIRST + timedelta(days=day)
    ended = None if minutes is None else scheduled + timedelta(minutes=minutes)
    observation = RunObservation(
        engine="airflow",
        namespace="prod",
        job_name=job.name,
        external_id=f"scheduled__{day}",
        source="openlineage",
        state=state if ended else "running",
        scheduled_at=scheduled,
        started_at=scheduled,
        ended_at=ended,
    )
    now = ended or scheduled
    ingest_run_events([observation], lineage=[], principal=ANONYMOUS, now=now)
    return now


def test_a_finished_run_evaluates_its_jobs_slos_at_once(nightly, team_a):
    deadline = deadline_slo(nightly)
    team_wide = make_slo("ledger-team", SLO.Kind.SUCCESS_RATIO, "90", team=team_a)
    report(nightly, 0, minutes=120)
    states = {s.slo_id: s for s in SLOState.objects.filter(job=nightly)}
    assert set(states) == {deadline.pk, team_wide.pk}
    assert all(s.total == 1 and s.good == 1 for s in states.values())


def test_a_breach_is_signalled_with_the_run_that_caused_it(nightly):
    slo = deadline_slo(nightly, objective="99")
    for day in range(3):
        run_day(nightly, day, minutes=120)
    report(nightly, 3, minutes=300)  # ends 07:00 ET: after the 06:00 deadline
    state = SLOState.objects.get(slo=slo, job=nightly)
    assert (state.good, state.total, state.status) == (3, 4, SLOState.Status.BREACHED)
    assert Signal.objects.filter(job=nightly, labels__slo=slo.slug).exists()


def test_a_run_still_running_leaves_the_slos_to_the_tick(nightly):
    deadline_slo(nightly)
    report(nightly, 0, minutes=None)
    assert Run.objects.get(job=nightly).state == "running"
    assert not SLOState.objects.exists()


def test_runs_of_several_jobs_are_evaluated_per_slo(nightly, team_a, team_b):
    other = daily_job("risk_scores", team_b)
    team_wide = make_slo("ledger-team", SLO.Kind.SUCCESS_RATIO, "90", team=team_a)
    risk_wide = make_slo("risk-team", SLO.Kind.SUCCESS_RATIO, "90", team=team_b)
    deadline = deadline_slo(nightly)
    run_day(nightly, 0, minutes=60)
    run_day(other, 0, minutes=60, state="failed")
    runs = list(Run.objects.select_related("job"))
    assert slo_evaluate_after_runs(runs, now=FIRST + timedelta(hours=3)) == 3
    figures = {(s.slo_id, s.job_id): (s.good, s.total) for s in SLOState.objects.all()}
    assert figures == {
        (team_wide.pk, nightly.pk): (1, 1),
        (deadline.pk, nightly.pk): (1, 1),
        (risk_wide.pk, other.pk): (0, 1),
    }


def test_the_queries_of_one_report_do_not_grow_with_history(
    nightly, team_a, django_assert_max_num_queries
):
    deadline_slo(nightly)
    make_slo("ledger-team", SLO.Kind.SUCCESS_RATIO, "90", team=team_a)
    report(nightly, 0, minutes=120)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as first:
        report(nightly, 1, minutes=120)
    for day in range(2, 30):
        run_day(nightly, day, minutes=120)
    with django_assert_max_num_queries(len(first)):
        report(nightly, 30, minutes=120)


def test_a_failing_evaluation_costs_the_run_nothing(nightly, monkeypatch, caplog):
    from batchwatch.slo import services

    deadline_slo(nightly)

    def broken(*args, **kwargs):
        SLOState.objects.create(slo=SLO.objects.get(), job=nightly)  # a write, rolled back
        raise ZeroDivisionError("a bug in an evaluation")

    monkeypatch.setattr(services, "_evaluate_after_runs", broken)
    report(nightly, 0, minutes=120)
    assert Run.objects.get(job=nightly).state == "succeeded"  # recorded all the same
    assert not SLOState.objects.exists()  # the evaluation's own writes are undone
    assert "slo.evaluate_after_runs_failed" in caplog.text
