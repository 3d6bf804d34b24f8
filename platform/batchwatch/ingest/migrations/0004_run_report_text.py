from django.db import migrations

import batchwatch.core.fields


def lz4_where_supported(apps, schema_editor):
    """Queued observations compress well; lz4 costs less CPU than PostgreSQL's default pglz.
    A server built without lz4 keeps pglz (the column works the same)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic():
            schema_editor.execute(
                "ALTER TABLE ingest_runreportbatch ALTER COLUMN observations SET COMPRESSION lz4"
            )
    except DatabaseError:
        pass


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0003_run_report_batch"),
    ]

    operations = [
        migrations.AlterField(
            model_name="runreportbatch",
            name="observations",
            field=batchwatch.core.fields.QueuedJSONField(),
        ),
        migrations.RunPython(lz4_where_supported, migrations.RunPython.noop),
    ]
