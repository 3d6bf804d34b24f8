"""The telemetry intake in /api/schema/: OTLP/HTTP traces, logs and metrics, OpenLineage
RunEvents.

These are plain Django views (their wire formats are OTLP's and OpenLineage's, not DRF's), so
drf-spectacular does not see them; ``document`` (a POSTPROCESSING_HOOKS entry) adds them by
hand. Keep it in step with ``views.py``: each status here is one the view answers.
"""

from __future__ import annotations

from copy import deepcopy

SECURITY_SCHEME = {
    "ingestKey": {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "An ingest key (admin → Ingest keys), sent as `Authorization: Bearer <key>`. A key "
            "bound to a team records only runs of that team's jobs."
        ),
    }
}

_ANY_VALUE = {
    "type": "object",
    "description": "OTLP AnyValue: one of the *Value fields.",
    "properties": {
        "stringValue": {"type": "string"},
        "boolValue": {"type": "boolean"},
        "intValue": {"oneOf": [{"type": "string", "pattern": "^-?[0-9]+$"}, {"type": "integer"}]},
        "doubleValue": {"type": "number"},
        "arrayValue": {"type": "object"},
        "kvlistValue": {"type": "object"},
        "bytesValue": {"type": "string", "format": "byte"},
    },
}
_ATTRIBUTES = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"key": {"type": "string"}, "value": _ANY_VALUE},
        "required": ["key"],
    },
}
_NANOS = {
    "oneOf": [{"type": "string", "pattern": "^[0-9]+$"}, {"type": "integer", "minimum": 0}],
    "description": "Nanoseconds since 1970 (a decimal string in OTLP/JSON).",
}
_RESOURCE = {"type": "object", "properties": {"attributes": _ATTRIBUTES}}
_SCOPE = {"type": "object", "properties": {"name": {"type": "string"}}}

_NUMBER_POINTS = {
    "type": "object",
    "properties": {
        "dataPoints": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "timeUnixNano": _NANOS,
                    "asInt": {"type": "string", "pattern": "^-?[0-9]+$"},
                    "asDouble": {"type": "number"},
                    "attributes": _ATTRIBUTES,
                },
            },
        }
    },
}
# A gauge or a sum (the kinds recorded); histograms and summaries are accepted, not recorded.
_METRIC = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "unit": {"type": "string"},
        "gauge": _NUMBER_POINTS,
        "sum": _NUMBER_POINTS,
        "histogram": {"type": "object"},
        "exponentialHistogram": {"type": "object"},
        "summary": {"type": "object"},
    },
}

