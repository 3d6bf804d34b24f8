"""The Now page (/now/, its board fragment) and GET /api/v1/now/: what needs the signed-in
person, scoped to their teams (staff: every team), in a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batchwatch.alerts.models import Incident
from batchwatch.catalog import services as catalog
from batchwatch.notify.models import Channel
from batchwatch.oncall.models import EscalationStep, Rotation
from batchwatch.oncall.services import layer_save, policy_save
from batchwatch.runs.models import Run, RunSource, RunState, Signal
from batchwatch.slo.models import SLO, SLOState


def _now() -> datetime:
    return datetime.now(UTC)


def _incident(title: str, *, team=None, state=Incident.State.TRIGGERED, assignee=None, age=10):
    created = _now() - timedelta(minutes=age)
    return Incident.objects.create(
        title=title,
        group_key=f"{{}}:{{title={title!r}}}",
        open_group_key=None if state == Incident.State.RESOLVED else f"k-{title}",
        team=team,
        state=state,
        assignee=assignee,
        created_at=created,
    )


def _run(job, state, *, hours_ago: float = 1, **extra):
    scheduled = _now() - timedelta(hours=hours_ago)
    return Run.objects.create(
        job=job,
        external_id=f"r-{job.pk}-{state}-{hours_ago}-{Run.objects.count()}",
        state=state,
        scheduled_at=scheduled,
        expected_at=extra.pop("expected_at", None),
        source=RunSource.LEDGER,
        **extra,
    )


@pytest.fixture
def risk_job(team_b):
    return catalog.job_create(
        engine="spark", namespace="prod", name="risk_scoring", owner_team=team_b, tier=1
    )


@pytest.fixture
def world(team_a, team_b, owner, teammate, outsider, admin, ledger_job, risk_job):
    """Ledger (team A) and Credit Risk (team B) each with an unacknowledged incident and a
    late run; an acknowledged incident, a resolved one, and one of no team."""
    return {
        "a_incident": _incident("Ledger close failed", team=team_a),
        "b_incident": _incident("Risk scoring failed", team=team_b),
        "a_acked": _incident("Ledger acked", team=team_a, state=Incident.State.ACKNOWLEDGED),
        "a_resolved": _incident("Ledger resolved", team=team_a, state=Incident.State.RESOLVED),
        "orphan": _incident("Nobody's alert"),
        "a_late": _run(ledger_job, RunState.SCHEDULED, hours_ago=0.5, late_start=True),
        "b_missed": _run(risk_job, RunState.MISSED, hours_ago=3, late_start=True),
    }


def _page(client, user) -> str:
    client.force_login(user)
    response = client.get("/now/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_needs_a_login(client, db):
    response = client.get("/now/")
    assert response.status_code == 302 and response.url.startswith("/login/")
    assert client.get("/now/board/").status_code == 302
    assert client.get("/api/v1/now/").status_code in (401, 403)


def test_a_member_sees_her_teams_incidents_with_an_acknowledge_button(client, teammate, world):
    page = _page(client, teammate)
    assert "Ledger close failed" in page
    assert "Risk scoring failed" not in page  # another team's
    assert "Ledger acked" not in page and "Ledger resolved" not in page
    assert "Nobody&#x27;s alert" not in page and "Nobody's alert" not in page
    incident = world["a_incident"]
    assert f'action="/incidents/{incident.pk}/act"' in page
    assert 'name="action" value="acknowledge"' in page
    assert "<title>(1) Now · Batchwatch</title>" in page
    assert "open for" in page and "10\xa0minutes" in page


A_SEES = {"Ledger close failed", "ledger_nightly_close"}
B_SEES = {"Risk scoring failed", "risk_scoring"}


@pytest.mark.parametrize(
    ("persona", "sees", "hidden"),
    [
        ("owner", A_SEES, B_SEES),
        ("teammate", A_SEES, B_SEES),
        ("outsider", B_SEES, A_SEES),
        ("admin", A_SEES | B_SEES | {"Nobody"}, {"Ledger acked"}),
    ],
)
def test_each_persona_sees_exactly_their_teams(client, request, world, persona, sees, hidden):
    user = request.getfixturevalue(persona)
    for page in (_page(client, user), client.get("/now/board/").content.decode()):
        for text in sees:
            assert text in page, (persona, text)
        for text in hidden:
            assert text not in page, (persona, text)


def test_an_incident_assigned_to_me_shows_whatever_its_team(client, outsider, world, team_a):
    _incident("Handed to oscar", team=team_a, assignee=outsider)
    page = _page(client, outsider)
    assert "Handed to oscar" in page and "Ledger close failed" not in page
    assert "<title>(2) Now · Batchwatch</title>" in page


def test_the_acknowledge_button_acknowledges_through_the_incident_action(client, teammate, world):
    incident = world["a_incident"]
    _page(client, teammate)
    response = client.post(f"/incidents/{incident.pk}/act", {"action": "acknowledge"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.state == Incident.State.ACKNOWLEDGED
    page = client.get("/now/").content.decode()
    assert "Ledger close failed" not in page and "<title>Now · Batchwatch</title>" in page


def test_runs_late_missed_and_at_risk_with_their_deadlines(client, admin, world, ledger_job):
    slo = SLO.objects.create(
        slug="ledger-by-6", name="Ledger by 06:00", kind=SLO.Kind.DEADLINE, job=ledger_job,
        objective="0.95", deadline_time=time(6, 0), deadline_timezone="UTC",
    )  # fmt: skip
    running = _run(ledger_job, RunState.RUNNING, hours_ago=0.2, started_at=_now())
    Signal.objects.create(
        kind=Signal.Kind.PREDICTED_MISS, severity=Signal.Severity.WARNING, job=ledger_job,
        run=running, summary="predicted to finish around 07:10", labels={"slo": slo.slug},
        dedup_key="pm-1", created_at=_now(),
    )  # fmt: skip
    page = _page(client, admin)
    assert "late" in page and "missed" in page and "at risk" in page
    assert "predicted to finish around 07:10" in page
    late = world["a_late"]
    deadline = late.scheduled_at + ledger_job.miss_grace
    assert f'datetime="{deadline.isoformat()}" data-countdown' in page
    data = _api(admin)
    kinds = {row["id"]: row for row in data["runs"]}
    assert kinds[late.pk]["kind"] == "late"
    assert 0 < kinds[late.pk]["seconds_to_deadline"] <= 1800
    assert kinds[world["b_missed"].pk]["kind"] == "missed"
    assert kinds[running.pk]["kind"] == "at_risk"
    assert kinds[running.pk]["deadline"] is not None


def test_on_call_until_and_who_is_on_call_for_my_teams(client, team_a, teammate, owner, world):
    rotation = Rotation.objects.create(slug="ledger-primary", name="Ledger primary", team=team_a)
    layer_save(
        rotation=rotation, participants=[teammate, owner], start_date=date(2026, 1, 1),
        handoff_time=time(9, 0), turn_length=timedelta(days=1),
    )  # fmt: skip
    oncall_now_user = _api(teammate)["oncall"][0]["user"]
    me = teammate if oncall_now_user == teammate.username else owner
    page = _page(client, me)
    assert "You are on call for <strong>Ledger</strong> (Ledger primary) until" in page
    data = _api(me)
    assert data["oncall"][0]["is_me"] is True and data["oncall"][0]["until"]
    other = owner if me == teammate else teammate
    assert "You are on call" not in _page(client, other)


def test_teams_that_cannot_be_paged(client, team_a, team_b, teammate, admin, world):
    page = _page(client, teammate)
    assert "Teams that cannot be paged" in page
    assert "no on-call rotation; no escalation policy" in page
    rotation = Rotation.objects.create(slug="ledger-primary", name="Ledger primary", team=team_a)
    layer_save(
        rotation=rotation, participants=[teammate], start_date=date(2026, 1, 1),
        handoff_time=time(9, 0), turn_length=timedelta(days=7),
    )  # fmt: skip
    policy_save(
        slug="ledger", name="Ledger", team=team_a, is_team_default=True,
        steps=[{"target": EscalationStep.Target.ROTATION, "rotation": rotation,
                "wait": timedelta(minutes=5)}],
    )  # fmt: skip
    Channel.objects.create(
        name="ledger-mail", kind=Channel.Kind.EMAIL, address="x@example.com", team=team_a,
        is_broken=True, last_error="550 mailbox unavailable",
    )  # fmt: skip
    gaps = {g["team"]: g["problems"] for g in _api(teammate)["unpageable_teams"]}
    assert gaps == {"ledger": ["channel ledger-mail is broken: 550 mailbox unavailable"]}
    gaps = {g["team"]: g["problems"] for g in _api(admin)["unpageable_teams"]}
    assert gaps["risk"] == ["no on-call rotation", "no escalation policy"]


@pytest.mark.parametrize(
    ("persona", "can_fix"), [("owner", True), ("teammate", False), ("admin", True)]
)
def test_owners_and_staff_are_sent_to_fix_a_team_that_cannot_be_paged(
    client, request, world, persona, can_fix
):
    user = request.getfixturevalue(persona)
    page = _page(client, user)
    assert ('href="/teams/ledger/settings/">Fix it' in page) is can_fix
    assert ("Ask an owner of the team" in page) is not can_fix
    gaps = {g["team"]: g for g in _api(user)["unpageable_teams"]}
    assert gaps["ledger"]["can_fix"] is can_fix


def test_an_outsider_sees_nothing_of_another_teams_rotations_risks_or_slos(
    client, team_a, teammate, outsider, world, ledger_job
):
    rotation = Rotation.objects.create(slug="ledger-primary", name="Ledger primary", team=team_a)
    layer_save(
        rotation=rotation, participants=[teammate], start_date=date(2026, 1, 1),
        handoff_time=time(9, 0), turn_length=timedelta(days=7),
    )  # fmt: skip
    slo = SLO.objects.create(
        slug="ledger-by-6", name="Ledger by 06:00", kind=SLO.Kind.DEADLINE, job=ledger_job,
        objective="0.95", deadline_time=time(6, 0), deadline_timezone="UTC",
    )  # fmt: skip
    running = _run(ledger_job, RunState.RUNNING, hours_ago=0.2, started_at=_now())
    Signal.objects.create(
        kind=Signal.Kind.PREDICTED_MISS, severity=Signal.Severity.WARNING, job=ledger_job,
        run=running, summary="predicted late", labels={"slo": slo.slug}, dedup_key="pm-1",
        created_at=_now(),
    )  # fmt: skip
    SLOState.objects.create(slo=slo, job=ledger_job, status="warning", burn_rates={"7_runs": 2})
    data = _api(outsider)
    assert data["oncall"] == [] and data["slos"] == []
    assert {r["team"] for r in data["runs"]} == {"risk"}
    assert [g["team"] for g in data["unpageable_teams"]] == ["risk"]
    page = _page(client, outsider)
    for text in ("Ledger primary", "Ledger by 06:00", "predicted late", "ledger_nightly_close"):
        assert text not in page
    assert "Ledger by 06:00" in _page(client, teammate)


def test_slos_burning_fastest(client, teammate, world, ledger_job, risk_job):
    slo = SLO.objects.create(slug="ledger-ok", name="Ledger succeeds", kind=SLO.Kind.SUCCESS_RATIO,
                             job=ledger_job, objective="0.9")  # fmt: skip
    risk = SLO.objects.create(slug="risk-ok", name="Risk succeeds", kind=SLO.Kind.SUCCESS_RATIO,
                              job=risk_job, objective="0.9")  # fmt: skip
    SLOState.objects.create(
        slo=slo,
        job=ledger_job,
        status="warning",
        budget_remaining_ratio=0.25,
        burn_rates={"3_runs": 3.3, "window": 0.8},
    )
    SLOState.objects.create(
        slo=risk,
        job=risk_job,
        status="breached",
        budget_remaining_ratio=-1,
        burn_rates={"3_runs": 9.0},
    )
    page = _page(client, teammate)
    assert "Ledger succeeds" in page and "\N{MULTIPLICATION SIGN}3.3 over the last 3 runs" in page
    assert "25% of the budget left" in page
    assert "Risk succeeds" not in page
    (row,) = _api(teammate)["slos"]
    assert row["slo"] == "ledger-ok" and row["burn_rate"] == 3.3 and row["burn_window"] == "3_runs"


def test_empty_states_say_nothing_needs_you(client, teammate, ledger_job):
    for hours in (2, 5):
        _run(ledger_job, RunState.SUCCEEDED, hours_ago=hours, ended_at=_now() - timedelta(hours=1))
    page = _page(client, teammate)
    assert "Nothing needs you." in page
    assert "1 job ran on time in the last 24 hours." in page
    assert "<title>Now · Batchwatch</title>" in page


def test_someone_in_no_team_is_told_so(client, make_user, db):
    page = _page(client, make_user("newbie"))
    assert "Nothing needs you." in page and "not a member of any team yet" in page


def test_the_board_fragment_is_the_board_alone_for_the_refresh(client, teammate, world):
    client.force_login(teammate)
    response = client.get("/now/board/")
    assert response.status_code == 200
    assert response["X-Batchwatch-Board"] == "now"
    body = response.content.decode()
    assert "<html" not in body and 'data-title="(1) Now · Batchwatch"' in body
    assert "Ledger close failed" in body
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_the_page_loads_its_script_and_has_no_inline_script(client, teammate, world):
    page = _page(client, teammate)
    assert '<script src="/static/batchwatch/now.js" defer></script>' in page
    assert "onclick" not in page and "style=" not in page
    assert '<a href="/now/" aria-current="page">Now</a>' in page


def test_now_is_first_in_the_navigation(client, teammate):
    client.force_login(teammate)
    page = client.get("/").content.decode()
    nav = page.split('<nav aria-label="Main">', 1)[1]
    assert nav.index('href="/now/"') < nav.index('href="/"')


@pytest.fixture
def crowd(team_a, teammate, ledger_job, make_user):
    """Many incidents, runs, at-risk warnings, SLO states and rotations of the teammate's team."""
    for n in range(30):
        job = catalog.job_create(engine="airflow", namespace="prod", name=f"job_{n}",
                                 owner_team=team_a)  # fmt: skip
        _incident(f"Incident {n}", team=team_a, assignee=teammate if n % 2 else None)
        _run(job, RunState.SCHEDULED, hours_ago=0.3, late_start=True)
        _run(job, RunState.MISSED, hours_ago=4)
        _run(job, RunState.SUCCEEDED, hours_ago=6, ended_at=_now() - timedelta(hours=5))
        running = _run(job, RunState.RUNNING, hours_ago=0.1, started_at=_now())
        slo = SLO.objects.create(
            slug=f"by-6-{n}", name=f"By 06:00 {n}", kind=SLO.Kind.DEADLINE, job=job,
            objective="0.95", deadline_time=time(6, 0), deadline_timezone="UTC",
        )  # fmt: skip
        Signal.objects.create(
            kind=Signal.Kind.PREDICTED_MISS, severity=Signal.Severity.WARNING, job=job,
            run=running, summary="predicted late", labels={"slo": slo.slug},
            dedup_key=f"pm-{n}", created_at=_now(),
        )  # fmt: skip
        SLOState.objects.create(slo=slo, job=job, status="warning", burn_rates={"3_runs": n})
    for n in range(3):
        rotation = Rotation.objects.create(slug=f"r{n}", name=f"R{n}", team=team_a)
        layer_save(rotation=rotation, participants=[teammate, make_user(f"p{n}")],
                   start_date=date(2026, 1, 1), handoff_time=time(9, 0),
                   turn_length=timedelta(days=1))  # fmt: skip


