from django.db import migrations

import batchwatch.core.fields


def lz4_where_supported(apps, schema_editor):
    """As for queued run reports (ingest 0004): lz4 where the server has it, else pglz."""
    if schema_editor.connection.vendor != "postgresql":
        return
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic():
            schema_editor.execute(
                "ALTER TABLE alerts_alertintake ALTER COLUMN events SET COMPRESSION lz4"
            )
    except DatabaseError:
        pass


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0005_bulk_json_fields"),
    ]

    operations = [
        migrations.AlterField(
            model_name="alertintake",
            name="events",
            field=batchwatch.core.fields.QueuedJSONField(),
        ),
        migrations.RunPython(lz4_where_supported, migrations.RunPython.noop),
    ]
