"""The incident page as the hub: links per alert (job, run, trace, dashboard, the engine's UI),
when the run failed and when it was noticed, runs since, lineage both ways, the runbook's first
steps, who was paged, notes, keyboard shortcuts, confirmations, the reassign list's order; its
reads in a fixed number of queries; who may see it and act on it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batchwatch.alerts.from_signals import signals_route
from batchwatch.alerts.models import Incident, TimelineEntry
from batchwatch.alerts.selectors_hub import engine_link
from batchwatch.catalog.models import Job, JobDependency
from batchwatch.notify.models import Channel, Notification
from batchwatch.runbooks.services import runbooks_sync
from batchwatch.runs.ledger import signal_build, signals_emit
from batchwatch.runs.models import Run, RunSource, RunState, Signal
from batchwatch.web.incident_hub import first_steps, runbook_sections

REPO_RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
NOW = datetime.now(UTC).replace(microsecond=0)
FAILED_AT = NOW - timedelta(hours=3)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _job(team, name: str, engine: str = "spark") -> Job:
    return Job.objects.create(engine=engine, namespace="prod", name=name, owner_team=team)


def _failed_run(job: Job, external_id: str, *, ended_at: datetime = FAILED_AT) -> Run:
    return Run.objects.create(
        job=job,
        external_id=external_id,
        state=RunState.FAILED,
        source=RunSource.OTLP,
        started_at=ended_at - timedelta(minutes=20),
        ended_at=ended_at,
        failure_reason="java.lang.OutOfMemoryError: Java heap space",
        trace_id=TRACE,
    )


def _signal_incident(job: Job, runs: list[Run], *, at: datetime = NOW) -> Incident:
    """The incident our own failure signals open for ``runs`` (one alert per run)."""
    signals_emit(
        [
            signal_build(
                run=run,
                job=job,
                kind=Signal.Kind.FAILED,
                severity=Signal.Severity.CRITICAL,
                summary=f"{job.key}: run {run.external_id} failed",
                now=at - timedelta(minutes=1),
            )
            for run in runs
        ]
    )
    signals_route(now=at)
    return Incident.objects.filter(memberships__alert__labels__job=job.key).distinct().get()


@pytest.fixture
def spark_job(team_a):
    return _job(team_a, "ledger_close")


@pytest.fixture
def incident(spark_job, route_tree):
    return _signal_incident(spark_job, [_failed_run(spark_job, "app-20261124-0001")])


def _page(client, user, incident) -> str:
    client.force_login(user)
    response = client.get(f"/incidents/{incident.pk}/")
    assert response.status_code == 200
    return response.content.decode()


# --- What the page shows --------------------------------------------------------------------


def test_each_alert_links_its_job_run_trace_dashboard_and_engine_ui(
    client, teammate, incident, spark_job, settings
):
    settings.BATCHWATCH_SPARK_HISTORY_URL = "https://spark-history.example.com/"
    settings.GRAFANA_URL = "https://grafana.example.com"
    run = Run.objects.get(job=spark_job)
    page = _page(client, teammate, incident)
    assert f'href="/jobs/{spark_job.pk}/"' in page
    assert f'href="/runs/{run.pk}/"' in page
    assert f'href="/runs/{run.pk}/#trace"' in page
    assert 'href="https://grafana.example.com/d/bw-job-spark-prod-ledger_close"' in page
    assert 'href="https://spark-history.example.com/history/app-20261124-0001/"' in page
    assert "Spark history" in page


def test_without_engine_urls_there_is_no_engine_link(client, teammate, incident, settings):
    settings.BATCHWATCH_SPARK_HISTORY_URL = ""
    assert "Spark history" not in _page(client, teammate, incident)


def test_the_run_page_has_the_trace_anchor(client, teammate, incident, spark_job):
    run = Run.objects.get(job=spark_job)
    client.force_login(teammate)
    assert 'id="trace"' in client.get(f"/runs/{run.pk}/").content.decode()


def test_engine_links_for_flink_and_airflow(team_a, settings):
    settings.BATCHWATCH_FLINK_UI_URL = "https://flink.example.com"
    settings.BATCHWATCH_AIRFLOW_URL = "https://airflow.example.com/"
    flink = Job(engine="flink", namespace="prod", name="payments_stream", owner_team=team_a)
    running = Run(job=flink, external_id="a1b2c3", state=RunState.RUNNING)
    assert engine_link(flink, running).url == (
        "https://flink.example.com/#/job/running/a1b2c3/overview"
    )
    dag = Job(engine="airflow", namespace="prod", name="ledger_nightly", owner_team=team_a)
    run = Run(job=dag, external_id="scheduled__2026-11-24T02:00:00+00:00")
    assert engine_link(dag, run).url == (
        "https://airflow.example.com/dags/ledger_nightly/grid?"
        "dag_run_id=scheduled__2026-11-24T02%3A00%3A00%2B00%3A00"
    )
    task = Job(engine="airflow", namespace="prod", name="ledger_nightly.load", owner_team=team_a)
    task_run = Run(
        job=task,
        external_id="manual__1[3]",
        parent_ref="airflow:prod/ledger_nightly#manual__1",
    )
    assert engine_link(task, task_run).url == (
        "https://airflow.example.com/dags/ledger_nightly/grid?dag_run_id=manual__1&task_id=load"
    )
    assert engine_link(dag, None).url == "https://airflow.example.com/dags/ledger_nightly/grid"
    settings.BATCHWATCH_AIRFLOW_URL = ""
    assert engine_link(dag, run) is None


def test_when_it_failed_and_when_it_was_noticed_with_relative_times(client, teammate, incident):
    page = _page(client, teammate, incident)
    assert f'failed <time datetime="{FAILED_AT.isoformat()}">' in page
    assert f"{FAILED_AT:%b} {FAILED_AT.day}, {FAILED_AT:%H:%M} UTC</time>, 3" in page
    # A long run of the suite moves the clock on from NOW: "3 hours, 2 minutes ago" is right.
    assert re.search(r"UTC</time>, 3\s+hours(,\s+\d+\s+minutes?)? ago", page), page
    assert "noticed" in page
    assert not re.search(r"Since \d", page)  # the bare "Since 07:26:25" is gone


def test_the_group_key_is_shown_as_label_chips(client, teammate, incident, spark_job):
    page = _page(client, teammate, incident)
    assert '<span class="chip">alertname=BatchJobFailed</span>' in page
    assert f'<span class="chip">job={spark_job.key}</span>' in page
    assert '<code class="wrap">' not in page


def test_runs_since_the_failure_say_probably_recovered_and_offer_resolve(
    client, teammate, incident, spark_job
):
    page = _page(client, teammate, incident)
    assert "no run since" in page and "probably recovered" not in page
    for i in range(3):
        Run.objects.create(
            job=spark_job,
            external_id=f"app-later-{i}",
            state=RunState.SUCCEEDED,
            source=RunSource.OTLP,
            started_at=FAILED_AT + timedelta(hours=1, minutes=i),
            ended_at=FAILED_AT + timedelta(hours=1, minutes=i + 1),
        )
    page = _page(client, teammate, incident)
    assert "3 successes since — probably recovered" in page
    assert 'class="flash recovered"' in page and 'value="resolve" class="primary"' in page


def test_downstream_jobs_and_upstream_incidents(client, teammate, team_a, team_b, route_tree):
    raw = _job(team_b, "raw_ingest")
    middle = _job(team_a, "ledger_close")
    report = _job(team_b, "risk_report")
    JobDependency.objects.create(upstream=raw, downstream=middle)
    JobDependency.objects.create(upstream=middle, downstream=report)
    JobDependency.objects.create(
        upstream=middle, downstream=report, source=JobDependency.Source.OBSERVED
    )
    upstream = _signal_incident(raw, [_failed_run(raw, "app-raw")])
    incident = _signal_incident(middle, [_failed_run(middle, "app-middle")])
    page = _page(client, teammate, incident)
    assert "Downstream, waiting" in page and page.count(report.key) == 1
    assert "Upstream incidents" in page
    assert f'href="/incidents/{upstream.pk}/"' in page and raw.key in page


def test_the_runbooks_first_steps_inline_with_a_link_to_the_whole(
    client, teammate, incident, spark_job
):
    runbooks_sync(now=NOW, directory=REPO_RUNBOOKS)
    page = _page(client, teammate, incident)
    assert "<h3>Diagnosis</h3>" in page
    assert "The full runbook →" in page
    assert f"/runbooks/spark-executor-oom/?incident={incident.pk}" in page
    # Rendered with the incident's values.
    steps = page.split('class="runbook first-steps"')[1].split("</div>")[0]
    assert f"/jobs/{spark_job.pk}/" in steps


def test_first_steps_prefer_a_named_section_then_a_numbered_list(incident):
    body = "## Symptoms\n\nbad\n\n## Checks\n\n1. look\n2. fix\n"
    assert [h for h, _ in runbook_sections(body)] == ["Symptoms", "Checks"]

    class Book:
        pass

    book = Book()
    book.body = body
    steps = first_steps(book, incident)
    assert steps.heading == "Checks" and "<li>look</li>" in steps.html
    book.body = "## Symptoms\n\nbad\n\n## First steps\n\nlook <script>x()</script>\n"
    steps = first_steps(book, incident)
    assert steps.heading == "First steps" and "<script>" not in steps.html


def test_who_was_paged_when_how_and_whether_it_arrived(client, teammate, incident, people):
    channel = Channel.objects.get(name="ledger-hook")
    common = {"incident": incident, "subject": "x", "next_attempt_at": NOW}
    Notification.objects.create(
        purpose=Notification.Purpose.PAGE,
        transport=Notification.Transport.EMAIL,
        address="alice@example.com",
        user=people["alice"],
        idempotency_key="hub-1",
        state=Notification.State.DELIVERED,
        attempts=1,
        created_at=NOW - timedelta(minutes=5),
        delivered_at=NOW - timedelta(minutes=4),
        **common,
    )
    Notification.objects.create(
        purpose=Notification.Purpose.GROUP,
        transport=Notification.Transport.WEBHOOK,
        address="https://hooks.example.com/x",
        channel=channel,
        idempotency_key="hub-2",
        state=Notification.State.FAILED,
        attempts=12,
        last_error="HTTP 410 Gone",
        created_at=NOW - timedelta(minutes=3),
        **common,
    )
    page = _page(client, teammate, incident)
    section = page.split('id="paged"')[1].split("</section>")[0]
    assert "alice" in section and "E-mail" in section and "Page (escalation step)" in section
    assert "delivered" in section
    assert "ledger-hook" in section and "failed permanently: HTTP 410 Gone" in section


def test_a_note_goes_on_the_timeline_with_a_confirmation(client, teammate, incident):
    client.force_login(teammate)
    response = client.post(
        f"/incidents/{incident.pk}/act",
        {"action": "note", "text": "Restarted the cluster, <b>watching</b>"},
        follow=True,
    )
    page = response.content.decode()
    assert "Note added to the timeline." in page
    assert "Restarted the cluster, &lt;b&gt;watching&lt;/b&gt;" in page
    assert TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.NOTE).exists()
    response = client.post(f"/incidents/{incident.pk}/act", {"action": "note", "text": " "})
    assert "A note needs some text." in client.get(f"/incidents/{incident.pk}/").content.decode()


def test_keyboard_shortcuts_are_a_static_script_and_a_help_line(client, teammate, incident):
    page = _page(client, teammate, incident)
    assert '<script src="/static/batchwatch/incident.js" defer></script>' in page
    assert "<script>" not in page and "onclick" not in page
    for key in ("a", "r", "e", "s"):
        assert f'data-key="{key}"' in page
    assert 'id="note-text"' in page
    assert "<kbd>a</kbd> acknowledge" in page and "<kbd>n</kbd> note" in page
    silence = page.split('id="silence-link" href="')[1].split('"')[0]
    assert silence.startswith("/silences/?matcher=") and "team=ledger" in silence
    static = Path(__file__).resolve().parents[2] / "platform/batchwatch/web/static/batchwatch"
    assert "keydown" in (static / "incident.js").read_text()


def test_every_action_confirms(client, teammate, incident, people):
    client.force_login(teammate)
    url = f"/incidents/{incident.pk}/act"

    def act(**data) -> str:
        return client.post(url, data, follow=True).content.decode()

    assert "Acknowledged: the escalation stopped" in act(action="acknowledge")
    assert "Snoozed until" in act(action="snooze-30m")
    assert "Escalated" in act(action="escalate")
    assert "Assigned to bob; they were notified." in act(action="reassign", user="bob")
    page = act(action="resolve")
    assert "still fire" in page and "Resolve anyway" in page
    incident.refresh_from_db()
    assert incident.state != Incident.State.RESOLVED
    assert "Resolved." in act(action="resolve", force="1")
    assert "Reopened" in act(action="reopen", reason="it failed again")
    incident.refresh_from_db()
    assert incident.state == Incident.State.TRIGGERED


def test_the_reassign_list_offers_the_on_call_then_the_team_then_others(
    client, teammate, incident, make_user
):
    make_user("aaron")  # first by name, but outside the team
    page = _page(client, teammate, incident)
    select = page.split('name="user"')[1].split("</select>")[0]
    assert select.index("On call now") < select.index("Ledger") < select.index("Others")
    assert select.index("aaron") > select.index("bob")


# --- Queries ----------------------------------------------------------------------------------


def test_the_page_reads_in_a_fixed_number_of_queries(
    client, teammate, spark_job, team_a, route_tree, django_assert_max_num_queries
):
    runs = [
        _failed_run(spark_job, f"app-{i}", ended_at=FAILED_AT + timedelta(minutes=i))
        for i in range(2)
    ]
    incident = _signal_incident(spark_job, runs)
    for i in range(3):
        JobDependency.objects.create(upstream=spark_job, downstream=_job(team_a, f"down_{i}"))
    client.force_login(teammate)
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"/incidents/{incident.pk}/").status_code == 200
    more = [
        _failed_run(spark_job, f"app-more-{i}", ended_at=FAILED_AT + timedelta(minutes=10 + i))
        for i in range(25)
    ]
    _signal_incident(spark_job, more)
    assert incident.memberships.count() == 27
    for i in range(3, 10):
        JobDependency.objects.create(upstream=spark_job, downstream=_job(team_a, f"down_{i}"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert page.count("app-more-") >= 25


# --- Who may see and act --------------------------------------------------------------------

ACTIONS = {
    "acknowledge": {},
    "resolve": {"force": "1"},
    "escalate": {},
    "snooze-1h": {},
    "reassign": {"user": "bob"},
    "note": {"text": "looking"},
    "reopen": {},
}


@pytest.fixture
def persona(request, admin, owner, teammate, outsider):
    return {"staff": admin, "owner": owner, "member": teammate, "outsider": outsider}[request.param]


@pytest.mark.parametrize("persona", ["staff", "owner", "member", "outsider"], indirect=True)
def test_who_sees_the_page(client, persona, incident, outsider):
    client.force_login(persona)
    response = client.get(f"/incidents/{incident.pk}/")
    if persona == outsider:
        assert response.status_code == 404
        assert incident.title not in response.content.decode()
    else:
        assert response.status_code == 200


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("persona", ["staff", "owner", "member", "outsider"], indirect=True)
def test_who_acts(client, persona, incident, outsider, people, action):
    if action == "reopen":
        incident.state = Incident.State.RESOLVED
        incident.open_group_key = None
        incident.resolved_at = NOW
        incident.save()
    before = TimelineEntry.objects.filter(incident=incident).count()
    client.force_login(persona)
    response = client.post(f"/incidents/{incident.pk}/act", {"action": action, **ACTIONS[action]})
    after = TimelineEntry.objects.filter(incident=incident).count()
    if persona == outsider:
        assert response.status_code == 404
        assert after == before
    else:
        assert response.status_code == 302
        assert after > before


def test_someone_it_paged_from_outside_the_team_sees_it_but_cannot_act(client, incident, outsider):
    Notification.objects.create(
        purpose=Notification.Purpose.PAGE,
        transport=Notification.Transport.EMAIL,
        address="oscar@example.com",
        user=outsider,
        idempotency_key="hub-paged",
        incident=incident,
        subject="x",
        created_at=NOW,
        next_attempt_at=NOW,
    )
    page = _page(client, outsider, incident)
    assert 'value="acknowledge"' not in page
    response = client.post(f"/incidents/{incident.pk}/act", {"action": "acknowledge"}, follow=True)
    assert "Only the owning team" in response.content.decode()
    incident.refresh_from_db()
    assert incident.state == Incident.State.TRIGGERED


# --- The API ----------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["staff", "owner", "member", "outsider"], indirect=True)
def test_the_hub_api_per_persona(api_as, persona, incident, outsider, spark_job, settings):
    settings.BATCHWATCH_SPARK_HISTORY_URL = "https://spark-history.example.com"
    response = api_as(persona).get(f"/api/v1/incidents/{incident.pk}/hub/")
    if persona == outsider:
        assert response.status_code == 404
        return
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == incident.pk and body["url"] == f"/incidents/{incident.pk}/"
    (alert,) = body["alerts"]
    run = Run.objects.get(job=spark_job)
    assert alert["job"] == {
        "id": spark_job.pk,
        "key": spark_job.key,
        "url": f"/jobs/{spark_job.pk}/",
    }
    assert alert["run"]["url"] == f"/runs/{run.pk}/"
    assert alert["run"]["trace_url"] == f"/runs/{run.pk}/#trace"
    assert alert["engine_ui"]["url"].endswith("/history/app-20261124-0001/")
    assert alert["happened"] == "failed"
    assert alert["runs_since"]["probably_recovered"] is False
    assert body["silence_url"].startswith("/silences/?matcher=")


def test_the_hub_api_refuses_anonymous_and_unknown_ids(api_as, teammate, incident):
    assert api_as().get(f"/api/v1/incidents/{incident.pk}/hub/").status_code in (401, 403)
    for bad in ("999999", "99999999999999999999999", "x"):
        assert api_as(teammate).get(f"/api/v1/incidents/{bad}/hub/").status_code == 404
