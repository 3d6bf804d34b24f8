"""The overview and team pages as a health grid (web/grid.py, runs/selectors_grid.py): worst
first, the occurrence due now against its deadline, squares, incidents and on call, filters in
the URL, the board alone for the refresh, and a number of queries that does not grow with the
jobs. Personas: owner and teammate (team A, *Ledger*), outsider (team B, *Credit Risk*), admin."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, time, timedelta

import pytest

from batchwatch.alerts.models import Alert, Incident, IncidentAlert
from batchwatch.catalog import services as catalog
from batchwatch.catalog.models import Job, Team
from batchwatch.oncall.models import Rotation
from batchwatch.oncall.services import layer_save
from batchwatch.runs.models import Run, RunSource, RunState, Signal, expected_external_id
from batchwatch.runs.selectors_grid import GRID_RUNS, job_runs_grid
from batchwatch.slo.models import SLO, SLOState
from batchwatch.web.grid import health_grid
from batchwatch.web.grid_views import OVERVIEW_PAGE, TEAM_PAGE

_ids = itertools.count(1)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _job(team, name: str, **fields) -> Job:
    fields.setdefault("schedule_cron", "0 2 * * *")
    return catalog.job_create(
        engine="airflow", namespace="prod", name=name, owner_team=team, **fields
    )


def _ran(job, state, *, at: datetime, expected: bool = True, **extra) -> Run:
    """A run an engine reported for the occurrence at ``at`` (matched to it by the ledger)."""
    ended = at + timedelta(minutes=30) if state in (RunState.SUCCEEDED, RunState.FAILED) else None
    return Run.objects.create(
        job=job,
        external_id=f"run-{next(_ids)}",
        state=state,
        scheduled_at=at,
        expected_at=at if expected else None,
        started_at=at + timedelta(minutes=1),
        ended_at=ended,
        duration_seconds=1740 if ended else None,
        source=RunSource.OTLP,
        **extra,
    )


def _expected(job, *, at: datetime, **extra) -> Run:
    """An occurrence the ledger wrote and nobody ran (yet)."""
    return Run.objects.create(
        job=job,
        external_id=expected_external_id(at),
        state=extra.pop("state", RunState.SCHEDULED),
        scheduled_at=at,
        expected_at=at,
        source=RunSource.LEDGER,
        **extra,
    )


def _incident(title: str, *, team, job) -> Incident:
    now = _now()
    incident = Incident.objects.create(
        title=title, group_key=f"k-{title}", open_group_key=f"k-{title}", team=team, created_at=now
    )
    alert = Alert.objects.create(
        source="test",
        fingerprint=f"fp-{next(_ids)}",
        labels={"alertname": title},
        status=Alert.Status.FIRING,
        starts_at=now,
        first_received_at=now,
        last_received_at=now,
        job=job,
    )
    IncidentAlert.objects.create(incident=incident, alert=alert, added_at=now)
    return incident


def _row(grid, name: str):
    return next(row for team in grid.teams for row in team.jobs if row.job.name == name)


def test_a_late_occurrence_shows_late_though_the_last_run_succeeded(team_a, admin):
    now = _now()
    job = _job(team_a, "ledger_close")
    yesterday = _ran(job, RunState.SUCCEEDED, at=now - timedelta(days=1, minutes=26))
    today = _expected(job, at=now - timedelta(minutes=26), late_start=True)
    _expected(job, at=now + timedelta(days=1) - timedelta(minutes=26))  # tomorrow's

    row = _row(health_grid(admin, now=now), "ledger_close")

    assert row.runs.last_run.id == yesterday.pk and row.runs.last_run.state == "succeeded"
    assert row.health == "late"
    assert row.occurrence.run.id == today.pk and row.occurrence.state == "late"
    assert row.occurrence.deadline == today.scheduled_at + job.miss_grace
    assert row.last_run_ago == "1 d ago" and row.next_in == "in 23 h"
    # Newest on the right, padded on the left to the grid's width.
    assert [r.id for r in row.squares[-2:]] == [yesterday.pk, today.pk]
    assert row.squares[0] is None
    assert len(row.squares) == GRID_RUNS


def test_occurrences_against_their_deadline(team_a, admin):
    now = _now()
    names = ("waits", "missed", "runs", "slow", "done", "broke")
    jobs = {name: _job(team_a, name) for name in names}
    _ran(jobs["waits"], RunState.SUCCEEDED, at=now - timedelta(days=1))
    _expected(jobs["waits"], at=now - timedelta(minutes=5))  # within its start grace
    _expected(jobs["missed"], at=now - timedelta(hours=3), state=RunState.MISSED, late_start=True)
    _ran(jobs["runs"], RunState.RUNNING, at=now - timedelta(minutes=20))
    slow = _ran(jobs["slow"], RunState.RUNNING, at=now - timedelta(minutes=20))
    Signal.objects.create(kind=Signal.Kind.PREDICTED_MISS, severity=Signal.Severity.WARNING,
                          job=jobs["slow"], run=slow, summary="predicted to end late",
                          dedup_key="predicted:slow", created_at=now)  # fmt: skip
    _ran(jobs["done"], RunState.SUCCEEDED, at=now - timedelta(hours=2), too_fast=True)
    _ran(jobs["broke"], RunState.FAILED, at=now - timedelta(hours=2))

    grid = health_grid(admin, now=now)

    states = {n: (_row(grid, n).health, _row(grid, n).occurrence.state) for n in jobs}
    assert states == {
        "waits": ("ok", "waiting"),
        "missed": ("missed", "missed"),
        "runs": ("ok", "running"),
        "slow": ("at_risk", "running"),
        "done": ("ok", "on_time"),
        "broke": ("failed", "failed"),
    }
    assert _row(grid, "done").squares[-1].too_fast


def test_teams_and_jobs_worst_first_ties_by_name(team_a, team_b, admin):
    now = _now()
    # Credit Risk comes first by name, but Ledger has a missed run: Ledger first.
    for name in ("b_fine", "a_fine"):
        _ran(_job(team_b, name), RunState.SUCCEEDED, at=now - timedelta(hours=1))
    _ran(_job(team_a, "a_ok"), RunState.SUCCEEDED, at=now - timedelta(hours=1))
    _ran(_job(team_a, "b_failed"), RunState.FAILED, at=now - timedelta(hours=1))
    _expected(_job(team_a, "c_late"), at=now - timedelta(minutes=30), late_start=True)
    _expected(_job(team_a, "d_missed"), at=now - timedelta(hours=2), state=RunState.MISSED)
    risky = _job(team_a, "e_risky")
    _ran(risky, RunState.SUCCEEDED, at=now - timedelta(hours=1))
    slo = SLO.objects.create(slug="risky", name="Risky", kind=SLO.Kind.SUCCESS_RATIO, job=risky,
                             objective="0.9")  # fmt: skip
    SLOState.objects.create(slo=slo, job=risky, status=SLOState.Status.WARNING)
    _job(team_a, "f_new")  # never ran

    grid = health_grid(admin, now=now)

    assert [t.name for t in grid.teams] == ["Ledger", "Credit Risk"]
    ledger, risk = grid.teams
    assert [(r.job.name, r.health) for r in ledger.jobs] == [
        ("d_missed", "missed"),
        ("b_failed", "failed"),
        ("c_late", "late"),
        ("e_risky", "at_risk"),
        ("a_ok", "ok"),
        ("f_new", "none"),
    ]
    assert [r.job.name for r in risk.jobs] == ["a_fine", "b_fine"]
    assert [(h, n) for h, _, n in ledger.counts] == [
        ("missed", 1), ("failed", 1), ("late", 1), ("at_risk", 1)
    ]  # fmt: skip


def test_squares_are_the_newest_runs_of_each_job(team_a):
    now = _now()
    job = _job(team_a, "hourly", schedule_cron="0 * * * *")
    for hours in range(1, 30):
        _ran(job, RunState.SUCCEEDED, at=now - timedelta(hours=hours))
    _expected(job, at=now + timedelta(minutes=30))  # not due: not a square, the next one

    found = job_runs_grid([job.pk], now=now)[job.pk]

    assert len(found.squares) == GRID_RUNS
    assert [r.scheduled_at for r in found.squares] == [
        now - timedelta(hours=h) for h in range(1, GRID_RUNS + 1)
    ]
    assert found.occurrence.scheduled_at == now - timedelta(hours=1)
    assert found.next_expected == now + timedelta(minutes=30)


def _fill(team, first: int, count: int, *, now: datetime) -> None:
    """``count`` daily jobs with 14 runs each, today's occurrence late, and one open incident."""
    jobs = [
        _job(team, f"job_{n:03d}", schedule_cron="0 2 * * *") for n in range(first, first + count)
    ]
    runs = []
    for job in jobs:
        for day in range(1, GRID_RUNS):
            at = now - timedelta(days=day, minutes=26)
            runs.append(Run(job=job, external_id=f"r{day}", state=RunState.SUCCEEDED,
                            scheduled_at=at, expected_at=at, started_at=at, ended_at=at,
                            source=RunSource.OTLP))  # fmt: skip
        at = now - timedelta(minutes=26)
        runs.append(Run(job=job, external_id=expected_external_id(at), state=RunState.SCHEDULED,
                        scheduled_at=at, expected_at=at, late_start=True,
                        source=RunSource.LEDGER))  # fmt: skip
    Run.objects.bulk_create(runs)
    _incident(f"incident {first}", team=team, job=jobs[0])


