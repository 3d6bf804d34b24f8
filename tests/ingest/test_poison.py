"""Poison input (issue 16, cases 1-3 on the ingest side): each bad span, event or log record
sent to the real endpoint is refused with a sentence (400, or OTLP partial success while the
good spans of the request are kept), made harmless (NUL removed, NaN kept as a string), or
quarantined by the drain; a healthy report sent after it is recorded, and the pages and the
runs API still answer 200. Inline and queued (drained with ``runs_drain``) modes, OTLP/JSON
and protobuf."""

from __future__ import annotations

import base64
import copy
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection
from django.test import Client
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from batchwatch.core import queues
from batchwatch.core.models import QuarantinedItem
from batchwatch.core.quarantine import quarantine_retry
from batchwatch.ingest import pipeline
from batchwatch.ingest.models import RunReportBatch
from batchwatch.ingest.services import runs_drain
from batchwatch.runs.models import Run, Span
from tests.ingest.helpers import PROTOBUF, sample

NOW = datetime.now(UTC).replace(microsecond=0)
START, END = NOW - timedelta(minutes=5), NOW - timedelta(minutes=1)
YEAR_10000 = "9999-12-31T23:00:00-05:00"  # year 9999 as written, year 10000 in UTC
_ids = itertools.count(1)


def nanos(moment: datetime) -> str:
    return str(int(moment.timestamp()) * 10**9)


def any_value(value) -> dict:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        if value != value:
            return {"doubleValue": "NaN"}
        if value in (float("inf"), float("-inf")):
            return {"doubleValue": "Infinity" if value > 0 else "-Infinity"}
        return {"doubleValue": value}
    return {"stringValue": value}


def kvs(mapping: dict) -> list[dict]:
    return [{"key": k, "value": any_value(v)} for k, v in mapping.items()]


def generic(job: str, **attrs) -> dict:
    return {
        "batch.job.name": job,
        "batch.job.namespace": "poison",
        "batch.run.id": f"{job}-run",
        "batch.run.state": "succeeded",
        **attrs,
    }


def span(*, attrs: dict, name: str = "nightly", status: dict | None = None) -> dict:
    n = next(_ids)
    document = {
        "traceId": f"{n:032x}",
        "spanId": f"{n:016x}",
        "name": name,
        "kind": 1,
        "startTimeUnixNano": nanos(START),
        "endTimeUnixNano": nanos(END),
        "attributes": kvs(attrs),
    }
    if status:
        document["status"] = status
    return document


def traces(spans: list[dict], resource: dict | None = None) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": kvs({"service.name": "etl", **(resource or {})})},
                "scopeSpans": [{"scope": {"name": "poison"}, "spans": spans}],
            }
        ]
    }


