"""Who may see and rotate a rotation's calendar feed link: members of the rotation's team
and staff. The link is a credential (calendar apps send no other): everyone else sees the
schedule on the page, not the link.

Overrides: the team's owners and staff put anyone of the team on call for a period (and take
any override away); a member may put only herself on call (taking a shift, covering a gap)
and take away only the overrides that name her or that she made. Everyone else reads the
schedule.

Shift swaps: a member offers her own shifts of a period (owners offer anyone's of the team),
another member takes them for herself, and the requester, the taker or an owner cancels."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from batchwatch.catalog.permissions import can_manage_jobs_of, can_manage_team
from batchwatch.oncall.models import Rotation, RotationOverride, ShiftSwap


def can_see_rotation_feed(user: AbstractBaseUser | AnonymousUser, rotation: Rotation) -> bool:
    return can_manage_jobs_of(user, rotation.team)


def can_add_override(
    user: AbstractBaseUser | AnonymousUser, rotation: Rotation, *, for_user_id: int | None
) -> bool:
    """May ``user`` put the person ``for_user_id`` on call in ``rotation`` for a while?"""
    if can_manage_team(user, rotation.team):
        return True
    return for_user_id == user.pk and can_manage_jobs_of(user, rotation.team)


def can_delete_override(user: AbstractBaseUser | AnonymousUser, override: RotationOverride) -> bool:
    if can_manage_team(user, override.rotation.team):
        return True
    own = user.pk in {override.user_id, override.created_by_id}
    return own and can_manage_jobs_of(user, override.rotation.team)


def can_offer_swap(
    user: AbstractBaseUser | AnonymousUser, rotation: Rotation, *, requester_id: int | None
) -> bool:
    return can_add_override(user, rotation, for_user_id=requester_id)


def can_take_swap(user: AbstractBaseUser | AnonymousUser, swap: ShiftSwap) -> bool:
    """Take it for herself: someone of the team other than whoever offered it."""
    return user.pk != swap.requester_id and can_manage_jobs_of(user, swap.rotation.team)


def can_cancel_swap(user: AbstractBaseUser | AnonymousUser, swap: ShiftSwap) -> bool:
    if can_manage_team(user, swap.rotation.team):
        return True
    own = user.pk in {swap.requester_id, swap.taker_id}
    return own and can_manage_jobs_of(user, swap.rotation.team)


def can_edit_layers(user: AbstractBaseUser | AnonymousUser, rotation: Rotation) -> bool:
    """Layers decide everyone's shifts: the team's owners and staff add, change and remove
    them; members and everyone else read them."""
    return can_manage_team(user, rotation.team)
