"""API authentication for machines: personal API tokens (``batchwatch.accounts``), sent as
``Token <token>`` or ``Bearer <token>``.

Tokens are looked up by their SHA-256 (only the hash is stored). A token that is unknown is
counted against the client's address (``core.ratelimit``): past the limit the answer is 429
with Retry-After instead of 401. A valid token is never counted, so a client sharing an
address with someone guessing tokens keeps working. Expired and revoked tokens are 401 with a
sentence saying which, so that their owner knows what to do.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rest_framework import authentication, exceptions

from batchwatch.accounts.selectors import token_for_raw
from batchwatch.accounts.services import touch_token
from batchwatch.core import ratelimit


class TokenAuthentication(authentication.TokenAuthentication):
    # DRF's class for its header parsing and its WWW-Authenticate; the lookup is ours.
    keyword = "Token"

    def authenticate(self, request):
        self._request = request
        try:
            return super().authenticate(request)
        finally:
            self._request = None

    def authenticate_credentials(self, key):
        token = token_for_raw(key)
        if token is None:
            try:
                ratelimit.note_failure("api_token", self._request)
            except ratelimit.Throttled as exc:
                raise exceptions.Throttled(wait=exc.retry_after, detail=str(exc)) from None
            raise exceptions.AuthenticationFailed("Invalid token.")
        now = datetime.now(UTC)
        state = token.state_at(now)
        if state == "revoked":
            raise exceptions.AuthenticationFailed(
                f"This token ({token.prefix}…) was revoked; create a new one."
            )
        if state == "expired":
            raise exceptions.AuthenticationFailed(
                f"This token ({token.prefix}…) expired on {token.expires_at:%Y-%m-%d %H:%M} UTC;"
                " create a new one."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        touch_token(token, now=now)
        return (token.user, token)


class BearerTokenAuthentication(TokenAuthentication):
    """The same tokens under the ``Bearer`` scheme, which most HTTP tooling sends by default."""

    keyword = "Bearer"
