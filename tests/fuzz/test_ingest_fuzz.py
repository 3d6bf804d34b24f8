"""Bounded fuzz of the telemetry intake: ``/v1/traces`` (OTLP/JSON and protobuf), ``/v1/logs``
and ``/api/v1/lineage`` each get 200 generated bad inputs per run; none answers a 500, and
what is answered 2xx is processed: inline, or queued and drained without a quarantined item
(the edge refuses what the drain could not store).

Requests start from what real senders send (a span with the ``batch.*`` attributes, an
Airflow DAG run, a Flink job status event, an OpenLineage RunEvent) with fields replaced by
hostile values: wrong types, NUL, lone surrogates, whitespace, huge numbers, NaN, times
beyond year 9999 in UTC or offsets beyond ±15:59, label keys the catalog refuses, deep
nesting; or bodies hostile as a whole.
"""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client, override_settings
from google.protobuf import json_format
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from batchwatch.core.models import QuarantinedItem
from batchwatch.ingest.services import runs_drain
from tests.ingest.helpers import PROTOBUF, sample

EXAMPLES = 200
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same inputs every run: a CI failure reproduces
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NOW = datetime.now(UTC).replace(microsecond=0)

TEXT = st.one_of(
    st.sampled_from(
        [
            "", " ", "   ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\t\n", "a b", "a/b",
            "é" * 70, "k" * 64, "a__b", "n" * 201, "x" * 700, "\U0001f600", "None",
            "9999-12-31T23:00:00-05:00", "2026-11-24T20:00:00+16:00", "0001-01-01T00:00:00Z",
            "1969-07-20T20:17:00Z", "2026-13-45T00:00:00Z", "NaN", "-1", "1e400",
        ]
    ),
    st.text(max_size=20),
)  # fmt: skip
NUMBERS = st.sampled_from(
    [0, -1, 2**31, 2**40, 2**63 - 1, -(2**63), 1e308, float("inf"), float("nan"), 0.5, True]
)
KEYS = st.one_of(
    st.sampled_from(
        [
            "batch.job.name", "batch.job.namespace", "batch.job.engine", "batch.run.id",
            "batch.run.state", "batch.run.scheduled_time", "batch.run.attempt",
            "batch.run.failure_reason", "batchwatch.namespace", "service.name",
            "service.namespace", "airflow.dag_id", "airflow.dag_run.run_id",
            "airflow.dag_run.logical_date", "airflow.task_id", "airflow.task_instance.try_number",
            "airflow.task_instance.map_index", "spark.app.id", "spark.app.name", "jobId",
            "cicd.pipeline.name", "prefect.run.type",
        ]
    ),
    TEXT.map(lambda t: "batchwatch.label." + t),
    TEXT,
)  # fmt: skip


def _double(value: float):
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value


ANY_VALUE = st.recursive(
    st.one_of(
        TEXT.map(lambda t: {"stringValue": t}),
        NUMBERS.filter(lambda n: isinstance(n, int) and not isinstance(n, bool)).map(
            lambda n: {"intValue": str(n)}
        ),
        NUMBERS.map(lambda n: {"doubleValue": _double(float(n))}),
        st.booleans().map(lambda b: {"boolValue": b}),
        st.binary(max_size=8).map(lambda b: {"bytesValue": base64.b64encode(b).decode()}),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda vs: {"arrayValue": {"values": vs}}),
        st.lists(st.tuples(TEXT, inner), max_size=3).map(
            lambda kv: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in kv]}}
        ),
    ),
    max_leaves=6,
)
ATTRIBUTES = st.lists(st.tuples(KEYS, ANY_VALUE), max_size=6).map(
    lambda kv: [{"key": k, "value": v} for k, v in kv]
)
WRONG = st.one_of(
    TEXT, NUMBERS, st.none(), st.builds(list), st.builds(dict), st.builds(lambda: [[[]]])
)  # (fresh containers: events are mutated)


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def nanos(moment: datetime) -> str:
    return str(int(moment.timestamp()) * 10**9)


