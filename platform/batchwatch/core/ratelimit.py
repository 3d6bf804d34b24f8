"""Throttling of wrong credentials: bad API tokens, bad ingest keys, bad integration tokens.

Only failures are counted, per client address and scope, in fixed windows. A valid credential
is never throttled, so a sender that shares an address (a NAT, a proxy) with someone guessing
keys keeps working. Sign-in is throttled by django-axes (per user and per address).

Usage at an authentication edge, after the credential was found to be wrong::

    ratelimit.note_failure("ingest_key", request)   # raises Throttled past the limit
    raise IngestError(401, ...)
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING

from django.conf import settings

from batchwatch.core.cache import cache_incr

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request


class Throttled(Exception):
    """Too many wrong credentials from this address: answer 429 with ``Retry-After``."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(
            f"Too many requests with a wrong credential from this address; "
            f"retry in {retry_after} s."
        )


def client_ip(request: HttpRequest | Request) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or, behind ``BATCHWATCH_TRUSTED_PROXY_COUNT``
    reverse proxies, the address the outermost of them saw (``X-Forwarded-For`` read from the
    right, so that a client cannot choose its own address by sending the header)."""
    address = request.META.get("REMOTE_ADDR") or None
    hops = getattr(settings, "BATCHWATCH_TRUSTED_PROXY_COUNT", 0)
    if hops:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def note_failure(scope: str, request: HttpRequest | Request) -> None:
    """Count a wrong credential from this request's address; raise ``Throttled`` once the
    address has more than ``BATCHWATCH_BAD_CREDENTIAL_LIMIT`` failures in the window."""
    limit = settings.BATCHWATCH_BAD_CREDENTIAL_LIMIT
    window = settings.BATCHWATCH_BAD_CREDENTIAL_WINDOW_SECONDS
    if limit <= 0:
        return
    now = int(time.time())
    window_start = now - now % window
    count = cache_incr(f"bw:badcred:{scope}:{client_ip(request) or '-'}:{window_start}", window + 5)
    if count > limit:
        raise Throttled(retry_after=max(1, window_start + window - now))
