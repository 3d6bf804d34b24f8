from datetime import UTC, datetime

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Q

from batchwatch.alerts import services
from batchwatch.alerts.models import (
    Alert,
    AlertIntake,
    Incident,
    IncidentAlert,
    InhibitRule,
    Integration,
    MaintenanceWindow,
    Route,
    Silence,
    TimeInterval,
    TimelineEntry,
    Timer,
)
from batchwatch.alerts.selectors import overdue_timers
from batchwatch.alerts.services import (
    integration_create,
    integration_tokens_forget,
    integrations_revoke,
)
from batchwatch.audit.models import AuditEvent
from batchwatch.core.links import absolute_url


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "token_prefix",
        "team",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["kind", "team"]
    readonly_fields = ["token_prefix", "created_at", "last_used_at"]
    fields = [
        "name",
        "kind",
        "team",
        "labels",
        "token_prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            integration_tokens_forget()  # a revocation or a new team applies at once
            return
        integration, raw = integration_create(
            name=obj.name,
            kind=obj.kind,
            team=obj.team,
            labels=obj.labels,
            actor=request.user,
            request=request,
        )
        obj.pk = integration.pk
        where = {
            "alertmanager": absolute_url("intake-am"),
            "webhook": absolute_url("intake-webhook"),
            "pagerduty": absolute_url("intake-pagerduty") + " (as routing_key)",
        }[obj.kind]
        self.message_user(
            request,
            f"Integration created. Copy its token now, it is not shown again: {raw} — "
            f"send it to {where} as 'Authorization: Bearer <token>'.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected integrations")
    def revoke(self, request, queryset):
        count = integrations_revoke(
            queryset, now=datetime.now(UTC), actor=request.user, request=request
        )
        self.message_user(request, f"{count} integration(s) revoked.", messages.SUCCESS)


class ChildRouteInline(admin.TabularInline):
    model = Route
    fk_name = "parent"
    extra = 0
    fields = ["position", "name", "matchers", "continue_matching", "escalation_policy"]
    show_change_link = True


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ["__str__", "parent", "position", "continue_matching", "escalation_policy"]
    list_filter = ["escalation_policy"]
    filter_horizontal = ["channels", "mute_time_intervals", "active_time_intervals"]
    inlines = [ChildRouteInline]


@admin.register(TimeInterval)
class TimeIntervalAdmin(admin.ModelAdmin):
    list_display = ["name"]


@admin.register(InhibitRule)
class InhibitRuleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "source_matchers", "target_matchers", "equal"]


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ["id", "matchers", "starts_at", "ends_at", "created_by", "comment"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        now = datetime.now(UTC)
        obj.created_by = obj.created_by or request.user
        obj.created_at = obj.created_at or now
        was_in_force = change and Silence.objects.filter(pk=obj.pk, ends_at__gt=now).exists()
        super().save_model(request, obj, form, change)
        # Admin's change view runs in a transaction: the event commits with the row.
        if not change:
            action = AuditEvent.Action.SILENCE_CREATED
        elif was_in_force and obj.ends_at <= now:
            action = AuditEvent.Action.SILENCE_EXPIRED
        else:
            return
        services.silence_record_event(action, silence=obj, actor=request.user, request=request)


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    """Saved and deleted through the services, so that each change is in the audit log."""

    list_display = ["name", "matchers", "starts_at", "duration", "recurrence", "timezone", "until"]

    def save_model(self, request, obj, form, change):
        fields = {name: getattr(obj, name) for name in services.MAINTENANCE_FIELDS}
        if change:
            stored = MaintenanceWindow.objects.get(pk=obj.pk)
            services.maintenance_window_update(
                window=stored, changes=fields, actor=request.user, request=request
            )
        else:
            obj.pk = services.maintenance_window_create(
                fields=fields, created_by=request.user, request=request
            ).pk

    def delete_model(self, request, obj):
        services.maintenance_window_delete(window=obj, actor=request.user, request=request)

    def delete_queryset(self, request, queryset):
        for window in queryset:
            services.maintenance_window_delete(window=window, actor=request.user, request=request)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "source",
        "status",
        "severity",
        "suppressed_reason",
        "last_received_at",
        "received_count",
    ]
    list_filter = ["status", "source", "needs_routing"]
    search_fields = ["fingerprint", "summary"]
    readonly_fields = [f.name for f in Alert._meta.fields]


class TimelineInline(admin.TabularInline):
    model = TimelineEntry
    extra = 0
    can_delete = False
    readonly_fields = ("at", "kind", "actor", "actor_label", "message")
    fields = readonly_fields


class MembershipInline(admin.TabularInline):
    model = IncidentAlert
    extra = 0
    can_delete = False
    readonly_fields = ["alert", "added_at", "attached_reason"]


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "state", "urgency", "team", "assignee", "created_at"]
    list_filter = ["state", "urgency", "team"]
    search_fields = ["title", "group_key"]
    readonly_fields = [f.name for f in Incident._meta.fields]
    inlines = [MembershipInline, TimelineInline]


class OverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", f"Overdue (> {settings.BATCHWATCH_TIMER_OVERDUE_SECONDS}s late)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(Q(pk__in=overdue_timers(datetime.now(UTC)).values("pk")))
        return queryset


@admin.register(Timer)
class TimerAdmin(admin.ModelAdmin):
    """The durable timers; the 'overdue' filter is the auditor's list."""

    list_display = ["incident", "kind", "due_at", "state", "step", "loop", "token", "executed_by"]
    list_filter = [OverdueFilter, "state", "kind"]
    readonly_fields = [f.name for f in Timer._meta.fields]


class IntakeStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("queued", "Queued"), ("failed", "Failed"), ("processed", "Processed")]

    def queryset(self, request, queryset):
        if self.value() == "queued":
            return queryset.filter(processed_at=None)
        if self.value() == "failed":
            return queryset.exclude(error="")
        if self.value() == "processed":
            return queryset.filter(processed_at__isnull=False, error="")
        return queryset


@admin.register(AlertIntake)
class AlertIntakeAdmin(admin.ModelAdmin):
    """Queued intake: batches waiting for the drain, and the ones it could not process."""

    list_display = ["id", "source", "received_at", "event_count", "processed_at", "error"]
    list_filter = [IntakeStateFilter, "source"]
    readonly_fields = [f.name for f in AlertIntake._meta.fields]

    @admin.display(description="events")
    def event_count(self, obj) -> int:
        return len(obj.events)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