def _b64_ids(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId"):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                _b64_ids(value)
    elif isinstance(node, list):
        for item in node:
            _b64_ids(item)


def encode(document: dict, encoding: str, message=trace_service_pb2.ExportTraceServiceRequest):
    if encoding == "json":
        return json.dumps(document).encode(), "application/json"
    proto = copy.deepcopy(document)
    _b64_ids(proto)
    return json_format.ParseDict(proto, message()).SerializeToString(), PROTOBUF


def post_traces(client, document: dict, encoding: str):
    body, content_type = encode(document, encoding)
    response = client.post("/v1/traces", body, content_type=content_type)
    assert response.status_code == 200, response.content
    if encoding == "json":
        partial = response.json().get("partialSuccess", {})
        return int(partial.get("rejectedSpans", 0)), partial.get("errorMessage", "")
    reply = trace_service_pb2.ExportTraceServiceResponse.FromString(response.content)
    return reply.partial_success.rejected_spans, reply.partial_success.error_message


@pytest.fixture(params=["inline", "queued"])
def mode(request, settings):
    settings.BATCHWATCH_INGEST_RUNS = request.param
    return request.param


def drain(mode: str) -> None:
    if mode == "queued":
        runs_drain(now=NOW)
        assert not RunReportBatch.objects.filter(processed_at=None).exists()


def assert_pages_answer(admin, api_as, runs) -> None:
    client = Client()
    client.force_login(admin)
    assert client.get("/").status_code == 200
    for run in runs:
        assert client.get(f"/jobs/{run.job_id}/").status_code == 200
        assert client.get(f"/runs/{run.pk}/").status_code == 200
    response = api_as(admin).get("/api/v1/runs/?limit=1000")
    assert response.status_code == 200
    body = response.json()  # (pages by cursor: no count, every run on this one page)
    assert body["next"] is None and len(body["results"]) == Run.objects.count()


REJECTED, KEPT = "rejected", "kept"
AIRFLOW_DAG_RUN = {
    "airflow.dag_id": "ledger_close",
    "airflow.dag_run.run_id": "scheduled__1",
    "airflow.dag_run.logical_date": YEAR_10000,
}
AIRFLOW_TASK = {
    "airflow.dag_id": "ledger_close",
    "airflow.dag_run.run_id": "r" * 590,
    "airflow.task_id": "load",
    "airflow.task_instance.state": "success",
}
# id: (span attributes, resource attributes, span name, status, expectation, sentence or job)
SPAN_CASES = {
    "label key with a slash": (
        generic("a"), {"batchwatch.label.app/version": "1.2.3"}, None, None,
        REJECTED, "label key 'app/version' must start with a letter",
    ),
    "label key with a space": (
        generic("a", **{"batchwatch.label.my key": "x"}), {}, None, None,
        REJECTED, "label key 'my key'",
    ),
    "label key with __": (
        generic("a", **{"batchwatch.label.a__b": "x"}), {}, None, None, REJECTED, "no '__'",
    ),
    "label key of 64 characters": (
        generic("a", **{"batchwatch.label." + "k" * 64: "x"}), {}, None, None,
        REJECTED, "at most 63 characters",
    ),
    "label key not ASCII": (
        generic("a", **{"batchwatch.label.équipe": "x"}), {}, None, None,
        REJECTED, "label key 'équipe'",
    ),
    "namespace with whitespace": (
        generic("ws", **{"batch.job.namespace": "prod etl\t"}), {}, None, None,
        KEPT, "other:prod_etl/ws",
    ),
    "namespace of 201 characters": (
        generic("a", **{"batch.job.namespace": "n" * 201}), {}, None, None,
        REJECTED, "batch.job.namespace is longer than 200 characters",
    ),
    "namespace an integer": (
        generic("a", **{"batch.job.namespace": 42}), {}, None, None,
        REJECTED, "batch.job.namespace must be a string, not int",
    ),
    "name of only spaces": (generic("   "), {}, None, None, REJECTED, "job name is empty"),
    "NUL in the job name": (
        generic("night\x00ly"), {}, None, None, KEPT, "other:poison/nightly",
    ),
    "NUL in the span name": (
        generic("sn"), {}, "night\x00ly", None, KEPT, "other:poison/sn",
    ),
    "NUL in an attribute": (
        generic("at", **{"note\x00": "x\x00y"}), {}, None, None, KEPT, "other:poison/at",
    ),
    "NUL in the status": (
        generic("st", **{"batch.run.state": ""}), {}, None, {"code": 2, "message": "boom\x00"},
        KEPT, "other:poison/st",
    ),
    "NUL in service.name": (
        generic("sv"), {"service.name": "etl\x00"}, None, None, KEPT, "other:poison/sv",
    ),
    "status code outside the enum": (
        generic("a"), {}, None, {"code": -1}, REJECTED, "has an unknown status code -1",
    ),
    "NaN double": (generic("nan", ratio=float("nan")), {}, None, None, KEPT, "other:poison/nan"),
    "Infinity double": (
        generic("inf", ratio=float("inf"), low=float("-inf")), {}, None, None,
        KEPT, "other:poison/inf",
    ),
    "scheduled time in year 10000 UTC": (
        generic("a", **{"batch.run.scheduled_time": YEAR_10000}), {}, None, None,
        REJECTED, "is outside the years 1970-9999 (in UTC)",
    ),
    "scheduled time before 1970": (
        generic("a", **{"batch.run.scheduled_time": "1969-07-20T20:17:00Z"}), {}, None, None,
        REJECTED, "is outside the years 1970-9999",
    ),
    "scheduled time with a +16:00 offset": (
        generic("tz", **{"batch.run.scheduled_time": "2026-11-24T20:00:00+16:00"}), {}, None,
        None, KEPT, "other:poison/tz",
    ),
    "Airflow logical_date in year 10000 UTC": (
        AIRFLOW_DAG_RUN, {}, "dag_run.ledger_close", None,
        REJECTED, "airflow.dag_run.logical_date 9999-12-31T23:00:00-05:00 is outside",
    ),
    "Airflow parent reference over 600 characters": (
        AIRFLOW_TASK, {}, "task_run.load", None,
        REJECTED, "parent reference is longer than 600 characters",
    ),
    "attempt beyond 32 bits": (
        generic("a", **{"batch.run.attempt": 2**40}), {}, None, None, REJECTED, "attempt",
    ),
    "negative attempt": (
        generic("a", **{"batch.run.attempt": -1}), {}, None, None, REJECTED, "attempt -1",
    ),
}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["json", "protobuf"])
@pytest.mark.parametrize("case", list(SPAN_CASES))
def test_a_poison_span_is_refused_or_made_harmless_and_the_next_one_is_recorded(
    case, encoding, mode, admin, api_as
):
    attrs, resource, name, status, expected, detail = SPAN_CASES[case]
    client = Client()
    bad = span(attrs=attrs, name=name or "nightly", status=status)
    healthy = span(attrs=generic("healthy"))
    # The poison span with a good one in the same request: the good one is always kept.
    good_neighbour = span(attrs=generic("neighbour"))
    document = traces([bad], resource)
    document["resourceSpans"] += traces([good_neighbour])["resourceSpans"]
    rejected, message = post_traces(client, document, encoding)
    assert post_traces(client, traces([healthy]), encoding) == (0, "")
    drain(mode)

    assert QuarantinedItem.objects.count() == 0  # the edge refused what it could not store
    keys = set(Run.objects.values_list("job__key", flat=True))
    assert {"other:poison/healthy", "other:poison/neighbour"} <= keys
    if expected == REJECTED:
        assert rejected == 1
        assert message.startswith("1 span(s) rejected; first: span ")
        assert detail in message
        assert Span.objects.count() == 2  # spans sent and accepted = spans stored
        assert Run.objects.count() == 2
    else:
        assert (rejected, message) == (0, "")
        assert Span.objects.count() == 3
        assert detail in keys and Run.objects.count() == 3
        stored = Span.objects.get(trace_id=bad["traceId"])
        assert "\x00" not in stored.name + stored.status_message + stored.service_name
        assert "\x00" not in json.dumps(stored.attributes)
    assert_pages_answer(admin, api_as, Run.objects.all())


