from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0006_alert_intake_text"),
    ]

    operations = [
        migrations.AlterField(
            model_name="timelineentry",
            name="kind",
            field=models.CharField(
                choices=[
                    ("opened", "Opened"),
                    ("alerts_grouped", "Alerts grouped"),
                    ("alert_attached", "Downstream alert attached"),
                    ("muted", "Notifications held (route muted)"),
                    ("group_firing", "Group notification (firing)"),
                    ("group_resolved", "Group notification (resolved)"),
                    ("no_escalation", "No escalation policy"),
                    ("escalated", "Escalated"),
                    ("escalate_requested", "Escalation requested"),
                    ("retriggered", "Retriggered"),
                    ("acknowledged", "Acknowledged"),
                    ("snoozed", "Snoozed"),
                    ("reassigned", "Reassigned"),
                    ("resolved", "Resolved"),
                ],
                max_length=40,
            ),
        ),
    ]
