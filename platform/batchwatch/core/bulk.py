"""Set-based writes for hot paths, where Django's own cost more than the database's work.

``QuerySet.bulk_update`` writes one ``CASE WHEN id = ... THEN ...`` per field and row: for
a webhook that refreshes a thousand known alerts (what Alertmanager sends every
group_interval), building and resolving those expressions cost far more than the update
itself. On PostgreSQL, :func:`update_rows` sends one ``UPDATE ... FROM (VALUES ...)`` with
the values as parameters instead (figures: docs/benchmarks.md, "Alert storm").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import cast

from django.db import connection
from django.db.models import Field, Model


def update_rows(objs: Sequence[Model], fields: Sequence[str], *, batch_size: int = 1000) -> int:
    """Write ``fields`` of saved model instances ``objs`` (all of one model), like
    ``bulk_update``; returns how many rows were updated."""
    if not objs:
        return 0
    model = type(objs[0])
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_update(objs, fields, batch_size=batch_size)
    meta = model._meta
    # Concrete fields, as bulk_update requires: get_field's type also allows reverse relations
    # and generic keys, which have no column.
    columns = [cast(Field, field) for field in (meta.pk, *map(meta.get_field, fields))]
    pk = columns[0]
    quote = connection.ops.quote_name
    # Each value cast to its column's type (VALUES has none of its own); varchar without its
    # length, which an explicit cast would silently truncate to.
    row = "(" + ", ".join(f"%s::{_cast_type(c)}" for c in columns) + ")"
    names = ", ".join(quote(c.column) for c in columns)
    assignments = ", ".join(f"{quote(c.column)} = v.{quote(c.column)}" for c in columns[1:])
    table = quote(meta.db_table)
    # Rows per statement: PostgreSQL takes at most 65,535 parameters.
    size = max(1, min(batch_size, 65_535 // len(columns)))
    updated = 0
    with parameters_apart_cursor() as cursor:
        for start in range(0, len(objs), size):
            chunk = objs[start : start + size]
            params = [
                c.get_db_prep_save(getattr(obj, c.attname), connection)
                for obj in chunk
                for c in columns
            ]
            # (names from the model's metadata, quoted; the values are parameters)
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} "  # noqa: S608
                f"FROM (VALUES {', '.join([row] * len(chunk))}) AS v ({names}) "
                f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}",
                params,
            )
            updated += cursor.rowcount
    return updated


def _cast_type(field) -> str:
    return re.sub(r"^varchar\(\d+\)$", "varchar", field.db_type(connection))


def parameters_apart_cursor():
    """Django's cursor (health check, error translation, query logging), which on PostgreSQL
    sends parameters apart from the statement (server-side binding).

    Django binds client-side by default: every value is escaped into the statement text and
    PostgreSQL parses it back out, which for a queued document of tens of kilobytes, or a
    statement of thousands of values, costs more CPU on both sides than the write itself.
    (Prepared statements stay off, as Django leaves them: connection poolers keep working.)
    """
    if connection.vendor != "postgresql":
        return connection.cursor()
    # The PostgreSQL backend (and psycopg) imported only where it is the database; the stubs
    # do not declare the server-binding cursor Django 5.0 added.
    from django.db.backends.postgresql.base import ServerBindingCursor  # type: ignore[attr-defined]  # noqa: PLC0415

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = ServerBindingCursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)