@pytest.mark.django_db
def test_non_finite_doubles_are_stored_as_strings(mode):
    document = traces([span(attrs=generic("nan", ratio=float("nan"), hi=float("inf")))])
    assert post_traces(Client(), document, "protobuf") == (0, "")
    stored = Span.objects.get()
    assert (stored.attributes["ratio"], stored.attributes["hi"]) == ("NaN", "Infinity")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [200, 100_000])
def test_deeply_nested_json_is_400_on_traces_and_lineage(client, depth):
    body = '{"resourceSpans": ' + nested(depth) + "}"
    response = client.post("/v1/traces", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested" in response.json()["message"]
    head = json.dumps({"eventType": "START", "eventTime": END.isoformat()})[:-1]
    body = head + ', "run": ' + nested(depth) + "}"
    response = client.post("/api/v1/lineage", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == (
        "Missing required field run.runId."
        if depth < 1000
        else "Body is nested too deeply to be a RunEvent."
    )


# --- OpenLineage ------------------------------------------------------------------------------
def lineage_event(job: str, run_id: str, event_type: str = "COMPLETE") -> dict:
    event = json.loads(sample("openlineage/0001_POST_api_v1_lineage.json"))
    event["eventType"] = event_type
    event["eventTime"] = END.isoformat()
    event["job"]["name"] = job
    event["run"]["runId"] = run_id
    return event


def _set(path: str, value):
    def mutate(event):
        node = event
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return mutate


PARENT_TOO_LONG = {"run": {"runId": "p" * 200}, "job": {"namespace": "n" * 195, "name": "x" * 290}}
# id: (mutation, 400 with this sentence, or None: 201 and the job key)
LINEAGE_CASES = {
    "nominalStartTime in year 10000 UTC": (
        _set("run.facets.nominalTime", {"nominalStartTime": YEAR_10000}),
        "Run.facets.nominalTime.nominalStartTime 9999-12-31T23:00:00-05:00 is outside the "
        "years 1970-9999 (in UTC).",
    ),
    "eventTime in year 10000 UTC": (_set("eventTime", YEAR_10000), "is outside the years"),
    "nominalStartTime with a +16:00 offset": (
        _set("run.facets.nominalTime", {"nominalStartTime": "2026-11-24T20:00:00+16:00"}),
        None,
    ),
    "eventTime with a -16:00 offset": (
        _set("eventTime", (END.astimezone(UTC) - timedelta(hours=16)).isoformat()[:19] + "-16:00"),
        None,
    ),
    "nominalTime facet a string": (
        _set("run.facets.nominalTime", "yesterday"),
        "run.facets.nominalTime must be an object, not str.",
    ),
    "errorMessage facet a number": (
        lambda e: _set("run.facets.errorMessage", 5)(e) or e.update(eventType="FAIL"),
        "run.facets.errorMessage must be an object",
    ),
    "parent facet a list": (_set("run.facets.parent", []), "run.facets.parent must be an object"),
    "parent job a string": (
        _set("run.facets.parent", {"run": {"runId": "1"}, "job": "x"}),
        "run.facets.parent.job must be an object",
    ),
    "job facets a string": (_set("job.facets", "x"), "job.facets must be an object"),
    "jobType facet a number": (_set("job.facets.jobType", 3), "job.facets.jobType must be"),
    "processing_engine facet a string": (
        _set("run.facets.processing_engine", "spark"), "run.facets.processing_engine must be",
    ),
    "run facets a list": (_set("run.facets", []), "run.facets must be an object"),
    "parent names over 600 characters": (
        _set("run.facets.parent", PARENT_TOO_LONG), "names a parent longer than 600 characters",
    ),
    "parent namespace an integer": (
        _set("run.facets.parent", {"run": {"runId": "1"}, "job": {"namespace": 5, "name": "p"}}),
        "run.facets.parent.job.namespace must be a non-empty string",
    ),
    "parent name with NUL": (
        _set("run.facets.parent", {"run": {"runId": "1"}, "job": {"namespace": "a\x00", "name": "p"}}),  # noqa: E501
        None,
    ),
    "job name with a tab": (_set("job.name", "daily\tsales"), None),
    "job name with a line break": (_set("job.name", "daily\nsales\n"), None),
    "job name with NUL": (_set("job.name", "daily\x00sales"), None),
    "job name with a lone surrogate": (_set("job.name", "daily\ud800sales"), None),
    "dataset name with NUL": (_set("outputs", [{"namespace": "s3", "name": "a\x00b"}]), None),
    "error message with NUL": (
        lambda e: e["run"]["facets"].update(errorMessage={"message": "boom\x00"})
        or e.update(eventType="FAIL"),
        None,
    ),
}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(LINEAGE_CASES))
def test_a_poison_lineage_event_is_400_or_made_harmless_and_the_next_one_is_recorded(
    case, admin, api_as
):
    mutate, sentence = LINEAGE_CASES[case]
    client = Client()
    event = lineage_event("poisoned", "0192f3c4-0000-7000-8000-000000000001")
    mutate(event)
    response = client.post("/api/v1/lineage", json.dumps(event), content_type="application/json")
    if sentence is None:
        assert response.status_code == 201, response.content
        assert Run.objects.count() == 1
    else:
        assert response.status_code == 400
        assert sentence in response.json()["error"]
        assert Run.objects.count() == 0
    healthy = lineage_event("healthy", "0192f3c4-0000-7000-8000-000000000002")
    response = client.post("/api/v1/lineage", json.dumps(healthy), content_type="application/json")
    assert response.status_code == 201
    assert Run.objects.filter(job__name="healthy").count() == 1
    for run in Run.objects.select_related("job"):
        assert "\x00" not in run.job.key + run.parent_ref + run.failure_reason
        assert not any(c.isspace() for c in run.job.key)
    assert_pages_answer(admin, api_as, Run.objects.all())


# --- Flink job status events (OTLP logs) ----------------------------------------------------
def flink_record(job_id: str, job_name: str, status: str = "RUNNING") -> dict:
    attrs = {"name": "JobStatusChangeEvent", "job_id": job_id, "job_name": job_name}
    return {"timeUnixNano": nanos(END), "attributes": kvs({**attrs, "newJobStatus": status})}


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_flink_events_with_bad_names_are_refused_one_by_one(encoding, admin, api_as):
    document = {
        "resourceLogs": [
            {
                "resource": {"attributes": kvs({"batchwatch.namespace": "prod\tflink"})},
                "scopeLogs": [
                    {
                        "logRecords": [
                            flink_record("a" * 32, "   "),
                            flink_record("b" * 300, "too_long_id"),
                            flink_record("c" * 32, "orders\x00 groupby"),
                        ]
                    }
                ],
            }
        ]
    }
    body, content_type = encode(document, encoding, logs_service_pb2.ExportLogsServiceRequest)
    response = Client().post("/v1/logs", body, content_type=content_type)
    assert response.status_code == 200
    if encoding == "json":
        partial = response.json()["partialSuccess"]
        rejected, message = int(partial["rejectedLogRecords"]), partial["errorMessage"]
    else:
        reply = logs_service_pb2.ExportLogsServiceResponse.FromString(response.content)
        rejected = reply.partial_success.rejected_log_records
        message = reply.partial_success.error_message
    assert rejected == 2
    assert message == f"2 log record(s) rejected; first: Flink job {'a' * 32!r}: job name is empty"
    assert list(Run.objects.values_list("job__key", flat=True)) == [
        "flink:prod_flink/orders_groupby"
    ]
    assert_pages_answer(admin, api_as, Run.objects.all())


# --- The queued drain: rows it cannot record are quarantined, one observation at a time ------
def record(job: str, **fields) -> dict:
    return {
        "engine": "other",
        "namespace": "queued",
        "job_name": job,
        "external_id": f"{job}-1",
        "source": "otlp",
        "state": "succeeded",
        "started_at": START.isoformat(),
        "ended_at": END.isoformat(),
        **fields,
    }


@pytest.fixture
def queued(settings):
    settings.BATCHWATCH_INGEST_RUNS = "queued"


@pytest.mark.django_db
def test_poison_rows_in_the_queue_are_quarantined_and_the_rest_recorded(queued, admin, api_as):
    """Rows an older version queued (before the edge refused these): the drain used to raise
    on them for ever, before its per-batch isolation, and hold every later run up."""
    poison = [
        record("labels", labels={"app/version": "1.2.3"}),
        record("   "),
        record("ns", namespace="prod etl"),
        record("year", scheduled_at=YEAR_10000),
        record("nul\x00"),
        5,
        {"engine": "other"},
    ]
    queues.enqueue(
        RunReportBatch, received_at=NOW, observations=[record("first"), *poison, record("last")]
    )
    queues.enqueue(RunReportBatch, received_at=NOW, observations=[record("next")])

    assert runs_drain(now=NOW) == 2
    assert sorted(Run.objects.values_list("job__name", flat=True)) == ["first", "last", "next"]
    reasons = sorted(QuarantinedItem.objects.values_list("reason", flat=True))
    assert reasons == [
        "invalid_label", "invalid_name", "invalid_name", "invalid_namespace", "invalid_time",
        "undecodable", "undecodable",
    ]  # fmt: skip
    assert set(QuarantinedItem.objects.values_list("kind", flat=True)) == {"run_observation"}
    first = RunReportBatch.objects.order_by("id").first()
    assert first.processed_at == NOW
    assert first.error.startswith("7 observation(s) quarantined; first: label key 'app/version'")
    assert runs_drain(now=NOW) == 0
    assert_pages_answer(admin, api_as, Run.objects.all())


@pytest.mark.django_db
def test_a_job_the_catalog_refuses_is_quarantined_not_raised(queued, monkeypatch):
    """What the edge's checks miss, the catalog's registration still refuses: only that
    observation is quarantined."""
    from batchwatch.ingest import quarantine

    monkeypatch.setattr(quarantine, "observation_check", lambda obs: None)
    queues.enqueue(
        RunReportBatch,
        received_at=NOW,
        observations=[record("ok"), record("bad", labels={"a b": "x"}), record("ok2")],
    )
    assert runs_drain(now=NOW) == 1
    assert sorted(Run.objects.values_list("job__name", flat=True)) == ["ok", "ok2"]
    [item] = QuarantinedItem.objects.all()
    assert item.reason == "invalid_job"
    assert "job 'other:queued/bad' cannot be registered: labels: Label key 'a b'" in item.detail


@pytest.mark.django_db
def test_an_unreadable_row_is_quarantined_whole(queued):
    queues.enqueue(RunReportBatch, received_at=NOW, observations=[record("lost")])
    queues.enqueue(RunReportBatch, received_at=NOW, observations=[record("next")])
    first = RunReportBatch.objects.order_by("id").first()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {RunReportBatch._meta.db_table} SET observations = %s WHERE id = %s",  # noqa: S608
            ['[{"engine": "other", "trunc', first.pk],
        )
    assert runs_drain(now=NOW) == 2
    assert list(Run.objects.values_list("job__name", flat=True)) == ["next"]
    [item] = QuarantinedItem.objects.all()
    assert (item.kind, item.reason, item.origin) == (
        "run_report", "undecodable", f"RunReportBatch {first.pk}",
    )  # fmt: skip
    assert not RunReportBatch.objects.filter(processed_at=None).exists()


