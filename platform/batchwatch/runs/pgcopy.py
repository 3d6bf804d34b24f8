"""PostgreSQL fast paths for a request's spans and runs. Spans are COPYed into their table
(through a staging table and an INSERT that skips stored ones when some were stored before);
new runs are COPYed into a staging table and inserted with one INSERT ... RETURNING; changed
runs are COPYed into another and written with one UPDATE ... FROM. COPY is several times
faster than multi-row statements for wide rows, and one statement for a request's runs beats
one per run."""

from __future__ import annotations

import json

from django.db import IntegrityError, connection, transaction

from batchwatch.runs.models import Run, Span
from batchwatch.runs.observations import SpanRecord, kept_resource

# One encoder for every row: json.dumps(..., default=str) builds a new one per call, a cost
# that adds up over a request's thousand documents (docs/benchmarks.md, "Ingest").
_json = json.JSONEncoder(default=str).encode

# Span attributes, 512 small objects a request: JSONEncoder.encode builds a new C encoder
# for each call, much of the cost of encoding them (docs/benchmarks.md, "Ingest"). This one
# is built once; it skips the circular-reference check, as these are decoded telemetry: trees
# by construction.
# (Reached through getattr: typeshed does not declare the C accelerator.)
_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_tree_encoder = (
    _make_encoder(
        None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    if _make_encoder is not None
    else None
)


def _json_tree(value) -> str:
    if _tree_encoder is None:  # (a Python without the json C accelerator)
        return _json(value)
    return "".join(_tree_encoder(value, 0))


# Column types of the staging tables (those of runs_span and runs_run, without constraints).
TYPES = {
    "id": "bigint", "trace_id": "varchar(32)", "span_id": "varchar(16)",
    "parent_span_id": "varchar(16)", "name": "varchar(300)", "kind": "smallint",
    "start_time": "timestamptz", "end_time": "timestamptz", "status_code": "smallint",
    "status_message": "text", "service_name": "varchar(200)", "attributes": "jsonb",
    "events": "jsonb", "job_id": "bigint", "external_id": "varchar(255)",
    "source": "varchar(16)", "state": "varchar(16)", "scheduled_at": "timestamptz",
    "started_at": "timestamptz", "ended_at": "timestamptz",
    "duration_seconds": "double precision", "attempt": "integer", "failure_reason": "text",
    "root_span_id": "varchar(16)", "parent_run_id": "bigint", "parent_ref": "varchar(600)",
    "expected_at": "timestamptz", "lineage_ref": "varchar(600)", "late_start": "boolean",
    "overran": "boolean", "too_fast": "boolean", "created_at": "timestamptz",
    "updated_at": "timestamptz", "convergence": "jsonb", "resource": "jsonb",
}  # fmt: skip

COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time",
    "status_code", "status_message", "service_name", "attributes", "events", "resource",
)  # fmt: skip


def _stage(cursor, name: str, columns: tuple[str, ...], rows) -> None:
    """COPY rows into the temporary table ``name`` (made if missing, emptied first).

    Temporary tables belong to the connection and are emptied at commit (ON COMMIT DELETE
    ROWS); "IF NOT EXISTS" every time, as a new connection has none, and TRUNCATE for a second
    use in one transaction. One round trip for both.
    """
    ddl = ", ".join(f"{c} {TYPES[c]}" for c in columns)
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {name} ({ddl}) ON COMMIT DELETE ROWS; TRUNCATE {name}"
    )
    with cursor.cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def copy_spans(records: list[SpanRecord]) -> int:
    """Store spans, skipping those stored already; returns how many were new.

    First straight into the table with COPY, in a savepoint: what a new request's spans take.
    A span stored before (an exporter retrying) makes that COPY fail; then the spans go
    through a staging table and one INSERT that skips the ones already there.
    """
    # The spans of one OTLP ResourceSpans share its resource dict: filter and encode it once
    # (by identity; the records keep every dict alive until the rows are built).
    resources: dict[int, str] = {}

    def resource_text(resource: dict) -> str:
        text = resources.get(id(resource))
        if text is None:
            text = resources[id(resource)] = _json_tree(kept_resource(resource))
        return text

    rows = [
        (
            s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start, s.end,
            s.status_code, s.status_message, s.service_name,
            _json_tree(s.attributes), _json(s.events) if s.events else "[]",
            resource_text(s.resource) if s.resource else "{}",
        )
        for s in records
    ]  # fmt: skip
    table = Span._meta.db_table
    columns = ", ".join(COLUMNS)
    if len({(s.trace_id, s.span_id) for s in records}) == len(records):
        try:
            # (psycopg's own COPY API: wrap its errors as Django's, IntegrityError included)
            with (
                transaction.atomic(),
                connection.cursor() as cursor,
                connection.wrap_database_errors,
                cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return len(rows)
        except IntegrityError:
            pass  # some were stored before: skip them below
    with connection.cursor() as cursor:
        _stage(cursor, "span_staging", COLUMNS, rows)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) "  # noqa: S608 - constant names
            f"SELECT DISTINCT ON (trace_id, span_id) {columns} FROM span_staging "
            "ON CONFLICT (trace_id, span_id) DO NOTHING"
        )
        return cursor.rowcount


