from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0010_action_link"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(fields=["-created_at", "-id"], name="incident_created_idx"),
        ),
    ]
