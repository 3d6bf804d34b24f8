from django import forms
from django.contrib import admin, messages

from batchwatch.slack.models import SlackMessage, SlackUserLink, SlackWorkspace
from batchwatch.slack.services import users_link_by_email


class SlackWorkspaceForm(forms.ModelForm):
    """Secrets are write-only: never rendered back; an empty field keeps the stored value."""

    bot_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="xoxb-… (SLACK_BOT_TOKEN in the environment wins). Leave empty to keep.",
    )
    signing_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="SLACK_SIGNING_SECRET in the environment wins. Leave empty to keep.",
    )

    class Meta:
        model = SlackWorkspace
        fields = ["name", "bot_token", "signing_secret"]

    def clean(self):
        cleaned = super().clean()
        for name in ("bot_token", "signing_secret"):
            if not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        return cleaned


@admin.register(SlackWorkspace)
class SlackWorkspaceAdmin(admin.ModelAdmin):
    form = SlackWorkspaceForm
    list_display = ["name", "token_state", "secret_state", "updated_at"]
    actions = ["link_users"]

    @admin.display(description="Bot token")
    def token_state(self, obj):
        return "set" if obj.bot_token else "not set"

    @admin.display(description="Signing secret")
    def secret_state(self, obj):
        return "set" if obj.signing_secret else "not set"

    def has_add_permission(self, request):
        return not SlackWorkspace.objects.exists()  # one workspace

    @admin.action(description="Link Batchwatch users to Slack users by e-mail")
    def link_users(self, request, queryset):
        try:
            report = users_link_by_email()
        except Exception as exc:  # Slack unreachable or refusing: say so, change nothing more
            self.message_user(request, f"Slack refused the lookup: {exc}", messages.ERROR)
            return
        self.message_user(
            request,
            f"Linked {len(report.linked)}; "
            f"not found in Slack: {', '.join(report.not_found) or 'none'}.",
            messages.SUCCESS,
        )


@admin.register(SlackUserLink)
class SlackUserLinkAdmin(admin.ModelAdmin):
    list_display = ["user", "slack_user_id", "slack_name", "timezone", "source", "linked_at"]
    list_filter = ["source"]
    search_fields = ["user__username", "user__email", "slack_user_id", "slack_name"]
    autocomplete_fields = ["user"]


@admin.register(SlackMessage)
class SlackMessageAdmin(admin.ModelAdmin):
    """The incident messages we own in Slack (read-only: they follow their incidents)."""

    list_display = ["incident", "address", "slack_channel_id", "ts", "posted_at", "updated_at"]
    search_fields = ["address", "slack_channel_id", "ts"]
    readonly_fields = [f.name for f in SlackMessage._meta.fields]

    def has_add_permission(self, request):
        return False