COMPONENTS = {
    "OtlpSpan": {
        "type": "object",
        "description": "An OTLP span; the batch.* attributes name the job and its run.",
        "properties": {
            "traceId": {"type": "string", "description": "32 hex digits in OTLP/JSON."},
            "spanId": {"type": "string", "description": "16 hex digits in OTLP/JSON."},
            "parentSpanId": {"type": "string"},
            "name": {"type": "string"},
            "kind": {"type": "integer", "minimum": 0, "maximum": 5},
            "startTimeUnixNano": _NANOS,
            "endTimeUnixNano": _NANOS,
            "attributes": _ATTRIBUTES,
            "events": {"type": "array", "items": {"type": "object"}},
            "status": {
                "type": "object",
                "properties": {
                    "code": {"type": "integer", "minimum": 0, "maximum": 2},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "ExportTraceServiceRequest": {
        "type": "object",
        "description": "OTLP/HTTP traces, JSON encoding (opentelemetry-proto).",
        "properties": {
            "resourceSpans": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "resource": _RESOURCE,
                        "scopeSpans": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "scope": _SCOPE,
                                    "spans": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/OtlpSpan"},
                                    },
                                },
                            },
                        },
                    },
                },
            }
        },
    },
    "ExportLogsServiceRequest": {
        "type": "object",
        "description": (
            "OTLP/HTTP logs, JSON encoding. Flink's job status events (flink-metrics-otel) "
            "are recorded as runs; other records are accepted and dropped."
        ),
        "properties": {
            "resourceLogs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "resource": _RESOURCE,
                        "scopeLogs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "scope": _SCOPE,
                                    "logRecords": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "timeUnixNano": _NANOS,
                                                "body": _ANY_VALUE,
                                                "attributes": _ATTRIBUTES,
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            }
        },
    },
    "ExportMetricsServiceRequest": {
        "type": "object",
        "description": (
            "OTLP/HTTP metrics, JSON encoding. The metrics of known engines (flink-metrics-otel's "
            "job metrics, the Collector's apachespark and kafkametrics receivers) are recorded "
            "as run facts; other data points are accepted and counted as not recorded."
        ),
        "properties": {
            "resourceMetrics": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "resource": _RESOURCE,
                        "scopeMetrics": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "scope": _SCOPE,
                                    "metrics": {"type": "array", "items": _METRIC},
                                },
                            },
                        },
                    },
                },
            }
        },
    },
    "OtlpPartialSuccess": {
        "type": "object",
        "description": (
            "Present when some spans or records were refused, with the first reason, or some "
            "data points were not recorded, with what is."
        ),
        "properties": {
            "rejectedSpans": {"type": "string", "pattern": "^[0-9]+$"},
            "rejectedLogRecords": {"type": "string", "pattern": "^[0-9]+$"},
            "rejectedDataPoints": {"type": "string", "pattern": "^[0-9]+$"},
            "errorMessage": {"type": "string"},
        },
    },
    "ExportServiceResponse": {
        "type": "object",
        "description": (
            "ExportTraceServiceResponse, ExportLogsServiceResponse or ExportMetricsServiceResponse."
        ),
        "properties": {"partialSuccess": {"$ref": "#/components/schemas/OtlpPartialSuccess"}},
    },
    "GoogleRpcStatus": {
        "type": "object",
        "description": "google.rpc.Status, OTLP's error body, in the request's encoding.",
        "properties": {
            "code": {"type": "integer", "description": "A gRPC status code."},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object"}},
        },
    },
    "OpenLineageRunEvent": {
        "type": "object",
        "description": (
            "One OpenLineage RunEvent (https://openlineage.io/spec/): the run's state from "
            "eventType, its job from job.namespace and job.name."
        ),
        "properties": {
            "eventType": {
                "type": "string",
                "enum": ["START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER"],
            },
            "eventTime": {"type": "string", "format": "date-time"},
            "run": {
                "type": "object",
                "properties": {
                    "runId": {"type": "string", "maxLength": 255},
                    "facets": {"type": "object"},
                },
                "required": ["runId"],
            },
            "job": {
                "type": "object",
                "properties": {
                    "namespace": {"type": "string", "maxLength": 200},
                    "name": {"type": "string", "maxLength": 300},
                    "facets": {"type": "object"},
                },
                "required": ["namespace", "name"],
            },
            "inputs": {"type": "array", "items": {"type": "object"}},
            "outputs": {"type": "array", "items": {"type": "object"}},
            "producer": {"type": "string"},
            "schemaURL": {"type": "string"},
        },
        "required": ["eventTime", "run", "job"],
    },
    "IngestError": {
        "type": "object",
        "properties": {"error": {"type": "string"}},
        "required": ["error"],
    },
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before sending again.",
        "schema": {"type": "integer", "minimum": 0},
    }
}
_BINARY = {"type": "string", "format": "binary"}


def _attrs(**values: str) -> list[dict]:
    return [{"key": k.replace("_", "."), "value": {"stringValue": v}} for k, v in values.items()]


FLINK_JOB_ID = "7cbd8fb6e17f3f076e8e1ba1d7bc552a"

# What a sender sends, for readers of the schema (and schemathesis' first case of each).
EXAMPLES = {
    "ExportTraceServiceRequest": {
        "resourceSpans": [
            {
                "resource": {"attributes": _attrs(service_name="prod-airflow")},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "ledger_nightly_close",
                                "kind": 1,
                                "startTimeUnixNano": "1763780400000000000",
                                "endTimeUnixNano": "1763781300000000000",
                                "attributes": _attrs(
                                    batch_job_name="ledger_nightly_close",
                                    batch_job_engine="airflow",
                                    batch_run_state="succeeded",
                                ),
                                "status": {"code": 1},
                            }
                        ]
                    }
                ],
            }
        ]
    },
    "ExportLogsServiceRequest": {
        "resourceLogs": [
            {
                "resource": {"attributes": _attrs(service_name="flink")},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1763780400000000000",
                                "body": {"stringValue": "Job status changed"},
                            }
                        ]
                    }
                ],
            }
        ]
    },
    "ExportMetricsServiceRequest": {
        "resourceMetrics": [
            {
                "resource": {"attributes": _attrs(service_name="flink")},
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "flink.jobmanager.job.numRestarts",
                                "gauge": {
                                    "dataPoints": [
                                        {
                                            "timeUnixNano": "1763780400000000000",
                                            "asInt": "1",
                                            "attributes": [
                                                {
                                                    "key": "job_id",
                                                    "value": {"stringValue": FLINK_JOB_ID},
                                                }
                                            ],
                                        }
                                    ]
                                },
                            }
                        ]
                    }
                ],
            }
        ]
    },
}


