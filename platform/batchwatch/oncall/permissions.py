"""Who may see and rotate a rotation's calendar feed link: members of the rotation's team
and staff. The link is a credential (calendar apps send no other): everyone else sees the
schedule on the page, not the link."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from batchwatch.catalog.permissions import can_manage_jobs_of
from batchwatch.oncall.models import Rotation


def can_see_rotation_feed(user: AbstractBaseUser | AnonymousUser, rotation: Rotation) -> bool:
    return can_manage_jobs_of(user, rotation.team)
