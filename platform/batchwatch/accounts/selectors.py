"""Reads of personal credentials and preferences."""

from __future__ import annotations

from batchwatch.accounts.models import ApiToken, FeedSecret, Profile, hash_token


def token_for_raw(raw: str) -> ApiToken | None:
    """The token whose hash is ``raw``'s (revoked and expired ones included, so that the
    caller can say which), with its user; None when no token has that hash."""
    return ApiToken.objects.select_related("user").filter(token_hash=hash_token(raw)).first()


def tokens_of(user):
    """``user``'s tokens, newest first, revoked and expired ones included."""
    return ApiToken.objects.filter(user=user).select_related("user").order_by("-created_at", "-id")


def feed_secret_of(user_id: int) -> str:
    """The secret folded into ``user_id``'s calendar feed signature ('' before any rotation)."""
    return FeedSecret.objects.filter(user_id=user_id).values_list("secret", flat=True).first() or ""


def time_zone_of(user_id: int) -> str:
    """The zone ``user_id`` chose for pages ('' when they chose none: their browser's)."""
    return Profile.objects.filter(user_id=user_id).values_list("time_zone", flat=True).first() or ""
