"""Reads of personal credentials, preferences, contact methods and notification rules."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Exists, Model, OuterRef, QuerySet

from batchwatch.accounts.models import (
    ApiToken,
    ContactMethod,
    FeedSecret,
    NotificationRule,
    Profile,
    hash_token,
    normalise_phone,
)

M = TypeVar("M", bound=Model)


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


def profile_of(user_id: int) -> Profile | None:
    """``user_id``'s profile (zone, quiet hours), None when they never changed one."""
    return Profile.objects.filter(user_id=user_id).first()


def contact_methods_of(user) -> QuerySet[ContactMethod]:
    """``user``'s contact methods, by kind then age."""
    return ContactMethod.objects.filter(user=user).select_related("user")


def notification_rules_of(user) -> QuerySet[NotificationRule]:
    """``user``'s rules in the order they act: by urgency, delay, position."""
    return NotificationRule.objects.filter(user=user).select_related("contact_method", "user")


def paging_rules_for(*, user_ids: Iterable[int], urgency: str) -> dict[int, list[NotificationRule]]:
    """The rules of ``urgency`` that page each of ``user_ids`` now, in the order they act:
    only rules on verified methods (a method whose address changed waits for its new
    verification). Each rule comes with its method and its person's profile (quiet hours)
    when they have one. One query for all the people; someone with no such rule is absent.
    """
    rules: dict[int, list[NotificationRule]] = {}
    query = (
        NotificationRule.objects.filter(
            user_id__in=list(user_ids),
            urgency=urgency,
            contact_method__verified_at__isnull=False,
        )
        .select_related("contact_method", "user__profile")
        .order_by("user_id", "delay_minutes", "position", "id")
    )
    for rule in query:
        rules.setdefault(rule.user_id, []).append(rule)
    return rules


def contact_method_for_phone(*, number: str) -> ContactMethod | None:
    """The verified SMS or voice method whose number is ``number`` (any format ``phonenumbers``
    reads in international form), with its user; None when there is none, or when people of
    more than one account verified that number: an inbound reply must never act as someone
    it might not be."""
    try:
        e164 = normalise_phone(number)
    except ValidationError:
        return None
    found = list(
        ContactMethod.objects.filter(
            kind__in=[ContactMethod.Kind.SMS, ContactMethod.Kind.VOICE],
            address=e164,
            verified_at__isnull=False,
            user__is_active=True,
        )
        .select_related("user")
        .order_by("verified_at", "id")
    )
    if len({method.user_id for method in found}) != 1:
        return None
    return found[0]


def _working_high_urgency_rule(user_ref: str) -> Exists:
    return Exists(
        NotificationRule.objects.filter(
            user_id=OuterRef(user_ref),
            urgency=NotificationRule.Urgency.HIGH,
            contact_method__verified_at__isnull=False,
        )
    )


def lacking_high_urgency_method(rows: QuerySet[M]) -> QuerySet[M]:
    """``rows`` (any queryset of a model with a ``user`` foreign key, such as a team's
    memberships) narrowed to those whose user is active and has no high-urgency rule on a
    verified method. Lazy: the caller adds its ``values_list`` and reads it in one query."""
    return rows.filter(user__is_active=True).exclude(_working_high_urgency_rule("user_id"))


def users_without_high_urgency_method(user_ids: Iterable[int] | QuerySet) -> list:
    """The active users among ``user_ids`` with no high-urgency rule on a verified method, by
    user name: nothing but their account e-mail would page them. One query; ``user_ids`` may
    be a ``values("user_id")`` queryset (a team's members), which becomes a subquery."""
    return list(
        get_user_model()
        .objects.filter(pk__in=user_ids, is_active=True)
        .exclude(_working_high_urgency_rule("pk"))
        .only("pk", "username", "first_name", "last_name", "email")
        .order_by("username")
    )