def _otlp(summary: str, request: str, description: str) -> dict:
    status = {
        "application/json": {"schema": {"$ref": "#/components/schemas/GoogleRpcStatus"}},
        "application/x-protobuf": {"schema": _BINARY},
    }

    def error(text: str, retry: bool = False) -> dict:
        response = {"description": text, "content": deepcopy(status)}
        if retry:
            response["headers"] = _RETRY_AFTER
        return response

    return {
        "post": {
            "operationId": f"otlp_{request}",
            "summary": summary,
            "description": description,
            "tags": ["ingest"],
            "security": [{"ingestKey": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-protobuf": {"schema": _BINARY},
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{request}"},
                        "example": EXAMPLES[request],
                    },
                },
            },
            "responses": {
                "200": {
                    "description": (
                        "Accepted; partialSuccess counts what was refused (another team's job "
                        "for a team's key, an invalid span) or not recorded (metrics of no "
                        "known engine) and says why."
                    ),
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ExportServiceResponse"}
                        },
                        "application/x-protobuf": {"schema": _BINARY},
                    },
                },
                "400": error("Undecodable: not OTLP in the declared encoding, or bad gzip."),
                "401": error("No ingest key, or an unknown or revoked one."),
                "413": error("The body (or what it decompresses to) is over the size limit."),
                "415": error("Content-Type or Content-Encoding not supported."),
                "429": error("Too many wrong ingest keys from this address.", retry=True),
                "503": error("The database is unavailable or Batchwatch is saturated.", True),
            },
        }
    }


def _lineage() -> dict:
    def error(text: str, retry: bool = False) -> dict:
        response = {
            "description": text,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/IngestError"}}
            },
        }
        if retry:
            response["headers"] = _RETRY_AFTER
        return response

    return {
        "post": {
            "operationId": "openlineage_event",
            "summary": "Record an OpenLineage RunEvent (Marquez's endpoint)",
            "tags": ["ingest"],
            "security": [{"ingestKey": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/OpenLineageRunEvent"},
                        "example": {
                            "eventType": "COMPLETE",
                            "eventTime": "2026-11-22T07:15:00Z",
                            "run": {"runId": "0195a8d4-7c3e-7d2a-9b8e-3f1c2d4e5f60"},
                            "job": {"namespace": "prod-emr", "name": "loan_tape"},
                            "producer": "https://github.com/OpenLineage/OpenLineage",
                        },
                    }
                },
            },
            "responses": {
                "201": {"description": "Recorded."},
                "400": error("Not a RunEvent Batchwatch can take, with the reason."),
                "401": error("No ingest key, or an unknown or revoked one."),
                "403": error("The key's team does not own this job: nothing was recorded."),
                "413": error("The body is over the size limit."),
                "415": error("Content-Type is not application/json."),
                "429": error("Too many wrong ingest keys from this address.", retry=True),
                "503": error("The database is unavailable or Batchwatch is saturated.", True),
            },
        }
    }


PATHS = {
    "/v1/traces": _otlp(
        "OTLP/HTTP traces",
        "ExportTraceServiceRequest",
        "Spans of batch runs (OpenTelemetry SDKs, Airflow, Flyte, ...); see docs/telemetry.md.",
    ),
    "/v1/logs": _otlp(
        "OTLP/HTTP logs",
        "ExportLogsServiceRequest",
        "Log records; Flink's job status events become runs.",
    ),
    "/v1/metrics": _otlp(
        "OTLP/HTTP metrics",
        "ExportMetricsServiceRequest",
        "Metrics; Flink's job metrics, Spark's job and stage metrics and Kafka consumer lag "
        "become run facts, the rest is counted in partialSuccess as not recorded; see "
        "docs/telemetry.md.",
    ),
    "/api/v1/lineage": _lineage(),
}


def document(result, generator, request, public):
    """drf-spectacular postprocessing hook: the telemetry intake's paths and schemas."""
    result["paths"].update(deepcopy(PATHS))
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update(deepcopy(COMPONENTS))
    components.setdefault("securitySchemes", {}).update(deepcopy(SECURITY_SCHEME))
    return result
