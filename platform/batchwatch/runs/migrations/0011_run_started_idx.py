from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0010_span_trace_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="run",
            index=models.Index(fields=["-started_at", "-id"], name="run_started_idx"),
        ),
    ]
