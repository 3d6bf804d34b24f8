from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0011_run_started_idx"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="run",
            index=models.Index(fields=["state", "ended_at"], name="run_state_ended_idx"),
        ),
    ]
