"""Model fields shared by the apps."""

from __future__ import annotations

from django.db import models


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
