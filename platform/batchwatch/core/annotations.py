"""Types that service signatures across apps share."""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

# Who did something, as views hand it over: a signed-in user, an anonymous one, or nobody
# (the scheduler, a command, config as code).
Actor: TypeAlias = AbstractBaseUser | AnonymousUser | None