def _span(n: int, attributes: list, name, status) -> dict:
    span = {
        "traceId": f"{n + 1:032x}",
        "spanId": f"{n + 1:016x}",
        "name": name,
        "startTimeUnixNano": nanos(NOW - timedelta(minutes=3)),
        "endTimeUnixNano": nanos(NOW - timedelta(minutes=1)),
        "attributes": [
            {"key": "batch.job.name", "value": {"stringValue": "fuzzed"}},
            {"key": "batch.run.id", "value": {"stringValue": f"run-{n}"}},
            *attributes,
        ],
    }
    if status is not None:
        span["status"] = status
    return span


@st.composite
def trace_documents(draw):
    n = draw(st.integers(0, 2**32))
    spans = [
        _span(
            n + i,
            draw(ATTRIBUTES),
            draw(TEXT),
            draw(st.none() | st.builds(lambda c, m: {"code": c, "message": m}, NUMBERS, TEXT)),
        )
        for i in range(draw(st.integers(1, 3)))
    ]
    document = {
        "resourceSpans": [
            {"resource": {"attributes": draw(ATTRIBUTES)}, "scopeSpans": [{"spans": spans}]}
        ]
    }
    # Now and then, one field of the envelope or of a span is of the wrong type altogether.
    target = draw(st.sampled_from([None, "span", "scope", "resource", "root"]))
    if target == "span":
        field = draw(st.sampled_from(["name", "startTimeUnixNano", "kind", "attributes"]))
        spans[0][field] = draw(WRONG)
    elif target == "scope":
        document["resourceSpans"][0]["scopeSpans"][0]["spans"] = draw(WRONG)
    elif target == "resource":
        document["resourceSpans"][0]["resource"] = draw(WRONG)
    elif target == "root":
        document["resourceSpans"] = draw(WRONG)
    return document


def _as_protobuf(document: dict, message_cls) -> bytes | None:
    proto = copy.deepcopy(document)

    def b64(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId") and isinstance(value, str):
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                else:
                    b64(value)
        elif isinstance(node, list):
            for item in node:
                b64(item)

    b64(proto)
    try:
        return json_format.ParseDict(proto, message_cls()).SerializeToString()
    except (json_format.ParseError, TypeError, ValueError, AttributeError, OverflowError):
        return None  # not expressible in protobuf: sent as JSON by the JSON test


def _check(response, mode: str) -> None:
    event(f"{mode} {response.status_code}")
    assert response.status_code != 500
    assert response.status_code in (200, 201, 400, 413, 415), response.content[:300]
    if response.status_code < 300 and mode == "queued":
        runs_drain(now=NOW)
        assert not QuarantinedItem.objects.exists(), QuarantinedItem.objects.first().detail


MODES = st.sampled_from(["inline", "queued"])


def _post(path: str, body: bytes, content_type: str, mode: str):
    with override_settings(BATCHWATCH_INGEST_RUNS=mode):
        response = Client().post(path, body, content_type=content_type)
        _check(response, mode)
    return response


@pytest.mark.django_db
@FUZZ
@given(document=trace_documents(), mode=MODES, whole=st.sampled_from([None, None, None, 1, 2]))
def test_traces_json_never_500(document, mode, whole):
    body = json.dumps(document).encode()
    if whole == 1:
        body = ('{"resourceSpans": ' + deep(5000) + "}").encode()
    elif whole == 2:
        body = body[: len(body) // 2]
    _post("/v1/traces", body, "application/json", mode)


VALID_TRACES = sample("airflow/0001_POST_v1_traces.body")


@pytest.mark.django_db
@FUZZ
@given(
    document=trace_documents(),
    mode=MODES,
    flips=st.lists(
        st.tuples(st.integers(0, len(VALID_TRACES) - 1), st.integers(0, 255)), max_size=4
    ),
)
def test_traces_protobuf_never_500(document, mode, flips):
    body = _as_protobuf(document, trace_service_pb2.ExportTraceServiceRequest)
    if body is None or flips:  # bytes of a real Airflow request, some of them changed
        raw = bytearray(VALID_TRACES)
        for at, value in flips:
            raw[at] = value
        body = bytes(raw)
    _post("/v1/traces", body, PROTOBUF, mode)


@st.composite
def log_documents(draw):
    records = []
    for i in range(draw(st.integers(1, 3))):
        attributes = [
            {"key": "name", "value": {"stringValue": "JobStatusChangeEvent"}},
            {"key": "job_id", "value": draw(ANY_VALUE | st.just({"stringValue": f"{i:032x}"}))},
            {"key": "job_name", "value": draw(TEXT.map(lambda t: {"stringValue": t}) | ANY_VALUE)},
            {"key": "newJobStatus", "value": {"stringValue": draw(st.sampled_from(
                ["RUNNING", "FAILED", "FINISHED", "CANCELED", "x"]))}},
            *draw(ATTRIBUTES),
        ]  # fmt: skip
        records.append(
            {
                "timeUnixNano": draw(st.sampled_from(["0", "1", nanos(NOW), str(2**64 - 1)])),
                "attributes": attributes,
            }
        )
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": draw(ATTRIBUTES)},
                "scopeLogs": [{"logRecords": records}],
            }
        ]
    }


