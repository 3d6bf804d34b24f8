from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from batchwatch.catalog import services
from batchwatch.catalog.models import Job, JobDependency, Registration
from batchwatch.catalog.selectors import owner_team_for, schedule_next_occurrences

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def make_job(name, team=None, **fields):
    return services.job_create(
        engine=fields.pop("engine", "spark"),
        namespace="prod",
        name=name,
        owner_team=team,
        **fields,
    )


class TestJobValidation:
    def test_key_is_engine_namespace_name(self, ledger_job):
        assert ledger_job.key == "airflow:prod-airflow/ledger_nightly_close"

    def test_key_follows_a_rename(self, ledger_job):
        services.job_update(job=ledger_job, changes={"name": "ledger_close"})
        ledger_job.refresh_from_db()
        assert ledger_job.key == "airflow:prod-airflow/ledger_close"

    @pytest.mark.parametrize(
        ("fields", "field", "message"),
        [
            ({"schedule_cron": "0 2 * *"}, "schedule_cron", "needs 5 fields"),
            ({"schedule_cron": "61 2 * * *"}, "schedule_cron", "not a valid cron"),
            ({"schedule_timezone": "Mars/Olympus"}, "schedule_timezone", "not an IANA time zone"),
            ({"labels": ["a"]}, "labels", "must be an object"),
            ({"labels": {"bad key": "x"}}, "labels", "Label key"),
            ({"labels": {"k": 3}}, "labels", "string value"),
            ({"engine": "cobol"}, "engine", "not a valid choice"),
            ({"tier": 9}, "tier", "not a valid choice"),
        ],
    )
    def test_invalid_definitions_are_refused_with_a_message(self, team_a, fields, field, message):
        with pytest.raises(ValidationError) as err:
            make_job("bad", team_a, **fields)
        assert field in err.value.message_dict
        assert message in " ".join(err.value.message_dict[field])
        assert not Job.objects.filter(name="bad").exists()

    def test_duplicate_job_is_refused(self, ledger_job, team_a):
        with pytest.raises(ValidationError, match="already exists"):
            services.job_create(
                engine="airflow",
                namespace="prod-airflow",
                name="ledger_nightly_close",
                owner_team=team_a,
            )

    def test_unknown_fields_are_refused(self, team_a):
        with pytest.raises(ValidationError, match="Unknown job fields: colour"):
            make_job("x", team_a, colour="blue")


class TestUpstream:
    def test_declared_edges_are_replaced_and_observed_ones_kept(self, team_a):
        a, b, c, d = (make_job(n, team_a) for n in "abcd")
        services.job_set_upstream(job=d, upstream=[a, b])
        JobDependency.objects.create(upstream=c, downstream=d, source="observed")
        services.job_set_upstream(job=d, upstream=[b])
        edges = set(d.upstream_edges.values_list("upstream__name", "source"))
        assert edges == {("b", "declared"), ("c", "observed")}

    def test_a_cycle_is_refused_naming_its_path(self, team_a):
        a, b, c = (make_job(n, team_a) for n in "abc")
        services.job_set_upstream(job=b, upstream=[a])
        services.job_set_upstream(job=c, upstream=[b])
        with pytest.raises(ValidationError) as err:
            services.job_set_upstream(job=a, upstream=[c])
        assert "spark:prod/a → spark:prod/b → spark:prod/c → spark:prod/a" in str(err.value)
        assert not a.upstream_edges.exists()

    def test_a_job_cannot_wait_for_itself(self, team_a):
        a = make_job("a", team_a)
        with pytest.raises(ValidationError, match="its own upstream"):
            services.job_set_upstream(job=a, upstream=[a])


