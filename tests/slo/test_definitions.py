"""Invalid SLO definitions are refused with a clear message: in YAML, the API and admin."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from batchwatch.catalog import services as catalog
from batchwatch.slo.models import SLO

GOOD = """
slos:
  - slug: ledger-by-6
    name: Ledger closed by 06:00 ET
    kind: deadline
    job: airflow:prod/ledger_close
    objective: 99
    window: {size: 28, unit: runs}
    deadline: {time: "06:00", timezone: America/New_York, day_offset: 1}
    prediction_lead: 45m
  - slug: ledger-team-success
    name: Ledger jobs succeed
    kind: success_ratio
    team: ledger
    objective: 95
    window: {size: 30, unit: days}
"""


@pytest.fixture
def job(team_a):
    return catalog.job_create(
        engine="airflow",
        namespace="prod",
        name="ledger_close",
        owner_team=team_a,
        schedule_cron="0 2 * * *",
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "slos.yaml"
    path.write_text(text)
    return path


@pytest.mark.django_db
class TestYaml:
    def test_load_and_reload(self, job, tmp_path, capsys):
        path = write(tmp_path, GOOD)
        call_command("slo", "load", str(path))
        assert "2 created, 0 updated" in capsys.readouterr().out
        call_command("slo", "load", str(path))
        assert "0 created, 2 updated" in capsys.readouterr().out
        slo = SLO.objects.get(slug="ledger-by-6")
        assert (slo.deadline_day_offset, slo.prediction_lead.total_seconds()) == (1, 2700)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (("objective: 99", "objective: 100"), "strictly between 0 and 100"),
            (("objective: 99", "objective: 0"), "strictly between 0 and 100"),
            (("objective: 99", "objective: lots"), "is not a number"),
            (("America/New_York", "America/Gotham"), "not an IANA time zone"),
            (('time: "06:00"', 'time: "25:00"'), "is not HH:MM"),
            (("job: airflow:prod/ledger_close", "job: airflow:prod/nope"), "no job with the key"),
            (("kind: deadline", "kind: vibes"), "kind"),
            (("prediction_lead: 45m", "prediction_lead: soon"), "is not a duration"),
            (
                (
                    "window: {size: 30, unit: days}",
                    "window: {size: 30, unit: runs, type: calendar}",
                ),
                "calendar (monthly) window is counted in days",
            ),
        ],
    )
    def test_invalid_definitions_name_the_entry_and_load_nothing(
        self, job, tmp_path, capsys, change, message
    ):
        path = write(tmp_path, GOOD.replace(*change))
        with pytest.raises(CommandError, match="nothing was loaded"):
            call_command("slo", "load", str(path))
        err = capsys.readouterr().err
        assert message in err and "slos.yaml: slos[" in err
        assert not SLO.objects.exists()

    def test_not_yaml(self, tmp_path, capsys, db):
        with pytest.raises(CommandError):
            call_command("slo", "load", str(write(tmp_path, "slos: [\n  - {slug: a")))
        assert "not valid YAML" in capsys.readouterr().err

    def test_missing_file(self, tmp_path, capsys, db):
        with pytest.raises(CommandError):
            call_command("slo", "load", str(tmp_path / "none.yaml"))
        assert "cannot read it" in capsys.readouterr().err


def payload(**overrides):
    return {
        "slug": "s",
        "name": "S",
        "kind": "deadline",
        "job": "airflow:prod/ledger_close",
        "objective": "99",
        "deadline_time": "06:00",
        "deadline_timezone": "America/New_York",
        **overrides,
    }


@pytest.mark.django_db
class TestApi:
    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"objective": "100"}, "objective"),
            ({"objective": "-1"}, "objective"),
            ({"deadline_timezone": "Mars/Olympus"}, "deadline_timezone"),
            ({"deadline_time": None}, "deadline_time"),
            ({"kind": "duration"}, "duration_threshold"),
            ({"job": None}, "job"),
        ],
    )
    def test_invalid_is_400_with_field_errors(self, api_as, teammate, job, overrides, field):
        response = api_as(teammate).post("/api/v1/slos/", payload(**overrides), format="json")
        assert response.status_code == 400, response.json()
        assert field in response.json()
        assert not SLO.objects.exists()

    def test_teammate_creates_and_outsider_cannot_change(self, api_as, teammate, outsider, job):
        response = api_as(teammate).post("/api/v1/slos/", payload(), format="json")
        assert response.status_code == 201, response.json()
        slo_id = response.json()["id"]
        refused = api_as(outsider).patch(
            f"/api/v1/slos/{slo_id}/", {"objective": "50"}, format="json"
        )
        assert refused.status_code == 403
        denied = api_as(outsider).post("/api/v1/slos/", payload(slug="t"), format="json")
        assert denied.status_code == 403
        assert "not a member of team 'ledger'" in denied.json()["detail"]


@pytest.mark.django_db
def test_admin_refuses_an_objective_of_100(client, admin, job):
    client.force_login(admin)
    response = client.post(
        "/admin/slo/slo/add/",
        {
            "slug": "x",
            "name": "x",
            "kind": "success_ratio",
            "job": job.pk,
            "objective": "100",
            "window_unit": "runs",
            "window_size": 28,
            "window_type": "rolling",
            "deadline_day_offset": 1,
            "prediction_lead": "01:00:00",
            "warning_budget_ratio": "0.25",
            "label_selector": "{}",
            "is_active": "on",
            "states-TOTAL_FORMS": "0",
            "states-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert b"strictly between 0 and 100" in response.content
    assert not SLO.objects.exists()


def test_a_deadline_time_is_described_as_the_wall_clock_time_it_is(api_as, admin, db):
    # (found by schemathesis: "06:00:00" is sent, and OpenAPI's format: time (RFC 3339)
    # requires a UTC offset; a deadline is a wall-clock time in deadline_timezone)
    from batchwatch.catalog.services import job_create
    from tests.api.openapi import allows, schema_property

    job_create(engine="airflow", namespace="prod", name="ledger_close")
    created = api_as(admin).post("/api/v1/slos/", payload(), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["deadline_time"] == "06:00:00"
    prop = schema_property("SLO", "deadline_time")
    assert "format" not in prop
    assert allows(prop, "06:00:00")
    assert not allows(prop, "06:00:00+01:00")
