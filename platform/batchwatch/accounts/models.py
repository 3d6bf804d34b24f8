"""Personal credentials (API tokens, calendar feed secrets), display preferences, and how a
person is paged: contact methods and notification rules.

An API token is stored as its SHA-256 only; the raw token is shown once, when it is created.
Its prefix (``bwt_`` and four characters) is kept in clear so that a token found in a log or a
repository can be matched to its row and revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zoneinfo
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, validate_email
from django.db import models

from batchwatch.core import outbound

TOKEN_PREFIX = "bwt_"  # noqa: S105 - a prefix that makes leaked tokens greppable
PREFIX_LENGTH = 8  # "bwt_" and four characters of the secret: enough to tell tokens apart
# A token nobody thought about expiring should not work forever: 90 days unless asked for
# another lifetime (or none, explicitly).
DEFAULT_LIFETIME = timedelta(days=90)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class ApiToken(models.Model):
    """A person's API token, sent as ``Authorization: Token <token>`` (or ``Bearer``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'deploy script'.")
    prefix = models.CharField(max_length=12, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Touched at most once a minute (accounts/authentication.py), not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: the token never expires."
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def state_at(self, now: datetime) -> str:
        """``revoked``, ``expired`` or ``active``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class FeedSecret(models.Model):
    """A person's calendar feed secret, folded into the signature of their feed link.

    People without a row sign with the empty secret (the links they had before keep working);
    rotating writes a new random secret, so every earlier link stops working.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feed_secret"
    )
    secret = models.CharField(max_length=64, editable=False)
    rotated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"feed secret of {self.user_id}"


@lru_cache(maxsize=1)
def known_time_zones() -> frozenset[str]:
    """The IANA zone names this Python knows (``zoneinfo``)."""
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(name: str) -> None:
    if name and name not in known_time_zones():
        raise ValidationError(
            "%(zone)r is not an IANA time zone; choose one like 'Europe/London'.",
            code="unknown_timezone",
            params={"zone": name},
        )


class Profile(models.Model):
    """A person's own display preferences. Created when first changed: people without a row
    see times in their browser's zone (else UTC)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="IANA zone pages show times in. Empty: the browser's zone.",
    )
    # Quiet hours: low-urgency pages wait until they end; high-urgency pages never wait.
    # Wall-clock times in ``time_zone`` (UTC when it is empty: the browser's zone is only
    # known to pages, never to the worker that pages); an end before the start spans
    # midnight (22:00 to 07:00).
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id}"

    def clean(self) -> None:
        super().clean()
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValidationError("Quiet hours need both a start and an end (or neither).")
        if self.quiet_start is not None and self.quiet_start == self.quiet_end:
            raise ValidationError("Quiet hours cannot start and end at the same time.")

    def is_quiet_at(self, instant: datetime) -> bool:
        """Whether ``instant`` (aware) falls in this person's quiet hours."""
        if self.quiet_start is None or self.quiet_end is None:
            return False
        return in_quiet_hours(
            instant, start=self.quiet_start, end=self.quiet_end, zone=self.time_zone or "UTC"
        )

    def quiet_until(self, instant: datetime) -> datetime:
        """``instant`` itself when it is outside quiet hours, else when they end (the next
        ``quiet_end`` on this person's wall clock, in UTC): when a held page may go out."""
        if self.quiet_end is None or not self.is_quiet_at(instant):
            return instant
        zone = zoneinfo.ZoneInfo(self.time_zone or "UTC")
        local = instant.astimezone(zone)
        end = datetime.combine(local.date(), self.quiet_end, tzinfo=zone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.quiet_end, tzinfo=zone)
        return end.astimezone(UTC)


def in_quiet_hours(instant: datetime, *, start: time, end: time, zone: str) -> bool:
    """Whether ``instant`` is within ``start``..``end`` (end excluded) on the wall clock of
    ``zone``; an end before the start wraps past midnight."""
    local = instant.astimezone(zoneinfo.ZoneInfo(zone)).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end


# Contact methods and personal notification rules (issue 22's paging model, PagerDuty's).

# What a verification code costs to guess: six digits, five tries, fifteen minutes.
CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=15)
CODE_ATTEMPTS = 5
# One message (code or test page) per method at most this often: an SMS or a call costs the
# operator money, and a form resubmitted in a loop must not become a pager storm.
SEND_INTERVAL = timedelta(seconds=30)
PUSH_TOPIC_PREFIX = "bw-"
_PUSH_TOPIC = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")


def generate_push_topic() -> str:
    """An ntfy topic nobody can guess: on most ntfy servers whoever knows a topic's name may
    subscribe to it, and would read the pages."""
    return PUSH_TOPIC_PREFIX + secrets.token_urlsafe(18)  # 24 url-safe characters


