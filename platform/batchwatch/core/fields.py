"""Model fields shared by the apps."""

from __future__ import annotations

from django.db import models

from batchwatch.core import jsontext


class BulkJSONField(models.JSONField):
    """A JSONField for tables written with ``bulk_create`` in hot paths (alerts, outbox,
    timeline, runs).

    On PostgreSQL, Django 5.2 bulk-inserts through ``UNNEST`` of one array per column; with
    psycopg's client-side binding every element of a text array is escaped by regular
    expressions, which for JSON documents costs several times the insert itself (measured:
    a storm's 50 group notifications). A field with ``get_placeholder`` makes Django use a
    plain ``VALUES`` list instead. The column and the stored data are the same.
    """

    def get_placeholder(self, value, compiler, connection) -> str:
        return "%s"


class QueuedJSONField(models.TextField):
    """JSON kept as text, for queue rows written once per request and read once by a drain.

    ``jsonb`` parses and re-encodes every document on insert, which for a queued OTLP
    request's observations (tens of kilobytes) cost PostgreSQL more than the rest of the
    insert; nothing queries inside these documents, so they are stored as the text they are
    (compressed with lz4 where the server supports it: :func:`lz4_compression`). Python sees
    the decoded value, as with a JSONField; datetimes in it are written in ISO 8601.
    """

    def from_db_value(self, value, expression, connection):
        return None if value is None else jsontext.loads(value)

    def to_python(self, value):
        return jsontext.loads(value) if isinstance(value, str) else value

    def get_prep_value(self, value):
        return None if value is None else jsontext.dumps(value)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))


def lz4_compression(table: str, column: str):
    """A ``RunPython`` function for the migration that adds a :class:`QueuedJSONField`:
    queued documents compress well, and lz4 costs less CPU than PostgreSQL's default pglz.
    A server built without lz4 keeps pglz (the column works the same); other databases
    have nothing to do."""

    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        from django.db import DatabaseError, transaction

        try:
            with transaction.atomic():
                schema_editor.execute(
                    f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4"
                )
        except DatabaseError:
            pass

    return apply
