from django.db import migrations

import batchwatch.core.fields


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
        migrations.RunPython(
            batchwatch.core.fields.lz4_compression("alerts_alertintake", "events"),
            migrations.RunPython.noop,
        ),
    ]