def hash_code(method_id: int, code: str) -> str:
    """A code as stored: keyed by the project's secret and bound to its method, so six digits
    read from the database (or a backup) cannot be tried offline or on another method."""
    message = f"{method_id}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def normalise_phone(raw: str) -> str:
    """``raw`` in E.164 (``+14155550100``), or a ValidationError that says how to write it."""
    text = (raw or "").strip()
    hint = "Write it in international format with the country code, like +44 20 7946 0018."
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            "%(raw)r is not a phone number. " + hint, code="bad_phone", params={"raw": text}
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            "%(raw)r is not a valid phone number (wrong length or no such range). " + hint,
            code="bad_phone",
            params={"raw": text},
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_address(kind: str, raw: str) -> str:
    """A contact method's address checked and written one way for its kind; raises a
    ValidationError with a sentence. Push topics are generated before this is called."""
    text = (raw or "").strip()
    kinds = ContactMethod.Kind
    if kind in (kinds.SMS, kinds.VOICE):
        return normalise_phone(text)
    if not text:
        raise ValidationError("Give the address this method reaches.", code="required")
    if kind == kinds.EMAIL:
        validate_email(text)
        local, _, domain = text.rpartition("@")
        return f"{local}@{domain.lower()}"
    if kind == kinds.PUSH:
        if not _PUSH_TOPIC.fullmatch(text):
            raise ValidationError(
                "An ntfy topic is 16 to 64 letters, digits, '-' or '_': whoever knows a short"
                " topic could read your pages. Leave it empty for a random one.",
                code="bad_topic",
            )
        return text
    if kind == kinds.SLACK_DM:
        if not _SLACK_USER.fullmatch(text):
            raise ValidationError(
                "%(raw)r is not a Slack member ID; it looks like U024BE7LH (in Slack: your"
                " profile, ⋮, Copy member ID).",
                code="bad_slack_user",
                params={"raw": text},
            )
        return text
    if not text.startswith("https://"):
        raise ValidationError("The address must be an https:// URL.", code="bad_url")
    try:
        outbound.check_url(text)
    except outbound.OutboundRefused as exc:
        raise ValidationError(exc.message, code="refused_url") from None
    return text


class ContactMethod(models.Model):
    """Somewhere a person can be paged: an e-mail address, a phone for SMS or calls, an ntfy
    push topic, a Slack member ID (a direct message), a Teams Workflows or other webhook URL.

    A method pages only once verified: a code sent to it (through the outbox) and entered
    back. Only the code's keyed hash is kept, with its expiry and the tries left; changing the
    address clears the verification. Phone numbers are stored in E.164, which is how Twilio
    names the sender of an inbound SMS (``selectors.contact_method_for_phone``).
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        SMS = "sms", "SMS"
        VOICE = "voice", "Voice call"
        PUSH = "push", "Push (ntfy app)"
        SLACK_DM = "slack_dm", "Slack direct message"
        TEAMS = "teams", "Microsoft Teams (Workflows webhook)"
        WEBHOOK = "webhook", "Webhook (custom pager)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    label = models.CharField(max_length=100, blank=True, help_text="e.g. 'work phone'.")
    address = models.CharField(
        max_length=1000,
        help_text=(
            "E-mail address; phone number in international format (+44…); ntfy topic (empty:"
            " a random one); Slack member ID (U…); https:// URL for Teams and webhooks."
        ),
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    code_hash = models.CharField(max_length=64, blank=True, editable=False)
    code_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    code_attempts_left = models.PositiveSmallIntegerField(default=0, editable=False)
    last_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "address"],
                name="contact_method_unique_per_user",
                violation_error_message="You already have this contact method.",
            )
        ]
        indexes = [
            # contact_method_for_phone: an inbound SMS or call names its sender's number.
            models.Index(fields=["address", "kind"], name="contact_method_address_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label or self.address}"

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    def clean(self) -> None:
        super().clean()
        if self.kind not in self.Kind.values:
            return  # clean_fields said so
        try:
            self.address = normalise_address(self.kind, self.address)
        except ValidationError as exc:
            raise ValidationError({"address": exc.messages}) from None


class NotificationRule(models.Model):
    """One step of a person's own paging: "for a high-urgency page, reach me by this method
    ``delay_minutes`` after the page began" (PagerDuty's notification rules). A person has a
    list per urgency; ``position`` orders rules of the same delay.

    Low-urgency rules are held during the person's quiet hours (``Profile``); high-urgency
    ones never are. A rule's method must be the person's own and verified when the rule is
    written; a method whose address changes is unverified again and is skipped until
    verified. A person with no rule of an urgency is paged at their account e-mail, as
    before rules existed.
    """

    class Urgency(models.TextChoices):
        HIGH = "high", "High urgency"
        LOW = "low", "Low urgency"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_rules"
    )
    urgency = models.CharField(max_length=4, choices=Urgency.choices)
    contact_method = models.ForeignKey(
        ContactMethod, on_delete=models.CASCADE, related_name="rules"
    )
    delay_minutes = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(1440)],
        help_text="Minutes after the page began: 0 to 1440 (a day).",
    )
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Orders rules of the same urgency and delay."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["urgency", "delay_minutes", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "urgency", "contact_method", "delay_minutes"],
                name="notification_rule_unique_step",
                violation_error_message="You already have this rule.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.urgency}: {self.contact_method} at +{self.delay_minutes} min"

    def clean(self) -> None:
        super().clean()
        method = self.contact_method if self.contact_method_id else None
        if method is None or self.user_id is None:
            return
        if method.user_id != self.user_id:
            raise ValidationError({"contact_method": "No such contact method of yours."})
        if not method.is_verified:
            raise ValidationError(
                {"contact_method": "Verify this contact method before it can page you."}
            )