class TestOwnershipRules:
    def test_first_matching_rule_by_priority_wins(self, team_a, team_b):
        services.ownership_rule_create(team=team_b, priority=20, namespace_pattern="risk-*")
        services.ownership_rule_create(team=team_a, priority=10, name_pattern="ledger_*")
        assert owner_team_for(engine="spark", namespace="risk-emr", name="ledger_x") == team_a
        assert owner_team_for(engine="spark", namespace="risk-emr", name="score") == team_b
        assert owner_team_for(engine="spark", namespace="prod", name="score") is None

    def test_engine_and_labels_must_all_match(self, team_a):
        services.ownership_rule_create(
            team=team_a, engine="dbt", label_selector={"domain": "led*", "tier": "1"}
        )
        match = {"engine": "dbt", "namespace": "w", "name": "m"}
        assert owner_team_for(**match, labels={"domain": "ledger", "tier": "1"}) == team_a
        assert owner_team_for(**match, labels={"domain": "ledger"}) is None
        assert (
            owner_team_for(**{**match, "engine": "spark"}, labels={"domain": "ledger", "tier": "1"})
            is None
        )

    def test_inactive_rules_are_ignored(self, team_a):
        rule = services.ownership_rule_create(team=team_a, engine="dbt")
        rule.is_active = False
        rule.save()
        assert owner_team_for(engine="dbt", namespace="w", name="m") is None

    def test_a_rule_without_conditions_is_refused(self, team_a):
        with pytest.raises(ValidationError, match="at least one condition"):
            services.ownership_rule_create(team=team_a)

    def test_jobs_registering_through_telemetry_get_their_owner(self, team_b):
        services.ownership_rule_create(team=team_b, namespace_pattern="risk-*")
        job = services.job_register_observed(
            engine="prefect", namespace="risk-flows", name="scoring", seen_at=NOW
        )
        assert job.owner_team == team_b
        assert job.registration == Registration.OBSERVED
        assert job.last_seen_at == NOW

    def test_many_jobs_register_at_once_with_their_owners(
        self, ledger_job, team_a, team_b, django_assert_max_num_queries
    ):
        services.ownership_rule_create(team=team_b, namespace_pattern="risk-*")
        new = [
            services.ObservedJob("prefect", "risk-flows", f"scoring_{i}", {"tier": "1"})
            for i in range(20)
        ]
        new += [services.ObservedJob("dbt", "analytics", "orders", {}, default_team_id=team_a.pk)]
        # the declared job, met again: registered meanwhile, kept as it is
        new += [services.ObservedJob("airflow", "prod-airflow", "ledger_nightly_close", {})]
        with django_assert_max_num_queries(5):  # rules, insert (in its transaction), read back
            jobs = services.jobs_register_observed(new, seen_at=NOW)
        assert len(jobs) == 22 and Job.objects.count() == 22
        assert jobs["prefect:risk-flows/scoring_3"].owner_team == team_b
        assert jobs["prefect:risk-flows/scoring_3"].labels == {"tier": "1"}
        assert jobs["prefect:risk-flows/scoring_3"].registration == Registration.OBSERVED
        assert jobs["dbt:analytics/orders"].owner_team == team_a
        assert jobs["airflow:prod-airflow/ledger_nightly_close"].pk == ledger_job.pk
        assert jobs["airflow:prod-airflow/ledger_nightly_close"].owner_team == team_a

    def test_registering_again_only_moves_last_seen_forward(self, ledger_job, team_b):
        services.ownership_rule_create(team=team_b, engine="airflow")
        args = {"engine": "airflow", "namespace": "prod-airflow", "name": "ledger_nightly_close"}
        job = services.job_register_observed(**args, seen_at=NOW)
        services.job_register_observed(**args, seen_at=NOW - timedelta(hours=1))
        job.refresh_from_db()
        assert job.pk == ledger_job.pk
        assert job.owner_team == ledger_job.owner_team  # a person's choice is kept
        assert job.last_seen_at == NOW
        assert Job.objects.count() == 1

    def test_a_new_rule_claims_unowned_jobs_only(self, ledger_job, team_a, team_b):
        orphan = services.job_register_observed(
            engine="airflow", namespace="prod-airflow", name="orphan", seen_at=NOW
        )
        assert orphan.owner_team is None
        services.ownership_rule_create(team=team_b, engine="airflow")
        assert services.ownership_rules_apply() == 1
        orphan.refresh_from_db()
        ledger_job.refresh_from_db()
        assert orphan.owner_team == team_b
        assert ledger_job.owner_team == team_a


def test_next_occurrences_follow_the_zone_across_dst(team_a):
    job = make_job(
        "nightly", team_a, schedule_cron="0 2 * * *", schedule_timezone="America/New_York"
    )
    # US DST ends at 02:00 EDT on 2026-11-01 (clocks go back to 01:00 EST), so that day's
    # 02:00 is already EST: 06:00 UTC before the change, 07:00 UTC from then on.
    after = datetime(2026, 10, 30, 12, 0, tzinfo=UTC)
    runs = [t.astimezone(UTC) for t in schedule_next_occurrences(job, after=after, count=3)]
    assert runs == [
        datetime(2026, 10, 31, 6, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 7, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 7, 0, tzinfo=UTC),
    ]


def test_team_slack_channel_is_validated(db):
    with pytest.raises(ValidationError, match="not a Slack channel"):
        services.team_create(slug="x", name="X", slack_channel="Ledger On Call")


def test_next_occurrences_skip_calendar_days_and_count_fall_back_once(team_a):
    from batchwatch.catalog.models import Calendar

    job = make_job(
        "early", team_a, schedule_cron="30 1 * * *", schedule_timezone="America/New_York"
    )
    job.calendar = Calendar.objects.create(name="no sundays", skip_weekdays=[7])
    job.save()
    # 2026-11-01 is a Sunday and the fall-back day: skipped by the calendar, not doubled.
    after = datetime(2026, 10, 30, 12, 0, tzinfo=UTC)
    runs = schedule_next_occurrences(job, after=after, count=3)
    assert [t.date().isoformat() for t in runs] == ["2026-10-31", "2026-11-02", "2026-11-03"]
    job.calendar = None
    job.save()
    runs = schedule_next_occurrences(job, after=after, count=3)
    assert [t.isoformat() for t in runs] == [
        "2026-10-31T05:30:00+00:00",
        "2026-11-01T05:30:00+00:00",
        "2026-11-02T06:30:00+00:00",
    ]


@pytest.mark.django_db
def test_a_label_key_with_a_final_newline_is_refused(team_a):
    """A "$" in the key pattern let "tier\\n" through (it matches before a final newline)."""
    from django.core.exceptions import ValidationError

    from batchwatch.catalog.services import job_create

    with pytest.raises(ValidationError):
        job_create(engine="spark", namespace="prod", name="nl", owner_team=team_a,
                   labels={"tier\n": "1"})  # fmt: skip
