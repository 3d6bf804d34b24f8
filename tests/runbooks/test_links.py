"""Every alert kind's incident links an existing runbook, rendered with that incident's values;
selection prefers the most specific runbook; a job can override; runbook HTML is inert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from batchwatch.alerts.from_signals import signals_route
from batchwatch.alerts.models import Incident
from batchwatch.catalog.models import Job
from batchwatch.runbooks.models import Runbook
from batchwatch.runbooks.rendering import render
from batchwatch.runbooks.selectors import incident_runbook, runbook_for
from batchwatch.runbooks.services import runbooks_sync
from batchwatch.runs.ledger import signal_build, signals_emit
from batchwatch.runs.models import Run, RunSource, RunState, Signal

REPO_RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
EXPECTED = {
    # kind: (engine, failure reason, the runbook chosen)
    "missed": ("airflow", "", "airflow-run-missed"),
    "late_start": ("airflow", "", "airflow-stuck-queued"),
    "overran": ("spark", "", "spark-data-skew"),
    "too_fast": ("spark", "", "job-too-fast"),
    "failed": ("spark", "java.lang.OutOfMemoryError: Java heap space", "spark-executor-oom"),
    "retried": ("flink", "TaskManager lost", "flink-restart-loop"),
    "slo": ("dbt", "", "slo-burn"),
    "predicted_miss": ("dbt", "", "predicted-deadline-miss"),
}


@pytest.fixture
def synced(db):
    report = runbooks_sync(now=NOW, directory=REPO_RUNBOOKS)
    assert not [p for p in report.problems if p.level == "error"]
    return report


def _incident_for(kind: str, team) -> tuple[Incident, Run, Job]:
    engine, reason, _ = EXPECTED[kind]
    job = Job.objects.create(engine=engine, namespace="prod", name=f"{kind}_job", owner_team=team)
    run = Run.objects.create(
        job=job,
        external_id=f"{kind}-2026-11-21",
        state=RunState.FAILED if reason else RunState.RUNNING,
        source=RunSource.OTLP,
        started_at=NOW - timedelta(hours=1),
        failure_reason=reason,
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    )
    signal = signal_build(
        run=None if kind == "slo" else run,
        job=job,
        kind=kind,
        severity=Signal.Severity.CRITICAL,
        summary=f"{job.key}: {kind}",
        now=NOW,
        key_suffix="ledger-close:breached:1" if kind == "slo" else "",
        extra_labels={"slo": "ledger-close"} if kind in ("slo", "predicted_miss") else None,
    )
    signals_emit([signal])
    signals_route(now=NOW)
    incident = Incident.objects.get(memberships__alert__labels__job=job.key)
    return incident, run, job


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_alert_kind_links_a_runbook_rendered_with_the_incidents_values(
    kind, synced, team_a, route_tree, client, people
):
    incident, run, job = _incident_for(kind, team_a)
    runbook = incident_runbook(incident)
    assert runbook is not None and runbook.slug == EXPECTED[kind][2]

    client.force_login(people["alice"])
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    link = f"/runbooks/{runbook.slug}/?incident={incident.pk}"
    assert link in page and runbook.title in page  # shown on the incident page

    response = client.get(f"/runbooks/for/?incident={incident.pk}")
    assert response.status_code == 302 and response["Location"] == link
    rendered = client.get(link).content.decode()
    assert job.key in rendered  # {{ job }}
    if kind != "slo":
        assert f"/runs/{run.pk}/" in rendered or run.external_id in rendered  # {{ run }}
    else:
        assert "ledger-close" in rendered  # {{ slo }}
    assert "{{" not in rendered
    assert 'href="—"' not in rendered and '.md"' not in rendered


def test_the_signal_link_resolves_too(synced, team_a, route_tree, client, people):
    _, run, _ = _incident_for("failed", team_a)
    signal = Signal.objects.get(kind="failed")
    client.force_login(people["alice"])
    response = client.get(signal.links["runbook"].split("8000", 1)[-1])
    assert response["Location"] == f"/runbooks/spark-executor-oom/?run={run.pk}"


def test_lineage_attached_alerts_get_the_upstream_runbook(synced):
    assert runbook_for({"engine": "spark"}, kind="upstream_late").slug == "upstream-data-late"


def test_external_alerts_by_alertname(synced):
    assert runbook_for({"alertname": "KafkaConsumerLag"}).slug == "kafka-consumer-lag"
    assert runbook_for({"alertname": "BatchwatchOutboxStuck"}).slug == "platform-stuck-outbox"
    assert runbook_for({"alertname": "BatchSLOBurnRatePage", "slo": "x"}).slug == "slo-burn"
    assert runbook_for({"alertname": "SomethingElse"}) is None


def test_generic_runbook_when_nothing_more_specific_matches(synced):
    assert runbook_for({"kind": "failed", "engine": "spark"}).slug == "job-failed"
    reason = "org.apache.spark.shuffle.FetchFailedException: Failed to connect"
    assert (
        runbook_for({"kind": "failed", "engine": "spark"}, failure_reason=reason).slug
        == "spark-shuffle-fetch-failure"
    )


def test_a_job_can_override_the_choice(synced, team_a):
    job = Job.objects.create(
        engine="spark", namespace="prod", name="special", owner_team=team_a, runbook="job-retried"
    )
    assert runbook_for({"kind": "failed"}, job=job).slug == "job-retried"
    job.runbook = "no-such-runbook"  # a dangling override falls back to the automatic choice
    assert runbook_for({"kind": "failed"}, job=job).slug == "job-failed"


def test_links_between_runbooks_keep_the_context():
    html = render(
        "See [OOM](spark-executor-oom.md) and [x]({{ trace_url }})", {}, link_query="?run=3"
    )
    assert 'href="/runbooks/spark-executor-oom/?run=3"' in html
    assert 'href="#"' in html


def test_runbook_html_is_sanitised():
    body = (
        "## Symptoms\n<script>alert('x')</script>\n"
        '[click me](javascript:alert(1)) <a href="javascript:alert(2)">raw</a>\n'
        '<img src=x onerror=alert(3)> <b onclick="alert(4)">bold</b>\n'
        "Reason: {{ failure_reason }}\n"
    )
    html = render(body, {"failure_reason": "<script>alert(5)</script>"})
    assert "<script" not in html
    assert "javascript:" not in html
    assert "onerror" not in html and "onclick" not in html
    assert "&lt;script&gt;alert(5)" in html  # a value is text, never markup
    assert "<b>bold</b>" in html and "<h2" in html  # harmless markup survives


def test_a_malicious_runbook_page_renders_inert(db, client, people, tmp_path):
    text = (REPO_RUNBOOKS / "job-failed.md").read_text()
    text = text.replace("## Impact", "<script>steal()</script>\n[x](javascript:steal())\n## Impact")
    (tmp_path / "job-failed.md").write_text(text)
    runbooks_sync(now=NOW, directory=tmp_path)
    client.force_login(people["alice"])
    page = client.get("/runbooks/job-failed/").content.decode()
    article = page.split("<article", 1)[1].split("</article>", 1)[0]
    assert "<script" not in article and "javascript:" not in article
    assert "Batch job failed" in page  # the rest of the runbook is there


def test_list_search_and_empty_states(synced, client, people):
    client.force_login(people["alice"])
    page = client.get("/runbooks/").content.decode()
    assert page.count('href="/runbooks/') >= 20
    found = client.get("/runbooks/?q=checkpoint").content.decode()
    assert "Flink checkpoints failing" in found and "Spark data skew" not in found
    assert "Airflow DAG run missed" in client.get("/runbooks/?kind=missed").content.decode()
    assert "No runbook matches" in client.get("/runbooks/?q=zzzz").content.decode()
    assert client.get("/runbooks/nope/").status_code == 404


def test_sync_creates_updates_removes_and_keeps_a_broken_files_row(db, tmp_path):
    for name in ("job-failed.md", "job-retried.md"):
        (tmp_path / name).write_text((REPO_RUNBOOKS / name).read_text())
    first = runbooks_sync(now=NOW, directory=tmp_path)
    assert sorted(first.created) == ["job-failed", "job-retried"]
    again = runbooks_sync(now=NOW, directory=tmp_path)
    assert again.unchanged == 2 and not again.created and not again.updated
    (tmp_path / "job-retried.md").unlink()
    broken = (tmp_path / "job-failed.md").read_text().replace("owner: data-platform\n", "")
    (tmp_path / "job-failed.md").write_text(broken)
    third = runbooks_sync(now=NOW, directory=tmp_path)
    assert third.removed == ["job-retried"]
    assert Runbook.objects.filter(slug="job-failed").exists()  # kept while its file is broken
    assert any("missing required field 'owner'" in str(p) for p in third.problems)
