"""The top of the job page: today's occurrence against its deadline, the job's open incident
(for those who may see it), who is on call, the runbook; the schedule in words and each SLO
as its sentence."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest

from batchwatch.alerts.models import Alert, Incident, IncidentAlert
from batchwatch.catalog import services as catalog
from batchwatch.oncall.models import Rotation
from batchwatch.oncall.services import layer_save
from batchwatch.runbooks.models import Runbook
from batchwatch.runs.models import Run, RunSource, RunState
from batchwatch.slo.models import SLO, SLOState
from batchwatch.web.job_now import slo_sentence


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def job(team_a):
    return catalog.job_create(
        engine="airflow", namespace="prod", name="ledger_every_5", owner_team=team_a,
        schedule_cron="*/5 * * * *", schedule_timezone="UTC", runbook="ledger-close",
    )  # fmt: skip


@pytest.fixture
def slo(job):
    slo = SLO.objects.create(
        slug="ledger-by-6", name="Ledger by 06:00", kind=SLO.Kind.DEADLINE, job=job,
        objective="99", deadline_time=time(6, 0), deadline_timezone="America/New_York",
    )  # fmt: skip
    SLOState.objects.create(slo=slo, job=job)
    return slo


def _today_run(job, state=RunState.RUNNING, **extra) -> Run:
    now = _now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    scheduled = max(midnight, now - timedelta(minutes=20))
    fields = {"started_at": scheduled, **extra}
    return Run.objects.create(
        job=job, external_id=f"today-{state}", state=state, scheduled_at=scheduled,
        source=RunSource.LEDGER, **fields,
    )  # fmt: skip


@pytest.fixture
def incident(job, team_a):
    now = _now()
    incident = Incident.objects.create(
        title="ledger_every_5 failed", group_key="g", open_group_key="g", team=team_a,
        created_at=now - timedelta(minutes=30),
    )  # fmt: skip
    alert = Alert.objects.create(
        source="signals", fingerprint="f1", labels={"job": job.key}, status=Alert.Status.FIRING,
        starts_at=now, job=job, first_received_at=now, last_received_at=now,
    )  # fmt: skip
    IncidentAlert.objects.create(incident=incident, alert=alert, added_at=now)
    return incident


@pytest.fixture
def runbook(db):
    return Runbook.objects.create(
        slug="ledger-close", title="Ledger close", path="runbooks/ledger-close.md",
        applies_to={}, owner="ledger", severity="high", last_reviewed=date(2026, 11, 1),
        body="## First steps\n1. Look.", source_hash="x", synced_at=_now(),
    )  # fmt: skip


@pytest.fixture
def rotation(team_a, teammate):
    rotation = Rotation.objects.create(slug="ledger-primary", name="Ledger primary", team=team_a)
    layer_save(
        rotation=rotation, participants=[teammate], start_date=date(2026, 1, 1),
        handoff_time=time(9, 0), turn_length=timedelta(days=7),
    )  # fmt: skip
    return rotation


@pytest.fixture
def scene(job, slo, incident, runbook, rotation):
    return {"run": _today_run(job), "incident": incident}


def _block(client, user, job) -> str:
    client.force_login(user)
    response = client.get(f"/jobs/{job.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    start = page.index('class="card job-now"')
    return page[start : page.index("</section>", start)]


@pytest.mark.parametrize("persona", ["owner", "teammate", "admin"])
def test_those_who_may_see_the_incident_get_the_whole_now_block(
    client, request, persona, job, scene
):
    block = _block(client, request.getfixturevalue(persona), job)
    run, incident = scene["run"], scene["incident"]
    assert f'href="/runs/{run.pk}/"' in block
    assert "started" in block and "still running" in block
    assert "must succeed by" in block and "(SLO Ledger by 06:00)" in block
    assert re.search(r"deadline <time[^>]*>in \d+ [hd]", block)
    assert f'href="/incidents/{incident.pk}/">#{incident.pk} ledger_every_5 failed</a>' in block
    assert "<strong>tom</strong>" in block and 'href="/rotations/ledger-primary/"' in block
    assert f'href="/runbooks/ledger-close/?incident={incident.pk}">Ledger close</a>' in block


def test_an_outsider_sees_the_job_but_not_the_other_teams_incident(client, outsider, job, scene):
    block = _block(client, outsider, job)
    assert f"/incidents/{scene['incident'].pk}/" not in block
    assert "none open" in block
    assert "<strong>tom</strong>" in block  # who to call is no secret
    assert f'href="/runbooks/ledger-close/?job={job.pk}">Ledger close</a>' in block


def test_a_run_that_succeeded_before_its_deadline_is_on_time(client, teammate, job, slo):
    _today_run(job, RunState.SUCCEEDED, ended_at=_now(), duration_seconds=754.2)
    block = _block(client, teammate, job)
    assert "succeeded" in block and "after 12m 34s" in block and "on time" in block
    assert "none open" in block
    assert "has no on-call rotation" in block
    assert f'href="/runbooks/for/?job={job.pk}">Find a runbook' in block


def test_without_an_slo_the_deadline_is_the_miss_grace(client, teammate, job):
    _today_run(job, RunState.SCHEDULED, started_at=None)
    block = _block(client, teammate, job)
    assert "must start by" in block and "(the miss grace)" in block


def test_on_demand_jobs_expect_nothing(client, teammate, team_a):
    job = catalog.job_create(engine="spark", namespace="p", name="adhoc", owner_team=team_a)
    assert "Runs on demand: nothing is expected today." in _block(client, teammate, job)


def test_the_schedule_in_words_and_the_slo_sentence(client, teammate, job, slo):
    client.force_login(teammate)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Every 5 minutes" in page and "<code>*/5 * * * *</code>" in page
    assert "The run of each day succeeds by 06:00 New York the next day" in page
    assert "(next deadline: " in page
    assert "the run for day D" not in page


@pytest.mark.parametrize(
    ("now", "words"),
    [
        (datetime(2026, 11, 24, 8, 0, tzinfo=UTC), "today 06:00"),  # 03:00 in New York
        (datetime(2026, 11, 24, 12, 0, tzinfo=UTC), "tomorrow 06:00"),  # 07:00 in New York
    ],
)
def test_the_next_deadline_in_the_deadlines_zone(slo, now, words):
    sentence = slo_sentence(slo, now=now)
    assert sentence.next_words == words
    assert sentence.text == "the run of each day succeeds by 06:00 New York the next day"
    assert sentence.kind == "Deadline"


def test_other_slo_kinds_in_words(job):
    fresh = SLO(kind=SLO.Kind.FRESHNESS, max_age=timedelta(hours=26), objective="99", job=job)
    assert slo_sentence(fresh, now=_now()).text == "a run succeeds at least every 1d 2h"
    quick = SLO(kind=SLO.Kind.DURATION, duration_threshold=timedelta(minutes=45), job=job)
    assert slo_sentence(quick, now=_now()).text == "successful runs take at most 45m 00s"


def test_the_job_page_reads_a_bounded_number_of_queries(
    client, teammate, job, scene, django_assert_max_num_queries
):
    client.force_login(teammate)
    client.get(f"/jobs/{job.pk}/")
    with django_assert_max_num_queries(20):
        assert client.get(f"/jobs/{job.pk}/").status_code == 200


def test_lineage_neighbours_with_their_latest_run(client, teammate, team_a, job):
    downstream = catalog.job_create(
        engine="dbt", namespace="w", name="ledger_marts", owner_team=team_a, upstream=[job]
    )
    failed = _today_run(job, RunState.FAILED, ended_at=_now())
    client.force_login(teammate)
    page = client.get(f"/jobs/{downstream.pk}/").content.decode()
    assert f'<a class="state state-failed" href="/runs/{failed.pk}/">failed</a>' in page
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "dbt:w/ledger_marts</a>" in page and "no runs yet" in page
