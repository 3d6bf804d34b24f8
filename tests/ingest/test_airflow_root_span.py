"""Defect 1: a task run's root span is its task_run.<task> span (Airflow 3.2+'s own span of
the task run), not whichever of task_run.<task> and the worker's worker.<task> arrived
first; its waterfall then holds task_run and everything below it."""

from __future__ import annotations

import itertools

import pytest

from batchwatch.runs.models import Run
from batchwatch.runs.selectors import run_span_tree
from tests.ingest.helpers import PROTOBUF
from tests.ingest.otlp_build import SECOND, span_request

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = 1795317000 * SECOND
RUN_ID = "scheduled__2026-11-22T03:00:00+00:00"
TASK = {
    "airflow.dag_id": "ledger_close",
    "airflow.dag_run.run_id": RUN_ID,
    "airflow.task_id": "post_entries",
    "airflow.task_instance.id": "0197-aa",
    "airflow.task_instance.try_number": 1,
    "airflow.task_instance.map_index": -1,
    "airflow.task_instance.state": "success",
}


def span(span_id, parent, name, start_s, end_s, attributes=None):
    return {"trace": TRACE, "span": span_id, "parent": parent, "name": name,
            "start": T0 + start_s * SECOND, "end": T0 + end_s * SECOND,
            "attributes": attributes or {}}  # fmt: skip


DAG_RUN = span("a000000000000001", "", "dag_run.ledger_close", 0, 60, {
    "airflow.dag_id": "ledger_close", "airflow.dag_run.run_id": RUN_ID,
    "airflow.dag_run.run_type": "scheduled",
    "airflow.dag_run.logical_date": "2026-11-22 03:00:00+00:00",
})  # fmt: skip
TASK_RUN = span("b000000000000001", DAG_RUN["span"], "task_run.post_entries", 1, 50, TASK)
WORKER = span("c000000000000001", TASK_RUN["span"], "worker.post_entries", 2, 49, TASK)
DETAILS = [
    span("d000000000000001", WORKER["span"], "startup", 2, 3),
    span("d000000000000002", WORKER["span"], "parse", 3, 4),
    span("d000000000000003", WORKER["span"], "run", 4, 48),
    span("d000000000000004", "d000000000000003", "task.execute", 5, 47),
]
REQUESTS = {"task_run": [TASK_RUN], "worker": [WORKER, *DETAILS], "dag_run": [DAG_RUN]}


def task_run() -> Run:
    return Run.objects.get(job__name="ledger_close.post_entries")


@pytest.mark.django_db
@pytest.mark.parametrize("order", list(itertools.permutations(REQUESTS)), ids="-".join)
def test_the_task_runs_root_is_its_task_run_span_in_any_order(client, order):
    for name in order:
        response = client.post("/v1/traces", span_request(REQUESTS[name]), content_type=PROTOBUF)
        assert response.status_code == 200
    run = task_run()
    assert (run.trace_id, run.root_span_id) == (TRACE, TASK_RUN["span"])
    rows = [node.span.name for node in run_span_tree(run).flat]
    assert rows[:2] == ["task_run.post_entries", "worker.post_entries"]
    assert len(rows) == 2 + len(DETAILS)
    assert run.parent_run == Run.objects.get(job__name="ledger_close")


@pytest.mark.django_db
def test_the_worker_span_alone_stands_for_the_run_until_task_run_arrives(client):
    client.post("/v1/traces", span_request([WORKER, *DETAILS]), content_type=PROTOBUF)
    assert task_run().root_span_id == WORKER["span"]
    client.post("/v1/traces", span_request([TASK_RUN]), content_type=PROTOBUF)
    assert task_run().root_span_id == TASK_RUN["span"]
