from django import forms
from django.contrib import admin, messages

from batchwatch.slack.models import SlackMessage, SlackUserLink, SlackWorkspace
from batchwatch.slack.services import users_link_by_email, workspace_save

SECRET_FIELDS = ("bot_token", "signing_secret")


class SlackWorkspaceForm(forms.ModelForm):
    """Secrets are write-only: never rendered back (not even after a failed submit); the
    input says whether one is set; an empty input keeps the stored value."""

    bot_token = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="xoxb-… (SLACK_BOT_TOKEN in the environment wins). Leave empty to keep.",
    )
    signing_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="SLACK_SIGNING_SECRET in the environment wins. Leave empty to keep.",
    )

    class Meta:
        model = SlackWorkspace
        fields = ["name", "bot_token", "signing_secret"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            field = self.fields[name]
            stored = getattr(self.instance, name) if self.instance.pk else ""
            state = "set" if stored else "not set"
            field.widget.attrs["placeholder"] = state
            field.help_text = f"Currently {state}. {field.help_text}"
            # The stored value must not travel to the page even as a hidden "initial".
            self.initial.pop(name, None)
            field.show_hidden_initial = False

    def clean(self):
        cleaned = super().clean()
        #: The secrets this submit replaces (names only: what the audit log records).
        self.changed_secrets = []
        for name in SECRET_FIELDS:
            stored = getattr(self.instance, name) if self.instance.pk else ""
            if not cleaned.get(name):
                cleaned[name] = stored
            elif cleaned[name] != stored:
                self.changed_secrets.append(name)
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

    def save_model(self, request, obj, form, change):
        workspace_save(
            workspace=obj, changed_secrets=form.changed_secrets, actor=request.user, request=request
        )

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
