"""Who is staff: the one role every app asks about, whatever it owns."""

from __future__ import annotations

from typing import Any


def is_admin(user: Any) -> bool:
    """Staff or superuser, signed in."""
    return bool(user and user.is_authenticated and (user.is_staff or user.is_superuser))
