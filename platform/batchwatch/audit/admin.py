from django.contrib import admin

from batchwatch.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the log is evidence, so nobody adds, edits or deletes a row here."""

    list_display = ["at", "action", "actor_name", "team", "target_repr", "ip"]
    list_filter = ["action", "team", "at"]
    search_fields = ["actor_name", "actor__username", "target_repr", "target_id"]
    list_select_related = ["team"]
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
