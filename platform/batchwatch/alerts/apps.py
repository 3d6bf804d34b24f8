from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Alert intake, routing, grouping into incidents, suppression and escalation timers."""

    name = "batchwatch.alerts"
    label = "alerts"
    verbose_name = "Alerts and incidents"

    def ready(self) -> None:
        from batchwatch.alerts import metrics, periodic  # noqa: F401 - timers, intake, /metrics
        from batchwatch.alerts.paging_facts import incident_facts
        from batchwatch.alerts.paging_fence import page_no_longer_wanted
        from batchwatch.notify import presend
        from batchwatch.notify.transports import facts

        facts.register(incident_facts)
        presend.register(page_no_longer_wanted)
