"""PostgreSQL fast path for spans: COPY into a temporary table, then one INSERT that skips
spans already stored. COPY is several times faster than a multi-row INSERT for wide rows."""

from __future__ import annotations

import json

from django.db import connection

from batchwatch.runs.models import Span
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
