"""The ledger at fixed instants: expected runs, matching, and judgements of time and reports."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from batchwatch.catalog import services as catalog
from batchwatch.catalog.models import Calendar
from batchwatch.runs.ledger import evaluate, occurrences
from batchwatch.runs.models import Run, Signal
from batchwatch.runs.observations import RunObservation
from batchwatch.runs.services import runs_record

NY = "America/New_York"


@pytest.fixture
def nightly(team_a):
    """02:00 New York every day; late after 15 min, missed after 1 h; declared the day of the
    occurrences under test (the ledger expects nothing from before a job existed)."""
    job = catalog.job_create(
        engine="airflow",
        namespace="prod",
        name="ledger_close",
        owner_team=team_a,
        schedule_cron="0 2 * * *",
        schedule_timezone=NY,
        max_runtime=timedelta(hours=1),
        min_runtime=timedelta(minutes=5),
    )
    job.created_at = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
    job.save()
    return job


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def report(job, run_id, **facts):
    obs = RunObservation(
        engine=job.engine,
        namespace=job.namespace,
        job_name=job.name,
        external_id=run_id,
        source="otlp",
        **facts,
    )
    return runs_record([obs], seen_at=facts.get("ended_at") or facts.get("started_at"))


def signals(kind=None):
    qs = Signal.objects.all()
    return list((qs.filter(kind=kind) if kind else qs).values_list("kind", flat=True))


@pytest.mark.django_db
class TestExpectedRuns:
    def test_a_day_ahead_in_the_jobs_zone(self, nightly):
        evaluate(at("2026-11-20T12:00:00+00:00"))
        expected = Run.objects.filter(job=nightly).order_by("expected_at")
        # 02:00 EST = 07:00 UTC; written from two days back up to a day ahead.
        assert [r.expected_at.isoformat() for r in expected][-2:] == [
            "2026-11-20T07:00:00+00:00",
            "2026-11-21T07:00:00+00:00",
        ]
        assert {r.state for r in expected if r.expected_at > at("2026-11-20T12:00:00+00:00")} == {
            "scheduled"
        }

    def test_evaluating_again_writes_nothing_new(self, nightly):
        evaluate(at("2026-11-20T12:00:00+00:00"))
        count = Run.objects.count()
        assert evaluate(at("2026-11-20T12:00:30+00:00"))["expected"] == 0
        assert Run.objects.count() == count

    @pytest.mark.parametrize(
        ("after", "before", "utc_hours"),
        [
            # Spring forward, 2026-03-08: 02:00 does not exist in New York. croniter runs the
            # 02:00 job at 03:00 EDT (07:00 UTC): one run, none lost, none doubled.
            ("2026-03-06T12:00:00+00:00", "2026-03-10T12:00:00+00:00", [7, 7, 6, 6]),
            # Fall back, 2026-11-01: 01:00-02:00 happens twice; a 01:30 job runs once.
            ("2026-10-30T12:00:00+00:00", "2026-11-03T12:00:00+00:00", [5, 5, 6, 6]),
        ],
        ids=["spring-forward", "fall-back"],
    )
    def test_dst_changes_neither_lose_nor_double_an_occurrence(
        self, team_a, after, before, utc_hours
    ):
        cron = "0 2 * * *" if "03" in after else "30 1 * * *"
        job = catalog.job_create(
            engine="dbt",
            namespace="w",
            name="m",
            owner_team=team_a,
            schedule_cron=cron,
            schedule_timezone=NY,
        )
        found = occurrences(job, at(after), at(before))
        assert len(found) == 4
        assert len({t.date() for t in found}) == 4  # one a day
        assert [t.hour for t in found] == utc_hours
        if "03" in after:  # the 2026-03-08 run happens at 03:00 EDT, the first hour that exists
            assert found[1].astimezone(ZoneInfo(NY)).strftime("%m-%d %H:%M %Z") == "03-08 03:00 EDT"

    def test_calendar_skip_days(self, nightly):
        nightly.calendar = Calendar.objects.create(
            name="US holidays", skip_dates=["2026-11-26"], skip_weekdays=[7]
        )
        nightly.save()
        found = occurrences(
            nightly, at("2026-11-22T12:00:00+00:00"), at("2026-11-30T12:00:00+00:00")
        )
        local_days = {
            t.astimezone(__import__("zoneinfo").ZoneInfo(NY)).date().isoformat() for t in found
        }
        assert "2026-11-26" not in local_days  # Thanksgiving
        assert "2026-11-29" not in local_days  # a Sunday
        assert len(found) == 6


@pytest.mark.django_db
class TestJudgementsOfTime:
    def test_a_run_that_never_starts_is_late_then_missed(self, nightly):
        occurrence = at("2026-11-20T07:00:00+00:00")
        evaluate(occurrence + timedelta(minutes=10))
        run = Run.objects.get(job=nightly, expected_at=occurrence)
        assert (run.state, run.late_start) == ("scheduled", False)
        evaluate(occurrence + timedelta(minutes=16))
        run.refresh_from_db()
        assert (run.state, run.late_start) == ("scheduled", True)
        assert signals() == ["late_start"]
        evaluate(occurrence + timedelta(minutes=61))
        run.refresh_from_db()
        assert run.state == "missed"
        assert sorted(signals()) == ["late_start", "missed"]
        evaluate(occurrence + timedelta(minutes=90))  # said once
        assert len(signals()) == 2
        assert Signal.objects.get(kind="missed").labels["team"] == "ledger"

    def test_overrun_while_still_running(self, nightly):
        occurrence = at("2026-11-20T07:00:00+00:00")
        evaluate(occurrence)
        report(
            nightly,
            "run-1",
            scheduled_at=occurrence,
            state="running",
            started_at=occurrence + timedelta(minutes=2),
        )
        evaluate(occurrence + timedelta(minutes=50))
        assert signals() == []
        evaluate(occurrence + timedelta(minutes=63))
        run = Run.objects.get(external_id="run-1")
        assert (run.state, run.overran) == ("running", True)
        assert signals() == ["overran"]


@pytest.mark.django_db
class TestMatchingAndReports:
    def test_a_report_fulfils_its_expected_run(self, nightly):
        occurrence = at("2026-11-20T07:00:00+00:00")
        evaluate(occurrence - timedelta(hours=1))
        report(
            nightly,
            "scheduled__2026-11-20",
            scheduled_at=occurrence,
            state="succeeded",
            started_at=occurrence + timedelta(minutes=1),
            ended_at=occurrence + timedelta(minutes=31),
        )
        [run] = Run.objects.filter(job=nightly, expected_at=occurrence)
        assert (run.external_id, run.state, run.source) == (
            "scheduled__2026-11-20",
            "succeeded",
            "otlp",
        )
        evaluate(occurrence + timedelta(hours=3))
        assert Run.objects.filter(job=nightly, expected_at=occurrence).count() == 1
        assert signals() == []

    def test_without_logical_time_the_start_time_matches(self, nightly):
        occurrence = at("2026-11-20T07:00:00+00:00")
        evaluate(occurrence - timedelta(hours=1))
        report(nightly, "abc", state="running", started_at=occurrence + timedelta(minutes=20))
        run = Run.objects.get(external_id="abc")
        assert run.expected_at == occurrence
        evaluate(occurrence + timedelta(hours=2))
        assert "missed" not in signals()

    def test_a_run_reported_before_the_ledger_claims_its_occurrence(self, nightly):
        occurrence = at("2026-11-20T07:00:00+00:00")
        report(nightly, "early", scheduled_at=occurrence, state="running", started_at=occurrence)
        evaluate(occurrence + timedelta(hours=3))
        assert Run.objects.filter(job=nightly, expected_at=occurrence).count() == 1
        assert "missed" not in signals()

    def test_too_fast(self, nightly):
        occurrence = at("2026-11-20T07:00:00+00:00")
        report(
            nightly,
            "quick",
            scheduled_at=occurrence,
            state="succeeded",
            started_at=occurrence,
            ended_at=occurrence + timedelta(seconds=40),
        )
        run = Run.objects.get(external_id="quick")
        assert run.too_fast
        assert signals() == ["too_fast"]

    def test_failure_and_retry(self, nightly):
        occurrence = at("2026-11-20T07:00:00+00:00")
        report(
            nightly,
            "r",
            scheduled_at=occurrence,
            state="failed",
            attempt=1,
            started_at=occurrence,
            ended_at=occurrence + timedelta(minutes=6),
            failure_reason="OOM",
        )
        report(
            nightly, "r", state="running", attempt=2, started_at=occurrence + timedelta(minutes=8)
        )
        assert sorted(signals()) == ["failed", "retried"]
        run = Run.objects.get(external_id="r")
        assert run.retried and run.state == "running"


@pytest.mark.django_db
class TestCommandAndValidation:
    def test_evaluate_at(self, nightly, capsys):
        call_command("evaluate", "--at", "2026-11-20T08:05:00Z")
        assert "missed" in capsys.readouterr().out
        assert "missed" in signals()

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("yesterday", "not an ISO 8601"),
            ("2026-11-20T08:05:00", "has no time zone"),
        ],
    )
    def test_evaluate_at_refuses_bad_instants(self, value, message):
        with pytest.raises(CommandError, match=message) as err:
            call_command("evaluate", "--at", value)
        assert err.value.returncode == 2

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"start_grace": timedelta(0)}, "start_grace"),
            ({"start_grace": timedelta(hours=2), "miss_grace": timedelta(hours=1)}, "miss_grace"),
            ({"min_runtime": timedelta(hours=2), "max_runtime": timedelta(hours=1)}, "min_runtime"),
        ],
    )
    def test_inconsistent_expectations_are_refused(self, team_a, fields, field):
        with pytest.raises(ValidationError) as err:
            catalog.job_create(
                engine="dbt",
                namespace="w",
                name="x",
                owner_team=team_a,
                schedule_cron="0 2 * * *",
                **fields,
            )
        assert field in err.value.message_dict

    def test_calendar_validation(self):
        with pytest.raises(ValidationError, match="ISO weekday"):
            Calendar(name="x", skip_weekdays=[0]).full_clean()
        with pytest.raises(ValidationError, match="not a YYYY-MM-DD date"):
            Calendar(name="y", skip_dates=["25/12/2026"]).full_clean()
