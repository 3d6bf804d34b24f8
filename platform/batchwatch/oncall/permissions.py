"""Who may see and rotate a rotation's calendar feed link: members of the rotation's team
and staff. The link is a credential (calendar apps send no other): everyone else sees the
schedule on the page, not the link.

Overrides: the team's owners and staff put anyone of the team on call for a period (and take
any override away); a member may put only herself on call (taking a shift, covering a gap)
and take away only the overrides that name her or that she made. Everyone else reads the
schedule."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from batchwatch.catalog.permissions import can_manage_jobs_of, can_manage_team
from batchwatch.oncall.models import Rotation, RotationOverride


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