@pytest.mark.django_db
def test_an_unavailable_database_leaves_the_batch_queued(queued, monkeypatch):
    queues.enqueue(RunReportBatch, received_at=NOW, observations=[record("a")])

    def unavailable(*args, **kwargs):
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(pipeline, "runs_record", unavailable)
    with pytest.raises(OperationalError):
        runs_drain(now=NOW)
    assert RunReportBatch.objects.get().processed_at is None
    assert not QuarantinedItem.objects.exists()
    monkeypatch.undo()
    assert runs_drain(now=NOW) == 1
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_a_quarantined_observation_is_recorded_by_a_retry(queued, monkeypatch):
    queues.enqueue(RunReportBatch, received_at=NOW, observations=[record("good"), record("buggy")])
    real = pipeline.runs_record

    def runs_record(observations, **kwargs):
        if any(o.job_name == "buggy" for o in observations):
            raise RuntimeError("a bug in convergence")
        return real(observations, **kwargs)

    monkeypatch.setattr(pipeline, "runs_record", runs_record)
    assert runs_drain(now=NOW) == 1
    [item] = QuarantinedItem.objects.all()
    assert (item.kind, item.reason) == ("run_observation", "processing_error")
    assert item.detail == "RuntimeError: a bug in convergence"
    monkeypatch.undo()  # the bug is fixed
    assert quarantine_retry([item], now=NOW + timedelta(minutes=1)) == (1, 0)
    assert sorted(Run.objects.values_list("job__name", flat=True)) == ["buggy", "good"]
    item.refresh_from_db()
    assert item.state == "retried"


