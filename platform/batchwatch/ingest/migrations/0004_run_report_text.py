from django.db import migrations

import batchwatch.core.fields


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
        migrations.RunPython(
            batchwatch.core.fields.lz4_compression("ingest_runreportbatch", "observations"),
            migrations.RunPython.noop,
        ),
    ]
