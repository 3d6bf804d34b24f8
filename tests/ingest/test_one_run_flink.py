"""One run whatever reports it, for Flink: the job's status logs (flink-metrics-otel) and
openlineage-flink's events (whose ``flink_job`` run facet carries the Flink job id) about the
same job are one run, in either order, inline and queued."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client, override_settings

from batchwatch.ingest.services import runs_drain
from batchwatch.runs.models import Run
from tests.ingest.helpers import PROTOBUF, sample

NOW = datetime.now(UTC).replace(microsecond=0)
JOB_ID = "7cbd8fb6e17f3f076e8e1ba1d7bc552a"  # of the captured status log
STATUS_LOG_AT = datetime.fromtimestamp(1795317901.481, UTC)
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.40.1/integration/flink"
SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def _lineage_event(event_type: str, at: datetime, run_id: str) -> dict:
    # As OpenLineageFlinkJobListener sends them: the job named as Flink names it (the
    # status logs' namespace is 'flink' for a reporter without service.name).
    return {
        "eventType": event_type,
        "eventTime": at.isoformat().replace("+00:00", "Z"),
        "producer": PRODUCER,
        "schemaURL": SCHEMA,
        "run": {
            "runId": run_id,
            "facets": {
                "flink_job": {"_producer": PRODUCER, "_schemaURL": SCHEMA, "jobId": JOB_ID},
                "processing_engine": {"name": "flink", "version": "2.0.0"},
            },
        },
        "job": {
            "namespace": "flink",
            "name": "realclients-flink-groupby",
            "facets": {
                "jobType": {
                    "integration": "FLINK",
                    "jobType": "JOB",
                    "processingType": "STREAMING",
                }
            },
        },
        "inputs": [{"namespace": "kafka://broker:9092", "name": "payments"}],
        "outputs": [{"namespace": "kafka://broker:9092", "name": "payments_by_user"}],
    }


def _send_status_log() -> None:
    response = Client().post(
        "/v1/logs", sample("flink/0001_POST_v1_logs.body"), content_type=PROTOBUF
    )
    assert response.status_code == 200, response.content


def _send_lineage() -> None:
    run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, JOB_ID))
    for event in (
        _lineage_event("START", STATUS_LOG_AT - timedelta(seconds=1), run_id),
        _lineage_event("RUNNING", STATUS_LOG_AT + timedelta(seconds=30), run_id),
    ):
        response = Client().post(
            "/api/v1/lineage", json.dumps(event), content_type="application/json"
        )
        assert response.status_code in (200, 201), response.content


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["inline", "queued"])
@pytest.mark.parametrize("order", ["logs first", "lineage first"])
def test_a_flink_job_with_status_logs_and_openlineage_is_one_run(order, mode):
    steps = [_send_status_log, _send_lineage]
    with override_settings(BATCHWATCH_INGEST_RUNS=mode):
        for step in steps if order == "logs first" else reversed(steps):
            step()
        if mode == "queued":
            while runs_drain(now=NOW):
                pass
    [run] = Run.objects.select_related("job")
    assert run.external_id == JOB_ID
    assert run.job.key == "flink:flink/realclients-flink-groupby"
    assert sorted(run.sources) == ["openlineage", "otlp_logs"]
    assert run.state == "running"
