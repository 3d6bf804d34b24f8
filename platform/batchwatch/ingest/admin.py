from datetime import UTC, datetime

from django.contrib import admin, messages

from batchwatch.ingest.models import EventLogImport, IngestKey, RunReportBatch
from batchwatch.ingest.services import (
    ingest_key_create,
    ingest_key_record_revoked,
    ingest_keys_revoke,
)


@admin.register(IngestKey)
class IngestKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "key_prefix",
        "team",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["team", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "key_prefix", "team__name"]
    readonly_fields = ["key_prefix", "created_by", "created_at", "last_used_at"]
    fields = [
        "name",
        "team",
        "key_prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            was_active = IngestKey.objects.filter(pk=obj.pk, revoked_at__isnull=True).exists()
            super().save_model(request, obj, form, change)
            if was_active and obj.revoked_at is not None:  # revoked in the form
                ingest_key_record_revoked(key=obj, actor=request.user, request=request)
            return
        key, raw = ingest_key_create(
            name=obj.name, team=obj.team, created_by=request.user, request=request
        )
        obj.pk = key.pk
        self.message_user(
            request,
            f"Ingest key created. Copy it now, it is not shown again: {raw}  — send it as "
            "'Authorization: Bearer <key>'.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        count = ingest_keys_revoke(
            keys=queryset, now=datetime.now(UTC), actor=request.user, request=request
        )
        self.message_user(request, f"{count} key(s) revoked.", messages.SUCCESS)


@admin.register(EventLogImport)
class EventLogImportAdmin(admin.ModelAdmin):
    list_display = ["path", "app_id", "run", "in_progress", "events", "imported_at", "error"]
    list_filter = ["in_progress"]
    search_fields = ["path", "app_id", "error"]
    readonly_fields = [f.name for f in EventLogImport._meta.fields]


@admin.register(RunReportBatch)
class RunReportBatchAdmin(admin.ModelAdmin):
    """Queued ingest: run reports waiting for the drain, and the ones it could not converge."""

    list_display = ["id", "received_at", "report_count", "processed_at", "error"]
    list_filter = [
        ("processed_at", admin.EmptyFieldListFilter),
        ("error", admin.EmptyFieldListFilter),
    ]
    readonly_fields = [f.name for f in RunReportBatch._meta.fields]

    @admin.display(description="reports")
    def report_count(self, obj) -> int:
        return len(obj.observations)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
