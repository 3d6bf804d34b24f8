from django import forms
from django.contrib import admin, messages
from django.db import models

from batchwatch.catalog import services
from batchwatch.catalog.models import (
    Job,
    JobDataset,
    JobDependency,
    Membership,
    OwnershipRule,
    Team,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "slack_channel", "slack_thread_updates", "created_at"]
    search_fields = ["name", "slug", "slack_channel"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        # Through the services, so that each role change is in the audit log.
        changed = formset.save(commit=False)  # (deletions first: a person may be re-added)
        for membership in formset.deleted_objects:
            services.membership_delete(membership=membership, actor=request.user, request=request)
        for membership in changed:
            services.membership_save(membership=membership, actor=request.user, request=request)
        formset.save_m2m()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Saved and deleted through the services, so that each role change is in the audit
    log."""

    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "user__email", "team__name", "team__slug"]
    autocomplete_fields = ["user", "team"]

    def save_model(self, request, obj, form, change):
        services.membership_save(membership=obj, actor=request.user, request=request)

    def delete_model(self, request, obj):
        services.membership_delete(membership=obj, actor=request.user, request=request)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("team", "user"):
            services.membership_delete(membership=membership, actor=request.user, request=request)


class UpstreamInline(admin.TabularInline):
    model = JobDependency
    fk_name = "downstream"
    extra = 1
    autocomplete_fields = ["upstream"]
    verbose_name = "upstream job"
    verbose_name_plural = "upstream jobs (this job waits for them)"
    readonly_fields = ["created_at", "last_observed_at"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "key",
        "owner_team",
        "engine",
        "tier",
        "schedule_cron",
        "schedule_timezone",
        "registration",
        "is_active",
        "last_seen_at",
    ]
    list_filter = ["engine", "owner_team", "tier", "registration", "is_active"]
    search_fields = ["key", "description", "namespace", "name"]
    list_select_related = ["owner_team"]
    readonly_fields = ["key", "registration", "last_seen_at", "created_at", "updated_at"]
    autocomplete_fields = ["owner_team"]
    inlines = [UpstreamInline]
    # Links without a scheme are https ones (Django 6's default, chosen now).
    formfield_overrides = {
        models.URLField: {"form_class": forms.URLField, "assume_scheme": "https"},
    }
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "key",
                    "engine",
                    "namespace",
                    "name",
                    "description",
                    "owner_team",
                    "tier",
                    "is_active",
                ]
            },
        ),
        ("Schedule", {"fields": ["schedule_cron", "schedule_timezone"]}),
        ("Labels and links", {"fields": ["labels", "repo_url", "docs_url", "runbook"]}),
        (
            "Bookkeeping",
            {
                "fields": ["registration", "last_seen_at", "created_at", "updated_at"],
                "classes": ["collapse"],
            },
        ),
    ]


@admin.register(JobDependency)
class JobDependencyAdmin(admin.ModelAdmin):
    list_display = ["upstream", "downstream", "source", "created_at", "last_observed_at"]
    list_filter = ["source"]
    search_fields = ["upstream__key", "downstream__key"]
    autocomplete_fields = ["upstream", "downstream"]
    list_select_related = ["upstream", "downstream"]


@admin.register(OwnershipRule)
class OwnershipRuleAdmin(admin.ModelAdmin):
    list_display = [
        "priority",
        "team",
        "engine",
        "namespace_pattern",
        "name_pattern",
        "label_selector",
        "is_active",
    ]
    list_display_links = ["priority", "team"]
    list_filter = ["is_active", "engine", "team"]
    search_fields = ["namespace_pattern", "name_pattern", "description", "team__name"]
    autocomplete_fields = ["team"]
    actions = ["apply_to_unowned_jobs"]

    @admin.action(description="Apply the active rules to jobs that have no owner yet")
    def apply_to_unowned_jobs(self, request, queryset):
        changed = services.ownership_rules_apply(only_unowned=True)
        self.message_user(request, f"{changed} unowned job(s) got an owner.", messages.SUCCESS)


@admin.register(JobDataset)
class JobDatasetAdmin(admin.ModelAdmin):
    list_display = ["job", "direction", "namespace", "name", "last_seen_at"]
    list_filter = ["direction"]
    search_fields = ["job__key", "namespace", "name"]
    list_select_related = ["job"]
