"""What every transport shares: the error it raises and the kept-alive HTTP pools."""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

import urllib3
from django.conf import settings

from batchwatch.core import outbound


class TransportError(Exception):
    """A failed delivery.

    ``permanent``: retrying cannot help (the row fails). ``breaks_channel``: the channel itself
    is unusable (a revoked token, a deleted channel) and is marked broken until repaired; by
    default every permanent error does, but a message the receiver refuses (too long) does not.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        breaks_channel: bool | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.breaks_channel = permanent if breaks_channel is None else breaks_channel


def retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


_pools: dict[str, urllib3.PoolManager] = {}
_pools_lock = threading.Lock()


def http(url: str) -> urllib3.PoolManager:
    """The connection pool for ``url``, one per process (and per proxy), shared by the sender
    threads (it is thread-safe). Connections to a receiver stay open between deliveries, so
    a storm's hundreds of webhooks to one address do not each pay a TCP (and TLS) handshake.
    Proxies come from the environment as for urllib (``HTTPS_PROXY``, ``NO_PROXY``...). No
    automatic retries or redirects: the outbox retries, with the same Idempotency-Key."""
    proxy = urllib.request.getproxies().get(url.split(":", 1)[0].lower())
    if proxy and urllib.request.proxy_bypass(urllib3.util.parse_url(url).host or ""):
        proxy = None
    key = proxy or ""
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            options: dict[str, Any] = {
                "num_pools": 50,
                "maxsize": settings.BATCHWATCH_OUTBOX_CONCURRENCY,
                "retries": False,
                "headers": {"User-Agent": "Batchwatch"},
            }
            # Direct connections are checked after DNS resolution (core/outbound.py); through
            # a proxy, the target is checked before the request (``send_webhook``).
            pool = (
                urllib3.ProxyManager(proxy, **options)
                if proxy
                else outbound.guard(urllib3.PoolManager(**options))
            )
            _pools[key] = pool
        return pool


def post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    what: str,
) -> urllib3.BaseHTTPResponse:
    """POST ``body`` to ``url`` through the kept-alive pools, checked against the private
    network as webhooks are (``core/outbound.py``); no redirects, no automatic retries (the
    outbox retries). Unreachable: a temporary ``TransportError``; refused by the SSRF guard:
    a permanent one. The caller maps the status it gets back."""
    if not url.startswith(("https://", "http://")):
        raise TransportError(f"the {what} address must be an http(s) URL", permanent=True)
    try:
        pool = http(url)
        if isinstance(pool, urllib3.ProxyManager):
            outbound.check_url(url)
        return pool.request(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=settings.BATCHWATCH_OUTBOX_HTTP_TIMEOUT,
            redirect=False,
        )
    except outbound.OutboundRefused as exc:
        raise TransportError(f"refused: {exc.message}", permanent=True) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransportError(f"cannot reach {what}: {exc}") from exc


def temporary_status(status: int) -> bool:
    """A status worth retrying: timeouts, rate limits, the receiver's own failures."""
    return status in (408, 425, 429) or status >= 500