def test_no_query_per_incident_run_or_rotation(
    client, teammate, crowd, django_assert_max_num_queries
):
    client.force_login(teammate)
    # Session, user, memberships, teams; on call 6; paging 3; runs 4, at risk 2; incidents;
    # SLOs; the page alone: who a page would not wake (1): the same whatever the number of
    # incidents, runs, rotations and SLOs.
    with django_assert_max_num_queries(22):
        page = client.get("/now/").content.decode()
    # The first 25 incidents are listed, the other 5 counted and linked.
    assert page.count("now-incident-title") == 25
    assert ">30</span>" in page and "5 more waiting</a>" in page
    assert page.count('class="now-run ') == 90
    assert page.count('class="now-slo"') == 5
    with django_assert_max_num_queries(21):
        assert client.get("/now/board/").status_code == 200


def _paged_team(n: int, person) -> None:
    """Team ``n`` with a rotation, an unacknowledged incident, a missed and an on-time run."""
    team = catalog.team_create(slug=f"t{n}", name=f"Team {n}")
    job = catalog.job_create(engine="dbt", namespace="prod", name=f"m{n}", owner_team=team)
    _incident(f"Incident {n}", team=team)
    _run(job, RunState.MISSED, hours_ago=2)
    _run(job, RunState.SUCCEEDED, hours_ago=3, ended_at=_now() - timedelta(hours=2))
    rotation = Rotation.objects.create(slug=f"rot{n}", name=f"Rot {n}", team=team)
    layer_save(rotation=rotation, participants=[person], start_date=date(2026, 1, 1),
               handoff_time=time(9, 0), turn_length=timedelta(days=1))  # fmt: skip


