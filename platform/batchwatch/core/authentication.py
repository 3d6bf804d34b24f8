"""API authentication for machines: DRF tokens, sent as ``Token <key>`` or ``Bearer <key>``."""

from rest_framework import authentication


class TokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"


class BearerTokenAuthentication(authentication.TokenAuthentication):
    """The same tokens under the ``Bearer`` scheme, which most HTTP tooling sends by default."""

    keyword = "Bearer"