# Queries of a grid page, whatever the number of jobs: the refresh of the jobs' health rows
# (the stale ones' runs read and written: 8 at most), the order and counts (5), the shown
# jobs' runs (3), incidents and who may see them, on call, SLOs, the session and user.
GRID_QUERIES = 37


@pytest.mark.parametrize("url", ["/", "/board/", "/teams/ledger/", "/teams/ledger/board/"])
def test_queries_do_not_grow_with_the_jobs(
    client, team_a, teammate, url, django_assert_max_num_queries
):
    now = _now()
    rotation = Rotation.objects.create(slug="ledger-primary", name="Ledger primary", team=team_a)
    layer_save(rotation=rotation, participants=[teammate], start_date=date(2026, 1, 1),
               handoff_time=time(9, 0), turn_length=timedelta(days=1))  # fmt: skip
    _fill(team_a, 0, 20, now=now)
    client.force_login(teammate)
    # The most: the jobs' health rows brought up to date (runs written since, jobs new).
    with django_assert_max_num_queries(GRID_QUERIES):
        assert client.get(url).status_code == 200
    _fill(team_a, 20, 180, now=now)  # 200 jobs x 14 runs, none checked yet
    with django_assert_max_num_queries(GRID_QUERIES):
        page = client.get(url).content.decode()
    with django_assert_max_num_queries(GRID_QUERIES):
        assert client.get(url).status_code == 200  # (their health rows up to date)
    # A page of jobs worst first: the overview's across the teams, a team page's of its own.
    shown = TEAM_PAGE if "teams" in url else OVERVIEW_PAGE
    assert page.count('class="grid-row grid-row-late') == shown
    assert f"Jobs 1\N{EN DASH}{shown} of 200, worst first (page 1 of {200 // shown})" in page
    assert ('rel="next" href="?page=2"' in page) and 'rel="prev"' not in page
    assert (f"{200 - shown} more jobs on the team's page" in page) is ("teams" not in url)


