"""A team's owners managing its people (the team's settings page and
``/api/v1/teams/<slug>/members/``): add someone by user name or e-mail, change a role, take
someone out. A team always keeps an owner: the last one can be neither demoted nor removed
here (staff may still do it in admin), or nobody but staff could manage the team again.

Callers check ``catalog.permissions.can_manage_team`` first; every change is in the audit
log through ``membership_set`` / ``membership_remove``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from batchwatch.catalog.models import Membership, Team
from batchwatch.catalog.services import membership_remove, membership_set

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest
    from rest_framework.request import Request

LAST_OWNER = "A team keeps at least one owner: make someone else an owner first."


def person_find(reference: str) -> User:
    """The active person named by ``reference``: a user name (exact) or an e-mail address
    (any case). ``ValidationError`` on ``user`` when nobody or several people match."""
    reference = reference.strip()
    if not reference:
        raise ValidationError({"user": "Give a user name or an e-mail address."})
    people = get_user_model().objects.filter(is_active=True)
    user = people.filter(username=reference).first()
    if user is not None:
        return user
    if "@" in reference:
        matches = list(people.filter(email__iexact=reference)[:2])
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ValidationError(
                {"user": f"Several people have the address {reference}: give a user name."}
            )
    raise ValidationError({"user": f"Nobody is called {reference!r} or has that address."})


@transaction.atomic
def member_add(
    team: Team,
    *,
    user: User,
    role: str = Membership.Role.MEMBER,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
) -> Membership:
    """Make ``user`` a member (or owner) of ``team``; ``ValidationError`` when they already
    are one (change their role instead)."""
    if Membership.objects.filter(team=team, user=user).exists():
        raise ValidationError(
            {"user": f"{user.get_username()} is already in {team.name}: change their role."}
        )
    return membership_set(team=team, user=user, role=role, actor=actor, request=request)


def _is_last_owner(membership: Membership) -> bool:
    """Whether ``membership`` is its team's only owner, holding the locks of all its owners'
    rows (in one order, so that two owners demoting each other at once wait rather than
    deadlock): the second sees the first's change and is refused."""
    if membership.role != Membership.Role.OWNER:
        return False
    owners = list(
        Membership.objects.select_for_update()
        .filter(team_id=membership.team_id, role=Membership.Role.OWNER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return owners == [membership.pk] or not owners


@transaction.atomic
def member_role_change(
    membership: Membership,
    *,
    role: str,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
) -> Membership:
    """Give ``membership`` the role ``role``; the last owner stays an owner."""
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use owner or member."})
    if role != Membership.Role.OWNER and _is_last_owner(membership):
        raise ValidationError({"role": LAST_OWNER})
    return membership_set(
        team=membership.team, user=membership.user, role=role, actor=actor, request=request
    )


@transaction.atomic
def member_remove(
    membership: Membership,
    *,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
) -> None:
    """Take ``membership``'s person out of its team; never the last owner."""
    if _is_last_owner(membership):
        raise ValidationError({"user": LAST_OWNER})
    membership_remove(team=membership.team, user=membership.user, actor=actor, request=request)
