"""Writes of personal credentials. Each runs in one transaction with its audit event."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from batchwatch.accounts.models import (
    DEFAULT_LIFETIME,
    PREFIX_LENGTH,
    ApiToken,
    FeedSecret,
    Profile,
    generate_token,
    hash_token,
)
from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event
from batchwatch.core.annotations import Actor

# Marks "no expiry given": the default lifetime applies (None means "never expires").
DEFAULT = object()
# Writing last_used_at on every request would make each API call a write; once a minute is
# precise enough to tell a token in use from a forgotten one.
TOUCH_EVERY = timedelta(minutes=1)
NAME_MAX = ApiToken._meta.get_field("name").max_length


def create_token(
    user: AbstractBaseUser,
    *,
    name: str,
    expires_at: datetime | object | None = DEFAULT,
    by: Actor = None,
    actor_name: str = "",
    request: HttpRequest | None = None,
) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns ``(token, raw)``. Only the hash is stored: show
    ``raw`` once. ``expires_at`` defaults to 90 days from now; ``None`` never expires.
    ``by`` is who created it (default: the user himself); ``actor_name`` names an actor that
    is no user (``"cli"``)."""
    now = datetime.now(UTC)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the token a name that says what uses it."})
    if len(name) > NAME_MAX:
        raise ValidationError({"name": f"A name has at most {NAME_MAX} characters."})
    if expires_at is DEFAULT:
        expires_at = now + DEFAULT_LIFETIME
    if expires_at is not None and expires_at <= now:
        raise ValidationError({"expires_at": "An expiry must be in the future."})
    raw = generate_token()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=raw[:PREFIX_LENGTH],
            token_hash=hash_token(raw),
            expires_at=expires_at,
        )
        record_event(
            AuditEvent.Action.TOKEN_CREATED,
            actor=by if by is not None else (None if actor_name else user),
            actor_name=actor_name,
            target=token,
            detail={
                "user": user.get_username(),
                "prefix": token.prefix,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
            request=request,
        )
    return token, raw


def revoke_token(
    token: ApiToken,
    *,
    by: Actor = None,
    actor_name: str = "",
    request: HttpRequest | None = None,
) -> ApiToken:
    """Revoke ``token`` (soft: the row stays, for the audit log and the owner's list). Revoking
    a revoked token changes nothing and records nothing. Callers check permission first
    (``accounts.permissions.can_revoke_token``)."""
    now = datetime.now(UTC)
    with transaction.atomic():
        # Only the first of two concurrent revocations writes and records.
        if not ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=now):
            token.refresh_from_db(fields=["revoked_at"])
            return token
        token.revoked_at = now
        record_event(
            AuditEvent.Action.TOKEN_REVOKED,
            actor=by,
            actor_name=actor_name,
            target=token,
            detail={"user": token.user.get_username(), "prefix": token.prefix},
            request=request,
        )
    return token


def touch_token(token: ApiToken, *, now: datetime) -> None:
    """Note that ``token`` was used, at most once per ``TOUCH_EVERY``."""
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def rotate_feed_secret(user: AbstractBaseUser, *, request: HttpRequest | None = None) -> FeedSecret:
    """A new secret for ``user``'s personal calendar feed: every earlier link stops working."""
    now = datetime.now(UTC)
    with transaction.atomic():
        feed, _ = FeedSecret.objects.update_or_create(
            user=user, defaults={"secret": secrets.token_urlsafe(24), "rotated_at": now}
        )
        record_event(
            AuditEvent.Action.FEED_TOKEN_ROTATED,
            actor=user,
            target=user,
            target_repr=f"calendar feed of {user.get_username()}",
            detail={"feed": "person"},
            request=request,
        )
    return feed


def profile_time_zone_set(user: AbstractBaseUser, *, time_zone: str) -> Profile:
    """Set the zone ``user``'s pages show times in (``""``: their browser's). Only their own:
    callers pass the signed-in person. A display preference, so not audited."""
    with transaction.atomic():
        profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
        profile.time_zone = (time_zone or "").strip()
        profile.full_clean()
        profile.save(update_fields=["time_zone", "updated_at"])
    return profile
