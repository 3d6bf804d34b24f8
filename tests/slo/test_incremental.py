"""Incremental passes: a state is evaluated again only when its inputs may have changed, and
every way they can change is caught (a run recorded, the ledger judging, time passing, a
deadline, an edit, evaluating an earlier instant). Results equal a full re-evaluation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from batchwatch.runs.models import Run
from batchwatch.slo.models import SLO, SLOState
from batchwatch.slo.services import evaluate_all, slo_evaluate, slo_evaluate_after_runs, slo_save
from batchwatch.slo.sli import next_deadline
from tests.slo.conftest import FIRST, deadline_slo, make_slo, run_day, run_started

pytestmark = pytest.mark.django_db


def figures(slo):
    state = SLOState.objects.get(slo=slo)
    return (state.good, state.total, state.status)


def test_a_pass_with_nothing_new_evaluates_nothing(nightly):
    slo = deadline_slo(nightly)
    for day in range(5):
        run_day(nightly, day, minutes=120)
    # Written well before the pass (runs written within a minute of a check are looked at
    # again: a run may commit while a pass reads).
    Run.objects.update(updated_at=timezone.now() - timedelta(minutes=5))
    SLO.objects.update(updated_at=timezone.now() - timedelta(minutes=5))
    now = FIRST + timedelta(days=5, hours=1)
    assert slo_evaluate(now)["slo_states"] == 1
    before = figures(slo)
    again = slo_evaluate(now + timedelta(seconds=30))
    assert again["slo_states"] == 0 and again["slo_states_unchanged"] == 1
    assert figures(slo) == before
    assert SLOState.objects.get(slo=slo).evaluated_at == now + timedelta(seconds=30)


def test_a_recorded_run_is_seen_by_the_next_pass(nightly):
    slo = deadline_slo(nightly)
    run_day(nightly, 0, minutes=120)
    now = FIRST + timedelta(days=1, hours=1)
    slo_evaluate(now)
    assert figures(slo)[:2] == (1, 1)
    run_day(nightly, 1, minutes=120)  # a new run of the job between passes
    result = slo_evaluate(now + timedelta(hours=1))
    assert result["slo_states"] == 1 and figures(slo)[:2] == (2, 2)


def test_the_ledger_judging_a_miss_is_seen(nightly):
    slo = deadline_slo(nightly, objective="50")
    run_day(nightly, 0, minutes=120)
    evaluate_all(FIRST + timedelta(hours=12))
    assert figures(slo)[:2] == (1, 1)
    # Day 1 never runs: the ledger expects it and, after its grace, judges it missed.
    evaluate_all(FIRST + timedelta(days=1, hours=12))
    assert figures(slo)[:2] == (1, 2)


def test_a_deadline_passing_without_any_write_is_seen(nightly):
    slo = deadline_slo(nightly, objective="50")
    scheduled = FIRST + timedelta(days=1)
    run_day(nightly, 0, minutes=120)
    run_started(nightly, 1)  # day 1 starts on time and is still running
    before_deadline = scheduled + timedelta(hours=3)  # 05:00 ET
    slo_evaluate(before_deadline)
    assert figures(slo)[:2] == (1, 1)  # day 1 undecided
    state = SLOState.objects.get(slo=slo)
    assert state.next_change_at == next_deadline(slo, before_deadline)
    slo_evaluate(scheduled + timedelta(hours=5))  # 07:00 ET: the deadline passed
    assert figures(slo)[:2] == (1, 2)


def test_a_days_window_forgets_old_runs_as_time_passes(nightly):
    slo = make_slo(
        "ledger-succeeds",
        SLO.Kind.SUCCESS_RATIO,
        "50",
        job=nightly,
        window_unit=SLO.WindowUnit.DAYS,
        window_size=3,
    )
    for day in range(3):
        run_day(nightly, day, minutes=120, state="failed" if day == 0 else "succeeded")
    now = FIRST + timedelta(days=2, hours=3)
    slo_evaluate(now)
    assert figures(slo)[:2] == (2, 3)
    slo_evaluate(FIRST + timedelta(days=3, hours=3))  # day 0's failure left the window
    assert figures(slo)[:2] == (2, 2)


def test_an_edited_slo_and_an_earlier_instant_are_evaluated_again(nightly):
    slo = deadline_slo(nightly, objective="90")
    for day in range(4):
        run_day(nightly, day, minutes=300 if day == 3 else 120)  # day 3 misses 06:00
    late = FIRST + timedelta(days=4, hours=1)
    slo_evaluate(late)
    assert figures(slo)[:2] == (3, 4)
    slo.deadline_time = slo.deadline_time.replace(hour=8)  # 07:00 ends are in time now
    slo_save(slo)
    assert slo_evaluate(late + timedelta(seconds=30))["slo_states"] == 1
    assert figures(slo)[:2] == (4, 4)
    earlier = FIRST + timedelta(days=2, hours=1)
    assert slo_evaluate(earlier)["slo_states"] == 1  # --at an earlier instant: evaluated again
    assert SLOState.objects.get(slo=slo).evaluated_at == earlier


def test_an_unchanged_pass_keeps_the_metrics_snapshot_fresh_without_rendering(nightly):
    from django.core.cache import cache

    from batchwatch.slo.metrics import SNAPSHOT_KEY

    deadline_slo(nightly)
    run_day(nightly, 0, minutes=120)
    evaluate_all(FIRST + timedelta(hours=12))
    first = cache.get(SNAPSHOT_KEY)
    evaluate_all(FIRST + timedelta(hours=12, seconds=30))
    second = cache.get(SNAPSHOT_KEY)
    assert second[2] == first[2] and second[0] >= first[0]


def test_an_evaluation_at_ingest_equals_the_next_passs(nightly, team_a):
    deadline = deadline_slo(nightly)
    team_wide = make_slo("ledger-team", SLO.Kind.SUCCESS_RATIO, "90", team=team_a)
    for day in range(3):
        run_day(nightly, day, minutes=300 if day == 1 else 120, state="succeeded")
    now = FIRST + timedelta(days=2, hours=12)
    runs = list(Run.objects.select_related("job"))
    assert slo_evaluate_after_runs(runs, now=now) == 2
    at_ingest = {s.slo_id: (s.good, s.total, s.status) for s in SLOState.objects.all()}
    assert at_ingest == {deadline.pk: (2, 3, "breached"), team_wide.pk: (3, 3, "ok")}
    assert slo_evaluate(now)["slo_states"] == 2  # its runs changed: evaluated again
    assert {s.slo_id: (s.good, s.total, s.status) for s in SLOState.objects.all()} == at_ingest