@pytest.mark.django_db
def test_a_queued_time_with_an_offset_beyond_16_hours_is_stored_in_utc(queued):
    """PostgreSQL refuses offsets beyond ±15:59; Python writes them (rows of older versions)."""
    start = "2026-11-24T20:00:00+16:00"
    queues.enqueue(RunReportBatch, received_at=NOW, observations=[record("tz", started_at=start)])
    assert runs_drain(now=NOW) == 1
    assert not QuarantinedItem.objects.exists()
    assert Run.objects.get().started_at == datetime(2026, 11, 24, 4, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_inline_a_job_the_catalog_refuses_costs_only_its_span(settings, monkeypatch):
    """What the edge's checks miss, registration refuses: that span is rejected through
    partial success, the rest of the request is recorded."""
    from batchwatch.ingest import adapters

    settings.BATCHWATCH_INGEST_RUNS = "inline"
    monkeypatch.setattr(adapters, "observation_problem", lambda obs: None)
    bad = span(attrs=generic("bad", **{"batchwatch.label.a b": "x"}))
    good = span(attrs=generic("good"))
    rejected, message = post_traces(Client(), traces([bad, good]), "protobuf")
    assert rejected == 1
    assert message.startswith("1 span(s) rejected; first: job 'other:poison/bad' cannot be")
    assert list(Run.objects.values_list("job__name", flat=True)) == ["good"]
    assert list(Span.objects.values_list("trace_id", flat=True)) == [good["traceId"]]
