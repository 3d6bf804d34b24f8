from django.contrib import admin

from batchwatch.runbooks.models import Runbook


@admin.register(Runbook)
class RunbookAdmin(admin.ModelAdmin):
    """Read-only: runbooks are edited as files in runbooks/ and loaded by `runbooks sync`."""

    list_display = ["slug", "title", "owner", "severity", "last_reviewed", "synced_at"]
    list_filter = ["severity", "owner"]
    search_fields = ["slug", "title", "body"]
    readonly_fields = [f.name for f in Runbook._meta.fields]

    def has_add_permission(self, request):
        return False