RUN_COLUMNS = (
    "external_id", "source", "state", "scheduled_at", "started_at", "ended_at",
    "duration_seconds", "attempt", "failure_reason", "trace_id", "root_span_id", "parent_ref",
    "lineage_ref", "attributes", "convergence", "updated_at", "parent_run_id",
)  # fmt: skip


def copy_run_updates(runs: list[Run]) -> int:
    """Write these runs' converged fields (``runs.services.RUN_FIELDS`` and the parent link)
    with one UPDATE; returns how many rows it changed."""
    rows = (
        (
            r.pk, r.external_id, r.source, r.state, r.scheduled_at, r.started_at, r.ended_at,
            r.duration_seconds, r.attempt, r.failure_reason, r.trace_id, r.root_span_id,
            r.parent_ref, r.lineage_ref, _json(r.attributes or {}), _json(r.convergence or {}),
            r.updated_at, r.parent_run_id,
        )
        for r in runs
    )  # fmt: skip
    assignments = ", ".join(f"{c} = s.{c}" for c in RUN_COLUMNS)
    with connection.cursor() as cursor:
        _stage(cursor, "run_staging", ("id", *RUN_COLUMNS), rows)
        cursor.execute(
            f"UPDATE {Run._meta.db_table} AS r SET {assignments} "  # noqa: S608 - constant names
            "FROM run_staging AS s WHERE r.id = s.id"
        )
        return cursor.rowcount


NEW_RUN_COLUMNS = (
    "job_id", "external_id", "state", "scheduled_at", "started_at", "ended_at",
    "duration_seconds", "attempt", "failure_reason", "trace_id", "root_span_id",
    "parent_run_id", "parent_ref", "lineage_ref", "source", "expected_at", "late_start", "overran",
    "too_fast", "attributes", "convergence", "created_at", "updated_at",
)  # fmt: skip


def copy_run_inserts(runs: list[Run]) -> None:
    """Insert new runs: COPY into a staging table, one INSERT ... RETURNING their ids, which
    are set on the objects. Same columns and constraints as ``bulk_create`` (a duplicate
    raises IntegrityError), without building a statement of a thousand parameters."""
    rows = (
        (
            r.job_id, r.external_id, r.state, r.scheduled_at, r.started_at, r.ended_at,
            r.duration_seconds, r.attempt, r.failure_reason, r.trace_id, r.root_span_id,
            r.parent_run_id, r.parent_ref, r.lineage_ref, r.source, r.expected_at, r.late_start,
            r.overran, r.too_fast, _json(r.attributes or {}), _json(r.convergence or {}),
            r.created_at, r.updated_at,
        )
        for r in runs
    )  # fmt: skip
    columns = ", ".join(NEW_RUN_COLUMNS)
    with connection.cursor() as cursor:
        _stage(cursor, "run_new_staging", NEW_RUN_COLUMNS, rows)
        cursor.execute(
            f"INSERT INTO {Run._meta.db_table} ({columns}) "  # noqa: S608 - constant names
            f"SELECT {columns} FROM run_new_staging RETURNING id, job_id, external_id"
        )
        ids = {(job_id, external_id): pk for pk, job_id, external_id in cursor.fetchall()}
    for r in runs:
        r.pk = ids[(r.job_id, r.external_id)]
        r._state.adding, r._state.db = False, connection.alias
