from django.contrib import admin

from batchwatch.oncall.models import (
    EscalationPolicy,
    EscalationStep,
    LayerParticipant,
    Rotation,
    RotationLayer,
    RotationOverride,
    ShiftSwap,
)


class LayerInline(admin.StackedInline):
    model = RotationLayer
    extra = 0
    show_change_link = True


class OverrideInline(admin.TabularInline):
    model = RotationOverride
    extra = 0
    fields = ["user", "starts_at", "ends_at", "reason"]


@admin.register(Rotation)
class RotationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "team", "timezone"]
    list_filter = ["team"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [LayerInline, OverrideInline]


class ParticipantInline(admin.TabularInline):
    model = LayerParticipant
    extra = 1


@admin.register(RotationLayer)
class RotationLayerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "start_date", "handoff_time", "turn_length"]
    inlines = [ParticipantInline]


@admin.register(ShiftSwap)
class ShiftSwapAdmin(admin.ModelAdmin):
    list_display = ["rotation", "requester", "taker", "starts_at", "ends_at", "state"]
    list_filter = ["state", "rotation"]


class StepInline(admin.TabularInline):
    model = EscalationStep
    extra = 0


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "team", "is_team_default", "repeat", "ack_timeout"]
    list_filter = ["team"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [StepInline]