@pytest.mark.django_db
@FUZZ
@given(document=log_documents(), protobuf=st.booleans(), deep_body=st.booleans())
def test_logs_never_500(document, protobuf, deep_body):
    body = _as_protobuf(document, logs_service_pb2.ExportLogsServiceRequest) if protobuf else None
    if deep_body:
        _post(
            "/v1/logs",
            ('{"resourceLogs": ' + deep(3000) + "}").encode(),
            "application/json",
            "inline",
        )
    if body is not None:
        _post("/v1/logs", body, PROTOBUF, "inline")
    else:
        _post("/v1/logs", json.dumps(document).encode(), "application/json", "inline")


LINEAGE = json.loads(sample("openlineage/0001_POST_api_v1_lineage.json"))
LINEAGE_PATHS = [
    ("eventType",), ("eventTime",), ("producer",), ("run",), ("run", "runId"),
    ("run", "facets"), ("run", "facets", "nominalTime"),
    ("run", "facets", "nominalTime", "nominalStartTime"), ("run", "facets", "errorMessage"),
    ("run", "facets", "errorMessage", "message"), ("run", "facets", "parent"),
    ("run", "facets", "parent", "run", "runId"), ("run", "facets", "parent", "job", "namespace"),
    ("run", "facets", "parent", "job", "name"), ("run", "facets", "processing_engine"),
    ("job",), ("job", "namespace"), ("job", "name"), ("job", "facets"),
    ("job", "facets", "jobType"), ("job", "facets", "jobType", "integration"), ("inputs",),
    ("outputs",), ("outputs", 0, "name"), ("outputs", 0, "namespace"),
]  # fmt: skip


def _put(document, path, value) -> None:
    node = document
    for key in path[:-1]:
        if isinstance(key, int):
            if not isinstance(node, list) or not node:
                return
            node = node[0]
        else:
            if not isinstance(node, dict):
                return
            if not isinstance(node.get(key), dict | list):
                node[key] = {}
            node = node[key]
    if isinstance(node, dict):
        node[path[-1]] = value
    elif isinstance(node, list) and node and isinstance(path[-1], int):
        node[0] = value


@st.composite
def lineage_events(draw):
    event = copy.deepcopy(LINEAGE)
    event["eventTime"] = NOW.isoformat()
    event["run"]["runId"] = f"0192f3c4-0000-7000-8000-{draw(st.integers(0, 10**9)):012d}"
    event["eventType"] = draw(st.sampled_from(["START", "COMPLETE", "FAIL", "ABORT"]))
    for path in draw(st.lists(st.sampled_from(LINEAGE_PATHS), min_size=1, max_size=3)):
        value = draw(
            st.one_of(
                WRONG,
                st.dictionaries(TEXT, WRONG, max_size=3),
                st.lists(st.dictionaries(st.sampled_from(["namespace", "name"]), TEXT), max_size=2),
            )
        )
        _put(event, path, value)
    return event


@pytest.mark.django_db
@FUZZ
@given(event=lineage_events(), whole=st.sampled_from([None, None, None, 1, 2]))
def test_lineage_never_500(event, whole):
    body = json.dumps(event).encode()
    if whole == 1:
        body = ('{"run": ' + deep(5000) + "}").encode()
    elif whole == 2:
        body = b'{"eventTime": NaN, "run": {"runId": Infinity}}'
    _post("/api/v1/lineage", body, "application/json", "inline")
