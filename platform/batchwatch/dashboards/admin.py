from django.contrib import admin

from batchwatch.dashboards.models import DeployedDashboard, Deployment


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    """Every `dashboards deploy` (dry runs too): when, which revision, what happened."""

    list_display = [
        "started_at",
        "revision",
        "dry_run",
        "on_drift",
        "prune",
        "ok",
        "writes",
        "summary",
    ]
    list_filter = ["ok", "dry_run", "grafana_url"]
    readonly_fields = [f.name for f in Deployment._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(DeployedDashboard)
class DeployedDashboardAdmin(admin.ModelAdmin):
    list_display = ["uid", "title", "folder_uid", "version", "deployed_at", "grafana_url"]
    search_fields = ["uid", "title"]
    readonly_fields = [f.name for f in DeployedDashboard._meta.fields]

    def has_add_permission(self, request):
        return False
