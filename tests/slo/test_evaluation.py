"""SLOs at fixed instants: budgets counted in runs, burn rates, status signals, predictions."""

from datetime import timedelta
from decimal import Decimal

import pytest

from batchwatch.catalog import services as catalog
from batchwatch.runs.models import Signal
from batchwatch.runs.observations import RunObservation
from batchwatch.runs.services import runs_record
from batchwatch.slo.models import SLO, SLOState
from batchwatch.slo.services import evaluate_all, slo_evaluate
from tests.slo.conftest import FIRST, deadline_slo, make_slo, run_day, run_started


def evaluated(slo, job, *, now):
    """The state the periodic evaluation leaves for ``slo`` and ``job`` as of ``now``."""
    slo_evaluate(now)
    return SLOState.objects.get(slo=slo, job=job)


@pytest.mark.django_db
class TestDeadline:
    def test_budget_exhausted_over_a_28_run_window(self, nightly):
        slo = deadline_slo(nightly, objective="90")  # 10% of 28 runs: 2.8 late runs allowed
        late_days = {5, 12, 20}
        for day in range(28):
            # 02:00 start; 240 min ends 06:00 exactly (in time); 300 min misses 06:00.
            run_day(nightly, day, minutes=300 if day in late_days else 120)
        now = FIRST + timedelta(days=28)
        state = evaluated(slo, nightly, now=now)
        assert (state.total, state.good) == (28, 25)
        assert state.budget_total == pytest.approx(2.8)
        assert state.budget_remaining_ratio == pytest.approx(1 - 3 / 2.8)
        assert state.status == SLOState.Status.BREACHED
        assert state.burn_rates["window"] == pytest.approx((3 / 28) / 0.1, abs=0.01)
        signal = Signal.objects.get(kind="slo")
        assert signal.labels["slo"] == "ledger-by-6" and signal.severity == "critical"
        assert "is breached" in signal.summary

    def test_budget_partly_used_is_a_warning_then_ok_again_as_the_window_moves(self, nightly):
        slo = deadline_slo(nightly, objective="90")
        slo.warning_budget_ratio = Decimal("0.5")
        slo.save()
        for day in range(28):
            run_day(nightly, day, minutes=300 if day in {5, 12} else 120)
        state = evaluated(slo, nightly, now=FIRST + timedelta(days=28))
        assert state.status == SLOState.Status.WARNING  # 2 of 2.8 used: 29% left, under 50%
        for day in range(28, 40):
            run_day(nightly, day, minutes=120)
        state = evaluated(slo, nightly, now=FIRST + timedelta(days=40))
        assert (state.total, state.good, state.status) == (28, 27, SLOState.Status.OK)

    def test_a_missed_run_is_a_bad_run_once_its_deadline_passed(self, nightly):
        slo = deadline_slo(nightly)
        for day in range(3):
            run_day(nightly, day, minutes=60)
        evaluate_all(FIRST + timedelta(days=3, hours=3))  # 4th run never starts: missed
        assert SLOState.objects.get(slo=slo).total == 3  # its 06:00 EDT deadline is ahead
        evaluate_all(FIRST + timedelta(days=3, hours=5))  # 11:00 UTC, past 06:00 EDT
        state = SLOState.objects.get(slo=slo)
        assert (state.total, state.good) == (4, 3)


@pytest.mark.django_db
class TestPredictedMiss:
    def test_raised_before_the_deadline_and_cleared_when_the_run_finishes_in_time(self, nightly):
        deadline_slo(nightly)
        for day in range(10):
            run_day(nightly, day, minutes=180)  # usually 3 h: 02:00 → 05:00, deadline 06:00
        # Today's run starts 2 h late (04:00 EDT): 04:00 + 3 h = 07:00, after 06:00.
        scheduled = run_started(nightly, 10, late=timedelta(hours=2), external_id="today")
        evaluate_all(scheduled + timedelta(hours=2, minutes=5))  # 04:05 EDT, deadline 06:00
        signal = Signal.objects.get(kind="predicted_miss")
        assert not signal.resolved
        assert (
            "predicted to finish around 07:00 EDT, after its 06:00 EDT deadline" in signal.summary
        )
        # It runs faster than usual and finishes at 05:40 EDT: in time, the warning clears.
        runs_record(
            [
                RunObservation(
                    engine="airflow",
                    namespace="prod",
                    job_name=nightly.name,
                    external_id="today",
                    source="otlp",
                    state="succeeded",
                    ended_at=scheduled + timedelta(hours=3, minutes=40),
                )
            ],
            seen_at=scheduled + timedelta(hours=3, minutes=40),
        )
        evaluate_all(scheduled + timedelta(hours=3, minutes=41))
        signal.refresh_from_db()
        assert signal.resolved

    def test_no_warning_for_a_run_on_track(self, nightly):
        deadline_slo(nightly)
        for day in range(10):
            run_day(nightly, day, minutes=60)
        scheduled = FIRST + timedelta(days=10)
        evaluate_all(scheduled + timedelta(minutes=5))
        assert not Signal.objects.filter(kind="predicted_miss").exists()


@pytest.mark.django_db
class TestOtherKinds:
    def test_success_ratio_and_duration(self, nightly):
        ratio = make_slo("ok", SLO.Kind.SUCCESS_RATIO, "95", job=nightly, window_size=10)
        duration = make_slo(
            "fast",
            SLO.Kind.DURATION,
            "90",
            job=nightly,
            window_size=10,
            duration_threshold=timedelta(hours=2),
        )
        for day in range(10):
            run_day(
                nightly,
                day,
                minutes=150 if day == 3 else 60,
                state="failed" if day == 7 else "succeeded",
            )
        now = FIRST + timedelta(days=11)
        r = evaluated(ratio, nightly, now=now)
        d = evaluated(duration, nightly, now=now)
        assert (r.good, r.total, r.status) == (9, 10, SLOState.Status.BREACHED)
        assert (d.good, d.total) == (8, 9)  # only successful runs have a duration verdict

    def test_freshness_goes_stale_when_successes_stop(self, nightly):
        slo = make_slo(
            "fresh",
            SLO.Kind.FRESHNESS,
            "90",
            job=nightly,
            window_size=10,
            max_age=timedelta(hours=26),
        )
        for day in range(5):
            run_day(nightly, day, minutes=60)
        fresh = evaluated(slo, nightly, now=FIRST + timedelta(days=5))
        assert (fresh.good, fresh.total) == (4, 4)
        stale = evaluated(slo, nightly, now=FIRST + timedelta(days=6, hours=6))
        assert stale.total == 5 and stale.good == 4

    def test_a_team_selector_covers_its_jobs(self, nightly, team_a):
        other = catalog.job_create(engine="dbt", namespace="w", name="m", owner_team=team_a)
        slo = make_slo("team", SLO.Kind.SUCCESS_RATIO, "99", team=team_a)
        evaluate_all(FIRST)
        assert set(SLOState.objects.filter(slo=slo).values_list("job_id", flat=True)) == {
            nightly.pk,
            other.pk,
        }
