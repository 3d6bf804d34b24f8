"""Model fields shared by the apps."""

from __future__ import annotations

import logging

from django.apps import apps as installed_apps
from django.db import DatabaseError, models, transaction

from batchwatch.core import crypto, jsontext

logger = logging.getLogger("batchwatch.crypto")


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


class UnreadableSecret(str):
    """What an :class:`EncryptedTextField` reads when no configured key decrypts the stored
    value: empty (so it counts as "not set" and is never sent anywhere), yet saving the row
    again writes the stored ciphertext back unchanged, so restoring the missing key later
    recovers it."""

    stored: str

    def __new__(cls, stored: str):
        value = super().__new__(cls, "")
        value.stored = stored
        return value


class EncryptedTextField(models.TextField):
    """A secret encrypted at rest (``core.crypto``: Fernet under ``BATCHWATCH_SECRET_KEYS``).

    The column holds ``bwenc:v1:<token>``; Python sees the plain text. A row written before
    the field was encrypted (plain text) reads as it is and is encrypted when saved again.
    Encryption is randomised, so the column cannot be searched: every lookup but ``isnull``
    is refused rather than silently matching nothing. Serialised (``dumpdata``) it stays
    ciphertext, and ciphertext given back (``loaddata``) is stored as it is.
    """

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        try:
            return crypto.decrypt(value)
        except crypto.SecretUnreadable:
            logger.error("secret.unreadable model=%s field=%s", self.model._meta.label, self.name)
            return UnreadableSecret(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return None
        if isinstance(value, UnreadableSecret):
            return value.stored
        if crypto.is_encrypted(value):
            return value  # already ciphertext (a fixture, a migration copying the column)
        return crypto.encrypt(value)

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            return None  # FieldError: "Unsupported lookup ... for EncryptedTextField"
        return super().get_lookup(lookup_name)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))


def encrypted_fields() -> list[tuple[type[models.Model], str]]:
    """Every ``EncryptedTextField`` of every installed model, as (model, field name)."""
    return [
        (model, field.name)
        for model in installed_apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]


def secrets_reencrypt() -> dict[str, dict[str, int]]:
    """Write every stored secret again under the first key (legacy plain text encrypted too),
    so that older keys can be dropped from ``BATCHWATCH_SECRET_KEYS``. Returns, per
    ``app.Model.field``, how many values were re-encrypted and how many no key decrypts
    (those are left as they are)."""
    report: dict[str, dict[str, int]] = {}
    for model, name in encrypted_fields():
        counts = {"reencrypted": 0, "unreadable": 0}
        with transaction.atomic():
            rows = model._base_manager.select_for_update().order_by("pk")
            for pk, value in rows.values_list("pk", name):
                if isinstance(value, UnreadableSecret):
                    counts["unreadable"] += 1
                    continue
                if not value:
                    continue
                # Saved through the field: encrypted under the first key (new token).
                model._base_manager.filter(pk=pk).update(**{name: value})
                counts["reencrypted"] += 1
        report[f"{model._meta.label}.{name}"] = counts
    return report


def lz4_compression(table: str, column: str):
    """A ``RunPython`` function for the migration that adds a :class:`QueuedJSONField`:
    queued documents compress well, and lz4 costs less CPU than PostgreSQL's default pglz.
    A server built without lz4 keeps pglz (the column works the same); other databases
    have nothing to do."""

    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        try:
            with transaction.atomic():
                schema_editor.execute(
                    f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4"
                )
        except DatabaseError:
            pass

    return apply
