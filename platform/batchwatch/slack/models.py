"""Slack's side of Batchwatch: the workspace credentials, who is who, and the messages we own.

* ``SlackWorkspace`` holds the bot token and signing secret when they are set in admin rather
  than in the environment (the environment wins). They are encrypted at rest
  (``BATCHWATCH_SECRET_KEYS``), never shown back or logged.
* ``SlackUserLink`` maps a Slack user to a Batchwatch user, found by e-mail or set by hand;
  only linked people can act from Slack, with their own Batchwatch permissions.
* ``SlackMessage`` is the one interactive message of an incident in one channel: updated in
  place (``chat.update``) and threaded, never posted twice.
* ``SlackThreadNote`` records a reply in such a thread made into a note, so that Slack's
  redelivery of the event adds nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from batchwatch.core.fields import EncryptedTextField
from batchwatch.notify.models import Channel


class SlackWorkspace(models.Model):
    """The Slack app's credentials (one row). SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET win."""

    name = models.CharField(max_length=200, default="Slack")
    # Encrypted at rest (core/crypto.py); written only through admin's write-only inputs.
    bot_token = EncryptedTextField(blank=True, help_text="xoxb-… from OAuth & Permissions.")
    signing_secret = EncryptedTextField(
        blank=True, help_text="From Basic Information → App Credentials."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Slack workspace"

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:  # never let a secret reach a log line or a traceback
        token = "set" if self.bot_token else "unset"
        secret = "set" if self.signing_secret else "unset"
        return f"<SlackWorkspace {self.pk}: token {token}, signing secret {secret}>"


class SlackUserLink(models.Model):
    class Source(models.TextChoices):
        EMAIL = "email", "Matched by e-mail"
        MANUAL = "manual", "Set by hand"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_link"
    )
    slack_user_id = models.CharField(max_length=32, unique=True, help_text="U… or W…")
    slack_team_id = models.CharField(max_length=32, blank=True)
    slack_name = models.CharField(max_length=200, blank=True)
    timezone = models.CharField(
        max_length=64, blank=True, help_text="The user's Slack time zone (for 'until 09:00')."
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    linked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} ↔ {self.slack_user_id}"


class SlackMessage(models.Model):
    """An incident's interactive message in one channel, and how far its thread has got."""

    incident = models.ForeignKey(
        "alerts.Incident", on_delete=models.CASCADE, related_name="slack_messages"
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # What we posted to (a name or an ID) and the ID Slack answered with (chat.update needs it).
    address = models.CharField(max_length=100)
    slack_channel_id = models.CharField(max_length=32, blank=True)
    ts = models.CharField(max_length=32, blank=True, help_text="Empty until Slack answered.")
    # Posting is claimed (conditional UPDATE) so that two deliveries cannot both post it; a
    # retry after an attempt with an unknown outcome looks for it in the channel first.
    claimed_until = models.DateTimeField(null=True, blank=True)
    posting_attempts = models.PositiveSmallIntegerField(default=0)
    rendered_hash = models.CharField(max_length=64, blank=True)
    # Timeline entries up to this id are reflected in the message and its thread.
    last_entry_id = models.BigIntegerField(default=0)
    posted_at = models.DateTimeField()
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-posted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "address"], name="slack_message_one_per_channel"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.incident_id} in {self.address} ({self.ts})"


class SlackThreadNote(models.Model):
    """A thread reply made into a note, once: Slack redelivers events it thinks we missed."""

    slack_channel_id = models.CharField(max_length=32)
    ts = models.CharField(max_length=32)
    event_id = models.CharField(max_length=64, blank=True)
    incident = models.ForeignKey(
        "alerts.Incident", on_delete=models.CASCADE, related_name="slack_thread_notes"
    )
    entry = models.ForeignKey(
        "alerts.TimelineEntry", on_delete=models.CASCADE, related_name="+", null=True
    )
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["slack_channel_id", "ts"], name="slack_thread_note_once"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.incident_id} ← {self.slack_channel_id}/{self.ts}"
