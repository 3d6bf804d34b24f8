"""Ingest endpoints. Thin: authenticate, read and decode at the edge, call one service.

Status codes follow the OTLP/HTTP specification: 200 (with partial_success when some spans
were refused), 400 undecodable, 401 bad key, 413 too large, 415 unsupported type or encoding,
429 with Retry-After after too many wrong keys from one address, 503 with Retry-After when the
database is unavailable or we are saturated (clients retry both).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from batchwatch.core.body import read_body
from batchwatch.ingest import otlp
from batchwatch.ingest.auth import authenticate
from batchwatch.ingest.errors import IngestError
from batchwatch.ingest.flink import observations_from_logs
from batchwatch.ingest.openlineage import parse_run_event
from batchwatch.ingest.otlpmetrics import read_metrics
from batchwatch.ingest.services import ingest_job_facts, ingest_run_events, ingest_spans
from batchwatch.ingest.stats import INGEST_STATS

logger = logging.getLogger("batchwatch.ingest")

# Bounds how many ingest requests write at once; the rest are told to retry, not queued.
_slots = threading.BoundedSemaphore(settings.BATCHWATCH_INGEST_MAX_CONCURRENCY)
# INVALID_ARGUMENT, UNAUTHENTICATED, ..., RESOURCE_EXHAUSTED (too many wrong keys), UNAVAILABLE
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 413: 3, 415: 3, 429: 8, 503: 14}


class _Saturated(Exception):
    pass


class _Slot:
    def __enter__(self):
        if not _slots.acquire(timeout=settings.BATCHWATCH_INGEST_QUEUE_SECONDS):
            raise _Saturated
        return self

    def __exit__(self, *exc):
        _slots.release()


# What an ingest request answers when the database stayed unavailable for the whole wait.
DATABASE_RETRY_AFTER = 1


class _DatabaseWait:
    """Runs a request's database work, trying again while the database is unavailable, for
    BATCHWATCH_INGEST_DB_WAIT_SECONDS from the request's start; then the error propagates
    and the request is answered 503. Each try is whole or nothing (one transaction, or job
    registrations that are idempotent), so trying again never stores anything twice."""

    def __init__(self):
        self.deadline = time.monotonic() + settings.BATCHWATCH_INGEST_DB_WAIT_SECONDS

    def __call__(self, work, *args, **kwargs):
        while True:
            try:
                return work(*args, **kwargs)
            except (OperationalError, InterfaceError):
                # (inside a transaction, say a test's, the connection is not ours to replace)
                if time.monotonic() + 0.25 > self.deadline or connection.in_atomic_block:
                    raise
                connection.close()  # dead after a restart: the next try opens a new one
                time.sleep(0.25)


def _otlp_error(content_type: str, status: int, message: str, retry_after: int | None = None):
    body = otlp.status_body(content_type, GRPC_CODES.get(status, 2), message)
    response = HttpResponse(body, status=status, content_type=content_type)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _otlp_endpoint(request, handle):
    """The shared OTLP envelope: content type, auth, body, errors in the request's encoding."""
    started = datetime.now(UTC)
    reply_type = otlp.JSON
    try:
        declared = otlp.content_type_of(request)
        reply_type = declared
        database = _DatabaseWait()
        principal = database(authenticate, request)
        body = read_body(request)
        content_type = otlp.sniff(body, declared)
        with _Slot():
            return database(handle, body, content_type, reply_type, principal, started)
    except IngestError as exc:
        INGEST_STATS.count_error(exc.status)
        return _otlp_error(reply_type, exc.status, exc.message, exc.retry_after)
    except _Saturated:
        INGEST_STATS.count_error(503)
        return _otlp_error(reply_type, 503, "Batchwatch is saturated; retry shortly.", 1)
    except (OperationalError, InterfaceError) as exc:
        INGEST_STATS.count_error(503)
        logger.warning("ingest.database_unavailable", extra={"error": str(exc)[:200]})
        return _otlp_error(
            reply_type, 503, "The database is unavailable; retry shortly.", DATABASE_RETRY_AFTER
        )
    finally:
        INGEST_STATS.observe_latency((datetime.now(UTC) - started).total_seconds())


@csrf_exempt
@require_POST
def otlp_traces(request):
    def handle(body, content_type, reply_type, principal, now):
        decoded = otlp.spans_from_request(otlp.parse_traces(body, content_type), now=now)
        result = ingest_spans(decoded.spans, principal=principal, now=now)
        rejected = decoded.rejected + result.rejected
        message = decoded.first_rejection or result.message
        INGEST_STATS.count_spans(result.accepted)
        message = f"{rejected} span(s) rejected; first: {message}" if rejected else ""
        notes = [message] if message else []
        # Warnings (0 rejected and a message, in OTLP's terms), so the sender knows.
        if decoded.events_not_kept:
            notes.append(otlp.events_not_kept_note(decoded.events_not_kept))
        if decoded.unknown_service and result.runs:
            notes.append(otlp.unknown_service_note(decoded.unknown_service))
        message = "; ".join(notes)
        return HttpResponse(
            otlp.traces_response(reply_type, rejected=rejected, message=message),
            content_type=reply_type,
        )

    return _otlp_endpoint(request, handle)


