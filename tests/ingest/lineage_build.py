"""OpenLineage events as the Airflow provider and the Spark listener send them, for the runs a
captured sample reports (the same DAG run, tasks, tries and times, or the same application):
what a deployment with both traces (or event logs) and OpenLineage on sends about one run.

The facets are those of apache-airflow-providers-openlineage (``airflowDagRun`` on DAG run
events; ``airflow`` with ``dag``, ``dagRun``, ``task`` and ``taskInstance`` on task events,
whose ``parent`` names the DAG run's OpenLineage run) and of openlineage-spark
(``spark_applicationDetails`` on the application's events, ``parent`` on a SQL job's).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from tests.ingest.helpers import SAMPLES, parse

PRODUCER_AIRFLOW = "https://github.com/apache/airflow/tree/providers-openlineage/2.3.0"
PRODUCER_SPARK = "https://github.com/OpenLineage/OpenLineage/tree/1.33.0/integration/spark"
SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


def _attributes(span) -> dict:
    values = {}
    for kv in span.attributes:
        v = kv.value
        values[kv.key] = v.string_value if v.HasField("string_value") else v.int_value
    return values


def _event(event_type, at, namespace, name, run_id, facets, job_type, producer, integration):
    return {
        "eventType": event_type,
        "eventTime": at,
        "producer": producer,
        "schemaURL": SCHEMA,
        "run": {"runId": run_id, "facets": facets},
        "job": {
            "namespace": namespace,
            "name": name,
            "facets": {
                "jobType": {
                    "_producer": producer,
                    "integration": integration,
                    "jobType": job_type,
                    "processingType": "BATCH",
                }
            },
        },
        "inputs": [],
        "outputs": [],
    }


def airflow_events(sample: str, *, namespace: str) -> list[dict]:
    """START and COMPLETE (or FAIL) of the DAG run and of each task run of a captured Airflow
    trace, as the OpenLineage provider reports them (OPENLINEAGE_NAMESPACE = ``namespace``)."""
    request = parse((SAMPLES / sample).read_bytes())
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    dag_span = next(s for s in spans if s.name.startswith("dag_run."))
    dag = _attributes(dag_span)
    dag_id, run_id = dag["airflow.dag_id"], dag["airflow.dag_run.run_id"]
    dag_run_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{dag_id}/{run_id}"))
    dag_run_facet = {"dag_id": dag_id, "run_id": run_id,
                     "run_type": dag["airflow.dag_run.run_type"],
                     "logical_date": dag["airflow.dag_run.logical_date"]}  # fmt: skip
    engine = {"processing_engine": {"name": "Airflow", "version": "3.3.2",
                                    "openlineageAdapterVersion": "2.3.0"}}  # fmt: skip
    dag_facets = {
        **engine,
        "airflowDagRun": {"dag": {"dag_id": dag_id, "owner": "airflow"}, "dagRun": dag_run_facet},
        "nominalTime": {"nominalStartTime": datetime.fromisoformat(
            dag["airflow.dag_run.logical_date"]).isoformat()},
    }  # fmt: skip
    failed = dag_span.status.code == 2
    events = [
        _event("START", _iso(dag_span.start_time_unix_nano), namespace, dag_id, dag_run_uuid,
               dag_facets, "DAG", PRODUCER_AIRFLOW, "AIRFLOW"),
        _event("FAIL" if failed else "COMPLETE", _iso(dag_span.end_time_unix_nano), namespace,
               dag_id, dag_run_uuid, dag_facets, "DAG", PRODUCER_AIRFLOW, "AIRFLOW"),
    ]  # fmt: skip
    for span in spans:
        if not span.name.startswith("task_run."):
            continue
        task = _attributes(span)
        task_id, try_number = task["airflow.task_id"], task["airflow.task_instance.try_number"]
        task_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{dag_id}/{run_id}/{task_id}/{try_number}"))
        facets = {
            **engine,
            "airflow": {
                "dag": {"dag_id": dag_id, "owner": "airflow"},
                "dagRun": dag_run_facet,
                "task": {"task_id": task_id, "operator_class": "PythonOperator"},
                "taskInstance": {"try_number": try_number,
                                 "map_index": task["airflow.task_instance.map_index"]},
                "taskUuid": task["airflow.task_instance.id"],
            },
            "parent": {"job": {"namespace": namespace, "name": dag_id},
                       "run": {"runId": dag_run_uuid}},
        }  # fmt: skip
        end_facets = dict(facets)
        task_failed = span.status.code == 2
        if task_failed:
            end_facets["errorMessage"] = {
                "message": f"ValueError: {task_id} refused its input",
                "programmingLanguage": "python",
            }
        name = f"{dag_id}.{task_id}"
        events += [
            _event("START", _iso(span.start_time_unix_nano), namespace, name, task_uuid, facets,
                   "TASK", PRODUCER_AIRFLOW, "AIRFLOW"),
            _event("FAIL" if task_failed else "COMPLETE", _iso(span.end_time_unix_nano), namespace,
                   name, task_uuid, end_facets, "TASK", PRODUCER_AIRFLOW, "AIRFLOW"),
        ]  # fmt: skip
    return events


def spark_events(log: Path, *, namespace: str) -> list[dict]:
    """The application's START and COMPLETE and one SQL job's, as openlineage-spark reports
    the application of a captured event log (spark.openlineage.namespace = ``namespace``)."""
    start = end = None
    app_id = app_name = ""
    for line in log.read_text().splitlines():
        event = json.loads(line)
        if event["Event"] == "SparkListenerApplicationStart":
            app_id, app_name, start = event["App ID"], event["App Name"], event["Timestamp"]
        elif event["Event"] == "SparkListenerApplicationEnd":
            end = event["Timestamp"]
    app_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, app_id))
    ol_name = app_name.replace("-", "_")  # (openlineage-spark normalizes the application name)
    facets = {
        "processing_engine": {"name": "spark", "version": "4.0.0"},
        "spark_applicationDetails": {"master": "local[*]", "appName": app_name,
                                     "applicationId": app_id, "deployMode": "client",
                                     "userName": "root", "driverHost": "localhost"},
    }  # fmt: skip
    sql_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{app_id}/sql/0"))
    sql_facets = {
        "processing_engine": facets["processing_engine"],
        "parent": {"job": {"namespace": namespace, "name": ol_name}, "run": {"runId": app_uuid}},
    }
    at = lambda ms: datetime.fromtimestamp(ms / 1000, UTC).isoformat()  # noqa: E731
    return [
        _event("START", at(start), namespace, ol_name, app_uuid, facets, "APPLICATION",
               PRODUCER_SPARK, "SPARK"),
        _event("START", at(start + 2000), namespace, f"{ol_name}.collect_limit", sql_uuid,
               sql_facets, "SQL_JOB", PRODUCER_SPARK, "SPARK"),
        _event("COMPLETE", at(start + 3000), namespace, f"{ol_name}.collect_limit", sql_uuid,
               sql_facets, "SQL_JOB", PRODUCER_SPARK, "SPARK"),
        _event("COMPLETE", at(end), namespace, ol_name, app_uuid, facets, "APPLICATION",
               PRODUCER_SPARK, "SPARK"),
    ]  # fmt: skip
