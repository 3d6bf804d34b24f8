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

    monkeypatch.setattr(services, "_evaluate_states", broken)
    report(nightly, 0, minutes=120)
    assert Run.objects.get(job=nightly).state == "succeeded"  # recorded all the same
    assert not SLOState.objects.exists()  # the evaluation's own writes are undone
    assert "slo.evaluate_after_runs_failed" in caplog.text


def test_an_inactive_job_counts_only_for_an_slo_on_that_job(nightly, team_a):
    """As in the tick: an SLO over a team or labels covers active jobs only."""
    deadline = deadline_slo(nightly)
    make_slo("ledger-team", SLO.Kind.SUCCESS_RATIO, "90", team=team_a)
    run_day(nightly, 0, minutes=120)
    nightly.is_active = False
    nightly.save()
    runs = list(Run.objects.select_related("job"))
    assert slo_evaluate_after_runs(runs, now=FIRST + timedelta(hours=3)) == 1
    assert list(SLOState.objects.values_list("slo_id", flat=True)) == [deadline.pk]


def test_slos_hook_into_ingest_through_the_registry_not_an_import():
    """Ingest (below slo in the layers) calls ``after_runs_recorded``; slo registers its
    evaluation there when the app is ready, and no ingest module imports slo."""
    import ast
    from pathlib import Path

    import batchwatch.ingest
    from batchwatch.core.hooks import after_runs_recorded

    assert slo_evaluate_after_runs in after_runs_recorded.functions
    imported = set()
    for path in Path(batchwatch.ingest.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add((path.name, node.module))
            elif isinstance(node, ast.Import):
                imported.update((path.name, alias.name) for alias in node.names)
    assert not {(f, m) for f, m in imported if m.startswith("batchwatch.slo")}


def test_a_registered_hook_gets_the_runs_ingest_recorded(nightly):
    from batchwatch.core.hooks import after_runs_recorded

    seen = []

    def spy(runs, *, now):
        seen.append(([r.external_id for r in runs], now))

    after_runs_recorded.register(spy)
    try:
        now = report(nightly, 0, minutes=30)
    finally:
        after_runs_recorded.unregister(spy)
    assert seen == [(["scheduled__0"], now)]