def test_pages_of_jobs_worst_first_across_teams_with_the_filters_kept(
    client, team_a, team_b, teammate
):
    now = _now()
    for n in range(OVERVIEW_PAGE + 5):
        _ran(_job(team_b, f"fine_{n:03d}"), RunState.SUCCEEDED, at=now - timedelta(hours=1))
    _ran(_job(team_a, "zz_failed"), RunState.FAILED, at=now - timedelta(hours=1))
    _ran(_job(team_b, "zz_broken"), RunState.FAILED, at=now - timedelta(hours=1))

    first = _page(client, teammate)
    # The failed jobs of both teams first, then the rest, each in its team's group (the
    # groups worst first, then by name: Credit Risk, then Ledger).
    rows = re.findall(r'data-job="airflow:prod/(\w+)"', first)
    assert rows == ["zz_broken", *(f"fine_{n:03d}" for n in range(OVERVIEW_PAGE - 2)), "zz_failed"]
    assert f"Jobs 1\N{EN DASH}{OVERVIEW_PAGE} of {OVERVIEW_PAGE + 7}" in first
    second = _page(client, teammate, page="2")
    assert re.findall(r'data-job="airflow:prod/(\w+)"', second) == [
        f"fine_{n:03d}" for n in range(OVERVIEW_PAGE - 2, OVERVIEW_PAGE + 5)
    ]
    # Teams with no job on this page keep their counts, below.
    assert 'class="grid-others"' in second and 'id="team-ledger"' in second
    assert "1 failed" in second
    # The page links keep the filters; a page past the last is the last; junk is the first.
    narrowed = _page(client, teammate, q="fine", engine="airflow")
    assert 'href="?engine=airflow&amp;q=fine&amp;page=2"' in narrowed
    assert "fine_054" in _page(client, teammate, q="fine", page="99")
    assert "zz_failed" in _page(client, teammate, page="-3")
    client.force_login(teammate)
    board = client.get("/board/", {"page": "2"}).content.decode()
    assert "zz_failed" not in board and f"fine_{OVERVIEW_PAGE + 4:03d}" in board


