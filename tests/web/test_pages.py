import re
from datetime import UTC, datetime

import pytest
from django.http import HttpRequest

from batchwatch.catalog import services
from batchwatch.demo.loader import DEMO_PASSWORD, load_demo_catalog


def test_pages_need_a_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == "/login/?next=/"


def test_login_page_and_a_wrong_password(client, teammate):
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "tom", "password": "nope"})
    assert response.status_code == 200
    assert b"do not match" in response.content


def test_login_lands_on_now(client, teammate):
    # the signed-in home is what needs me now; the overview is one click away
    response = client.post(
        "/login/", {"username": "tom", "password": "correct horse battery"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/now/"
    assert b"Overview" in response.content  # in the navigation


def test_empty_catalog_explains_how_to_start(client, teammate):
    Team = type(teammate.teams.first())
    Team.objects.all().delete()
    client.force_login(teammate)
    response = client.get("/")
    assert response.status_code == 200
    assert b"The catalog is empty" in response.content
    assert b"load_demo" in response.content


def test_a_team_without_jobs_says_so(client, teammate):
    client.force_login(teammate)
    assert b"No jobs yet." in client.get("/").content


@pytest.fixture
def demo(db):
    load_demo_catalog()


def test_overview_lists_teams_and_jobs_in_few_queries(client, demo, django_assert_max_num_queries):
    client.login(request=HttpRequest(), username="alice", password=DEMO_PASSWORD)
    # A fixed number whatever the catalog size (tests/web/test_grid.py, GRID_QUERIES, with 20
    # and 200 jobs): session, user, the jobs' health rows brought up to date, the order and
    # counts, teams, the shown jobs and their runs as squares, each one's current and next
    # occurrence, open incidents (the viewer's on-call teams), jobs at risk, SLOs, on call.
    with django_assert_max_num_queries(37):
        response = client.get("/")
    page = response.content.decode()
    for team in ("Ledger &amp; Accounting", "Credit Risk", "Data Platform", "Growth Analytics"):
        assert team in page
    assert "ledger_nightly_close" in page
    assert "Unowned jobs" in page and "adhoc_notebook_export" in page


def test_overview_filters(client, demo):
    client.login(request=HttpRequest(), username="alice", password=DEMO_PASSWORD)
    page = client.get("/", {"engine": "flink"}).content.decode()
    assert "fraud_signals" in page and "ledger_nightly_close" not in page
    page = client.get("/", {"q": "no-such-job"}).content.decode()
    assert "No jobs match these filters" in page
    # An unknown engine is ignored rather than an error.
    assert client.get("/", {"engine": "cobol"}).status_code == 200


def test_job_page_shows_schedule_and_edges(client, demo):
    from batchwatch.catalog.models import Job

    job = Job.objects.get(key="airflow:prod-airflow/ledger_nightly_close")
    client.login(request=HttpRequest(), username="bob", password=DEMO_PASSWORD)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "America/New_York" in page
    assert "Next runs" in page
    # In the job's own zone (EST or EDT depending on today's date), with UTC beside it.
    assert re.search(r"02:00 E[SD]T <span[^>]*>· 0[67]:00 UTC", page)
    assert "spark:prod-emr/loan_events_compaction" in page  # upstream
    assert "airflow:prod-airflow/ach_settlement_file" in page  # downstream
    assert "Duration of the latest runs" in page  # demo history, charted
    assert "AirflowException: task post_journal_entries failed" in page  # an Airflow failure


def test_team_page(client, demo):
    client.login(request=HttpRequest(), username="bob", password=DEMO_PASSWORD)
    page = client.get("/teams/ledger/").content.decode()
    assert "Alice Ng" in page and "autopay_batch" in page


def test_unknown_pages_are_a_friendly_404(client, teammate):
    client.force_login(teammate)
    for url in ("/jobs/999999/", "/teams/nobody/", "/nowhere/"):
        response = client.get(url)
        assert response.status_code == 404
        assert b'<a href="/">Back to the overview</a>' in response.content


def test_inactive_job_is_marked(client, team_a, teammate):
    services.job_create(engine="dbt", namespace="w", name="old", owner_team=team_a, is_active=False)
    client.force_login(teammate)
    assert b"inactive" in client.get("/").content


def test_job_page_shows_expected_vs_actual_and_signals(client, demo):
    from batchwatch.catalog.models import Job
    from batchwatch.slo.services import evaluate_all

    evaluate_all(datetime.now(UTC))
    job = Job.objects.get(key="airflow:prod-airflow/ledger_nightly_close")
    client.login(request=HttpRequest(), username="bob", password=DEMO_PASSWORD)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Expected and actual, last 14 days" in page
    assert page.count('class="mark-') >= 14
    assert "Signals" in page and "run failed: AirflowException" in page
    assert "Ledger closed by 06:00 ET" in page and 'class="bd-line"' in page  # SLO burn-down
    assert '<span class="muted">expected</span>' in page  # the next occurrence, not yet run
