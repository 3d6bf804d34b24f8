"""Admin for API tokens (who has which, when it was used; never the hash or the token) and for
people's contact methods and notification rules (read, and removed; never the code's hash)."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages

from batchwatch.accounts.models import DEFAULT_LIFETIME, ApiToken, ContactMethod, NotificationRule
from batchwatch.accounts.services import (
    contact_method_delete,
    create_token,
    notification_rule_delete,
    revoke_token,
)


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name", "expires_at"]

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= datetime.now(UTC):
            raise forms.ValidationError("An expiry must be in the future (or empty: never).")
        return value


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "user",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "expires_at"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Revoked, not deleted: the row says who had which token until when.
        return False

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name", "expires_at"]
        return [
            "user",
            "name",
            "prefix",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # A token's owner and expiry are what its holder agreed to: revoke and create anew.
        return ["user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]

    def get_changeform_initial_data(self, request):
        return {"expires_at": datetime.now(UTC) + DEFAULT_LIFETIME}

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, raw = create_token(
            obj.user, name=obj.name, expires_at=obj.expires_at, by=request.user, request=request
        )
        obj.pk = token.pk
        self.message_user(
            request,
            f"API token created for {token.user.get_username()}. Copy it now, it is not shown "
            f"again: {raw}  — send it as 'Authorization: Token <token>'.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        count = 0
        for token in queryset.filter(revoked_at__isnull=True).select_related("user"):
            revoke_token(token, by=request.user, request=request)
            count += 1
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)


class NotificationRuleInline(admin.TabularInline):
    model = NotificationRule
    fields = ["urgency", "delay_minutes", "position"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(ContactMethod)
class ContactMethodAdmin(admin.ModelAdmin):
    """Read and remove only: a method is added and verified by its person, with a code sent
    to it (the account page); removing goes through the service, so it is audited."""

    list_display = ["user", "kind", "label", "address", "verified_at", "created_at"]
    list_filter = ["kind", ("verified_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "label", "address"]
    list_select_related = ["user"]
    fields = ["user", "kind", "label", "address", "verified_at", "created_at"]
    readonly_fields = fields
    inlines = [NotificationRuleInline]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_model(self, request, obj):
        contact_method_delete(obj, by=request.user, request=request)

    def delete_queryset(self, request, queryset):
        for method in queryset.select_related("user"):
            contact_method_delete(method, by=request.user, request=request)


@admin.register(NotificationRule)
class NotificationRuleAdmin(admin.ModelAdmin):
    """Read and remove only: people set their own rules (the account page, the API)."""

    list_display = ["user", "urgency", "contact_method", "delay_minutes", "position"]
    list_filter = ["urgency"]
    search_fields = ["user__username"]
    list_select_related = ["user", "contact_method"]
    fields = ["user", "urgency", "contact_method", "delay_minutes", "position", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_model(self, request, obj):
        notification_rule_delete(obj, by=request.user, request=request)

    def delete_queryset(self, request, queryset):
        for rule in queryset.select_related("user", "contact_method"):
            notification_rule_delete(rule, by=request.user, request=request)
