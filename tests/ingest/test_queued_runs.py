"""Queued ingest (``BATCHWATCH_INGEST_RUNS=queued``): an OTLP request stores its spans and
queues what it says about runs; the drain converges them in order, to the same runs as
inline ingest, whatever order and however many requests the spans came in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from batchwatch.core.models import QuarantinedItem
from batchwatch.ingest import pipeline
from batchwatch.ingest.models import RunReportBatch
from batchwatch.ingest.services import run_reports_prune, runs_drain
from batchwatch.runs.models import Run, Span
from batchwatch.runs.observations import (
    RunObservation,
    observation_from_record,
    observation_record,
)
from tests.ingest.helpers import PROTOBUF, one_request_per_span, sample
from tests.ingest.test_otlp_samples import AIRFLOW_FAIL, AIRFLOW_OK, runs_summary

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.fixture
def queued(settings):
    settings.BATCHWATCH_INGEST_RUNS = "queued"


def post(body):
    response = Client().post("/v1/traces", body, content_type=PROTOBUF)
    assert response.status_code == 200, response.content
    return response


def test_observations_survive_the_stored_form():
    observation = RunObservation(
        engine="airflow", namespace="prod", job_name="ledger", external_id="run-1",
        source="otlp", state="failed", scheduled_at=T0, started_at=T0,
        ended_at=T0 + timedelta(minutes=3), attempt=2, failure_reason="OOM", trace_id="ab",
        root_span_id="cd", parent_ref="span:ab/ef", labels={"team": "ledger"},
        attributes={"try": 2}, owner_team_id=7, engine_known=False,
    )  # fmt: skip
    assert observation_from_record(observation_record(observation)) == observation


@pytest.mark.django_db
def test_spans_are_stored_at_once_and_runs_converge_in_the_drain(queued):
    post(sample(AIRFLOW_OK))
    assert Span.objects.count() == 4
    assert not Run.objects.exists()
    assert RunReportBatch.objects.count() == 1
    assert runs_drain(now=T0) == 1
    queued_result = runs_summary()
    assert len(queued_result) == 4
    assert runs_drain(now=T0) == 0  # nothing twice
    Run.objects.all().delete()
    Span.objects.all().delete()
    RunReportBatch.objects.all().delete()
    from django.conf import settings

    settings.BATCHWATCH_INGEST_RUNS = "inline"
    post(sample(AIRFLOW_OK))
    assert runs_summary() == queued_result


@pytest.mark.django_db
def test_children_before_the_root_in_separate_requests_converge(queued):
    for body in reversed(one_request_per_span(sample(AIRFLOW_OK))):
        post(body)
    post(sample(AIRFLOW_FAIL))
    runs_drain(now=T0)
    summary = runs_summary()
    assert len(summary) == 8
    assert all(r.parent_run_id for r in Run.objects.filter(job__key__contains="."))
    load = Run.objects.get(job__key="airflow:airflow-probe/telemetry_probe_fail.load")
    assert (load.state, load.failure_reason) == ("failed", "task load failed (try 1)")


@pytest.mark.django_db
def test_a_batch_that_fails_keeps_its_error_and_holds_up_nothing(queued, monkeypatch):
    """Only the observation at fault fails: the DAG run of the failing request is
    quarantined, its three task runs and the other request's four runs are recorded."""
    post(sample(AIRFLOW_OK))
    post(sample(AIRFLOW_FAIL))
    real = pipeline.runs_record

    def record(observations, **kwargs):
        if any(o.job_name.endswith("_fail") for o in observations):
            raise RuntimeError("a bug in convergence")
        return real(observations, **kwargs)

    monkeypatch.setattr(pipeline, "runs_record", record)
    assert runs_drain(now=T0) == 2
    assert Run.objects.filter(job__key__contains="telemetry_probe").count() == 7
    assert not Run.objects.filter(job__key__endswith="telemetry_probe_fail").exists()
    failed = RunReportBatch.objects.get(error__contains="a bug in convergence")
    assert failed.processed_at == T0
    assert failed.error.startswith("1 observation(s) quarantined")
    [item] = QuarantinedItem.objects.all()
    assert (item.kind, item.reason) == ("run_observation", "processing_error")
    assert runs_drain(now=T0) == 0


@pytest.mark.django_db
def test_the_backlog_is_on_metrics_and_processed_reports_are_pruned(queued):
    post(sample(AIRFLOW_OK))
    text = Client().get("/metrics").content.decode()
    assert "batchwatch_ingest_run_reports_queued_batches 1.0" in text
    runs_drain(now=T0)
    text = Client().get("/metrics").content.decode()
    assert "batchwatch_ingest_run_reports_queued_batches 0.0" in text
    assert run_reports_prune(now=T0 + timedelta(hours=23)) == 0
    assert run_reports_prune(now=T0 + timedelta(days=1, seconds=1)) == 1
