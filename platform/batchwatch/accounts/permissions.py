"""Who may see and revoke which token: people their own; staff anyone's."""

from __future__ import annotations

from batchwatch.accounts.models import ApiToken


def can_revoke_token(user, token: ApiToken) -> bool:
    if not (user and user.is_authenticated):
        return False
    return token.user_id == user.pk or user.is_staff or user.is_superuser
