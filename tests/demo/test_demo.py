from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils.html import escape

from batchwatch.alerts.from_signals import signals_route
from batchwatch.alerts.models import Incident
from batchwatch.alerts.services import timers_run_due
from batchwatch.catalog.models import Engine, Job, JobDependency
from batchwatch.demo import inbox
from batchwatch.demo.engines import FAILURES
from batchwatch.demo.incidents import CURRENT_JOB
from batchwatch.demo.live import demo_runs_tick
from batchwatch.demo.loader import load_demo_catalog
from batchwatch.demo.models import InboxMessage
from batchwatch.notify.models import Notification
from batchwatch.notify.services import deliver_due
from batchwatch.runs.models import Run, RunState, Signal, Span
from batchwatch.slo.services import evaluate_all


def test_demo_catalog_covers_every_engine_and_is_idempotent(db, capsys):
    call_command("load_demo")
    first = set(Job.objects.values_list("key", "owner_team__slug", "schedule_cron"))
    edges = JobDependency.objects.count()
    runs = Run.objects.count()
    incidents = set(Incident.objects.values_list("pk", "state"))
    call_command("load_demo")
    assert set(Job.objects.values_list("key", "owner_team__slug", "schedule_cron")) == first
    assert JobDependency.objects.count() == edges > 10
    assert set(Job.objects.values_list("engine", flat=True)) == set(Engine.values)
    assert 20 <= Job.objects.count() <= 30
    # Loading again within minutes adds no runs and no incidents.
    assert Run.objects.count() == runs
    assert set(Incident.objects.values_list("pk", "state")) == incidents
    out = capsys.readouterr().out
    assert "Log in at http://127.0.0.1:8000/login/ as 'admin'" in out


def test_demo_refuses_production_without_force(db, settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="Refusing to load demo"):
        call_command("load_demo")


@pytest.fixture
def demo(db):
    return load_demo_catalog()


def test_one_current_incident_the_others_resolved_history(demo):
    now = datetime.now(UTC)
    current = Incident.objects.exclude(state=Incident.State.RESOLVED)
    assert current.count() == 1
    incident = current.get()
    assert demo.incident == incident
    assert incident.state == Incident.State.TRIGGERED
    assert CURRENT_JOB in incident.title and "WorkflowExecutionFailed" in incident.title
    alert = incident.alerts.get()
    assert now - alert.starts_at < timedelta(hours=1)
    # Its run is traced: the incident's links lead to the failing activity.
    run = Run.objects.filter(job__key=CURRENT_JOB, state=RunState.FAILED).latest("scheduled_at")
    assert run.trace_id and Span.objects.filter(trace_id=run.trace_id, status_code=2).exists()
    # The history's latest failures were incidents too, paged, acknowledged and resolved
    # when their re-run succeeded, days ago.
    history = Incident.objects.filter(state=Incident.State.RESOLVED)
    assert history.count() >= 3
    for old in history:
        assert old.resolved_at is not None and now - old.resolved_at > timedelta(hours=6)
    assert history.filter(acknowledged_by__isnull=False).exists()


def test_failure_reasons_match_the_engines(demo):
    failed = list(Run.objects.filter(state=RunState.FAILED).select_related("job"))
    engines = {run.job.engine for run in failed}
    assert {"spark", "airflow", "dbt", "temporal", "flyte", "flink"} <= engines
    for run in failed:
        assert run.failure_reason in FAILURES[run.job.engine], (run.job.key, run.failure_reason)
        if run.job.engine != "spark":
            assert "Executor" not in run.failure_reason and "OutOfMemory" not in run.failure_reason


def test_each_engine_has_traced_runs(demo):
    traced = Run.objects.exclude(trace_id="").select_related("job")
    spans = set(Span.objects.values_list("trace_id", flat=True))
    engines = {run.job.engine for run in traced if run.trace_id in spans}
    with_runs = set(Run.objects.values_list("job__engine", flat=True))
    assert engines == with_runs
    # A failed traced run's last step carries the error.
    run = traced.filter(state=RunState.FAILED).first()
    assert run is not None
    assert Span.objects.filter(trace_id=run.trace_id, status_code=2).count() >= 2


def _serve_for(start: datetime, seconds: int, tick: int = 15) -> None:
    """What the embedded scheduler does, every ``tick`` seconds for ``seconds``."""
    for offset in range(0, seconds + 1, tick):
        now = start + timedelta(seconds=offset)
        demo_runs_tick(now)
        signals_route(now=now)
        evaluate_all(now)
        timers_run_due(now=now)
        deliver_due(now=now)


def test_the_demo_pages_one_person_into_the_inbox_and_no_storm(demo):
    before = Notification.objects.count()
    history = InboxMessage.objects.count()
    assert history == before > 0  # the replayed history's pages are in the inbox too
    start = datetime.now(UTC)
    with inbox.capture():
        _serve_for(start, 120)
    sent = Notification.objects.count() - before
    # Two minutes of the demo: the current incident's first page and its channel notice.
    assert 1 <= sent <= 4, sent
    assert mail.outbox == []  # nothing e-mailed for real
    pages = InboxMessage.objects.filter(purpose="page")
    page = pages.filter(incident_id=demo.incident.pk).get()
    assert page.transport == "email" and page.address.endswith("@example.com")
    assert "disbursement_reconciliation" in page.subject
    # An hour: the escalation goes on, but a handful of messages, not dozens.
    with inbox.capture():
        _serve_for(start + timedelta(seconds=135), 3600, tick=60)
    assert Notification.objects.count() - before <= 12


def test_outside_the_demo_pages_are_sent_as_configured(demo):
    """The inbox is on only in a process serving the demo: here, e-mail is sent."""
    assert not inbox.is_active()
    _serve_for(datetime.now(UTC), 60)
    assert len(mail.outbox) == 1
    assert not InboxMessage.objects.filter(incident_id=demo.incident.pk).exists()


def test_served_the_demo_jobs_run_on_schedule_and_nothing_is_late(demo):
    start = datetime.now(UTC)
    later = start + timedelta(minutes=45)
    assert demo_runs_tick(later) >= 1  # partner_leads_sync runs every 30 minutes, at least
    assert demo_runs_tick(later) == 0  # recorded once
    evaluate_all(later)
    late = Signal.objects.filter(kind__in=[Signal.Kind.LATE_START, Signal.Kind.MISSED])
    assert not late.filter(created_at__gt=start).exists()


def test_a_traced_run_page_shows_its_waterfall(client, demo):
    run = Run.objects.exclude(trace_id="").filter(state=RunState.FAILED).first()
    assert run is not None
    client.force_login(User.objects.get(username="alice"))
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert escape(run.failure_reason[:40]) in page
    step = Span.objects.filter(trace_id=run.trace_id).exclude(parent_span_id="").first()
    assert step is not None and escape(step.name) in page
