"""DRF authtoken keys become hashed API tokens named "migrated", so clients keep working.

``rest_framework.authtoken`` stored its keys in clear in ``authtoken_token``. Where that table
exists (a database from before personal tokens), each key is copied as its SHA-256 (its owner,
its creation time, no expiry: these clients never agreed to one), and the clear keys are
deleted. The empty table is left to the operator (Django no longer knows the app).
"""

import hashlib
from datetime import UTC, datetime

from django.db import migrations
from django.utils.dateparse import parse_datetime

AUTHTOKEN_TABLE = "authtoken_token"
PREFIX_LENGTH = 8


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def migrate_authtoken_tokens(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if AUTHTOKEN_TABLE not in connection.introspection.table_names(cursor):
            return
        table = connection.ops.quote_name(AUTHTOKEN_TABLE)
        cursor.execute(f"SELECT {connection.ops.quote_name('key')}, user_id, created FROM {table}")  # noqa: S608 - a constant name
        rows = cursor.fetchall()
    ApiToken = apps.get_model("accounts", "ApiToken")
    for key, user_id, created in rows:
        token_hash = hashlib.sha256(key.encode()).hexdigest()
        if ApiToken.objects.filter(token_hash=token_hash).exists():
            continue  # migrated already (the migration was run again after a rollback)
        token = ApiToken.objects.create(
            user_id=user_id,
            name="migrated",
            prefix=key[:PREFIX_LENGTH],
            token_hash=token_hash,
            expires_at=None,
        )
        # created_at is auto_now_add: the original time is written after the insert.
        ApiToken.objects.filter(pk=token.pk).update(created_at=_aware(created))
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - a constant name


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    # Backwards: nothing to do, the clear keys cannot (and should not) be brought back.
    operations = [migrations.RunPython(migrate_authtoken_tokens, migrations.RunPython.noop)]
