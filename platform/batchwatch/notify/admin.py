from django.contrib import admin, messages

from batchwatch.notify.models import Channel, Notification
from batchwatch.notify.services import channel_repair


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "address", "team", "is_broken", "last_error"]
    list_filter = ["kind", "is_broken", "team"]
    readonly_fields = ["broken_at"]
    actions = ["repair"]

    @admin.action(description="Mark as repaired (deliver to it again)")
    def repair(self, request, queryset):
        for channel in queryset:
            channel_repair(channel=channel)
        self.message_user(request, f"{queryset.count()} channel(s) repaired.", messages.SUCCESS)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """The outbox: what was (or will be) sent, and how delivery went."""

    list_display = [
        "created_at",
        "purpose",
        "transport",
        "address",
        "state",
        "attempts",
        "last_error",
        "incident",
    ]
    list_filter = ["state", "purpose", "transport"]
    search_fields = ["address", "subject", "idempotency_key"]
    readonly_fields = [f.name for f in Notification._meta.fields]
