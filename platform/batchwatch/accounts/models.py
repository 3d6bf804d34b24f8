"""Personal credentials (API tokens, calendar feed secrets) and display preferences.

An API token is stored as its SHA-256 only; the raw token is shown once, when it is created.
Its prefix (``bwt_`` and four characters) is kept in clear so that a token found in a log or a
repository can be matched to its row and revoked.
"""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

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
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id}"
