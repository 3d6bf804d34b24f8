from django.contrib import admin

from batchwatch.runs.models import Run, Span


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "job",
        "external_id",
        "state",
        "scheduled_at",
        "started_at",
        "duration_seconds",
        "attempt",
        "source",
    ]
    list_filter = ["state", "source", "job__engine", "job__owner_team"]
    search_fields = ["job__key", "external_id", "trace_id", "failure_reason"]
    list_select_related = ["job"]
    date_hierarchy = "started_at"
    raw_id_fields = ["job", "parent_run"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Span)
class SpanAdmin(admin.ModelAdmin):
    list_display = ["name", "service_name", "trace_id", "span_id", "start_time", "status_code"]
    list_filter = ["status_code"]
    search_fields = ["trace_id", "span_id", "name", "service_name"]
    show_full_result_count = False  # counting millions of spans on every page is slow
