"""PostgreSQL fast paths: spans COPYed into a temporary table, then one INSERT that skips
spans already stored; changed runs COPYed into another, then one UPDATE ... FROM. COPY is
several times faster than multi-row statements for wide rows, and one statement for a request's
runs beats one per run."""

from __future__ import annotations

import json

from django.db import connection

from batchwatch.runs.models import Run, Span
from batchwatch.runs.observations import SpanRecord

COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time",
    "status_code", "status_message", "service_name", "attributes", "events",
)  # fmt: skip


def copy_spans(records: list[SpanRecord]) -> int:
    table = Span._meta.db_table
    columns = ", ".join(COLUMNS)
    with connection.cursor() as cursor:
        # A temporary table per connection, emptied at every commit (ON COMMIT DELETE ROWS),
        # so no TRUNCATE. "IF NOT EXISTS" every time: a rolled-back transaction or a new
        # connection takes the table away, and remembering it would go stale.
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS span_staging ("
            "trace_id varchar(32), span_id varchar(16), parent_span_id varchar(16), "
            "name varchar(300), kind smallint, start_time timestamptz, end_time timestamptz, "
            "status_code smallint, status_message text, service_name varchar(200), "
            "attributes jsonb, events jsonb) ON COMMIT DELETE ROWS"
        )
        with cursor.cursor.copy(f"COPY span_staging ({columns}) FROM STDIN") as copy:
            for s in records:
                copy.write_row(
                    (
                        s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start, s.end,
                        s.status_code, s.status_message, s.service_name,
                        json.dumps(s.attributes, default=str), json.dumps(s.events, default=str),
                    )
                )  # fmt: skip
        cursor.execute(
            f"INSERT INTO {table} ({columns}) "  # noqa: S608 - constant names
            f"SELECT DISTINCT ON (trace_id, span_id) {columns} FROM span_staging "
            "ON CONFLICT (trace_id, span_id) DO NOTHING"
        )
        return cursor.rowcount


RUN_COLUMNS = (
    "external_id", "source", "state", "scheduled_at", "started_at", "ended_at",
    "duration_seconds", "attempt", "failure_reason", "trace_id", "root_span_id", "parent_ref",
    "attributes", "updated_at", "parent_run_id",
)  # fmt: skip


def copy_run_updates(runs: list[Run]) -> int:
    """Write these runs' converged fields (``runs.services.RUN_FIELDS`` and the parent link)
    with one UPDATE; returns how many rows it changed."""
    table = Run._meta.db_table
    columns = ", ".join(RUN_COLUMNS)
    assignments = ", ".join(f"{c} = s.{c}" for c in RUN_COLUMNS)
    with connection.cursor() as cursor:
        # Emptied at commit; emptied here too, for a second call in the same transaction.
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS run_staging (id bigint, external_id varchar(255), "
            "source varchar(16), state varchar(16), scheduled_at timestamptz, "
            "started_at timestamptz, ended_at timestamptz, duration_seconds double precision, "
            "attempt integer, failure_reason text, trace_id varchar(32), "
            "root_span_id varchar(16), parent_ref varchar(600), attributes jsonb, "
            "updated_at timestamptz, parent_run_id bigint) ON COMMIT DELETE ROWS; "
            "TRUNCATE run_staging"
        )
        with cursor.cursor.copy(f"COPY run_staging (id, {columns}) FROM STDIN") as copy:
            for r in runs:
                copy.write_row(
                    (
                        r.pk, r.external_id, r.source, r.state, r.scheduled_at, r.started_at,
                        r.ended_at, r.duration_seconds, r.attempt, r.failure_reason,
                        r.trace_id, r.root_span_id, r.parent_ref,
                        json.dumps(r.attributes or {}, default=str), r.updated_at,
                        r.parent_run_id,
                    )
                )  # fmt: skip
        cursor.execute(
            f"UPDATE {table} AS r SET {assignments} "  # noqa: S608 - constant names
            "FROM run_staging AS s WHERE r.id = s.id"
        )
        return cursor.rowcount