@csrf_exempt
@require_POST
def otlp_logs(request):
    """OTLP logs: we keep Flink's job status events, and accept (and drop) the rest."""

    def handle(body, content_type, reply_type, principal, now):
        observations, rejected, message, warning = observations_from_logs(
            otlp.parse_logs(body, content_type)
        )
        refused: list[str] = []  # records about another team's jobs (a key bound to a team)
        ingest_run_events(
            observations, lineage=[], principal=principal, now=now, refused_out=refused
        )
        rejected += len(refused)
        message = message or (refused[0] if refused else "")
        message = f"{rejected} log record(s) rejected; first: {message}" if rejected else ""
        if warning:  # (0 rejected and a message: a warning, in OTLP's terms)
            message = f"{message}; {warning}" if message else warning
        return HttpResponse(
            otlp.logs_response(reply_type, rejected=rejected, message=message),
            content_type=reply_type,
        )

    return _otlp_endpoint(request, handle)


@csrf_exempt
@require_POST
def otlp_metrics(request):
    """OTLP metrics (what flink-metrics-otel and collectors send beside traces and logs):
    the metrics of known engines become run facts (ingest/otlpmetrics.py); the rest is
    accepted, so senders do not retry, and counted in partial_success's rejected data points
    with a sentence that says what is recorded."""

    def handle(body, content_type, reply_type, principal, now):
        reading = read_metrics(otlp.parse_metrics(body, content_type), now=now)
        refused: list[str] = []  # lag or counters of another team's jobs (a team-bound key)
        if reading.observations:
            ingest_run_events(
                reading.observations, lineage=[], principal=principal, now=now, refused_out=refused
            )
        refused += ingest_job_facts(reading.job_facts, principal=principal)
        refused = list(dict.fromkeys(refused))  # (a job's lag refused as run and job fact)
        # Rejected: what was not recorded, so partial_success tells the sender the truth.
        rejected = reading.ignored + len(refused)
        message = reading.message()
        if refused:
            message = "; ".join(filter(None, [message, f"refused: {refused[0]}"]))
        return HttpResponse(
            otlp.metrics_response(reply_type, rejected=rejected, message=message),
            content_type=reply_type,
        )

    return _otlp_endpoint(request, handle)


def otlp_not_found(path: str) -> HttpResponse:
    """404 with an OTLP Status (JSON), not an HTML page, so an exporter pointed at a wrong
    URL logs a sentence that says what to send where."""
    message = (
        f"{path} is not an OTLP endpoint of Batchwatch; send traces to /v1/traces, logs "
        "to /v1/logs and metrics to /v1/metrics (the exporter's endpoint must be the full URL)."
    )
    return _otlp_error(otlp.JSON, 404, message)


@csrf_exempt
def otlp_unknown(request, rest: str = ""):
    """Any other path under /v1/ (a wrong path elsewhere: ingest/middleware.py)."""
    return otlp_not_found(f"/v1/{rest}")


def _json_error(status: int, message: str, retry_after: int | None = None) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@csrf_exempt
@require_POST
def lineage(request):
    """One OpenLineage RunEvent per request, as Marquez takes them. 201 on success."""
    now = datetime.now(UTC)
    try:
        media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media != "application/json":
            raise IngestError(415, "Content-Type must be application/json.")
        database = _DatabaseWait()
        principal = database(authenticate, request)
        body = read_body(request)
        try:
            event = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IngestError(400, f"Body is not valid JSON: {exc}.") from None
        except RecursionError:
            raise IngestError(400, "Body is nested too deeply to be a RunEvent.") from None
        observation, lineage_observation = parse_run_event(event, now=now)
        refused: list[str] = []
        with _Slot():
            database(
                ingest_run_events,
                [observation],
                lineage=[lineage_observation],
                principal=principal,
                now=now,
                refused_out=refused,
            )
        if refused:  # the key's team does not own this job: nothing was recorded
            raise IngestError(403, f"{refused[0][:1].upper()}{refused[0][1:]}.")
    except IngestError as exc:
        INGEST_STATS.count_error(exc.status)
        return _json_error(exc.status, exc.message, exc.retry_after)
    except _Saturated:
        return _json_error(503, "Batchwatch is saturated; retry shortly.", 1)
    except (OperationalError, InterfaceError) as exc:
        logger.warning("ingest.database_unavailable", extra={"error": str(exc)[:200]})
        return _json_error(503, "The database is unavailable; retry shortly.", DATABASE_RETRY_AFTER)
    INGEST_STATS.count_events(1)
    return HttpResponse(status=201)