def test_staff_read_every_team_in_a_number_of_queries_that_does_not_grow(
    client, admin, world, make_user, django_assert_max_num_queries
):
    client.force_login(admin)
    _paged_team(0, make_user("u0"))
    with CaptureQueriesContext(connection) as few:
        assert client.get("/now/").status_code == 200
    for n in range(1, 9):
        _paged_team(n, make_user(f"u{n}"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get("/now/").content.decode()
    assert page.count("now-incident-title") == 3 + 9 and 'href="/teams/t8/"' in page
    assert 'href="/rotations/rot8/"' in page and 'href="/teams/t8/settings/"' in page


def test_the_api_in_a_fixed_number_of_queries(
    teammate, crowd, api_as, django_assert_max_num_queries
):
    client = api_as(teammate)
    with django_assert_max_num_queries(21):
        data = client.get("/api/v1/now/").json()
    assert data["unacknowledged_count"] == 30 and len(data["runs"]) == 90
    assert data["on_time_jobs"] == 30


# The API, persona by persona.


def _api(user) -> dict:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/v1/now/")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(
    ("persona", "incidents", "teams"),
    [
        ("owner", {"Ledger close failed"}, ["ledger"]),
        ("teammate", {"Ledger close failed"}, ["ledger"]),
        ("outsider", {"Risk scoring failed"}, ["risk"]),
        ("admin", {"Ledger close failed", "Risk scoring failed", "Nobody's alert"},
         ["risk", "ledger"]),
    ],
)  # fmt: skip
def test_api_per_persona(request, world, persona, incidents, teams):
    user = request.getfixturevalue(persona)
    data = _api(user)
    assert data["user"] == user.username
    assert data["all_teams"] is (persona == "admin")
    assert sorted(data["teams"]) == sorted(teams)
    assert {i["title"] for i in data["incidents"]} == incidents
    assert data["unacknowledged_count"] == len(incidents)
    run_teams = {r["team"] for r in data["runs"]}
    assert run_teams == set(teams)
    for row in data["incidents"]:
        assert row["url"] == f"/incidents/{row['id']}/" and row["age_seconds"] >= 590


def test_api_with_a_token(api_as, teammate, world):
    response = api_as(teammate).get("/api/v1/now/")
    assert response.status_code == 200
    assert [i["title"] for i in response.json()["incidents"]] == ["Ledger close failed"]


def test_api_is_in_the_schema(client, db):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/now/"]["get"]
    assert operation["summary"] == "What needs me now"
    assert "200" in operation["responses"]


def test_staff_see_twenty_rotations_and_teams_that_cannot_be_paged_and_the_rest_counted(
    client, admin, make_user
):
    client.force_login(admin)
    for n in range(23):
        _paged_team(n, make_user(f"u{n}"))
    page = client.get("/now/").content.decode()
    assert page.count('href="/rotations/rot') == 20
    assert "3 more rotations</a>" in page and 'href="/rotations/"' in page
    assert page.count('class="now-gap"') == 20 and "and 3 more teams" in page
    # The JSON board carries them all.
    board = client.get("/api/v1/now/").json()
    assert len(board["oncall"]) == 23
