"""Admin for what the platform itself keeps: the quarantine."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import admin, messages

from batchwatch.core.models import QuarantinedItem
from batchwatch.core.quarantine import has_retry, quarantine_discard, quarantine_retry


@admin.register(QuarantinedItem)
class QuarantinedItemAdmin(admin.ModelAdmin):
    """Accepted but not processed: why, from where, and what became of it. Read-only; the
    actions retry (through the kind's handler) or discard the selected items."""

    list_display = [
        "id",
        "kind",
        "reason",
        "origin",
        "received_at",
        "quarantined_at",
        "state",
        "handled_at",
    ]
    list_filter = ["state", "kind", "reason"]
    search_fields = ["origin", "detail"]
    date_hierarchy = "quarantined_at"
    readonly_fields = [f.name for f in QuarantinedItem._meta.fields]
    actions = ["retry", "discard"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_handle_permission(self, request) -> bool:
        """Retrying and discarding need the model's change permission (staff who may only
        look see the list without the actions)."""
        return request.user.has_perm("core.change_quarantineditem")

    @admin.action(description="Retry the selected items", permissions=["handle"])
    def retry(self, request, queryset):
        items = list(queryset.filter(state=QuarantinedItem.State.QUARANTINED))
        skipped = queryset.count() - len(items)
        no_handler = sorted({i.kind for i in items if not has_retry(i.kind)})
        retried, failed = quarantine_retry(items, now=datetime.now(UTC))
        level = messages.SUCCESS if not failed else messages.WARNING
        text = f"{retried} item(s) retried and processed; {failed} still failing"
        if failed:
            text += " (their detail says why)"
        if no_handler:
            text += f"; no retry handler for {', '.join(no_handler)}"
        if skipped:
            text += f"; {skipped} already retried or discarded, left as they are"
        self.message_user(request, text + ".", level)

    @admin.action(description="Discard the selected items", permissions=["handle"])
    def discard(self, request, queryset):
        count = quarantine_discard(list(queryset), now=datetime.now(UTC))
        self.message_user(request, f"{count} item(s) discarded.", messages.SUCCESS)
