from django.contrib import admin

from batchwatch.slo.models import SLO, SLOState


class SLOStateInline(admin.TabularInline):
    model = SLOState
    extra = 0
    can_delete = False
    fields = ["job", "status", "sli", "good", "total", "budget_remaining_ratio", "evaluated_at"]
    readonly_fields = fields


@admin.register(SLO)
class SLOAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "name",
        "kind",
        "objective",
        "window_size",
        "window_unit",
        "job",
        "team",
        "is_active",
    ]
    list_filter = ["kind", "window_unit", "is_active", "team"]
    search_fields = ["slug", "name", "job__key"]
    autocomplete_fields = ["job", "team"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [SLOStateInline]


@admin.register(SLOState)
class SLOStateAdmin(admin.ModelAdmin):
    list_display = ["slo", "job", "status", "sli", "budget_remaining_ratio", "evaluated_at"]
    list_filter = ["status", "slo"]
    search_fields = ["slo__slug", "job__key"]
    list_select_related = ["slo", "job"]
