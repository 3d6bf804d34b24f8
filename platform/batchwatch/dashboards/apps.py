from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    """Grafana dashboards as code: built from the catalog and dashboards/*.dashboard.py."""

    name = "batchwatch.dashboards"
    label = "dashboards"
    verbose_name = "Dashboards"
