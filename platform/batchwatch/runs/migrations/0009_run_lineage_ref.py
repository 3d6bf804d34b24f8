from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0008_run_source_otlp_metrics"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="lineage_ref",
            field=models.CharField(blank=True, db_index=True, max_length=600),
        ),
    ]