def _page(client, user, url: str = "/", **params) -> str:
    client.force_login(user)
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def world(team_a, team_b, owner, teammate, outsider, admin):
    now = _now()
    close = _job(team_a, "ledger_close")
    _ran(close, RunState.SUCCEEDED, at=now - timedelta(days=1, minutes=26))
    _expected(close, at=now - timedelta(minutes=26), late_start=True)
    scoring = _job(team_b, "risk_scoring")
    _ran(scoring, RunState.SUCCEEDED, at=now - timedelta(hours=3))
    return {
        "a_incident": _incident("Ledger close is late", team=team_a, job=close),
        "b_incident": _incident("Risk scoring broke", team=team_b, job=scoring),
    }


def test_the_page_needs_a_login(client, world):
    for url in ("/", "/board/", "/teams/ledger/", "/teams/ledger/board/"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/")


@pytest.mark.parametrize(
    "persona, incidents",
    [
        ("owner", ["Ledger close is late"]),
        ("teammate", ["Ledger close is late"]),
        ("outsider", ["Risk scoring broke"]),
        ("admin", ["Ledger close is late", "Risk scoring broke"]),
    ],
)
def test_every_persona_sees_every_job_and_only_the_incidents_they_may_see(
    client, request, world, persona, incidents
):
    # Everyone signed in reads the catalog; incidents are read by their teams (and staff).
    page = _page(client, request.getfixturevalue(persona))
    assert "ledger_close" in page and "risk_scoring" in page
    for key in ("a_incident", "b_incident"):
        incident = world[key]
        shown = incident.title in incidents
        assert (incident.title in page) is shown
        assert (f'href="/incidents/{incident.pk}/"' in page) is shown


def test_a_member_sees_her_team_late_first_with_its_person_on_call(client, team_a, teammate, world):
    rotation = Rotation.objects.create(slug="ledger-primary", name="Ledger primary", team=team_a)
    layer_save(rotation=rotation, participants=[teammate], start_date=date(2026, 1, 1),
               handoff_time=time(9, 0), turn_length=timedelta(days=1))  # fmt: skip
    page = _page(client, teammate)
    # Ledger (a late job) before Credit Risk (all fine), though C comes before L.
    assert page.index('id="team-ledger"') < page.index('id="team-risk"')
    row = re.search(r'<tr class="grid-row grid-row-late[^"]*" data-job="[^"]*ledger_close".*?</tr>',
                    page, re.S).group(0)  # fmt: skip
    assert "late: not started, due 26 min ago" in row
    assert "last run <a" in row and "1 d ago</time>" in row and "next <time" in row
    assert len(re.findall(r'class="sq sq-(?!empty)', row)) == 2
    assert row.count("sq-empty") == GRID_RUNS - 2
    assert "Ledger primary</a>: <strong>tom</strong>" in page

    team_page = _page(client, teammate, "/teams/ledger/")
    assert "ledger_close" in team_page and "risk_scoring" not in team_page
    assert (
        "late: not started" in team_page and "Ledger primary</a>: <strong>tom</strong>" in team_page
    )
    assert "Ledger close is late" in team_page  # the team's open incident
    assert "Members" in team_page and 'data-refresh-url="/teams/ledger/board/"' in team_page


def test_filters_are_kept_in_the_url_and_the_refresh_asks_with_them(client, teammate, world):
    page = _page(client, teammate, state="late")
    assert "ledger_close" in page and "risk_scoring" not in page
    assert '<option value="late" selected>' in page
    assert 'data-refresh-url="/board/"' in page  # grid.js appends the page's query string

    client.force_login(teammate)
    board = client.get("/board/", {"state": "late"})
    assert board["X-Batchwatch-Board"] == "grid"
    body = board.content.decode()
    assert "<html" not in body and "ledger_close" in body and "risk_scoring" not in body

    assert "risk_scoring" in _page(client, teammate, q="scoring")
    assert "ledger_close" not in _page(client, teammate, q="scoring")
    assert "No jobs match these filters" in _page(client, teammate, state="missed")
    assert "risk_scoring" in _page(client, teammate, team="risk")
    assert "ledger_close" not in _page(client, teammate, team="risk")
    assert "No jobs match" in _page(client, teammate, "/teams/ledger/", q="nothing")
    # Unknown values are ignored, never an error.
    for params in ({"state": "purple"}, {"engine": "cobol"}, {"q": "x" * 5000}, {"team": "nope"}):
        _page(client, teammate, **params)
    for params in ({"team": "a\x00b"}, {"q": "late\x00"}):
        assert client.get("/", params).status_code in (200, 400)


def test_the_pages_load_their_script_and_have_no_inline_script(client, teammate, world):
    for url in ("/", "/teams/ledger/"):
        page = _page(client, teammate, url)
        assert re.search(r'<script src="[^"]*batchwatch/grid(\.[0-9a-f]+)?\.js" defer>', page)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
        assert " onclick=" not in page


def test_names_others_chose_are_escaped_in_the_rows_facts_and_other_teams(
    client, team_a, teammate, admin, world
):
    # The rows, a team's facts and the other teams' list are built in Python (grid_html.py):
    # every name there is someone's text.
    hostile = "<img/src=x/onerror=alert(1)>"
    Team.objects.create(slug="quiet", name=hostile)  # (no job: among the other teams)
    teammate.first_name = hostile
    teammate.save()
    rotation = Rotation.objects.create(slug="ledger-primary", name=hostile, team=team_a)
    layer_save(rotation=rotation, participants=[teammate], start_date=date(2026, 1, 1),
               handoff_time=time(9, 0), turn_length=timedelta(days=1))  # fmt: skip
    _incident(hostile, team=team_a, job=_job(team_a, hostile))
    page = _page(client, admin)
    assert hostile not in page
    # The team's name, the rotation's, the person's, the incident's title in the facts and
    # in its row, the job's name.
    assert page.count("&lt;img/src=x/onerror=alert(1)&gt;") >= 6
